import Foundation
import Testing

@testable import WorkflowEngine

/// Which steps a request passes, for every combination of the routing attributes, and the exact effects
/// of entering, skipping and completing steps.
@Suite("Routing conditions")
struct RoutingTests {
    typealias Fixtures = MachineFixtures

    struct SharedCase: Sendable, CustomTestStringConvertible {
        let classification: Classification
        let personalData: PersonalDataCategory
        let protectionNeed: ProtectionNeed
        let recipient: Recipient
        var facts: RequestFacts { Fixtures.shared(classification, personalData, protectionNeed, recipient: recipient) }
        var testDescription: String {
            "\(classification.rawValue)/\(personalData.rawValue)/\(protectionNeed.rawValue)/\(recipient.rawValue)"
        }
    }

    struct OpenCase: Sendable, CustomTestStringConvertible {
        let classification: Classification
        let personalData: PersonalDataCategory
        let protectionNeed: ProtectionNeed
        var facts: RequestFacts { Fixtures.open(classification, personalData, protectionNeed) }
        var testDescription: String { "\(classification.rawValue)/\(personalData.rawValue)/\(protectionNeed.rawValue)" }
    }

    static let sharedCases: [SharedCase] = Classification.allCases.flatMap { classification in
        PersonalDataCategory.allCases.flatMap { personalData in
            ProtectionNeed.allCases.flatMap { protectionNeed in
                Recipient.allCases.map {
                    SharedCase(
                        classification: classification, personalData: personalData, protectionNeed: protectionNeed,
                        recipient: $0)
                }
            }
        }
    }

    static let openCases: [OpenCase] = Classification.allCases.flatMap { classification in
        PersonalDataCategory.allCases.flatMap { personalData in
            ProtectionNeed.allCases.map {
                OpenCase(classification: classification, personalData: personalData, protectionNeed: $0)
            }
        }
    }

    @Test func everyCombinationIsCovered() {
        #expect(Self.sharedCases.count == 4 * 5 * 3 * 2)
        #expect(Self.openCases.count == 4 * 5 * 3)
    }

    /// Approves with the standard people until the request ends; returns the branches asked to decide, in
    /// order, and the steps or branches recorded as skipped.
    static func run(_ machine: inout RequestMachine) throws -> (asked: [String], skipped: [String], end: String) {
        var asked: [String] = []
        var skipped: [String] = []
        func note(_ effects: [Effect]) {
            for effect in effects {
                if case .requestDecision(_, let branch, _, _) = effect { asked.append(branch) }
                if case .audit(let record) = effect, record.event == .stepSkipped {
                    #expect(record.comment == "condition_not_met")
                    skipped.append(record.step ?? "?")
                }
            }
        }
        note(try machine.submit(by: Fixtures.requester, at: Fixtures.t0))
        var time = Fixtures.t0
        while case .inReview(let progress) = machine.state {
            // The query the server checks a stored snapshot with names the branches the step waits for.
            #expect(
                machine.definition.activeBranches(ofStep: progress.step, of: machine.snapshot)
                    == progress.activeBranches)
            time = Fixtures.minutes(30, after: time)
            note(try Fixtures.approveCurrentStep(&machine, at: time))
        }
        return (asked, skipped, machine.state.name)
    }

    @Test("activeBranches(ofStep:of:) knows no step the definition lacks")
    func activeBranchesOfUnknownStep() throws {
        let definition = try Fixtures.definition(.openData)
        func request(_ facts: RequestFacts) -> RequestSnapshot {
            RequestSnapshot(pin: definition.pin, requester: Fixtures.requester, facts: facts, accessEnd: nil)
        }
        #expect(definition.activeBranches(ofStep: "no_such_step", of: request(Fixtures.open())) == nil)
        #expect(
            definition.activeBranches(ofStep: "legal_review", of: request(Fixtures.open(.confidential, .anonymised)))
                == ["privacy_review", "security_review"])
        #expect(
            definition.activeBranches(ofStep: "legal_review", of: request(Fixtures.open(.public, .anonymised))) == [
                "privacy_review"
            ])
    }

    @Test(
        "Shared Data: DSB from pseudonymised, ISB from confidential, high need or external recipient of internal data",
        arguments: sharedCases)
    func sharedDataRouting(_ routing: SharedCase) throws {
        var machine = try Fixtures.draft(try Fixtures.definition(.sharedData), routing.facts)
        let result = try Self.run(&machine)
        let dsb = routing.personalData >= .pseudonymised
        let isb =
            routing.classification >= .confidential || routing.protectionNeed >= .high
            || (routing.recipient == .external && routing.classification >= .internal)
        #expect(dsb == Fixtures.dsbRequired(routing.facts) && isb == Fixtures.isbRequired(routing.facts))
        var expectedAsked = ["owner_review", "steward_review"]
        var expectedSkipped: [String] = []
        if dsb { expectedAsked.append("privacy_review") } else { expectedSkipped.append("privacy_review") }
        if isb { expectedAsked.append("security_review") } else { expectedSkipped.append("security_review") }
        #expect(result.asked == expectedAsked)
        #expect(result.skipped == expectedSkipped)
        #expect(result.end == "granted:granted")
        #expect(machine.decisions.map(\.role) == expectedAsked.map { Self.sharedRoles[$0]! })
    }

    static let sharedRoles: [String: Role] = [
        "owner_review": .dataOwner, "steward_review": .dataSteward, "privacy_review": .dsb, "security_review": .isb,
    ]

    @Test("Open Data: DSB branch from anonymised, ISB branch from confidential or high need", arguments: openCases)
    func openDataRouting(_ routing: OpenCase) throws {
        var machine = try Fixtures.draft(try Fixtures.definition(.openData), routing.facts)
        let result = try Self.run(&machine)
        let dsb = routing.personalData >= .anonymised
        let isb = routing.classification >= .confidential || routing.protectionNeed >= .high
        var expectedAsked = ["owner_review", "steward_review"]
        var expectedSkipped: [String] = []
        // No exclusion of the check applies here: the Data Governance Office's branch is always skipped.
        switch (dsb, isb) {
        case (true, true):
            expectedAsked += ["privacy_review", "security_review"]
            expectedSkipped.append("exclusions_review")
        case (true, false):
            expectedAsked.append("privacy_review")
            expectedSkipped += ["security_review", "exclusions_review"]
        case (false, true):
            expectedAsked.append("security_review")
            expectedSkipped += ["privacy_review", "exclusions_review"]
        case (false, false): expectedSkipped.append("legal_review")
        }
        expectedAsked.append("publication")
        #expect(result.asked == expectedAsked)
        #expect(result.skipped == expectedSkipped)
        #expect(result.end == "published:published")
        #expect(machine.decisions.contains { $0.role == .dsb } == dsb)
        #expect(machine.decisions.contains { $0.role == .isb } == isb)
    }

    // MARK: Exact effects

    @Test("submitting asks the Data Owner with a deadline of 5 working days, a reminder and an escalation")
    func submitEffects() throws {
        var machine = try Fixtures.draft(try Fixtures.definition(.sharedData), Fixtures.shared())
        let effects = try machine.submit(by: "anna", at: Fixtures.t0)
        // Monday 2 March 2026 + 5 working days → end of Monday 9 March; reminder 2 working days earlier →
        // end of Thursday 5 March (midnight CET is 23:00Z).
        let deadline = Fixtures.instant("2026-03-09T23:00:00Z")
        let reminder = Fixtures.instant("2026-03-05T23:00:00Z")
        #expect(
            effects
                == Fixtures.after(
                    "in_review:owner_review", machine.definition, deadline: deadline,
                    [
                        Fixtures.audit(.submitted, actor: "anna", at: Fixtures.t0),
                        .notifyRequester(.submitted),
                        .requestDecision(
                            step: "owner_review", branch: "owner_review", role: .dataOwner, deadline: deadline),
                        .scheduleReminder(step: "owner_review", at: reminder),
                        .scheduleEscalation(step: "owner_review", at: deadline),
                    ]))
        #expect(machine.state.name == "in_review:owner_review")
        guard case .inReview(let progress) = machine.state else {
            Issue.record("expected a step in review, not \(machine.state)")
            return
        }
        #expect(
            progress
                == StepProgress(
                    step: "owner_review", enteredAt: Fixtures.t0, deadline: deadline, activeBranches: ["owner_review"]))
    }

    @Test("approving moves on; skipped DSB and ISB steps are recorded; granted schedules the expiry")
    func approvalEffects() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        let t1 = Fixtures.minutes(60)
        let ownerEffects = try machine.approve(by: Fixtures.otto, at: t1, comment: "passt")
        #expect(
            ownerEffects == Fixtures.after(
                "in_review:steward_review", machine,
                [
                    Fixtures.audit(
                        .approved, actor: "otto", role: .dataOwner, step: "owner_review", comment: "passt", at: t1),
                    .cancelTimers(step: "owner_review"),
                ]) + Fixtures.entering("steward_review", role: .dataSteward, workingDays: 5, remindBefore: 2, at: t1))
        let t2 = Fixtures.days(1)
        let stewardEffects = try machine.approve(by: Fixtures.stefan, at: t2)
        #expect(
            stewardEffects
                == Fixtures.after(
                    "granted:granted", machine,
                    [
                        Fixtures.audit(.approved, actor: "stefan", role: .dataSteward, step: "steward_review", at: t2),
                        .cancelTimers(step: "steward_review"),
                        Fixtures.audit(.stepSkipped, step: "privacy_review", comment: "condition_not_met", at: t2),
                        Fixtures.audit(.stepSkipped, step: "security_review", comment: "condition_not_met", at: t2),
                        .scheduleExpiryNotice(at: ExpiryNoticeTests.noticeDue), .scheduleExpiry(at: Fixtures.accessEnd),
                        .notifyRequester(.granted(until: Fixtures.accessEnd)),
                        .inform(role: .dataOwner, .accessGranted(until: Fixtures.accessEnd)),
                        Fixtures.audit(.ended, step: "granted", at: t2),
                    ]))
        #expect(machine.state == .granted(end: "granted", until: Fixtures.accessEnd))
        #expect(
            machine.decisions == [
                Decision(
                    person: "otto", actingFor: nil, role: .dataOwner, asEscalation: false, step: "owner_review",
                    branch: "owner_review", outcome: .approved, at: t1, comment: "passt", covers: ["owner_review"],
                    details: ApprovalDetails()),
                Decision(
                    person: "stefan", actingFor: nil, role: .dataSteward, asEscalation: false, step: "steward_review",
                    branch: "steward_review", outcome: .approved, at: t2, comment: nil, covers: ["steward_review"],
                    details: ApprovalDetails()),
            ])
    }

    @Test("Shared Data: an external recipient of internal data needs the ISB, of public data not")
    func externalRecipient() throws {
        let definition = try Fixtures.definition(.sharedData)
        for (classification, expected) in [
            (Classification.public, "granted:granted"), (.internal, "in_review:security_review"),
        ] {
            var machine = try Fixtures.submitted(definition, Fixtures.shared(classification, recipient: .external))
            try Fixtures.approveCurrentStep(&machine, at: Fixtures.t0)
            try Fixtures.approveCurrentStep(&machine, at: Fixtures.t0)
            #expect(machine.state.name == expected, "\(classification)")
        }
    }

    @Test("Open Data: both branches of legal_review must approve, in any order")
    func parallelBothBranches() throws {
        let definition = try Fixtures.definition(.openData)
        var machine = try Fixtures.submitted(definition, Fixtures.open(.confidential, .anonymised))
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let t1 = Fixtures.minutes(10)
        let enter = try machine.approve(by: Fixtures.stefan, at: t1)
        #expect(
            enter == Fixtures.after(
                "in_review:legal_review", machine,
                [
                    Fixtures.audit(.approved, actor: "stefan", role: .dataSteward, step: "steward_review", at: t1),
                    .cancelTimers(step: "steward_review"),
                    Fixtures.audit(.stepSkipped, step: "exclusions_review", comment: "condition_not_met", at: t1),
                ])
                + Fixtures.entering(
                    "legal_review", branches: [("privacy_review", .dsb), ("security_review", .isb)], workingDays: 10,
                    remindBefore: 3, at: t1))
        // The ISB first this time.
        let t2 = Fixtures.minutes(20)
        let first = try machine.approve(by: Fixtures.ingo, at: t2)
        #expect(
            first
                == Fixtures.after(
                    "in_review:legal_review", machine,
                    [
                        Fixtures.audit(.approved, actor: "ingo", role: .isb, step: "security_review", at: t2)
                    ]))
        #expect(machine.state.name == "in_review:legal_review")
        guard case .inReview(let progress) = machine.state else {
            Issue.record("expected a step in review, not \(machine.state)")
            return
        }
        #expect(machine.openBranches(of: progress).map(\.id) == ["privacy_review"])
        // The ISB cannot approve twice, and nobody else but the DSB can finish the step.
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) { try $0.approve(by: Fixtures.ingo, at: t2) }
        Fixtures.expectRefused(.unknownBranch, .approve, details: ["security_review"], on: &machine) {
            try $0.approve(by: Fixtures.ingo, at: t2, branch: "security_review")
        }
        let t3 = Fixtures.minutes(30)
        let second = try machine.approve(by: Fixtures.dora, at: t3)
        #expect(
            second == Fixtures.after(
                "in_review:publication", machine,
                [
                    Fixtures.audit(.approved, actor: "dora", role: .dsb, step: "privacy_review", at: t3),
                    .cancelTimers(step: "legal_review"),
                ]) + Fixtures.entering("publication", role: .openDataOfficer, workingDays: 10, remindBefore: 3, at: t3))
        #expect(machine.decisions.map(\.step) == ["owner_review", "steward_review", "legal_review", "legal_review"])
        #expect(
            machine.decisions.map(\.branch) == ["owner_review", "steward_review", "security_review", "privacy_review"])
    }

    @Test("Open Data: with one condition holding, only that branch is asked and the other is recorded as skipped")
    func parallelOneBranch() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.openData), Fixtures.open(.internal, .none, .veryHigh))
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let effects = try machine.approve(by: Fixtures.stefan, at: Fixtures.t0)
        #expect(
            effects == Fixtures.after(
                "in_review:legal_review", machine,
                [
                    Fixtures.audit(
                        .approved, actor: "stefan", role: .dataSteward, step: "steward_review", at: Fixtures.t0),
                    .cancelTimers(step: "steward_review"),
                    Fixtures.audit(.stepSkipped, step: "privacy_review", comment: "condition_not_met", at: Fixtures.t0),
                    Fixtures.audit(
                        .stepSkipped, step: "exclusions_review", comment: "condition_not_met", at: Fixtures.t0),
                ])
                + Fixtures.entering(
                    "legal_review", branches: [("security_review", .isb)], workingDays: 10, remindBefore: 3,
                    at: Fixtures.t0))
        // The DSB has no open branch to decide.
        Fixtures.expectRefused(.notAuthorised, .approve, on: &machine) {
            try $0.approve(by: Fixtures.dora, at: Fixtures.t0)
        }
        _ = try machine.approve(by: Fixtures.ingo, at: Fixtures.t0)
        #expect(machine.state.name == "in_review:publication")
    }

    @Test("Open Data: with no condition holding, the whole legal_review is skipped")
    func parallelNoBranch() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open(.public, .none, .normal))
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let effects = try machine.approve(by: Fixtures.stefan, at: Fixtures.t0)
        #expect(
            effects == Fixtures.after(
                "in_review:publication", machine,
                [
                    Fixtures.audit(
                        .approved, actor: "stefan", role: .dataSteward, step: "steward_review", at: Fixtures.t0),
                    .cancelTimers(step: "steward_review"),
                    Fixtures.audit(.stepSkipped, step: "legal_review", comment: "condition_not_met", at: Fixtures.t0),
                ])
                + Fixtures.entering(
                    "publication", role: .openDataOfficer, workingDays: 10, remindBefore: 3, at: Fixtures.t0))
    }

    @Test("publishing notifies the requester with licence and portal URL")
    func publishEffects() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open())
        try Fixtures.drive(&machine, to: "in_review:publication")
        let t1 = Fixtures.days(2)
        let effects = try machine.approve(by: Fixtures.olga, at: t1, details: Fixtures.publication)
        #expect(
            effects
                == Fixtures.after(
                    "published:published", machine,
                    [
                        Fixtures.audit(.approved, actor: "olga", role: .openDataOfficer, step: "publication", at: t1),
                        .cancelTimers(step: "publication"),
                        .notifyRequester(
                            .published(licence: Fixtures.publication.licence, portalURL: Fixtures.publication.portalURL)
                        ),
                        Fixtures.audit(.ended, step: "published", at: t1),
                    ]))
        #expect(machine.state == .published(end: "published"))
        #expect(machine.decisions.last?.details == Fixtures.publication)
    }

    @Test("rejecting ends the request; the requester hears why")
    func rejectEffects() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        let t1 = Fixtures.days(1)
        let effects = try machine.reject(by: Fixtures.stefan, at: t1, reason: "  Zweck nicht gedeckt \n")
        #expect(
            effects
                == Fixtures.after(
                    "closed:rejected", machine,
                    [
                        Fixtures.audit(
                            .rejected, actor: "stefan", role: .dataSteward, step: "steward_review",
                            comment: "Zweck nicht gedeckt",
                            at: t1),
                        .cancelTimers(step: "steward_review"),
                        .notifyRequester(.rejected(step: "steward_review", reason: "Zweck nicht gedeckt")),
                        Fixtures.audit(.ended, step: "rejected", at: t1),
                    ]))
        #expect(machine.state == .closed(end: "rejected"))
        #expect(machine.decisions.last?.outcome == .rejected)
    }

    @Test("withdrawing while a step waits cancels its timers and tells the waiting role")
    func withdrawEffects() throws {
        var machine = try Fixtures.submitted(
            try Fixtures.definition(.openData), Fixtures.open(.confidential, .anonymised))
        try Fixtures.drive(&machine, to: "in_review:legal_review")
        _ = try machine.approve(by: Fixtures.dora, at: Fixtures.t0)
        let t1 = Fixtures.days(1)
        let effects = try machine.withdraw(by: "anna", at: t1, comment: "nicht mehr nötig")
        #expect(
            effects
                == Fixtures.after(
                    "closed:withdrawn", machine,
                    [
                        Fixtures.audit(
                            .withdrawn, actor: "anna", step: "legal_review", comment: "nicht mehr nötig", at: t1),
                        .cancelTimers(step: "legal_review"),
                        .inform(role: .isb, .withdrawn(step: "legal_review", comment: "nicht mehr nötig")),
                    ]))
        #expect(machine.state == .closed(end: "withdrawn"))
        var other = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open())
        Fixtures.expectRefused(.notRequester, .withdraw, on: &other) { try $0.withdraw(by: "otto", at: t1) }
        var draft = try Fixtures.draft(try Fixtures.definition(.openData), Fixtures.open())
        #expect(
            try draft.withdraw(by: "anna", at: t1)
                == Fixtures.after(
                    "closed:withdrawn", machine,
                    [
                        Fixtures.audit(.withdrawn, actor: "anna", at: t1)
                    ]))
    }

    @Test("only the requester submits")
    func submitByOthers() throws {
        var machine = try Fixtures.draft(try Fixtures.definition(.sharedData), Fixtures.shared())
        Fixtures.expectRefused(.notRequester, .submit, on: &machine) { try $0.submit(by: "otto", at: Fixtures.t0) }
    }
}
