import Foundation
import Testing

@testable import WorkflowEngine

@Suite("Resubmission, expiry and revocation")
struct ResubmissionAndEndTests {
    typealias Fixtures = MachineFixtures

    // MARK: Resubmission

    @Test("asking for changes waits for the requester and stops the step's timers")
    func requestChangesEffects() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let t1 = Fixtures.minutes(30)
        let effects = try machine.requestChanges(by: Fixtures.stefan, at: t1, question: " Welcher Zweck? ")
        let answerBy = machine.calendar.deadline(addingWorkingDays: 5, to: t1)
        #expect(
            effects
                == Fixtures.after(
                    "changes_requested:steward_review", machine,
                    [
                        Fixtures.audit(
                            .changesRequested, actor: "stefan", role: .dataSteward, step: "steward_review",
                            comment: "Welcher Zweck?",
                            at: t1),
                        .cancelTimers(step: "steward_review"),
                        // Unanswered for the step's 5 working days, the Governance Office is told.
                        .notifyRequester(
                            .changesRequested(step: "steward_review", question: "Welcher Zweck?", answerBy: answerBy)),
                        .scheduleQuestionEscalation(step: "steward_review", at: answerBy),
                    ]))
        guard case .changesRequested(let progress, let question) = machine.state else {
            Issue.record("not waiting for changes: \(machine.state.name)")
            return
        }
        #expect(progress.step == "steward_review" && question == "Welcher Zweck?")
        #expect(machine.decisions.last?.outcome == .changesRequested)
    }

    @Test("same facts: back to the step that asked; earlier approvals stand")
    func resubmitSameFacts() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        _ = try machine.requestChanges(by: Fixtures.stefan, at: Fixtures.t0, question: "Zweck?")
        Fixtures.expectRefused(.notRequester, .resubmit, on: &machine) {
            try $0.resubmit(by: "otto", at: Fixtures.t0)
        }
        let t1 = Fixtures.days(2)
        let effects = try machine.resubmit(by: "anna", at: t1, comment: "Zweck ergänzt")
        #expect(
            effects == Fixtures.after(
                "in_review:steward_review", machine,
                [
                    Fixtures.audit(
                        .resubmitted, actor: "anna", step: "steward_review", comment: "Zweck ergänzt", at: t1),
                    // The question's escalation is moot.
                    .cancelTimers(step: "steward_review"),
                ]) + Fixtures.entering("steward_review", role: .dataSteward, workingDays: 5, remindBefore: 2, at: t1))
        #expect(machine.state.name == "in_review:steward_review")
        _ = try machine.approve(by: Fixtures.stefan, at: t1)
        #expect(machine.state.name == "granted:granted")
        #expect(machine.decisions.map(\.person) == ["otto", "stefan", "stefan"])
    }

    /// The owner, the steward and the DSB approved a request with another access period: they decide again.
    @Test("a new access end: back to the first step, every earlier approval again")
    func resubmitNewAccessEnd() throws {
        var machine = try Fixtures.machine(.sharedData, in: "changes_requested:security_review")
        let newEnd = Fixtures.instant("2026-05-31T22:00:00Z")
        _ = try machine.resubmit(by: "anna", at: Fixtures.t0, accessEnd: .some(newEnd))
        #expect(machine.state.name == "in_review:owner_review")
        #expect(machine.snapshot.accessEnd == newEnd)
        // The same access end again is no change: back to the step that asked.
        var unchanged = try Fixtures.machine(.sharedData, in: "changes_requested:security_review")
        _ = try unchanged.resubmit(by: "anna", at: Fixtures.t0, accessEnd: .some(unchanged.snapshot.accessEnd))
        #expect(unchanged.state.name == "in_review:security_review")
        _ = try unchanged.approve(by: Fixtures.ingo, at: Fixtures.t0)
        #expect(unchanged.state.name == "granted:granted")
    }

    /// Purpose, recipient, legal basis: what the earlier steps approved. The server says whether the
    /// stated details changed; the engine decides where that leads, whatever `resubmission` says.
    @Test("changed details (purpose, recipient, legal basis): back to the first step; an answer alone: the same step")
    func resubmitChangedDetails() throws {
        for changed in [true, false] {
            var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
            try Fixtures.drive(&machine, to: "in_review:steward_review")
            _ = try machine.requestChanges(by: Fixtures.stefan, at: Fixtures.t0, question: "Zweck?")
            _ = try machine.resubmit(by: "anna", at: Fixtures.days(1), detailsChanged: changed, comment: "Antwort")
            #expect(machine.state.name == (changed ? "in_review:owner_review" : "in_review:steward_review"))
        }
    }

    /// What a grant stands on: otto's approval with its condition survives a question answered at the
    /// steward's step; after an answer that started the request again, only the new pass counts (paul,
    /// otto's deputy, approved it anew), and a question sets its own step's earlier approvals aside.
    @Test("standing approvals: kept past an answer at the same step, set aside by a restart")
    func standingApprovals() throws {
        var plain = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try plain.approve(by: Fixtures.otto, at: Fixtures.t0, comment: "Nur aggregiert")
        _ = try plain.approve(by: Fixtures.stefan, at: Fixtures.t0, comment: "Vorläufig")
        #expect(plain.snapshot.standingApprovals.map(\.comment) == ["Nur aggregiert", "Vorläufig"])
        for changed in [false, true] {
            var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
            _ = try machine.approve(by: Fixtures.otto, at: Fixtures.t0, comment: "Nur aggregiert")
            _ = try machine.requestChanges(by: Fixtures.stefan, at: Fixtures.t0, question: "Zweck?")
            _ = try machine.resubmit(by: "anna", at: Fixtures.days(1), detailsChanged: changed)
            if changed { _ = try machine.approve(by: Fixtures.paul, at: Fixtures.days(1), comment: "Neu geprüft") }
            _ = try machine.approve(by: Fixtures.stefan, at: Fixtures.days(1), comment: "Keine Weitergabe")
            #expect(machine.state.name == "granted:granted", "\(machine.state.name)")
            #expect(
                machine.snapshot.standingApprovals.map(\.person)
                    == (changed ? ["paul", "stefan"] : ["otto", "stefan"]))
            #expect(machine.snapshot.standingApprovals.allSatisfy { $0.outcome == .approved })
        }
    }

    @Test("changed facts: back to the first step, so a DSB step that is now required is not skipped")
    func resubmitChangedFacts() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        _ = try machine.requestChanges(by: Fixtures.stefan, at: Fixtures.t0, question: "Sind Personen enthalten?")
        // Personal data now, but without the legal basis: refused, nothing changes.
        Fixtures.expectRefused(.submissionIncomplete, .resubmit, details: ["legal_basis"], on: &machine) {
            try $0.resubmit(
                by: "anna", at: Fixtures.t0, facts: Fixtures.shared(.internal, .personal, legalBasis: false))
        }
        let t1 = Fixtures.days(1)
        let effects = try machine.resubmit(by: "anna", at: t1, facts: Fixtures.shared(.internal, .personal))
        #expect(
            effects == Fixtures.after(
                "in_review:owner_review", machine,
                [
                    Fixtures.audit(.resubmitted, actor: "anna", step: "steward_review", at: t1),
                    .cancelTimers(step: "steward_review"),
                ]) + Fixtures.entering("owner_review", role: .dataOwner, workingDays: 5, remindBefore: 2, at: t1))
        #expect(machine.snapshot.facts.personalData == .personal)
        _ = try machine.approve(by: Fixtures.otto, at: t1)
        _ = try machine.approve(by: Fixtures.stefan, at: t1)
        #expect(machine.state.name == "in_review:privacy_review")
        _ = try machine.approve(by: Fixtures.dora, at: t1)
        #expect(machine.state.name == "granted:granted")
    }

    @Test("Open Data: changed facts restart and activate the DSB branch; a missing statement is refused")
    func resubmitOpenData() throws {
        var machine = try Fixtures.machine(.openData, in: "changes_requested:publication")
        Fixtures.expectRefused(.submissionIncomplete, .resubmit, details: ["anonymisation_statement"], on: &machine) {
            try $0.resubmit(
                by: "anna", at: Fixtures.t0, facts: Fixtures.open(.confidential, .personal, .high, statement: false))
        }
        _ = try machine.resubmit(by: "anna", at: Fixtures.t0, facts: Fixtures.open(.public, .personal, .normal))
        #expect(machine.state.name == "in_review:owner_review")
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        guard case .inReview(let progress) = machine.state else {
            Issue.record("expected a step in review, not \(machine.state)")
            return
        }
        #expect(progress.activeBranches == ["privacy_review"])
    }

    @Test("a check that asked a question stays on the path when the answer changes the facts that brought it in")
    func questioningCheckStays() throws {
        // Open Data: a high protection need brings in the ISB, who asks; the answer lowers it.
        var open = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open(.public, .none, .high))
        try Fixtures.drive(&open, to: "in_review:legal_review")
        _ = try open.requestChanges(by: Fixtures.ingo, at: Fixtures.t0, question: "Warum ist der Schutzbedarf hoch?")
        _ = try open.resubmit(by: "anna", at: Fixtures.days(1), facts: Fixtures.open(.public, .none, .normal))
        #expect(open.state.name == "in_review:owner_review")
        let branch = open.plannedPath().first { $0.node == .branch("security_review", step: "legal_review") }
        #expect(branch?.applies == true, "the timeline shows the ISB's branch ahead")
        #expect(branch?.applying == .askedQuestion, "and says it stays because it asked")
        try Fixtures.drive(&open, to: "in_review:legal_review", at: Fixtures.days(1))
        guard case .inReview(let progress) = open.state else {
            Issue.record("expected a step in review, not \(open.state)")
            return
        }
        #expect(progress.activeBranches == ["security_review"])
        #expect(open.pendingRoles == [.isb])
        #expect(open.definition.activeBranches(ofStep: "legal_review", of: open.snapshot) == ["security_review"])
        _ = try open.approve(by: Fixtures.ingo, at: Fixtures.days(2))
        #expect(open.state.name == "in_review:publication")

        // Shared Data: the DSB's step applies to personal data; after her question the data is "not personal".
        var shared = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.shared(.internal, .personal))
        try Fixtures.drive(&shared, to: "in_review:privacy_review")
        _ = try shared.requestChanges(by: Fixtures.dora, at: Fixtures.t0, question: "Welche Personendaten?")
        _ = try shared.resubmit(by: "anna", at: Fixtures.days(1), facts: Fixtures.shared(.internal, .none))
        try Fixtures.drive(&shared, to: "in_review:privacy_review", at: Fixtures.days(1))
        #expect(shared.pendingRoles == [.dsb])
        #expect(shared.plannedPath().first { $0.node == .step("privacy_review") }?.applying == .askedQuestion)

        // A check that never asked is left out by changed facts, as before.
        var quiet = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open(.public, .none, .high))
        try Fixtures.drive(&quiet, to: "in_review:steward_review")
        _ = try quiet.requestChanges(by: Fixtures.stefan, at: Fixtures.t0, question: "Schutzbedarf wirklich hoch?")
        _ = try quiet.resubmit(by: "anna", at: Fixtures.days(1), facts: Fixtures.open(.public, .none, .normal))
        try Fixtures.drive(&quiet, to: "in_review:publication", at: Fixtures.days(1))
    }

    @Test("the kind of release cannot change, nor can the access end be dropped")
    func resubmitInvalid() throws {
        var machine = try Fixtures.machine(.sharedData, in: "changes_requested:owner_review")
        Fixtures.expectRefused(
            .kindNotServed, .resubmit, details: ["the kind of release cannot change"], on: &machine
        ) { try $0.resubmit(by: "anna", at: Fixtures.t0, facts: Fixtures.open()) }
        Fixtures.expectRefused(.submissionIncomplete, .resubmit, details: ["access_end"], on: &machine) {
            try $0.resubmit(by: "anna", at: Fixtures.t0, accessEnd: .some(nil))
        }
    }

    // MARK: Expiry

    @Test("access expires at its end, not before")
    func expire() throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        let until = Fixtures.accessEnd
        Fixtures.expectRefused(.tooEarly, .expire, details: ["access ends \(until)"], on: &machine) {
            try $0.expire(at: until.addingTimeInterval(-1))
        }
        let effects = try machine.expire(at: until)
        #expect(
            effects
                == Fixtures.after(
                    "closed:expired", machine,
                    [
                        Fixtures.audit(.expired, at: until), .notifyRequester(.expired),
                        .inform(role: .dataOwner, .accessExpired),
                    ]))
        #expect(machine.state == .closed(end: "expired"))
    }

    @Test("granting schedules the expiry at the requested end")
    func grantSchedulesExpiry() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let effects = try machine.approve(by: Fixtures.stefan, at: Fixtures.t0)
        #expect(effects.contains(.scheduleExpiry(at: Fixtures.accessEnd)))
        #expect(effects.contains(.notifyRequester(.granted(until: Fixtures.accessEnd))))
    }

    // MARK: Revocation

    @Test(
        "revocation by a role in revocable_by, with a reason",
        arguments: [
            Decider(person: "otto", roles: [.dataOwner]), Decider(person: "stefan", roles: [.dataSteward]),
            Decider(person: "dora", roles: [.dsb]), Decider(person: "ingo", roles: [.isb]),
            Decider(person: "greta", roles: [.governance]),
        ])
    func revoke(_ decider: Decider) throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        let t1 = Fixtures.days(10)
        let effects = try machine.revoke(by: decider, at: t1, reason: " Zweck entfallen ")
        let role = try #require(decider.roles.first)
        var expected: [Effect] = [
            Fixtures.audit(
                .revoked, actor: decider.person, role: role, step: "granted", comment: "Zweck entfallen", at: t1),
            .cancelExpiry,
            .notifyRequester(.revoked(reason: "Zweck entfallen")),
        ]
        // The Data Owner is told of a revocation by anyone else, as of an expiry.
        if role != .dataOwner { expected.append(.inform(role: .dataOwner, .accessRevoked(reason: "Zweck entfallen"))) }
        #expect(effects == Fixtures.after("closed:revoked", machine, expected))
        #expect(machine.state == .closed(end: "revoked"))
        #expect(
            machine.decisions.last
                == Decision(
                    person: decider.person, actingFor: nil, role: role, asEscalation: false, step: "granted",
                    branch: "granted", outcome: .revoked, at: t1, comment: "Zweck entfallen", covers: ["granted"],
                    details: nil))
    }

    @Test("a deputy revokes only within the deputyship; others are refused")
    func revokeByDeputyAndOthers() throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        Fixtures.expectRefused(.deputyshipNotActive, .revoke, on: &machine) {
            try $0.revoke(by: Fixtures.paul, at: Fixtures.paulUntil, reason: "Missbrauch")
        }
        Fixtures.expectRefused(.notAuthorised, .revoke, on: &machine) {
            try $0.revoke(by: Fixtures.anna, at: Fixtures.t0, reason: "brauche ich nicht mehr")
        }
        Fixtures.expectRefused(.notAuthorised, .revoke, on: &machine) {
            try $0.revoke(by: Fixtures.olga, at: Fixtures.t0, reason: "Missbrauch")
        }
        _ = try machine.revoke(by: Fixtures.paul, at: Fixtures.paulFrom, reason: "Missbrauch")
        #expect(machine.state.name == "closed:revoked")
        #expect(machine.decisions.last?.person == "paul")
        #expect(machine.decisions.last?.actingFor == "otto")
        #expect(machine.decisions.last?.role == .dataOwner)
    }

    /// Paul stands in for Stefan (steward) since long before and for Otto (owner) now: his revocation is
    /// the owner's, whom `revocable_by` names first, and Otto is told, not Stefan.
    @Test("a deputy of several revokes for the role revocable_by names first, whichever deputyship began first")
    func revokeAsFirstRoleDeputy() throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        let stefans = DeputyAuthority(
            deputyship: Deputyship(
                principal: "stefan", deputy: "paul", validFrom: Fixtures.days(-300), validUntil: Fixtures.days(300)),
            principalRoles: [.dataSteward])
        let ottos = DeputyAuthority(
            deputyship: Deputyship(
                principal: "otto", deputy: "paul", validFrom: Fixtures.paulFrom, validUntil: Fixtures.paulUntil),
            principalRoles: [.dataOwner])
        let paul = Decider(person: "paul", roles: [], deputising: [stefans, ottos])
        let effects = try machine.revoke(by: paul, at: Fixtures.paulFrom, reason: "Zweck entfallen")
        let decision = try #require(machine.decisions.last)
        #expect(decision.actingFor == "otto" && decision.role == .dataOwner)
        #expect(
            effects.filter { if case .informPrincipal = $0 { true } else { false } } == [.informPrincipal(decision)])
        #expect(!effects.contains { if case .inform(_, .accessRevoked) = $0 { true } else { false } })
    }

    @Test("the requester does not decide a revocation of their own request, by role or as deputy")
    func requesterCannotRevoke() throws {
        // Otto asked for data of his own dataset; later he is still its owner.
        let definition = try Fixtures.definition(.sharedData)
        var own = try Fixtures.submitted(definition, Fixtures.shared(), requester: "otto")
        guard case .inReview(let progress) = own.state, let deadline = progress.deadline else {
            Issue.record("expected a step in review with a deadline, not \(own.state)")
            return
        }
        _ = try own.escalate(at: deadline)
        _ = try own.approve(by: Fixtures.greta, at: deadline)
        _ = try own.approve(by: Fixtures.stefan, at: deadline)
        #expect(own.state.name == "granted:granted")
        Fixtures.expectRefused(.requesterCannotDecide, .revoke, on: &own) {
            try $0.revoke(by: Fixtures.otto, at: deadline, reason: "selbst widerrufen")
        }
        // Anna deputises for Otto, who may revoke; she may not revoke her own access in his name.
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        let anna = Fixtures.deputy("anna", for: "otto", principalRoles: [.dataOwner])
        Fixtures.expectRefused(.requesterCannotDecide, .revoke, on: &machine) {
            try $0.revoke(by: anna, at: Fixtures.t0, reason: "als Vertretung")
        }
    }
}
