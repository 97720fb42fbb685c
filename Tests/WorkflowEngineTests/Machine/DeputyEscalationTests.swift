import Foundation
import Testing

@testable import WorkflowEngine

@Suite("Deputies, escalation and reminders")
struct DeputyEscalationTests {
    typealias Fixtures = MachineFixtures

    // MARK: Deputies

    @Test("Paul acts for Otto only within [validFrom, validUntil) and is recorded as acting for him")
    func deputyWindow() throws {
        let from = Fixtures.days(1)
        let until = Fixtures.days(3)
        let paul = Fixtures.deputy("paul", for: "otto", principalRoles: [.dataOwner], from: from, until: until)
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        for refused in [from.addingTimeInterval(-1), until, until.addingTimeInterval(86_400)] {
            Fixtures.expectRefused(.deputyshipNotActive, .approve, on: &machine) {
                try $0.approve(by: paul, at: refused)
            }
            Fixtures.expectRefused(.deputyshipNotActive, .reject, on: &machine) {
                try $0.reject(by: paul, at: refused, reason: "nein")
            }
        }
        let effects = try machine.approve(by: paul, at: from, comment: "i. V.")
        #expect(
            effects.first
                == Fixtures.after(
                    "in_review:steward_review", machine,
                    [
                        Fixtures.audit(
                            .approved, actor: "paul", actingFor: "otto", role: .dataOwner, step: "owner_review",
                            comment: "i. V.", at: from)
                    ]
                ).first)
        let decision = try #require(machine.decisions.first)
        #expect(decision.person == "paul" && decision.actingFor == "otto" && decision.role == .dataOwner)
        #expect(machine.state.name == "in_review:steward_review")
    }

    @Test("each decision a deputy takes tells the person it counts for; one's own decision tells nobody so")
    func deputyTellsPrincipal() throws {
        func principalNotices(_ effects: [Effect]) -> [Decision] {
            effects.compactMap { if case .informPrincipal(let decision) = $0 { decision } else { nil } }
        }
        let definition = try Fixtures.definition(.sharedData)
        let at = Fixtures.paulFrom
        // A question, then (after the answer) an approval, each by Paul for Otto.
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        let asked = try machine.requestChanges(by: Fixtures.paul, at: at, question: "Zeitraum?")
        #expect(principalNotices(asked) == [try #require(machine.decisions.last)])
        #expect(principalNotices(asked).first?.actingFor == "otto")
        #expect(principalNotices(asked).first?.outcome == .changesRequested)
        #expect(principalNotices(asked).first?.comment == "Zeitraum?")
        _ = try machine.resubmit(by: Fixtures.requester, at: at)
        let approved = try machine.approve(by: Fixtures.paul, at: at, comment: "i. V.")
        #expect(principalNotices(approved).map(\.outcome) == [.approved])
        #expect(principalNotices(approved).first?.person == "paul")
        // A rejection.
        var rejected = try Fixtures.submitted(definition, Fixtures.shared())
        let rejection = try rejected.reject(by: Fixtures.paul, at: at, reason: "Zweck unklar")
        #expect(principalNotices(rejection).map(\.outcome) == [.rejected])
        #expect(principalNotices(rejection).first?.comment == "Zweck unklar")
        // A revocation by the owner's deputy: the owner learns it this way, not as a revocation by someone
        // else (`accessRevoked`).
        var granted = try Fixtures.submitted(definition, Fixtures.shared())
        try Fixtures.drive(&granted, to: "granted:granted", at: at)
        let revocation = try granted.revoke(by: Fixtures.paul, at: at, reason: "Zweck entfallen")
        #expect(principalNotices(revocation).map(\.outcome) == [.revoked])
        #expect(!revocation.contains { if case .inform(_, .accessRevoked) = $0 { true } else { false } })
        // Otto's own decisions tell nobody in this way.
        var own = try Fixtures.submitted(definition, Fixtures.shared())
        #expect(principalNotices(try own.approve(by: Fixtures.otto, at: at)).isEmpty)
        #expect(principalNotices(try own.reject(by: Fixtures.stefan, at: at, reason: "nein")).isEmpty)
    }

    /// The escalation instance's deputy rejects the owner's overdue step: the member it counts for and
    /// the owner it was taken from are each told. A question asked in the owner's stead is no such news,
    /// nor is the owner's own decision of an overdue step (still theirs to take).
    @Test("a decision taken over from an overdue branch tells its role; its own holder's decision does not")
    func takenOverTellsTheBranchRole() throws {
        let definition = try Fixtures.definition(.sharedData)
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        let gabi = Fixtures.deputy(
            "gabi", for: "greta", principalRoles: [.governance], from: Fixtures.t0, until: Fixtures.days(60))
        func takenOver(_ effects: [Effect]) -> [Effect] {
            effects.filter { if case .inform(_, .takenOver) = $0 { true } else { false } }
        }

        var rejected = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try rejected.escalate(at: deadline)
        let rejection = try rejected.reject(by: gabi, at: deadline, reason: "Nicht vertretbar")
        let decision = try #require(rejected.decisions.last)
        #expect(decision.actingFor == "greta" && decision.asEscalation)
        #expect(takenOver(rejection) == [.inform(role: .dataOwner, .takenOver(decision))])
        #expect(rejection.contains(.informPrincipal(decision)))

        // A question asked in the owner's stead leaves the step his: the answer brings it back to him.
        var asked = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try asked.escalate(at: deadline)
        let question = try asked.requestChanges(by: Fixtures.greta, at: deadline, question: "Wofür genau?")
        #expect(takenOver(question).isEmpty)

        var own = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try own.escalate(at: deadline)
        #expect(takenOver(try own.approve(by: Fixtures.otto, at: deadline)).isEmpty)
    }

    /// A board of two stewards whose step escalated: Greta's approval is one of the two it needs, so the
    /// stewards still decide and are not told otherwise; a rejection ends it for them.
    @Test("an escalation approval a quorum still needs more of tells the branch's holders nothing")
    func takenOverOnlyWhenTheBranchCloses() throws {
        let yaml = SeparationOfDutiesTests.quorumYAML.replacingOccurrences(
            of: "    quorum: 2\n",
            with: "    quorum: 2\n    deadline: { working_days: 5, escalate_to: governance }\n")
        let definition = try Fixtures.parse(yaml, file: "quorum.yaml")
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
            Issue.record("no deadline: \(machine.state)")
            return
        }
        _ = try machine.escalate(at: deadline)
        let approved = try machine.approve(by: Fixtures.greta, at: deadline)
        #expect(machine.state.name == "in_review:board")
        #expect(!approved.contains { if case .inform(_, .takenOver) = $0 { true } else { false } })

        var rejected = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try rejected.escalate(at: deadline)
        let rejection = try rejected.reject(by: Fixtures.greta, at: deadline, reason: "Nicht vertretbar")
        #expect(rejection.contains { if case .inform(.dataSteward, .takenOver) = $0 { true } else { false } })
    }

    @Test("the last instant before validUntil still counts")
    func deputyLastInstant() throws {
        let until = Fixtures.days(3)
        let paul = Fixtures.deputy("paul", for: "otto", principalRoles: [.dataOwner], from: Fixtures.t0, until: until)
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try machine.requestChanges(by: paul, at: until.addingTimeInterval(-1), question: "Zeitraum?")
        #expect(machine.decisions.first?.actingFor == "otto")
    }

    @Test("a deputyship is no authority when it names someone else, or the principal lacks the role")
    func deputyWithoutAuthority() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let someoneElses = Decider(
            person: "paul", roles: [],
            deputising: [
                DeputyAuthority(
                    deputyship: Deputyship(
                        principal: "otto", deputy: "pia", validFrom: Fixtures.paulFrom, validUntil: Fixtures.paulUntil),
                    principalRoles: [.dataOwner])
            ])
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
            try $0.approve(by: someoneElses, at: Fixtures.t0)
        }
        let forDora = Fixtures.deputy("paul", for: "dora", principalRoles: [.dsb])
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) { try $0.approve(by: forDora, at: Fixtures.t0) }
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
            try $0.approve(by: Fixtures.olga, at: Fixtures.t0)
        }
    }

    // MARK: Escalation

    @Test("escalation only at the deadline; then Governance is told and may decide an owner step")
    func escalateOwnerStep() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        Fixtures.expectRefused(.tooEarly, .escalate, details: ["deadline \(deadline)"], on: &machine) {
            try $0.escalate(at: deadline.addingTimeInterval(-1))
        }
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
            try $0.approve(by: Fixtures.greta, at: deadline.addingTimeInterval(-1))
        }
        let effects = try machine.escalate(at: deadline)
        #expect(
            effects
                == Fixtures.after(
                    "in_review:owner_review", machine,
                    [
                        Fixtures.audit(.escalated, role: .governance, step: "owner_review", at: deadline),
                        .inform(
                            role: .governance,
                            .escalated(step: "owner_review", overdueSince: deadline, branches: ["owner_review"])
                        ),
                    ]))
        #expect(machine.state.name == "in_review:owner_review")
        Fixtures.expectRefused(.invalidTransition, .escalate, on: &machine) { try $0.escalate(at: deadline) }
        let later = deadline.addingTimeInterval(3600)
        let approved = try machine.approve(by: Fixtures.greta, at: later, comment: "Owner nicht erreichbar")
        let decision = try #require(machine.decisions.first)
        #expect(decision.person == "greta" && decision.role == .governance && decision.asEscalation)
        #expect(decision.branch == "owner_review")
        #expect(machine.state.name == "in_review:steward_review")
        // The owner's overdue step was decided in the owner's stead: the owner is told so, once; Greta
        // decided in her own right, so nobody is told as her principal.
        let told = approved.filter { if case .inform(_, .takenOver) = $0 { true } else { false } }
        #expect(told == [.inform(role: .dataOwner, .takenOver(decision))])
        #expect(!approved.contains { if case .informPrincipal = $0 { true } else { false } })

        // The escalation instance decides only one step of the request.
        guard case .inReview(let progress) = machine.state, let next = progress.deadline else {
            Issue.record("expected a step in review with a deadline, not \(machine.state)")
            return
        }
        _ = try machine.escalate(at: next)
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: Fixtures.greta, at: next)
        }
    }

    @Test(
        "a deputy of the escalation instance decides the overdue step in its stead, recorded as acting for the member")
    func escalationDeputy() throws {
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        let paul = Fixtures.deputy(
            "paul", for: "greta", principalRoles: [.governance], from: Fixtures.paulFrom, until: Fixtures.muchLater)
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        // Not before the step escalated, as for the member.
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
            try $0.approve(by: paul, at: deadline.addingTimeInterval(-1))
        }
        _ = try machine.escalate(at: deadline)
        // Not outside the deputyship, which is named as the reason.
        let ended = Fixtures.deputy(
            "paul", for: "greta", principalRoles: [.governance], from: Fixtures.paulFrom, until: deadline)
        Fixtures.expectRefused(.deputyshipNotActive, .approve, on: &machine) {
            try $0.approve(by: ended, at: deadline)
        }
        let authority = try machine.authority(of: paul, at: deadline).get()
        #expect(authority.capacity == .escalationDeputy(of: "greta", role: .governance))
        _ = try machine.approve(by: paul, at: deadline, comment: "i. V. der Governance-Stelle")
        let decision = try #require(machine.decisions.first)
        #expect(decision.person == "paul" && decision.actingFor == "greta")
        #expect(decision.role == .governance && decision.asEscalation && decision.branch == "owner_review")
        #expect(machine.state.name == "in_review:steward_review")
        // The decision counts for Greta too: she decides no other step of this request.
        guard case .inReview(let progress) = machine.state, let next = progress.deadline else {
            Issue.record("expected a step in review with a deadline, not \(machine.state)")
            return
        }
        _ = try machine.escalate(at: next)
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: Fixtures.greta, at: next)
        }
        // Her own role before the deputyship: a member who stands in for another decides as herself.
        var other = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try other.escalate(at: deadline)
        let member = Fixtures.deputy(
            "gerd", for: "greta", principalRoles: [.governance], from: Fixtures.paulFrom, until: Fixtures.muchLater,
            ownRoles: [.governance])
        #expect(try other.authority(of: member, at: deadline).get().capacity == .escalation(.governance))
    }

    @Test("who comes after the escalation decided (a member's deputy, the branch's holder) hears who, not 'forbidden'")
    func escalationDeputyLosesTheRace() throws {
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try machine.escalate(at: deadline)
        let gerd = Decider(person: "gerd", roles: [.governance])
        _ = try machine.approve(by: gerd, at: deadline, comment: "für die Stelle")
        let paul = Fixtures.deputy(
            "paul", for: "greta", principalRoles: [.governance], from: Fixtures.paulFrom, until: Fixtures.muchLater)
        #expect(machine.decisionAlreadyTaken(by: paul, at: deadline)?.person == "gerd")
        // The owner, back from holiday, and the owner's deputy lost the same race: the escalation took
        // their branch.
        #expect(machine.decisionAlreadyTaken(by: Fixtures.otto, at: deadline)?.person == "gerd")
        #expect(machine.decisionAlreadyTaken(by: Fixtures.paul, at: deadline)?.person == "gerd")
        // A deputy whose deputyship has ended, or of someone without the role, lost no race.
        let ended = Fixtures.deputy(
            "paul", for: "greta", principalRoles: [.governance], from: Fixtures.paulFrom, until: deadline)
        #expect(machine.decisionAlreadyTaken(by: ended, at: deadline) == nil)
        #expect(machine.decisionAlreadyTaken(by: Fixtures.olga, at: deadline) == nil)
    }

    /// Otto asked a question; the requester answered and his deputy approved. Otto, deciding from the
    /// page he opened before, hears that Paul decided, not that his own (answered) question stands.
    @Test("an answered question of the owner is not the decision that took the owner's chance")
    func answeredQuestionIsNotTheRaceLost() throws {
        let at = Fixtures.instant("2026-03-04T10:00:00Z")
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try machine.requestChanges(by: Fixtures.otto, at: at, question: "Welche Bezirke?")
        // While it waits for the answer, the question is what took his chance.
        #expect(machine.decisionAlreadyTaken(by: Fixtures.otto, at: at)?.outcome == .changesRequested)
        _ = try machine.resubmit(by: Fixtures.requester, at: at)
        _ = try machine.approve(by: Fixtures.paul, at: at, comment: "in Vertretung")
        let taken = machine.decisionAlreadyTaken(by: Fixtures.otto, at: at)
        #expect(taken?.person == "paul" && taken?.outcome == .approved, "\(String(describing: taken))")
        // Once the steward asked in turn, otto's stale page still names the approval of his step, not a 403.
        _ = try machine.requestChanges(by: Fixtures.stefan, at: at, question: "Welches Format?")
        #expect(machine.decisionAlreadyTaken(by: Fixtures.otto, at: at)?.person == "paul")
    }

    /// The reverse race: Otto decides his own step after it escalated, just before Greta does. Greta (and a
    /// deputy of hers) could have taken it and hears who did (409), not "forbidden"; not for a decision
    /// taken before the deadline, which was never hers to take.
    @Test("the escalation instance coming after the branch's holder decided an escalated step hears who")
    func escalationLosesTheRaceToTheHolder() throws {
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try machine.escalate(at: deadline)
        _ = try machine.approve(by: Fixtures.otto, at: deadline, comment: "Zurück aus dem Urlaub")
        #expect(machine.decisions.last?.stepEscalated == true)
        #expect(machine.decisionAlreadyTaken(by: Fixtures.greta, at: deadline)?.person == "otto")
        let gabi = Fixtures.deputy(
            "gabi", for: "greta", principalRoles: [.governance], from: Fixtures.t0, until: Fixtures.muchLater)
        #expect(machine.decisionAlreadyTaken(by: gabi, at: deadline)?.person == "otto")

        // A question asked on the escalated step took Greta's chance while it waits for its answer; the
        // answer begins a new stay, not escalated, which is not hers to decide.
        var asked = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try asked.escalate(at: deadline)
        _ = try asked.requestChanges(by: Fixtures.otto, at: deadline, question: "Welche Bezirke?")
        #expect(asked.decisionAlreadyTaken(by: Fixtures.greta, at: deadline)?.person == "otto")
        _ = try asked.resubmit(by: Fixtures.requester, at: deadline)
        #expect(asked.decisionAlreadyTaken(by: Fixtures.greta, at: deadline) == nil)

        var early = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try early.approve(by: Fixtures.otto, at: deadline.addingTimeInterval(-3600))
        #expect(early.decisions.last?.stepEscalated == nil)
        #expect(early.decisionAlreadyTaken(by: Fixtures.greta, at: deadline) == nil)
    }

    @Test("a deputy of the requester and of an office member closes the request as the member's deputy")
    func deputyOfRequesterAndOfficeMember() throws {
        let definition = try Fixtures.definition(.sharedData)
        // The requester is a member of the office herself; Paul stands in for her and for Greta.
        var machine = try Fixtures.submitted(definition, Fixtures.shared(), requester: "gundula")
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        _ = try machine.escalate(at: deadline)
        let both = Decider(
            person: "paul", roles: [],
            deputising: [
                DeputyAuthority(
                    deputyship: Deputyship(
                        principal: "gundula", deputy: "paul", validFrom: Fixtures.paulFrom,
                        validUntil: Fixtures.muchLater),
                    principalRoles: [.governance]),
                DeputyAuthority(
                    deputyship: Deputyship(
                        principal: "greta", deputy: "paul", validFrom: Fixtures.paulFrom, validUntil: Fixtures.muchLater
                    ),
                    principalRoles: [.governance]),
            ])
        let expected = DecisionAuthority.Capacity.escalationDeputy(of: "greta", role: .governance)
        #expect(try machine.authority(of: both, at: deadline).get().capacity == expected)
        #expect(try machine.discontinueAuthority(of: both, at: deadline).get().capacity == expected)
        // Through the requester's deputyship alone: never.
        let onlyHers = Fixtures.deputy(
            "paul", for: "gundula", principalRoles: [.governance], from: Fixtures.paulFrom, until: Fixtures.muchLater)
        Fixtures.expectRefused(.requesterCannotDecide, .discontinue, on: &machine) {
            try $0.discontinue(by: onlyHers, at: deadline, reason: "niemand antwortet")
        }
    }

    @Test("a deputy of the escalation instance decides no DSB part and nothing on the principal's own request")
    func escalationDeputyLimits() throws {
        let definition = try Fixtures.definition(.sharedData)
        let paul = Fixtures.deputy(
            "paul", for: "greta", principalRoles: [.governance], from: Fixtures.paulFrom, until: Fixtures.muchLater)
        var machine = try Fixtures.submitted(definition, Fixtures.everyStepApplies(.sharedData))
        try Fixtures.drive(&machine, to: "in_review:privacy_review")
        guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
            Issue.record("not in review")
            return
        }
        _ = try machine.escalate(at: deadline)
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) { try $0.approve(by: paul, at: deadline) }
        // Greta's own request: her deputy does not decide it for her, not even as the escalation.
        var hers = try Fixtures.submitted(definition, Fixtures.shared(), requester: "greta")
        _ = try hers.escalate(at: Fixtures.muchLater)
        #expect((try? hers.authority(of: paul, at: Fixtures.muchLater).get()) == nil)
    }

    @Test("after escalation the owner may still decide, in their own role")
    func ownerAfterEscalation() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try machine.escalate(at: Fixtures.muchLater)
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.muchLater)
        #expect(machine.decisions.first?.asEscalation == false)
        #expect(machine.decisions.first?.role == .dataOwner)
    }

    @Test("Governance never decides a DSB or ISB step, not even after escalation")
    func independentControllers() throws {
        let definition = try Fixtures.definition(.sharedData)
        for step in ["privacy_review", "security_review"] {
            var machine = try Fixtures.submitted(definition, Fixtures.everyStepApplies(.sharedData))
            try Fixtures.drive(&machine, to: "in_review:\(step)")
            guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
                Issue.record("not in review")
                continue
            }
            let role: Role = step == "privacy_review" ? .dsb : .isb
            let effects = try machine.escalate(at: deadline)
            #expect(
                effects
                    == Fixtures.after(
                        "in_review:\(step)", machine,
                        [
                            Fixtures.audit(.escalated, role: .governance, step: step, at: deadline),
                            .inform(
                                role: .governance, .escalated(step: step, overdueSince: deadline, branches: [])),
                            // Nobody else may decide it: its own holders hear that it is overdue.
                            .remind(step: step, branch: step, role: role, deadline: deadline),
                        ]))
            Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
                try $0.approve(by: Fixtures.greta, at: deadline)
            }
            Fixtures.expectRefused(.notAuthorised, .reject, on: &machine) {
                try $0.reject(by: Fixtures.greta, at: deadline, reason: "überfällig")
            }
            Fixtures.expectRefused(.notAuthorised, .requestChanges, on: &machine) {
                try $0.requestChanges(by: Fixtures.greta, at: deadline, question: "?")
            }
            _ = try machine.approve(by: Fixtures.decider(for: role), at: deadline)
            #expect(machine.decisions.last?.role == role)
        }
    }

    /// Open Data v2: a "trade secrets" answer brings in the governance office's branch beside the DSB's.
    /// Escalated, the instance may take over the branches no independent controller holds, and the
    /// notice names exactly those (its mail's links decide that branch), while the DSB's stays the DSB's.
    @Test("a parallel step escalates with the branches the instance may decide: the exclusions, never the DSB's")
    func escalationNamesItsBranches() throws {
        var facts = Fixtures.open(.public, .anonymised)
        facts.checkExclusions = [.tradeSecrets]
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), facts)
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        guard case .inReview(let legal) = machine.state, let deadline = legal.deadline else {
            Issue.record("not in legal review")
            return
        }
        #expect(legal.activeBranches == ["privacy_review", "exclusions_review"])
        let effects = try machine.escalate(at: deadline)
        #expect(
            effects.dropFirst()
                == [
                    .inform(
                        role: .governance,
                        .escalated(step: "legal_review", overdueSince: deadline, branches: ["exclusions_review"])),
                    // The DSB's branch stays the DSB's, who is reminded that it is overdue; the exclusions'
                    // branch, which the instance takes over, is not reminded.
                    .remind(step: "legal_review", branch: "privacy_review", role: .dsb, deadline: deadline),
                ])
        #expect(machine.decidingEscalationRole == .governance)
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
            try $0.approve(by: Fixtures.greta, at: deadline, branch: "privacy_review")
        }
        _ = try machine.approve(by: Fixtures.greta, at: deadline, branch: "exclusions_review")
        _ = try machine.approve(by: Fixtures.dora, at: deadline)
        #expect(machine.state.name == "in_review:publication")
        // Another member of the office, from a stale page, lost the race to Greta, though the DSB decided
        // the step's last part: the step's whole last stay is asked, not only its last decision.
        let gerd = Decider(person: "gerd", roles: [.governance])
        #expect(machine.decisionAlreadyTaken(by: gerd, at: deadline)?.person == "greta")
        #expect(machine.decisionAlreadyTaken(by: Fixtures.ingo, at: deadline) == nil)
    }

    /// Open Data v2, a public dataset and "third-party rights: yes": only the Governance Office's own
    /// branch waits in the legal step, which escalates to the Governance Office. Its task and reminder told
    /// it; an "overdue, please see to it" addressed to itself is not sent, the escalation is still recorded.
    @Test("a step whose only open branch is the escalation role's own escalates without telling it again")
    func escalationToItsOwnBranch() throws {
        var facts = Fixtures.open(.public, .none)
        facts.checkExclusions = [.thirdPartyRights]
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), facts)
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        guard case .inReview(let legal) = machine.state, let deadline = legal.deadline else {
            Issue.record("not in legal review")
            return
        }
        #expect(legal.activeBranches == ["exclusions_review"])
        let effects = try machine.escalate(at: deadline)
        #expect(
            effects
                == Fixtures.after(
                    "in_review:legal_review", machine,
                    [Fixtures.audit(.escalated, role: .governance, step: "legal_review", at: deadline)]))
        guard case .inReview(let escalated) = machine.state else {
            Issue.record("expected a step in review, not \(machine.state)")
            return
        }
        #expect(escalated.escalated)
        _ = try machine.approve(by: Fixtures.greta, at: deadline)
        #expect(machine.state.name == "in_review:publication")
    }

    /// The escalation instance was told it may decide; a withdrawal after that tells it too, once, and
    /// not when the instance already waits in the step as one of its branches.
    @Test("a withdrawal after an escalation tells the escalation instance too")
    func withdrawalAfterEscalation() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.everyStepApplies(.sharedData))
        guard case .inReview(let owner) = machine.state, let deadline = owner.deadline else {
            Issue.record("not in review")
            return
        }
        _ = try machine.escalate(at: deadline)
        let effects = try machine.withdraw(by: Fixtures.requester, at: deadline)
        let told = effects.compactMap { effect -> String? in
            guard case .inform(let role, .withdrawn(step: "owner_review", _, let asEscalation)) = effect else {
                return nil
            }
            return "\(role)" + (asEscalation ? " as escalation" : "")
        }
        #expect(told == ["data_owner", "governance as escalation"])

        var fresh = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.everyStepApplies(.sharedData))
        let notEscalated = try fresh.withdraw(by: Fixtures.requester, at: deadline)
        #expect(
            !notEscalated.contains(
                .inform(role: .governance, .withdrawn(step: "owner_review", comment: nil, asEscalation: true))))
    }

    @Test("Open Data: the parallel DSB/ISB step escalates without decision right; publication with it")
    func openDataEscalation() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.openData), Fixtures.open(.confidential, .anonymised))
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        _ = try machine.approve(by: Fixtures.dora, at: Fixtures.t0)
        guard case .inReview(let legal) = machine.state, let legalDeadline = legal.deadline else {
            Issue.record("expected a step in review with a deadline, not \(machine.state)")
            return
        }
        let effects = try machine.escalate(at: legalDeadline)
        #expect(
            effects.dropFirst()
                == [
                    .inform(
                        role: .governance, .escalated(step: "legal_review", overdueSince: legalDeadline, branches: [])),
                    .remind(step: "legal_review", branch: "security_review", role: .isb, deadline: legalDeadline),
                ])
        for branch in [nil, "security_review"] {
            Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
                try $0.approve(by: Fixtures.greta, at: legalDeadline, branch: branch)
            }
        }
        _ = try machine.approve(by: Fixtures.ingo, at: legalDeadline)
        guard case .inReview(let publication) = machine.state, let deadline = publication.deadline else {
            Issue.record("expected a step in review with a deadline, not \(machine.state)")
            return
        }
        #expect(publication.step == "publication")
        let escalation = try machine.escalate(at: deadline)
        #expect(
            escalation.last
                == .inform(
                    role: .governance,
                    .escalated(step: "publication", overdueSince: deadline, branches: ["publication"])))
        Fixtures.expectRefused(.approvalDetailsMissing, .approve, details: ["licence", "portal_url"], on: &machine) {
            try $0.approve(by: Fixtures.greta, at: deadline)
        }
        _ = try machine.approve(by: Fixtures.greta, at: deadline, details: Fixtures.publication)
        #expect(machine.state.name == "published:published")
        #expect(machine.decisions.last?.asEscalation == true)
    }

    /// Ingo (ISB) deputises for Dora (DSB) while both branches of the legal review wait: asked without a
    /// branch, the engine gives him his own ISB branch, not Dora's as her deputy (which would then keep
    /// him from his own branch by separation of duties); asked for Dora's branch, he may still decide it.
    @Test("across parallel branches one's own role comes before a deputyship")
    func ownBranchBeforeDeputyBranch() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.openData), Fixtures.open(.confidential, .anonymised))
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        let ingo = Fixtures.deputy("ingo", for: "dora", principalRoles: [.dsb], from: Fixtures.t0, ownRoles: [.isb])
        let own = try machine.authority(of: ingo, at: Fixtures.t0).get()
        #expect(own.branch == "security_review" && own.capacity == .ownRole(.isb))
        let asDeputy = try machine.authority(of: ingo, at: Fixtures.t0, branch: "privacy_review").get()
        #expect(asDeputy.capacity == .deputy(of: "dora", role: .dsb))
        _ = try machine.approve(by: ingo, at: Fixtures.t0)
        #expect(machine.decisions.last?.branch == "security_review" && machine.decisions.last?.actingFor == nil)
        // Who may be asked (the mail's question) agrees with who may decide: ingo decided the security
        // branch, so neither he nor anyone acting for him decides the privacy branch; dora still may.
        let snapshot = machine.snapshot
        #expect(snapshot.separationOfDutiesRefuses(person: "ingo", branch: "privacy_review"))
        #expect(snapshot.separationOfDutiesRefuses(person: "paul", actingFor: "ingo", branch: "privacy_review"))
        #expect(!snapshot.separationOfDutiesRefuses(person: "dora", branch: "privacy_review"))
        #expect(
            snapshot.separationOfDutiesRefuses(person: "dora", actingFor: snapshot.requester, branch: "privacy_review"))
        let refused = machine.authority(of: ingo, at: Fixtures.t0, branch: "privacy_review")
        #expect((try? refused.get()) == nil, "the engine refuses whom the question refuses")
    }

    /// An access period that ran out while the request was in review: the last approval would grant
    /// access that ended already. The approver asks for a new end (a question) or rejects instead.
    @Test("the approval that would grant an access period already over is refused; nothing changes")
    func accessEndPassedDuringReview() throws {
        let end = Fixtures.days(3)
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.shared(), accessEnd: end)
        try Fixtures.drive(&machine, to: "in_review:steward_review", at: Fixtures.days(1))
        for late in [end, Fixtures.days(5)] {
            // Asked first, the engine says so: a page offers rejecting and asking, not approving.
            let authority = try machine.authority(of: Fixtures.stefan, at: late).get()
            #expect(!authority.mayApprove && authority.completesStep)
            Fixtures.expectRefused(.invalidAccessPeriod, .approve, on: &machine) {
                try $0.approve(by: Fixtures.stefan, at: late)
            }
        }
        #expect(try machine.authority(of: Fixtures.stefan, at: end.addingTimeInterval(-1)).get().mayApprove)
        _ = try machine.requestChanges(by: Fixtures.stefan, at: Fixtures.days(5), question: "Neues Ende?")
        // A step that does not grant (the owner's, before the steward's) is approved after the end as well:
        // the last step asks for the new end.
        var early = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared(), accessEnd: end)
        #expect(try early.authority(of: Fixtures.otto, at: Fixtures.days(5)).get().mayApprove)
        _ = try early.approve(by: Fixtures.otto, at: Fixtures.days(5))
        #expect(early.state.name == "in_review:steward_review")
        var onTime = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared(), accessEnd: end)
        try Fixtures.drive(&onTime, to: "in_review:steward_review", at: Fixtures.days(1))
        _ = try onTime.approve(by: Fixtures.stefan, at: end.addingTimeInterval(-1))
        #expect(onTime.state.name == "granted:granted")
    }

    // MARK: Reminders

    @Test("a reminder only at its time, for every branch still open")
    func reminders() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        let due = Fixtures.instant("2026-03-05T23:00:00Z")
        Fixtures.expectRefused(.tooEarly, .remind, details: ["reminder due \(due)"], on: &machine) {
            try $0.remind(at: due.addingTimeInterval(-1))
        }
        let effects = try machine.remind(at: due)
        #expect(
            effects
                == Fixtures.after(
                    "in_review:owner_review", machine,
                    [
                        Fixtures.audit(.reminded, step: "owner_review", at: due),
                        .remind(step: "owner_review", branch: "owner_review", role: .dataOwner, deadline: deadline),
                    ]))
        #expect(machine.state.name == "in_review:owner_review")
        // Once the deadline passed (the server was down over the reminder), the escalation speaks.
        Fixtures.expectRefused(.invalidTransition, .remind, on: &machine) { try $0.remind(at: deadline) }
        var escalated = machine
        _ = try escalated.escalate(at: deadline)
        Fixtures.expectRefused(.invalidTransition, .remind, on: &escalated) {
            try $0.remind(at: deadline.addingTimeInterval(-1))
        }
    }

    /// A step without `escalate_to` has no escalation to speak after its deadline: its reminder, fired
    /// late (the server was down over it), still goes.
    @Test("a step that escalates to nobody is reminded also after its deadline")
    func lateReminderWithoutEscalation() throws {
        let definition = try DefinitionFixtures.parse(
            DefinitionFixtures.base(replacing: [13: "    deadline: { working_days: 5, remind_before: 2 }"]))
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
            Issue.record("not in review")
            return
        }
        let late = try machine.remind(at: deadline.addingTimeInterval(3600))
        #expect(late.contains { if case .remind = $0 { true } else { false } })
    }

    @Test("in the parallel step only the branch still waiting is reminded")
    func parallelReminder() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.openData), Fixtures.open(.confidential, .anonymised))
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
            Issue.record("expected a step in review with a deadline, not \(machine.state)")
            return
        }
        let due = Fixtures.reminder(3, before: deadline)
        let both = try machine.remind(at: due)
        #expect(
            Array(both.dropFirst()) == [
                .remind(step: "legal_review", branch: "privacy_review", role: .dsb, deadline: deadline),
                .remind(step: "legal_review", branch: "security_review", role: .isb, deadline: deadline),
            ])
        _ = try machine.approve(by: Fixtures.dora, at: due)
        let one = try machine.remind(at: due)
        #expect(
            one
                == Fixtures.after(
                    "in_review:legal_review", machine,
                    [
                        Fixtures.audit(.reminded, step: "legal_review", at: due),
                        .remind(step: "legal_review", branch: "security_review", role: .isb, deadline: deadline),
                    ]))
    }

    @Test("while the request waits for the requester: no reminder; the escalation once the question is overdue")
    func timersWhileChangesRequested() throws {
        var machine = try Fixtures.machine(.sharedData, in: "changes_requested:owner_review")
        Fixtures.expectRefused(.invalidTransition, .remind, on: &machine) { try $0.remind(at: Fixtures.muchLater) }
        // The requester has as long to answer as the owner had to decide, counted from the question.
        guard case .changesRequested(let progress, let question) = machine.state else {
            Issue.record("not waiting for an answer: \(machine.state.name)")
            return
        }
        let asked = try #require(machine.decisions.last { $0.outcome == .changesRequested }?.at)
        let due = machine.calendar.deadline(addingWorkingDays: 5, to: asked)
        #expect(machine.escalationDue == due)
        let early = Fixtures.expectRefused(.tooEarly, .escalate, on: &machine) {
            try $0.escalate(at: due.addingTimeInterval(-1))
        }
        #expect(early?.notBefore == due)
        let before = machine.snapshot
        let effects = try machine.escalate(at: due)
        // Nothing of the request changes: it still waits for the answer (a late one is not refused).
        #expect(machine.snapshot == before)
        #expect(machine.state == .changesRequested(progress, question: question))
        #expect(
            effects
                == Fixtures.after(
                    "changes_requested:owner_review", machine,
                    [
                        Fixtures.audit(.questionUnanswered, role: .governance, step: "owner_review", at: due),
                        .inform(
                            role: .governance,
                            .questionUnanswered(step: "owner_review", question: question, askedAt: asked)),
                    ]))
    }
}
