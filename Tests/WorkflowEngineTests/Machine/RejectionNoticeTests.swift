import Foundation
import Testing

@testable import WorkflowEngine

/// Who learns that a rejection ended a step, and that a withdrawal left nothing to close: the roles the
/// step's other parts still waited for, and the escalation instance the step (or its question) was handed to.
@Suite("Rejection and withdrawal notices")
struct RejectionNoticeTests {
    typealias Fixtures = MachineFixtures

    /// The roles told by `effects`, with how (`stepRejected`, `stepRejected as escalation`, `withdrawn …`).
    private static func told(_ effects: [Effect]) -> [String] {
        effects.compactMap { effect -> String? in
            switch effect {
            case .inform(let role, .stepRejected(let decision, let asEscalation)):
                "\(role) rejected by \(decision.person)" + (asEscalation ? " as escalation" : "")
            case .inform(let role, .withdrawn(_, _, let asEscalation)):
                "\(role) withdrawn" + (asEscalation ? " as escalation" : "")
            case .inform(let role, .takenOver(let decision)):
                "\(role) taken over by \(decision.person)"
            default: nil
            }
        }
    }

    private static func legalReview(exclusions: Bool = true) throws -> RequestMachine {
        var facts = Fixtures.open(.confidential, .anonymised)
        if exclusions { facts.checkExclusions = [.tradeSecrets] }
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), facts)
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        return machine
    }

    @Test("a parallel step: the DSB's rejection tells the ISB and the Governance Office, whose parts were open")
    func rejectionTellsTheOpenParts() throws {
        var machine = try Self.legalReview()
        guard case .inReview(let legal) = machine.state else {
            Issue.record("not in legal review: \(machine.state.name)")
            return
        }
        #expect(legal.activeBranches == ["privacy_review", "security_review", "exclusions_review"])
        let effects = try machine.reject(by: Fixtures.dora, at: Fixtures.days(1), reason: "Personenbezug bleibt")
        #expect(Self.told(effects) == ["isb rejected by dora", "governance rejected by dora"])
        let rejection = machine.decisions.last
        #expect(effects.contains(.inform(role: .isb, .stepRejected(try #require(rejection)))))
        #expect(machine.state == .closed(end: "rejected"))
    }

    @Test("a part already decided is not told again")
    func decidedPartsAreNotTold() throws {
        var machine = try Self.legalReview(exclusions: false)
        _ = try machine.approve(by: Fixtures.ingo, at: Fixtures.days(1), branch: "security_review")
        let effects = try machine.reject(by: Fixtures.dora, at: Fixtures.days(2), reason: "Personenbezug bleibt")
        #expect(Self.told(effects) == [])
    }

    /// A Shared Data request whose owner step passed its deadline and was handed to the escalation instance.
    private static func escalatedOwnerStep() throws -> (machine: RequestMachine, deadline: Date) {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.everyStepApplies(.sharedData))
        guard case .inReview(let owner) = machine.state, let deadline = owner.deadline else {
            throw Fixtures.FixtureError(description: "not in review: \(machine.state.name)")
        }
        _ = try machine.escalate(at: deadline)
        return (machine, deadline)
    }

    @Test("an escalated step: the owner's late rejection tells the escalation instance, which was handed it")
    func lateRejectionTellsTheEscalationInstance() throws {
        var (machine, deadline) = try Self.escalatedOwnerStep()
        let effects = try machine.reject(by: Fixtures.otto, at: deadline.addingTimeInterval(60), reason: "Nein")
        #expect(Self.told(effects) == ["governance rejected by otto as escalation"])
    }

    @Test("the escalation instance's own rejection tells the owner it was taken over, and not itself")
    func escalationRejectionTellsOnlyTheOwner() throws {
        var (machine, deadline) = try Self.escalatedOwnerStep()
        let effects = try machine.reject(by: Fixtures.greta, at: deadline.addingTimeInterval(60), reason: "Nein")
        #expect(Self.told(effects) == ["data_owner taken over by greta"])
    }

    @Test("a step not escalated: a rejection tells nobody but the requester")
    func plainRejectionTellsNoRole() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.everyStepApplies(.sharedData))
        let effects = try machine.reject(by: Fixtures.otto, at: Fixtures.days(1), reason: "Nein")
        #expect(Self.told(effects) == [])
        #expect(effects.contains(.notifyRequester(.rejected(step: "owner_review", reason: "Nein"))))
    }

    @Test("a rejection that leads to another step tells no other part: that step's tasks ask whom it asks")
    func rejectionRoutedOnTellsNobody() throws {
        let text = try Fixtures.text(of: .openData)
        let original = "    on: { approve: publication, reject: rejected }"
        #expect(text.contains(original))
        let definition = try Fixtures.parse(
            text.replacingOccurrences(of: original, with: "    on: { approve: publication, reject: steward_review }"))
        var facts = Fixtures.open(.confidential, .anonymised)
        facts.checkExclusions = [.tradeSecrets]
        var machine = try Fixtures.submitted(definition, facts)
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        let effects = try machine.reject(by: Fixtures.dora, at: Fixtures.days(1), reason: "Erst klären")
        #expect(Self.told(effects) == [])
        #expect(machine.state.name == "in_review:steward_review")
    }

    @Test("a step escalated before its question: a withdrawal tells the escalation instance at once")
    func withdrawalOfAQuestionAfterTheStepEscalated() throws {
        var (machine, deadline) = try Self.escalatedOwnerStep()
        _ = try machine.requestChanges(by: Fixtures.otto, at: deadline.addingTimeInterval(60), question: "Zeitraum?")
        let effects = try machine.withdraw(by: Fixtures.requester, at: deadline.addingTimeInterval(120))
        #expect(Self.told(effects) == ["data_owner withdrawn", "governance withdrawn as escalation"])
    }

    @Test("a question left unanswered until the escalation: a withdrawal tells the escalation instance too")
    func withdrawalAfterAnUnansweredQuestion() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.everyStepApplies(.sharedData))
        _ = try machine.requestChanges(by: Fixtures.otto, at: Fixtures.days(1), question: "Zeitraum?")
        let due = try #require(machine.escalationDue)

        var early = machine
        let before = try early.withdraw(by: Fixtures.requester, at: due.addingTimeInterval(-1))
        #expect(Self.told(before) == ["data_owner withdrawn"])

        _ = try machine.escalate(at: due)
        let after = try machine.withdraw(by: Fixtures.requester, at: due.addingTimeInterval(1))
        #expect(Self.told(after) == ["data_owner withdrawn", "governance withdrawn as escalation"])
    }
}
