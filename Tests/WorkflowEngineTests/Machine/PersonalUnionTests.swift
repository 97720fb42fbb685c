import Foundation
import Testing

@testable import WorkflowEngine

/// Sina owns a dataset and is a Data Steward of its domain ("Personalunion ist möglich").
@Suite("Personalunion of Data Owner and Data Steward")
struct PersonalUnionTests {
    typealias Fixtures = MachineFixtures

    @Test("combine: one decision covers owner and steward step, recorded as covering both")
    func combineShared() throws {
        let definition = try Fixtures.definition(.sharedData)
        #expect(definition.personalUnion == .combine)
        var machine = try Fixtures.submitted(definition, Fixtures.shared(.internal, .personal))
        let t1 = Fixtures.minutes(90)
        let effects = try machine.approve(by: Fixtures.sina, at: t1, comment: "als Owner und Steward")
        #expect(
            effects == Fixtures.after(
                "in_review:privacy_review", machine,
                [
                    Fixtures.audit(
                        .approved, actor: "sina", role: .dataOwner, step: "owner_review",
                        comment: "als Owner und Steward",
                        covers: ["owner_review", "steward_review"], at: t1),
                    .cancelTimers(step: "owner_review"),
                    Fixtures.audit(.stepSkipped, step: "steward_review", comment: "personal_union", at: t1),
                ]) + Fixtures.entering("privacy_review", role: .dsb, workingDays: 10, remindBefore: 3, at: t1))
        #expect(machine.state.name == "in_review:privacy_review")
        #expect(machine.decisions.count == 1)
        let decision = try #require(machine.decisions.first)
        #expect(decision.covers == ["owner_review", "steward_review"])
        #expect(decision.person == "sina" && decision.actingFor == nil && decision.role == .dataOwner)
        #expect(decision.branch == "owner_review" && !decision.asEscalation)
    }

    @Test("combine in Open Data: past the steward step straight to publication when no review applies")
    func combineOpen() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open())
        _ = try machine.approve(by: Fixtures.sina, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:publication")
        #expect(machine.decisions.map(\.covers) == [["owner_review", "steward_review"]])
    }

    @Test("combine: a Data Owner who is not a steward decides only the owner step")
    func noUnionWithoutStewardRole() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:steward_review")
        #expect(machine.decisions.map(\.covers) == [["owner_review"]])
    }

    /// The pages name who must act from this answer; it must be the engine's own refusal, person by person.
    @Test("who separation of duties keeps from a role agrees with the authority the engine grants")
    func keptFromDecidingAgreesWithAuthority() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        #expect(machine.keptFromDeciding(.dataOwner) == ["anna"], "only the requester before anyone decided")
        let pia = Fixtures.deputy("pia", for: "sina", principalRoles: [.dataOwner, .dataSteward])
        _ = try machine.approve(by: pia, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:steward_review")
        let kept = machine.keptFromDeciding(.dataSteward)
        #expect(kept == ["anna", "pia", "sina"])
        #expect(machine.keptFromDeciding(.dataOwner).isEmpty, "no open branch of the role")
        let stewardAnna = Decider(person: "anna", roles: [.dataSteward])
        let piaAsStewardDeputy = Fixtures.deputy("pia", for: "stefan", principalRoles: [.dataSteward])
        for decider in [Fixtures.sina, Fixtures.stefan, stewardAnna, piaAsStewardDeputy] {
            let refused = kept.contains(decider.person)
            if case .success = machine.authority(of: decider, at: Fixtures.t0) {
                #expect(!refused, "\(decider.person) may decide, so is not kept out")
            } else {
                #expect(refused, "\(decider.person) is refused, so is kept out")
            }
        }
        _ = try machine.withdraw(by: Fixtures.requester, at: Fixtures.t0)
        #expect(machine.keptFromDeciding(.dataSteward).isEmpty, "nothing in review")
    }

    @Test("combine: Sina's deputy decides only the owner step, and neither of them the steward step")
    func noUnionForDeputy() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let pia = Fixtures.deputy("pia", for: "sina", principalRoles: [.dataOwner, .dataSteward])
        _ = try machine.approve(by: pia, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:steward_review")
        #expect(machine.decisions.map(\.covers) == [["owner_review"]])
        #expect(machine.decisions.first?.actingFor == "sina")
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: Fixtures.sina, at: Fixtures.t0)
        }
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: pia, at: Fixtures.t0)
        }
        _ = try machine.approve(by: Fixtures.stefan, at: Fixtures.t0)
        #expect(machine.state.name == "granted:granted")
    }

    @Test("combine: a rejection by Sina is an ordinary rejection of the owner step")
    func unionReject() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        _ = try machine.reject(by: Fixtures.sina, at: Fixtures.t0, reason: "nein")
        #expect(machine.state.name == "closed:rejected")
        #expect(machine.decisions.map(\.covers) == [["owner_review"]])
    }

    @Test("separate: Sina decides the owner step only; another steward must decide, Sina is refused")
    func separate() throws {
        let definition = try Fixtures.sharedDataVariant(
            replacing: "personal_union: combine", with: "personal_union: separate")
        #expect(definition.personalUnion == .separate)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        let t1 = Fixtures.minutes(1)
        let effects = try machine.approve(by: Fixtures.sina, at: t1)
        #expect(
            effects == Fixtures.after(
                "in_review:steward_review", machine,
                [
                    Fixtures.audit(.approved, actor: "sina", role: .dataOwner, step: "owner_review", at: t1),
                    .cancelTimers(step: "owner_review"),
                ]) + Fixtures.entering("steward_review", role: .dataSteward, workingDays: 5, remindBefore: 2, at: t1))
        #expect(machine.state.name == "in_review:steward_review")
        #expect(machine.decisions.map(\.covers) == [["owner_review"]])
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .approve, on: &machine) {
            try $0.approve(by: Fixtures.sina, at: t1)
        }
        Fixtures.expectRefused(.alreadyDecidedAnotherStep, .reject, on: &machine) {
            try $0.reject(by: Fixtures.sina, at: t1, reason: "doch nicht")
        }
        _ = try machine.approve(by: Fixtures.stefan, at: t1)
        #expect(machine.state.name == "granted:granted")
        #expect(machine.decisions.map(\.person) == ["sina", "stefan"])
    }
}
