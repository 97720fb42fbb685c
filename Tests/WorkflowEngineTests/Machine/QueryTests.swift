import Foundation
import Testing

@testable import WorkflowEngine

/// The read-only questions the server asks instead of re-deriving rules: who may decide and how, which
/// roles wait, the path for the timeline, whom a request concerns, and who lost a race.
@Suite("Read-only queries of the machine")
struct QueryTests {
    typealias Fixtures = MachineFixtures

    // MARK: Authority

    @Test("authority names the capacity; approve takes exactly the decision it describes")
    func authorityCapacities() throws {
        let definition = try Fixtures.definition(.sharedData)
        let machine = try Fixtures.submitted(definition, Fixtures.shared(.confidential))
        let asked = Fixtures.paulFrom.addingTimeInterval(3600)
        #expect(
            try machine.authority(of: Fixtures.otto, at: asked).get()
                == DecisionAuthority(
                    person: "otto", step: "owner_review", branch: "owner_review", capacity: .ownRole(.dataOwner)))
        #expect(
            try machine.authority(of: Fixtures.sina, at: asked).get()
                == DecisionAuthority(
                    person: "sina", step: "owner_review", branch: "owner_review", capacity: .ownRole(.dataOwner),
                    coversPersonalUnionStep: "steward_review"))
        let deputy = try machine.authority(of: Fixtures.paul, at: asked).get()
        #expect(
            deputy
                == DecisionAuthority(
                    person: "paul", step: "owner_review", branch: "owner_review",
                    capacity: .deputy(of: "otto", role: .dataOwner)))
        #expect(deputy.principal == "otto" && deputy.role == .dataOwner && !deputy.asEscalation)
        #expect(
            machine.authority(of: Fixtures.ingo, at: asked, for: .reject)
                == .failure(WorkflowError(.notAuthorised, state: "in_review:owner_review", event: .reject)))
        #expect(
            machine.authority(of: Fixtures.paul, at: Fixtures.paulUntil)
                == .failure(WorkflowError(.deputyshipNotActive, state: "in_review:owner_review", event: .approve)))

        // The event acts on the answer: the recorded decision is the authority's.
        var deciding = machine
        _ = try deciding.approve(by: Fixtures.paul, at: asked)
        let decision = try #require(deciding.decisions.last)
        #expect(
            [decision.person, decision.actingFor, decision.branch] == [deputy.person, deputy.principal, deputy.branch])
        #expect(decision.role == deputy.role && decision.asEscalation == deputy.asEscalation)
    }

    @Test("after escalation the escalation role may decide, and the audit record says in which capacity")
    func escalationCapacity() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        #expect(machine.escalationRole == .governance)
        #expect(machine.decidingEscalationRole == nil)
        let deadline = Fixtures.deadline(5, from: Fixtures.t0)
        _ = try machine.escalate(at: deadline)
        #expect(machine.decidingEscalationRole == .governance)
        #expect(
            try machine.authority(of: Fixtures.greta, at: deadline).get()
                == DecisionAuthority(
                    person: "greta", step: "owner_review", branch: "owner_review", capacity: .escalation(.governance)))
        let effects = try machine.approve(by: Fixtures.greta, at: deadline)
        #expect(
            effects.first
                == Fixtures.after(
                    "in_review:steward_review", definition, deadline: Fixtures.deadline(5, from: deadline),
                    [
                        Fixtures.audit(
                            .approved, actor: "greta", role: .governance, asEscalation: true, step: "owner_review",
                            at: deadline)
                    ]
                ).first)
    }

    @Test("nobody decides in place of the DSB: its escalation role only informs")
    func controllerEscalation() throws {
        var machine = try Fixtures.machine(.sharedData, in: "in_review:privacy_review")
        guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
            Issue.record("not in review")
            return
        }
        _ = try machine.escalate(at: deadline)
        #expect(machine.escalationRole == .governance)
        #expect(machine.decidingEscalationRole == nil)
        #expect(
            machine.authority(of: Fixtures.greta, at: deadline)
                == .failure(WorkflowError(.notAuthorised, state: "in_review:privacy_review", event: .approve)))
    }

    @Test("revokeAuthority: own role, deputy, and the requester who holds a revoking role")
    func revokeAuthority() throws {
        let granted = try Fixtures.machine(.sharedData, in: "granted:granted")
        #expect(
            try granted.revokeAuthority(of: Fixtures.dora, at: Fixtures.t0).get()
                == DecisionAuthority(person: "dora", step: "granted", branch: "granted", capacity: .ownRole(.dsb)))
        #expect(
            try granted.revokeAuthority(of: Fixtures.paul, at: Fixtures.t0).get()
                == DecisionAuthority(
                    person: "paul", step: "granted", branch: "granted", capacity: .deputy(of: "otto", role: .dataOwner))
        )
        #expect(
            granted.revokeAuthority(of: Decider(person: "anna", roles: [.governance]), at: Fixtures.t0)
                == .failure(WorkflowError(.requesterCannotDecide, state: "granted:granted", event: .revoke)))
        let draft = try Fixtures.draft(try Fixtures.definition(.sharedData), Fixtures.shared())
        #expect(
            draft.revokeAuthority(of: Fixtures.otto, at: Fixtures.t0)
                == .failure(WorkflowError(.invalidTransition, state: "draft", event: .revoke)))
    }

    // MARK: Pending roles

    @Test("pending roles are the open branches' roles, and none outside review")
    func pendingRoles() throws {
        var machine = try Fixtures.machine(.openData, in: "in_review:legal_review")
        #expect(machine.pendingRoles == [.dsb, .isb])
        _ = try machine.approve(by: Fixtures.dora, at: Fixtures.t0)
        #expect(machine.pendingRoles == [.isb])
        #expect(try Fixtures.machine(.openData, in: "changes_requested:legal_review").pendingRoles == [])
        #expect(try Fixtures.machine(.openData, in: "draft").pendingRoles == [])
        #expect(try Fixtures.machine(.openData, in: "draft").escalationRole == nil)
        #expect(machine.definition.escalationRole(of: "publication") == .governance)
        #expect(machine.definition.escalationRole(of: "published") == nil)
    }

    // MARK: Planned path

    @Test("the path of a Shared Data request without personal data: DSB and ISB skipped, with their conditions")
    func sharedPath() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.shared(.public))
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.t0)
        let noPersonalData = ConditionExplanation(
            holds: false,
            atoms: [
                .init(
                    attribute: .personalData, comparison: .atLeast, bounds: ["pseudonymised"], actual: "none",
                    held: false)
            ])
        // any_of failed: every part, each failed (the all_of by its failed part, the recipient is internal).
        let noSecurityConcern = ConditionExplanation(
            holds: false,
            atoms: [
                .init(
                    attribute: .classification, comparison: .atLeast, bounds: ["confidential"], actual: "public",
                    held: false),
                .init(
                    attribute: .protectionNeed, comparison: .atLeast, bounds: ["high"], actual: "normal", held: false),
                .init(attribute: .recipient, comparison: .oneOf, bounds: ["external"], actual: "internal", held: false),
                .init(
                    attribute: .classification, comparison: .atLeast, bounds: ["internal"], actual: "public",
                    held: false),
            ])
        #expect(
            machine.plannedPath() == [
                PathEntry(node: .step("owner_review"), role: .dataOwner, applying: .always, status: .done),
                PathEntry(node: .step("steward_review"), role: .dataSteward, applying: .always, status: .current),
                PathEntry(
                    node: .step("privacy_review"), role: .dsb, notApplying: .conditionNotMet(noPersonalData),
                    status: .skipped),
                PathEntry(
                    node: .step("security_review"), role: .isb, notApplying: .conditionNotMet(noSecurityConcern),
                    status: .skipped),
                PathEntry(node: .end("granted"), role: nil, status: .ahead),
            ])
        #expect(machine.applyingRoles() == [.dataOwner, .dataSteward])
        #expect(machine.escalationRoles() == [.governance])

        var rejected = machine
        _ = try rejected.reject(by: Fixtures.stefan, at: Fixtures.t0, reason: "nein")
        #expect(
            rejected.plannedPath().map(\.status) == [.done, .done, .skipped, .skipped, .notReached])
        var granted = machine
        _ = try granted.approve(by: Fixtures.stefan, at: Fixtures.t0)
        #expect(granted.plannedPath().map(\.status) == [.done, .done, .skipped, .skipped, .current])
        _ = try granted.expire(at: Fixtures.accessEnd)
        #expect(granted.plannedPath().map(\.status) == [.done, .done, .skipped, .skipped, .done])
    }

    @Test("the path of an Open Data request with one legal branch, before and during review")
    func openPath() throws {
        let definition = try Fixtures.definition(.openData)
        let facts = Fixtures.open(.internal, .none, .veryHigh)
        let draft = try Fixtures.draft(definition, facts)
        let noPersonalReference = ConditionExplanation(
            holds: false,
            atoms: [
                .init(
                    attribute: .personalData, comparison: .atLeast, bounds: ["anonymised"], actual: "none", held: false),
                .init(
                    attribute: .checkPersonalReference, comparison: .oneOf, bounds: ["true"], actual: "false",
                    held: false),
            ])
        // any_of held: only the part that held.
        let highProtection = ConditionExplanation(
            holds: true,
            atoms: [
                .init(
                    attribute: .protectionNeed, comparison: .atLeast, bounds: ["high"], actual: "very_high", held: true)
            ])
        let noExclusion = ConditionExplanation(
            holds: false,
            atoms: [Attribute.checkTradeSecrets, .checkThirdPartyRights, .checkConfidentiality].map {
                .init(attribute: $0, comparison: .oneOf, bounds: ["true"], actual: "false", held: false)
            })
        #expect(
            draft.plannedPath() == [
                PathEntry(node: .step("owner_review"), role: .dataOwner, applying: .always, status: .ahead),
                PathEntry(node: .step("steward_review"), role: .dataSteward, applying: .always, status: .ahead),
                PathEntry(node: .step("legal_review"), role: nil, applying: .always, status: .ahead),
                PathEntry(
                    node: .branch("privacy_review", step: "legal_review"), role: .dsb,
                    notApplying: .conditionNotMet(noPersonalReference), status: .skipped),
                PathEntry(
                    node: .branch("security_review", step: "legal_review"), role: .isb,
                    applying: .conditionHolds(highProtection), status: .ahead),
                PathEntry(
                    node: .branch("exclusions_review", step: "legal_review"), role: .governance,
                    notApplying: .conditionNotMet(noExclusion), status: .skipped),
                PathEntry(node: .step("publication"), role: .openDataOfficer, applying: .always, status: .ahead),
                PathEntry(node: .end("published"), role: nil, status: .ahead),
            ])
        // DSB never sees this request; the ISB does, Governance only as escalation instance.
        #expect(draft.applyingRoles() == [.dataOwner, .dataSteward, .isb, .openDataOfficer])

        var inReview = try Fixtures.submitted(definition, Fixtures.open(.confidential, .anonymised))
        try Fixtures.drive(&inReview, to: "in_review:legal_review")
        _ = try inReview.approve(by: Fixtures.dora, at: Fixtures.t0)
        #expect(
            inReview.plannedPath().map(\.status) == [.done, .done, .current, .done, .current, .skipped, .ahead, .ahead])

        let nothingLegal = try Fixtures.draft(definition, Fixtures.open())
        // No branch applies: the step says so, each branch says why not on its own condition.
        let legal = try #require(definition.step("legal_review")?.branches)
        #expect(
            nothingLegal.plannedPath().filter { !$0.applies }.map(\.notApplying) == [
                .noBranchApplies,
                .conditionNotMet(try #require(legal[0].condition).explain(for: Fixtures.open())),
                .conditionNotMet(try #require(legal[1].condition).explain(for: Fixtures.open())),
                .conditionNotMet(try #require(legal[2].condition).explain(for: Fixtures.open())),
            ])
        #expect(nothingLegal.plannedPath().filter { !$0.applies }.allSatisfy { $0.applying == nil })
    }

    @Test("a decision by escalation does not make the escalation role one the request concerns")
    func applyingRolesWithoutEscalation() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let deadline = Fixtures.deadline(5, from: Fixtures.t0)
        _ = try machine.escalate(at: deadline)
        _ = try machine.approve(by: Fixtures.greta, at: deadline)
        #expect(machine.decisions.last?.role == .governance)
        #expect(machine.applyingRoles() == [.dataOwner, .dataSteward])
        #expect(machine.escalationRoles() == [.governance])
    }

    // MARK: Races

    @Test(
        "a second owner loses the race: the owner's decision is returned, not a refusal",
        arguments: Fixtures.Shipped.allCases)
    func ownerRace(_ workflow: Fixtures.Shipped) throws {
        let definition = try Fixtures.definition(workflow)
        let facts = workflow == .sharedData ? Fixtures.shared() : Fixtures.open()
        var machine = try Fixtures.submitted(definition, facts)
        let olaf = Decider(person: "olaf", roles: [.dataOwner])
        #expect(machine.decisionAlreadyTaken(by: olaf, at: Fixtures.t0) == nil, "olaf may still decide")
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.t0)
        let owners = try #require(machine.decisions.first)
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
            try $0.approve(by: olaf, at: Fixtures.minutes(1))
        }
        #expect(machine.decisionAlreadyTaken(by: olaf, at: Fixtures.minutes(1)) == owners)
        #expect(machine.decisionAlreadyTaken(by: Fixtures.otto, at: Fixtures.minutes(1)) == owners)
        #expect(machine.decisionAlreadyTaken(by: Fixtures.paul, at: Fixtures.minutes(1)) == owners)
        #expect(machine.decisionAlreadyTaken(by: Fixtures.ingo, at: Fixtures.minutes(1)) == nil)
        #expect(machine.decisionAlreadyTaken(by: Fixtures.anna, at: Fixtures.minutes(1)) == nil)
        // The steward's turn has come: nothing was taken from them.
        #expect(machine.decisionAlreadyTaken(by: Fixtures.stefan, at: Fixtures.minutes(1)) == nil)
    }

    @Test(
        "an older decision in a role one holds is no lost race; one's own is, however old (the server answers 409 invalid-state either way here)"
    )
    func lateApprovalOfGranted() throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        let stewards = try #require(machine.decisions.last { $0.role == .dataSteward })
        let sven = Decider(person: "sven", roles: [.dataSteward])
        Fixtures.expectRefused(.invalidTransition, .approve, on: &machine) {
            try $0.approve(by: sven, at: Fixtures.t0)
        }
        #expect(machine.decisionAlreadyTaken(by: sven, at: Fixtures.t0) == nil)
        let steward = Decider(person: stewards.person, roles: [.dataSteward])
        #expect(machine.decisionAlreadyTaken(by: steward, at: Fixtures.t0) == stewards)
    }

    @Test("a rejection closes the race for the rejecting role too")
    func rejectionRace() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try machine.reject(by: Fixtures.otto, at: Fixtures.t0, reason: "nein")
        let rejection = try #require(machine.decisions.last)
        let olaf = Decider(person: "olaf", roles: [.dataOwner])
        Fixtures.expectRefused(.invalidTransition, .approve, on: &machine) {
            try $0.approve(by: olaf, at: Fixtures.t0)
        }
        #expect(machine.decisionAlreadyTaken(by: olaf, at: Fixtures.t0) == rejection)
        // The escalation instance could not have decided: the step was not overdue.
        #expect(machine.decisionAlreadyTaken(by: Fixtures.greta, at: Fixtures.t0) == nil)
        #expect(machine.decisionAlreadyTaken(by: Fixtures.olga, at: Fixtures.t0) == nil)
    }

    @Test("the tasks a role holds are what entering the step asked of it; none outside review or for another role")
    func tasksHeldByRole() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.shared(.confidential))
        guard case .inReview(let owners) = machine.state else {
            throw Fixtures.FixtureError(description: "not in review")
        }
        #expect(
            machine.tasks(heldBy: .dataOwner) == [
                .requestDecision(
                    step: "owner_review", branch: "owner_review", role: .dataOwner, deadline: owners.deadline)
            ])
        #expect(machine.tasks(heldBy: .dataSteward).isEmpty)
        let entered = try machine.approve(by: Fixtures.otto, at: Fixtures.t0)
        let asked = entered.filter {
            if case .requestDecision = $0 { true } else { false }
        }
        #expect(asked.count == 1)
        #expect(machine.tasks(heldBy: .dataSteward) == asked)
        #expect(machine.tasks(heldBy: .dataOwner).isEmpty)
        // A question changes nothing.
        let before = machine.snapshot
        _ = machine.tasks(heldBy: .dataSteward)
        #expect(machine.snapshot == before)

        for name in ["changes_requested:owner_review", "granted:granted", "closed:rejected", "draft"] {
            let other = try Fixtures.machine(.sharedData, in: name)
            #expect(Role.builtIn.allSatisfy { other.tasks(heldBy: $0).isEmpty }, "\(name)")
        }
    }
}
