import Foundation
import Testing

@testable import WorkflowEngine

/// "Antrag einstellen": the escalation instance of the step a request waits at closes a request nobody
/// moves on any more. It counts as withdrawn ("gilt als zurückgenommen"). Only once the people it waits
/// for had their time: the step's deadline, or, while a question is open, the step's deadline length in
/// working days from the question. The instants below are written down from the calendar (Hessen), not
/// computed.
@Suite("Discontinuing a request nobody moves on")
struct DiscontinueTests {
    typealias Fixtures = MachineFixtures

    static let reason = "Seit Wochen keine Rückmeldung"
    /// The owner step of a request filed at `t0` (Monday 2 March 2026) is due at the end of Monday 9 March.
    static let ownerDeadline = Fixtures.instant("2026-03-09T23:00:00Z")
    /// Deputises for Greta (Governance Office) from 2 March until 16 March 2026.
    static let gabi = Fixtures.deputy("gabi", for: "greta", principalRoles: [.governance])

    // MARK: Who, and what happens

    @Test("the Governance Office discontinues an escalated owner step: withdrawn, requester and owner told")
    func escalatedOwnerStep() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        _ = try machine.escalate(at: Self.ownerDeadline)
        let t1 = Self.ownerDeadline.addingTimeInterval(3600)
        #expect(
            machine.discontinueAuthority(of: Fixtures.greta, at: t1)
                == .success(
                    DecisionAuthority(
                        person: "greta", step: "owner_review", branch: "owner_review",
                        capacity: .escalation(.governance))))

        let effects = try machine.discontinue(by: Fixtures.greta, at: t1, reason: "  \(Self.reason)\n")
        #expect(
            effects
                == Fixtures.after(
                    "closed:withdrawn", definition,
                    [
                        Fixtures.audit(
                            .discontinued, actor: "greta", role: .governance, asEscalation: true,
                            step: "owner_review", comment: Self.reason, at: t1),
                        .cancelTimers(step: "owner_review"),
                        .notifyRequester(.discontinued(reason: Self.reason)),
                        .inform(role: .dataOwner, .discontinued(step: "owner_review", reason: Self.reason)),
                    ]))
        #expect(machine.state == .closed(end: "withdrawn"))
        #expect(
            machine.decisions
                == [
                    Decision(
                        person: "greta", actingFor: nil, role: .governance, asEscalation: true, step: "owner_review",
                        branch: "owner_review", outcome: .discontinued, at: t1, comment: Self.reason,
                        covers: ["owner_review"], details: nil)
                ])
        // Nothing is left to discontinue, decide or withdraw.
        Fixtures.expectRefused(.invalidTransition, .discontinue, on: &machine) {
            try $0.discontinue(by: Fixtures.greta, at: t1, reason: Self.reason)
        }
        Fixtures.expectRefused(.invalidTransition, .approve, on: &machine) {
            try $0.approve(by: Fixtures.otto, at: t1)
        }
        Fixtures.expectRefused(.invalidTransition, .withdraw, on: &machine) {
            try $0.withdraw(by: Fixtures.requester, at: t1)
        }
    }

    /// Open Data v2, a "trade secrets" answer: DSB, ISB and the Governance Office's own exclusions branch
    /// wait side by side, and no one may decide the DSB's part in its place. The ISB decided; the
    /// Governance Office discontinues, and only the DSB, still asked, is told: not the ISB, who decided,
    /// nor the office itself, which decided this.
    @Test("a parallel step: only the roles of the branches still open are told, never the instance itself")
    func parallelStep() throws {
        let definition = try Fixtures.definition(.openData)
        var facts = Fixtures.open(.confidential, .anonymised)
        facts.checkExclusions = [.tradeSecrets]
        var machine = try Fixtures.submitted(definition, facts)
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        guard case .inReview(let legal) = machine.state else {
            Issue.record("not in legal review: \(machine.state.name)")
            return
        }
        #expect(legal.activeBranches == ["privacy_review", "security_review", "exclusions_review"])
        _ = try machine.approve(by: Fixtures.ingo, at: Fixtures.days(1), branch: "security_review")
        // Entered at t0, 10 working days: the end of Monday 16 March.
        let deadline = Fixtures.instant("2026-03-16T23:00:00Z")
        let effects = try machine.discontinue(by: Fixtures.greta, at: deadline, reason: Self.reason)
        #expect(
            effects
                == Fixtures.after(
                    "closed:withdrawn", definition,
                    [
                        Fixtures.audit(
                            .discontinued, actor: "greta", role: .governance, asEscalation: true,
                            step: "legal_review", comment: Self.reason, at: deadline),
                        .cancelTimers(step: "legal_review"),
                        .notifyRequester(.discontinued(reason: Self.reason)),
                        .inform(role: .dsb, .discontinued(step: "legal_review", reason: Self.reason)),
                    ]))
        #expect(machine.state == .closed(end: "withdrawn"))
    }

    @Test("before the step's deadline: too early, naming the deadline; at the deadline, escalated or not, allowed")
    func beforeTheDeadline() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let early = Self.ownerDeadline.addingTimeInterval(-1)
        let refusal = Fixtures.expectRefused(
            .tooEarly, .discontinue, details: ["the others have until \(Self.ownerDeadline)"], on: &machine
        ) { try $0.discontinue(by: Fixtures.greta, at: early, reason: Self.reason) }
        #expect(refusal?.notBefore == Self.ownerDeadline)
        #expect(machine.discontinueAuthority(of: Fixtures.greta, at: early) == .failure(try #require(refusal)))
        // The escalation timer has not fired yet: the deadline alone counts.
        guard case .inReview(let progress) = machine.state else {
            Issue.record("expected a step in review, not \(machine.state)")
            return
        }
        #expect(!progress.escalated)
        _ = try machine.discontinue(by: Fixtures.greta, at: Self.ownerDeadline, reason: Self.reason)
        #expect(machine.state.name == "closed:withdrawn")
    }

    /// Filed on Monday 30 March 2026; the owner asks on Thursday 2 April. The owner step was due at the end
    /// of Wednesday 8 April, but the question's time is its own: 5 working days from Thursday 2 April, with
    /// Karfreitag (3.4.) and Ostermontag (6.4.) not counting, end at the end of Monday 13 April (summer time).
    @Test("a question open fewer working days than the step's deadline: too early; after: allowed, the asker told")
    func openQuestion() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(
            definition, Fixtures.shared(), at: Fixtures.instant("2026-03-30T08:00:00Z"))
        _ = try machine.requestChanges(
            by: Fixtures.otto, at: Fixtures.instant("2026-04-02T08:00:00Z"), question: "Zu welchem Zweck?")
        let due = Fixtures.instant("2026-04-13T22:00:00Z")
        for early in [Fixtures.instant("2026-04-09T08:00:00Z"), due.addingTimeInterval(-1)] {
            let refusal = Fixtures.expectRefused(
                .tooEarly, .discontinue, details: ["the others have until \(due)"], on: &machine
            ) { try $0.discontinue(by: Fixtures.greta, at: early, reason: Self.reason) }
            #expect(refusal?.notBefore == due)
        }
        let effects = try machine.discontinue(by: Fixtures.greta, at: due, reason: Self.reason)
        // The owner, who asked and waits for the answer, learns that nothing is left to decide.
        #expect(
            effects
                == Fixtures.after(
                    "closed:withdrawn", definition,
                    [
                        Fixtures.audit(
                            .discontinued, actor: "greta", role: .governance, asEscalation: true,
                            step: "owner_review", comment: Self.reason, at: due),
                        .cancelTimers(step: "owner_review"),
                        .notifyRequester(.discontinued(reason: Self.reason)),
                        .inform(role: .dataOwner, .discontinued(step: "owner_review", reason: Self.reason)),
                    ]))
        #expect(machine.state == .closed(end: "withdrawn"))
        #expect(machine.decisions.map(\.outcome) == [.changesRequested, .discontinued])
    }

    @Test("the requester never discontinues their own request: not as Governance, not as its deputy")
    func requesterRefused() throws {
        let definition = try Fixtures.definition(.sharedData)
        var own = try Fixtures.submitted(definition, Fixtures.shared(), requester: "greta")
        _ = try own.escalate(at: Self.ownerDeadline)
        Fixtures.expectRefused(.requesterCannotDecide, .discontinue, on: &own) {
            try $0.discontinue(by: Fixtures.greta, at: Self.ownerDeadline, reason: Self.reason)
        }
        // Gabi deputises for Greta, who filed it: acting in the requester's stead is deciding on one's own
        // request, whatever capacity the deputyship would lend.
        Fixtures.expectRefused(.requesterCannotDecide, .discontinue, on: &own) {
            try $0.discontinue(by: Self.gabi, at: Self.ownerDeadline, reason: Self.reason)
        }
        // Anna filed the request and deputises for Greta.
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        let anna = Fixtures.deputy("anna", for: "greta", principalRoles: [.governance])
        Fixtures.expectRefused(.requesterCannotDecide, .discontinue, on: &machine) {
            try $0.discontinue(by: anna, at: Self.ownerDeadline, reason: Self.reason)
        }
    }

    @Test(
        "who does not hold the escalation role may not, even the owner the step waits for",
        arguments: [
            MachineFixtures.otto, MachineFixtures.stefan, MachineFixtures.sina, MachineFixtures.dora,
            MachineFixtures.ingo, MachineFixtures.olga,
        ])
    func othersRefused(_ decider: Decider) throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.everyStepApplies(.sharedData))
        _ = try machine.escalate(at: Self.ownerDeadline)
        Fixtures.expectRefused(.notAuthorised, .discontinue, on: &machine) {
            try $0.discontinue(by: decider, at: Fixtures.muchLater, reason: Self.reason)
        }
        // The owner may still decide it.
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.muchLater)
        #expect(machine.state.name == "in_review:steward_review")
    }

    @Test("a deputy of a Governance member may while the deputyship runs, recorded as acting for her")
    func deputy() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let notYet = Fixtures.deputy(
            "gabi", for: "greta", principalRoles: [.governance], from: Fixtures.days(20), until: Fixtures.days(30))
        Fixtures.expectRefused(.deputyshipNotActive, .discontinue, on: &machine) {
            try $0.discontinue(by: notYet, at: Self.ownerDeadline, reason: Self.reason)
        }
        Fixtures.expectRefused(.deputyshipNotActive, .discontinue, on: &machine) {
            try $0.discontinue(by: Self.gabi, at: Fixtures.paulUntil, reason: Self.reason)
        }
        // A deputy of the owner has no part in the escalation.
        Fixtures.expectRefused(.notAuthorised, .discontinue, on: &machine) {
            try $0.discontinue(by: Fixtures.paul, at: Self.ownerDeadline, reason: Self.reason)
        }
        #expect(
            machine.discontinueAuthority(of: Self.gabi, at: Self.ownerDeadline)
                == .success(
                    DecisionAuthority(
                        person: "gabi", step: "steward_review", branch: "steward_review",
                        capacity: .escalationDeputy(of: "greta", role: .governance))))
        let effects = try machine.discontinue(by: Self.gabi, at: Self.ownerDeadline, reason: Self.reason)
        let decision = try #require(machine.decisions.last)
        #expect(
            effects
                == Fixtures.after(
                    "closed:withdrawn", definition,
                    [
                        Fixtures.audit(
                            .discontinued, actor: "gabi", actingFor: "greta", role: .governance, asEscalation: true,
                            step: "steward_review", comment: Self.reason, at: Self.ownerDeadline),
                        // Greta learns what was decided in her name.
                        .informPrincipal(decision),
                        .cancelTimers(step: "steward_review"),
                        .notifyRequester(.discontinued(reason: Self.reason)),
                        .inform(role: .dataSteward, .discontinued(step: "steward_review", reason: Self.reason)),
                    ]))
        // For Greta, and as the escalation instance: the auditors' escalation filter finds every one.
        #expect(machine.decisions.last?.actingFor == "greta")
        #expect(machine.decisions.last?.asEscalation == true)
    }

    @Test("a blank reason is refused and changes nothing", arguments: ["", "   ", "\n\t "])
    func blankReason(_ reason: String) throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        Fixtures.expectRefused(.reasonRequired, .discontinue, on: &machine) {
            try $0.discontinue(by: Fixtures.greta, at: Self.ownerDeadline, reason: reason)
        }
    }

    @Test(
        "a request that waits for nobody cannot be discontinued",
        arguments: [
            (MachineFixtures.Shipped.sharedData, "draft"), (.sharedData, "granted:granted"),
            (.sharedData, "closed:rejected"),
            (.sharedData, "closed:withdrawn"), (.sharedData, "closed:revoked"), (.openData, "published:published"),
        ])
    func notWaiting(_ workflow: Fixtures.Shipped, _ state: String) throws {
        var machine = try Fixtures.machine(workflow, in: state)
        let refusal = Fixtures.expectRefused(.invalidTransition, .discontinue, details: [], on: &machine) {
            try $0.discontinue(by: Fixtures.greta, at: Fixtures.muchLater, reason: Self.reason)
        }
        #expect(
            machine.discontinueAuthority(of: Fixtures.greta, at: Fixtures.muchLater) == .failure(try #require(refusal)))
    }

    // MARK: Definitions other than the shipped ones

    /// Owner and steward step keep their deadline but escalate to nobody: nobody may discontinue there,
    /// however long it waits, the Governance Office neither.
    @Test("a step without escalate_to cannot be discontinued, in review or with a question open")
    func stepWithoutEscalation() throws {
        let definition = try Fixtures.sharedDataVariant(
            replacing: "deadline: { working_days: 5, remind_before: 2, escalate_to: governance }",
            with: "deadline: { working_days: 5, remind_before: 2 }")
        #expect(definition.step("owner_review")?.escalationRole == nil)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        for decider in [Fixtures.greta, Self.gabi, Fixtures.otto] {
            Fixtures.expectRefused(
                .invalidTransition, .discontinue, details: ["step owner_review has no escalation"], on: &machine
            ) { try $0.discontinue(by: decider, at: Fixtures.muchLater, reason: Self.reason) }
        }
        _ = try machine.requestChanges(by: Fixtures.otto, at: Fixtures.t0, question: "Zu welchem Zweck?")
        Fixtures.expectRefused(
            .invalidTransition, .discontinue, details: ["step owner_review has no escalation"], on: &machine
        ) { try $0.discontinue(by: Fixtures.greta, at: Fixtures.muchLater, reason: Self.reason) }
    }

    /// The escalation instance is whoever `escalate_to` names, not the Governance Office as such.
    @Test("a step escalating to the Open Data officer: the officer may, the Governance Office not")
    func escalationRoleOfTheDefinition() throws {
        let definition = try Fixtures.sharedDataVariant(
            replacing: "deadline: { working_days: 5, remind_before: 2, escalate_to: governance }",
            with: "deadline: { working_days: 5, remind_before: 2, escalate_to: open_data_officer }")
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        Fixtures.expectRefused(.notAuthorised, .discontinue, on: &machine) {
            try $0.discontinue(by: Fixtures.greta, at: Self.ownerDeadline, reason: Self.reason)
        }
        _ = try machine.discontinue(by: Fixtures.olga, at: Self.ownerDeadline, reason: Self.reason)
        #expect(machine.decisions.last?.role == .openDataOfficer)
        #expect(machine.decisions.last?.asEscalation == true)
        #expect(machine.state.name == "closed:withdrawn")
    }

    /// `DefinitionFixtures.base`: the DSB step has no deadline at all, hence no escalation, in review and
    /// with a question open. (The question's time was once computed first, from a deadline of 0 working
    /// days, which the calendar's precondition stopped: a page asking "may this person discontinue?" would
    /// have ended the process.)
    @Test("a step without a deadline cannot be discontinued, and asking does not crash")
    func stepWithoutDeadline() throws {
        let definition = try DefinitionFixtures.parse(DefinitionFixtures.base)
        var machine = try Fixtures.submitted(definition, Fixtures.shared(.internal, .personal))
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:privacy")
        Fixtures.expectRefused(
            .invalidTransition, .discontinue, details: ["step privacy has no escalation"], on: &machine
        ) {
            try $0.discontinue(by: Fixtures.greta, at: Fixtures.muchLater, reason: Self.reason)
        }
        _ = try machine.requestChanges(by: Fixtures.dora, at: Fixtures.t0, question: "Rechtsgrundlage?")
        #expect(machine.escalationDue == nil)
        Fixtures.expectRefused(
            .invalidTransition, .discontinue, details: ["step privacy has no escalation"], on: &machine
        ) {
            try $0.discontinue(by: Fixtures.greta, at: Fixtures.muchLater, reason: Self.reason)
        }
    }

    // MARK: The timeline

    @Test("the planned path shows the discontinued step as done and everything after it as not reached")
    func plannedPath() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.everyStepApplies(.sharedData))
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        #expect(machine.plannedPath().map(\.status) == [.done, .current, .ahead, .ahead, .ahead])
        _ = try machine.discontinue(by: Fixtures.greta, at: Self.ownerDeadline, reason: Self.reason)
        #expect(
            machine.plannedPath().map(\.node) == [
                .step("owner_review"), .step("steward_review"), .step("privacy_review"), .step("security_review"),
                .end("granted"),
            ])
        #expect(machine.plannedPath().map(\.status) == [.done, .done, .notReached, .notReached, .notReached])
    }
}
