import Foundation
import Testing

@testable import WorkflowEngine

/// The requester never decides; one person never decides two steps; a quorum needs distinct people.
@Suite("Separation of duties")
struct SeparationOfDutiesTests {
    typealias Fixtures = MachineFixtures

    /// A steward board that needs two distinct stewards.
    static let quorumYAML = """
        id: quorum-board
        version: 1
        title: { de: Datenbeirat, en: Data board }
        kinds: [shared_data]
        start: board
        withdraw: withdrawn
        steps:
          - id: board
            title: Beschluss des Datenbeirats
            role: data_steward
            quorum: 2
            on: { approve: granted, reject: rejected }
        ends:
          - id: granted
            type: granted
            title: Freigegeben
            on: { expire: expired, revoke: revoked }
            revocable_by: [data_steward]
          - id: expired
            type: final
            title: Abgelaufen
          - id: revoked
            type: final
            title: Widerrufen
          - id: rejected
            type: final
            title: Abgelehnt
          - id: withdrawn
            type: final
            title: Zurückgezogen
        """

    // MARK: The requester

    @Test("the requester cannot decide as deputy of the Data Owner")
    func requesterAsDeputy() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let anna = Fixtures.deputy("anna", for: "otto", principalRoles: [.dataOwner])
        let now = Fixtures.minutes(5)
        Fixtures.expectRefused(.requesterCannotDecide, .approve, on: &machine) { try $0.approve(by: anna, at: now) }
        Fixtures.expectRefused(.requesterCannotDecide, .reject, on: &machine) {
            try $0.reject(by: anna, at: now, reason: "nein")
        }
        Fixtures.expectRefused(.requesterCannotDecide, .requestChanges, on: &machine) {
            try $0.requestChanges(by: anna, at: now, question: "?")
        }
    }

    @Test("a Data Owner who files the request cannot decide it, neither can the deputy; escalation can")
    func ownerAsRequester() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.shared(), requester: "otto")
        let now = Fixtures.minutes(5)
        Fixtures.expectRefused(.requesterCannotDecide, .approve, on: &machine) {
            try $0.approve(by: Fixtures.otto, at: now)
        }
        Fixtures.expectRefused(.requesterCannotDecide, .approve, on: &machine) {
            try $0.approve(by: Fixtures.paul, at: now)
        }
        guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
            Issue.record("not in review")
            return
        }
        _ = try machine.escalate(at: deadline)
        _ = try machine.approve(by: Fixtures.greta, at: deadline)
        #expect(machine.state.name == "in_review:steward_review")
        #expect(machine.decisions.map(\.person) == ["greta"])
        #expect(machine.decisions.first?.asEscalation == true)
        #expect(machine.decisions.first?.role == .governance)
    }

    // MARK: One person, one step

    @Test("a person holding two roles decides only one of the steps")
    func twoRolesTwoSteps() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.shared(.internal, .personal))
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let max = Decider(person: "max", roles: [.dataSteward, .dsb])
        _ = try machine.approve(by: max, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:privacy_review")
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: max, at: Fixtures.t0)
        }
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .reject, on: &machine) {
            try $0.reject(by: max, at: Fixtures.t0, reason: "nein")
        }
        _ = try machine.approve(by: Fixtures.dora, at: Fixtures.t0)
        #expect(machine.state.name == "granted:granted")
    }

    @Test("asking for changes is a decision: the person cannot decide a later step afterwards")
    func changesRequestedCounts() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.sharedData), Fixtures.shared(.internal, .personal))
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let max = Decider(person: "max", roles: [.dataSteward, .dsb])
        _ = try machine.requestChanges(by: max, at: Fixtures.t0, question: "Welche Felder genau?")
        _ = try machine.resubmit(by: "anna", at: Fixtures.t0)
        _ = try machine.approve(by: Fixtures.stefan, at: Fixtures.t0)
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: max, at: Fixtures.t0)
        }
    }

    @Test("a deputy cannot decide a step for a principal who already decided another one; nor can the principal")
    func deputyOfPrincipalWhoDecided() throws {
        // Otto owns the dataset and is a steward of its domain, under a definition that keeps the steps apart.
        let definition = try Fixtures.sharedDataVariant(
            replacing: "personal_union: combine", with: "personal_union: separate")
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        let otto = Decider(person: "otto", roles: [.dataOwner, .dataSteward])
        _ = try machine.approve(by: otto, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:steward_review")
        let paul = Fixtures.deputy("paul", for: "otto", principalRoles: [.dataOwner, .dataSteward])
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: paul, at: Fixtures.t0)
        }
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: otto, at: Fixtures.t0)
        }
        _ = try machine.approve(by: Fixtures.stefan, at: Fixtures.t0)
        #expect(machine.state.name == "granted:granted")
    }

    @Test("a deputy who decided one step cannot decide another in their own role")
    func deputyThenOwnRole() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let paul = Fixtures.deputy("paul", for: "otto", principalRoles: [.dataOwner], ownRoles: [.dataSteward])
        _ = try machine.approve(by: paul, at: Fixtures.t0)
        #expect(machine.decisions.last?.actingFor == "otto")
        // No Personalunion for a deputy: the steward step still waits.
        #expect(machine.state.name == "in_review:steward_review")
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: paul, at: Fixtures.t0)
        }
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .requestChanges, on: &machine) {
            try $0.requestChanges(by: paul, at: Fixtures.t0, question: "?")
        }
    }

    @Test("one person holding DSB and ISB roles decides only one branch of the parallel step")
    func parallelBranchesNeedTwoPeople() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.openData), Fixtures.open(.confidential, .anonymised))
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        let vera = Decider(person: "vera", roles: [.dsb, .isb])
        _ = try machine.approve(by: vera, at: Fixtures.t0)
        #expect(machine.decisions.last?.branch == "privacy_review")
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: vera, at: Fixtures.t0)
        }
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: vera, at: Fixtures.t0, branch: "security_review")
        }
        _ = try machine.approve(by: Fixtures.ingo, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:publication")
    }

    // MARK: Quorum

    @Test("a quorum of two needs two distinct people; the same person or a deputy of an approver is refused")
    func quorum() throws {
        let definition = try Fixtures.parse(Self.quorumYAML, file: "quorum.yaml")
        #expect(definition.step("board")?.branches.first?.quorum == 2)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        let t1 = Fixtures.minutes(1)
        let first = try machine.approve(by: Fixtures.stefan, at: t1)
        #expect(
            first
                == Fixtures.after(
                    "in_review:board", machine,
                    [
                        Fixtures.audit(.approved, actor: "stefan", role: .dataSteward, step: "board", at: t1)
                    ]))
        #expect(machine.state.name == "in_review:board")
        Fixtures.expectRefused(.alreadyApproved, .approve, on: &machine) {
            try $0.approve(by: Fixtures.stefan, at: t1)
        }
        let deputyOfStefan = Fixtures.deputy("paul", for: "stefan", principalRoles: [.dataSteward])
        Fixtures.expectRefused(.alreadyApproved, .approve, on: &machine) {
            try $0.approve(by: deputyOfStefan, at: t1)
        }
        let annaAsSteward = Decider(person: "anna", roles: [.dataSteward])
        Fixtures.expectRefused(.requesterCannotDecide, .approve, on: &machine) {
            try $0.approve(by: annaAsSteward, at: t1)
        }
        let t2 = Fixtures.minutes(2)
        let second = try machine.approve(by: Fixtures.sina, at: t2)
        #expect(
            second
                == Fixtures.after(
                    "granted:granted", machine,
                    [
                        Fixtures.audit(.approved, actor: "sina", role: .dataSteward, step: "board", at: t2),
                        .cancelTimers(step: "board"),
                        .scheduleExpiryNotice(at: ExpiryNoticeTests.noticeDue), .scheduleExpiry(at: Fixtures.accessEnd),
                        .notifyRequester(.granted(until: Fixtures.accessEnd)),
                        .inform(role: .dataOwner, .accessGranted(until: Fixtures.accessEnd)),
                        Fixtures.audit(.ended, step: "granted", at: t2),
                    ]))
        #expect(machine.decisions.map(\.person) == ["stefan", "sina"])
    }

    @Test("a quorum approval by a deputy counts for the principal, who then cannot approve again")
    func quorumDeputyFirst() throws {
        let definition = try Fixtures.parse(Self.quorumYAML, file: "quorum.yaml")
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        let deputyOfStefan = Fixtures.deputy("paul", for: "stefan", principalRoles: [.dataSteward])
        _ = try machine.approve(by: deputyOfStefan, at: Fixtures.t0)
        #expect(machine.decisions.last?.actingFor == "stefan")
        Fixtures.expectRefused(.alreadyApproved, .approve, on: &machine) {
            try $0.approve(by: Fixtures.stefan, at: Fixtures.t0)
        }
        // Paul in his own right is a different person from Stefan, but he already approved once.
        let paulAsSteward = Decider(person: "paul", roles: [.dataSteward])
        Fixtures.expectRefused(.alreadyApproved, .approve, on: &machine) {
            try $0.approve(by: paulAsSteward, at: Fixtures.t0)
        }
        _ = try machine.approve(by: Fixtures.sina, at: Fixtures.t0)
        #expect(machine.state.name == "granted:granted")
    }
}
