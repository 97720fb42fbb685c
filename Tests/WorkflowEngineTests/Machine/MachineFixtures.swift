import Foundation
import Testing

@testable import WorkflowEngine

/// Shared helpers of the state-machine tests: the shipped definitions, the demo people, fixed instants and
/// shorthands for the effects the engine returns. A namespace, so nothing clashes with other test files.
enum MachineFixtures {
    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: Definitions

    /// The repository's `Workflows/` folder, found from this file (symlinks resolved, so a scratch package
    /// that links the test folder still reads the files of the repository).
    static var workflowsDirectory: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent()  // Machine
            .deletingLastPathComponent()  // WorkflowEngineTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // repository root
            .appendingPathComponent("Workflows")
    }

    /// The two definitions the product ships.
    enum Shipped: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case sharedData = "shared-data"
        case openData = "open-data"

        var fileName: String { "\(rawValue).yaml" }
        var kind: ReleaseKind { self == .sharedData ? .sharedData : .openData }
        var testDescription: String { rawValue }
    }

    static func text(of workflow: Shipped) throws -> String {
        try String(contentsOf: workflowsDirectory.appendingPathComponent(workflow.fileName), encoding: .utf8)
    }

    static func definition(_ workflow: Shipped) throws -> WorkflowDefinition {
        try parse(try text(of: workflow), file: "Workflows/\(workflow.fileName)")
    }

    static func parse(_ text: String, file: String = "inline.yaml") throws -> WorkflowDefinition {
        do {
            return try WorkflowDefinitionParser(contentHash: TestDigest.sha256).parse(text, file: file)
        } catch {
            throw FixtureError(description: "test definition \(file) is invalid:\n\(error)")
        }
    }

    /// The shipped Shared Data definition with one line replaced (for variants such as `personal_union: separate`).
    static func sharedDataVariant(replacing original: String, with replacement: String) throws -> WorkflowDefinition {
        let text = try text(of: .sharedData)
        guard text.contains(original) else { throw FixtureError(description: "'\(original)' not in shared-data.yaml") }
        return try parse(text.replacingOccurrences(of: original, with: replacement), file: "shared-data-variant.yaml")
    }

    // MARK: Time

    static let calendar = WorkingDayCalendar(state: .hessen)

    static func instant(_ iso: String) -> Date {
        guard let date = ISO8601DateFormatter().date(from: iso) else { fatalError("Bad test instant \(iso)") }
        return date
    }

    /// Monday 2 March 2026, 09:00 in Hessen: the day every request in these tests is filed.
    static let t0 = instant("2026-03-02T08:00:00Z")
    static func minutes(_ count: Int, after base: Date = t0) -> Date { base.addingTimeInterval(Double(count) * 60) }
    static func days(_ count: Int, after base: Date = t0) -> Date { base.addingTimeInterval(Double(count) * 86_400) }
    /// The end of the Shared Data access period of the standard request.
    static let accessEnd = instant("2027-06-30T22:00:00Z")
    /// Long after every deadline and the access end.
    static let muchLater = instant("2027-09-01T08:00:00Z")

    static func deadline(_ workingDays: Int, from start: Date) -> Date {
        calendar.deadline(addingWorkingDays: workingDays, to: start)
    }

    static func reminder(_ workingDays: Int, before deadline: Date) -> Date {
        calendar.reminderDate(deadline: deadline, workingDaysBefore: workingDays)
    }

    // MARK: People (roles as the server resolves them for one request)

    static let requester = "anna"
    static let anna = Decider(person: "anna", roles: [])
    static let otto = Decider(person: "otto", roles: [.dataOwner])
    static let stefan = Decider(person: "stefan", roles: [.dataSteward])
    /// Data Owner and Data Steward at once (Personalunion).
    static let sina = Decider(person: "sina", roles: [.dataOwner, .dataSteward])
    static let dora = Decider(person: "dora", roles: [.dsb])
    static let ingo = Decider(person: "ingo", roles: [.isb])
    static let olga = Decider(person: "olga", roles: [.openDataOfficer])
    static let greta = Decider(person: "greta", roles: [.governance])

    /// Paul deputises for Otto from Monday 2 March 2026 00:00 until Monday 16 March 00:00 (local time).
    static let paulFrom = instant("2026-03-01T23:00:00Z")
    static let paulUntil = instant("2026-03-15T23:00:00Z")

    static func deputy(
        _ person: String, for principal: String, principalRoles: Set<Role>, from: Date = paulFrom,
        until: Date = paulUntil, ownRoles: Set<Role> = []
    ) -> Decider {
        Decider(
            person: person, roles: ownRoles,
            deputising: [
                DeputyAuthority(
                    deputyship: Deputyship(principal: principal, deputy: person, validFrom: from, validUntil: until),
                    principalRoles: principalRoles)
            ])
    }

    static let paul = deputy("paul", for: "otto", principalRoles: [.dataOwner])

    /// The person the tests ask when a branch of `role` waits.
    static func decider(for role: Role) -> Decider {
        switch role {
        case .dataOwner: otto
        case .dataSteward: stefan
        case .dsb: dora
        case .isb: ingo
        case .openDataOfficer: olga
        case .governance: greta
        case .custom(let name): Decider(person: "member-of-\(name)", roles: [role])
        }
    }

    static let publication = ApprovalDetails(
        licence: "dl-de-by-2.0", portalURL: "https://opendata.stadt.example/dataset/baumkataster")

    /// `publication` where the step waiting now asks for approval details, none elsewhere (a step
    /// refuses details it does not ask for).
    static func details(for machine: RequestMachine) -> ApprovalDetails {
        guard case .inReview(let progress) = machine.state,
            machine.definition.step(progress.step)?.approvalRequires.isEmpty == false
        else { return ApprovalDetails() }
        return publication
    }

    // MARK: Facts

    static func shared(
        _ classification: Classification = .internal, _ personalData: PersonalDataCategory = .none,
        _ protectionNeed: ProtectionNeed = .normal, recipient: Recipient? = .internal, legalBasis: Bool = true
    ) -> RequestFacts {
        RequestFacts(
            kind: .sharedData, classification: classification, personalData: personalData,
            protectionNeed: protectionNeed, recipient: recipient, hasLegalBasis: legalBasis)
    }

    static func open(
        _ classification: Classification = .public, _ personalData: PersonalDataCategory = .none,
        _ protectionNeed: ProtectionNeed = .normal, statement: Bool = true, openDataCheck: Bool = true
    ) -> RequestFacts {
        RequestFacts(
            kind: .openData, classification: classification, personalData: personalData,
            protectionNeed: protectionNeed, hasAnonymisationStatement: statement, hasOpenDataCheck: openDataCheck)
    }

    /// Facts under which every step and branch of a shipped workflow applies.
    static func everyStepApplies(_ workflow: Shipped) -> RequestFacts {
        switch workflow {
        case .sharedData: shared(.confidential, .personal, .high, recipient: .external)
        case .openData: open(.confidential, .anonymised, .high)
        }
    }

    // MARK: Machines

    static func draft(
        _ definition: WorkflowDefinition, _ facts: RequestFacts, requester: String = requester,
        accessEnd: Date? = accessEnd
    ) throws -> RequestMachine {
        try RequestMachine(
            definition: definition, calendar: calendar, requester: requester, facts: facts,
            accessEnd: facts.kind == .sharedData ? accessEnd : nil)
    }

    /// A request submitted by Anna at `t0`.
    static func submitted(
        _ definition: WorkflowDefinition, _ facts: RequestFacts, requester: String = requester,
        accessEnd: Date? = accessEnd, at time: Date = t0
    ) throws -> RequestMachine {
        var machine = try draft(definition, facts, requester: requester, accessEnd: accessEnd)
        _ = try machine.submit(by: requester, at: time)
        return machine
    }

    /// Approves every open branch of the current step with the standard person of its role.
    @discardableResult
    static func approveCurrentStep(_ machine: inout RequestMachine, at time: Date) throws -> [Effect] {
        guard case .inReview(let progress) = machine.state else {
            throw FixtureError(description: "not in review: \(machine.state.name)")
        }
        var effects: [Effect] = []
        for branch in machine.openBranches(of: progress) {
            effects += try machine.approve(
                by: decider(for: branch.role), at: time, details: details(for: machine), branch: branch.id)
        }
        return effects
    }

    /// Approves steps until the state is named `target`.
    static func drive(_ machine: inout RequestMachine, to target: String, at time: Date = t0) throws {
        for _ in 0..<20 {
            if machine.state.name == target { return }
            guard case .inReview = machine.state else { break }
            try approveCurrentStep(&machine, at: time)
        }
        guard machine.state.name == target else {
            throw FixtureError(description: "could not drive to \(target), stopped in \(machine.state.name)")
        }
    }

    /// A request of `workflow` (with `everyStepApplies` facts) brought into the state named `name`.
    static func machine(_ workflow: Shipped, in name: String) throws -> RequestMachine {
        let definition = try definition(workflow)
        let facts = everyStepApplies(workflow)
        var machine = try draft(definition, facts)
        let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first ?? "", parts.count > 1 ? parts[1] : "") {
        case ("draft", _):
            break
        case ("in_review", _):
            _ = try machine.submit(by: requester, at: t0)
            try drive(&machine, to: name)
        case ("changes_requested", let step):
            _ = try machine.submit(by: requester, at: t0)
            try drive(&machine, to: "in_review:\(step)")
            guard case .inReview(let progress) = machine.state, let branch = machine.openBranches(of: progress).first
            else { throw FixtureError(description: "no open branch in \(step)") }
            _ = try machine.requestChanges(by: decider(for: branch.role), at: t0, question: "Zu welchem Zweck?")
        case ("granted", _), ("published", _):
            _ = try machine.submit(by: requester, at: t0)
            try drive(&machine, to: name)
        case ("closed", "rejected"):
            _ = try machine.submit(by: requester, at: t0)
            _ = try machine.reject(by: otto, at: t0, reason: "Daten sind nicht geeignet")
        case ("closed", "withdrawn"):
            _ = try machine.withdraw(by: requester, at: t0)
        case ("closed", "expired"):
            _ = try machine.submit(by: requester, at: t0)
            try drive(&machine, to: "granted:granted")
            _ = try machine.expire(at: accessEnd)
        case ("closed", "revoked"):
            _ = try machine.submit(by: requester, at: t0)
            try drive(&machine, to: "granted:granted")
            _ = try machine.revoke(by: otto, at: t0, reason: "Zweck entfallen")
        default:
            throw FixtureError(description: "no recipe for state \(name)")
        }
        guard machine.state.name == name else {
            throw FixtureError(description: "wanted \(name), got \(machine.state.name)")
        }
        return machine
    }

    // MARK: Outcomes

    /// Runs `body` on `machine` and expects the typed refusal; checks that nothing changed, down to the
    /// bytes of the stored snapshot.
    @discardableResult
    static func expectRefused(
        _ code: WorkflowError.Code, _ event: RequestEvent, details: [String]? = nil, on machine: inout RequestMachine,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: (inout RequestMachine) throws -> [Effect]
    ) -> WorkflowError? {
        let before = machine
        do {
            let effects = try body(&machine)
            let outcome = "\(machine.state.name), \(effects)"
            Issue.record(
                "expected \(code.rawValue) for \(event.rawValue) in \(before.state.name), but it was accepted: \(outcome)",
                sourceLocation: sourceLocation)
            return nil
        } catch {
            guard let error = error as? WorkflowError else {
                Issue.record("expected a WorkflowError, got \(error)", sourceLocation: sourceLocation)
                return nil
            }
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.event == event, sourceLocation: sourceLocation)
            #expect(error.state == before.state.name, sourceLocation: sourceLocation)
            if let details { #expect(error.details == details, sourceLocation: sourceLocation) }
            #expect(machine == before, "a refused event changed the machine", sourceLocation: sourceLocation)
            #expect(
                encoded(machine.snapshot) == encoded(before.snapshot), "a refused event changed the snapshot",
                sourceLocation: sourceLocation)
            return error
        }
    }

    static func encoded(_ snapshot: RequestSnapshot) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(snapshot)) ?? Data()
    }

    // MARK: Effects

    /// An expected audit effect. Its `state` and workflow are filled in by `after(_:_:_:)`, which states
    /// them once for all records of one event.
    static func audit(
        _ event: AuditRecord.Event, actor: String? = nil, actingFor: String? = nil, role: Role? = nil,
        asEscalation: Bool = false, step: String? = nil, comment: String? = nil, covers: [String] = [],
        at time: Date
    ) -> Effect {
        .audit(
            AuditRecord(
                event: event, actor: actor, actingFor: actingFor, role: role, asEscalation: asEscalation, step: step,
                comment: comment, covers: covers, at: time, state: ""))
    }

    /// The expected effects of one event on a request of `definition` that led to the state named `state`:
    /// every audit record names that state, the deadline of the step it waits at and the workflow's id and
    /// version, as the engine promises, so the comparison covers whole records.
    ///
    /// - Parameter deadline: the step's deadline; the tests that state it (``RoutingTests``) compare it
    ///   with the working-day arithmetic, the others take it from the machine's state after the event.
    static func after(
        _ state: String, _ definition: WorkflowDefinition, deadline: Date? = nil, _ effects: [Effect]
    ) -> [Effect] {
        effects.map { effect in
            guard case .audit(var record) = effect else { return effect }
            record.state = state
            record.deadline = deadline
            record.workflowID = definition.id
            record.workflowVersion = definition.version
            return .audit(record)
        }
    }

    /// ``after(_:_:deadline:_:)`` for the state `machine` is in after the event.
    static func after(_ state: String, _ machine: RequestMachine, _ effects: [Effect]) -> [Effect] {
        after(state, machine.definition, deadline: machine.stepDeadline, effects)
    }

    static func auditRecords(_ effects: [Effect]) -> [AuditRecord] {
        effects.compactMap { effect in
            if case .audit(let record) = effect { return record }
            return nil
        }
    }

    /// The effects of entering a step: a decision request per branch, then reminder and escalation timers.
    static func entering(
        _ step: String, branches: [(id: String, role: Role)], workingDays: Int, remindBefore: Int, at time: Date
    ) -> [Effect] {
        let due = deadline(workingDays, from: time)
        return branches.map { .requestDecision(step: step, branch: $0.id, role: $0.role, deadline: due) } + [
            .scheduleReminder(step: step, at: reminder(remindBefore, before: due)),
            .scheduleEscalation(step: step, at: due),
        ]
    }

    static func entering(_ step: String, role: Role, workingDays: Int, remindBefore: Int, at time: Date) -> [Effect] {
        entering(step, branches: [(step, role)], workingDays: workingDays, remindBefore: remindBefore, at: time)
    }

    // MARK: Routing rules, written down independently of the YAML

    static func dsbRequired(_ facts: RequestFacts) -> Bool {
        switch facts.kind {
        case .sharedData: facts.personalData >= .pseudonymised
        case .openData: facts.personalData >= .anonymised
        }
    }

    static func isbRequired(_ facts: RequestFacts) -> Bool {
        let byClassification = facts.classification >= .confidential || facts.protectionNeed >= .high
        switch facts.kind {
        case .sharedData: return byClassification || (facts.recipient == .external && facts.classification >= .internal)
        case .openData: return byClassification
        }
    }
}
