import Foundation
import Testing

@testable import WorkflowEngine

/// Thousands of random event sequences over random facts and random people, on both shipped workflows.
/// After every event, accepted or refused, the invariants of the domain must hold.
///
/// Deterministic: sequence `i` uses the seed `base + i`. A failure prints the seed; to replay exactly that
/// sequence run `FREIGABE_MACHINE_SEED=<seed> FREIGABE_MACHINE_SEQUENCES=1 swift test --filter MachineProperty`.
@Suite("Property: random event sequences")
struct MachinePropertyTests {
    typealias Fixtures = MachineFixtures
    typealias Shipped = MachineFixtures.Shipped

    static let environment = ProcessInfo.processInfo.environment
    static let baseSeed: UInt64 = environment["FREIGABE_MACHINE_SEED"].flatMap { UInt64($0) } ?? 20_260_302
    /// Per workflow; 2 × 1500 = 3000 sequences.
    static let sequences: Int = environment["FREIGABE_MACHINE_SEQUENCES"].flatMap { Int($0) } ?? 1500

    // MARK: Scenario

    struct Scenario {
        var requester: String
        var facts: RequestFacts
        var accessEnd: Date?
        var people: [Decider]
    }

    static func randomFacts(_ kind: ReleaseKind, _ rng: inout SplitMix64) -> RequestFacts {
        RequestFacts(
            kind: kind, classification: rng.pick(Classification.allCases),
            personalData: rng.pick(PersonalDataCategory.allCases), protectionNeed: rng.pick(ProtectionNeed.allCases),
            recipient: kind == .sharedData ? rng.pick([Recipient.internal, .external, .external, nil]) : nil,
            highValue: rng.chance(30), hasAnonymisationStatement: rng.chance(85), hasLegalBasis: rng.chance(85),
            hasOpenDataCheck: rng.chance(85))
    }

    static func scenario(_ kind: ReleaseKind, _ rng: inout SplitMix64) -> Scenario {
        func window() -> (Date, Date) {
            let from = Fixtures.days(Int.random(in: -3...12, using: &rng))
            return (from, Fixtures.days(Int.random(in: 1...15, using: &rng), after: from))
        }
        func deputy(_ person: String, for principal: String, _ roles: Set<Role>, own: Set<Role> = []) -> Decider {
            let (from, until) = window()
            return Fixtures.deputy(
                person, for: principal, principalRoles: roles, from: from, until: until, ownRoles: own)
        }
        let ownerIsSina = rng.chance(40)
        let ottoRoles: Set<Role> = ownerIsSina ? [] : [.dataOwner]
        let sinaRoles: Set<Role> = ownerIsSina ? [.dataOwner, .dataSteward] : [.dataSteward]
        var people = [
            Decider(person: "otto", roles: ottoRoles),
            Decider(person: "sina", roles: sinaRoles),
            Decider(person: "stefan", roles: [.dataSteward]),
            Decider(person: "dora", roles: [.dsb]),
            Decider(person: "ingo", roles: [.isb]),
            Decider(person: "olga", roles: [.openDataOfficer]),
            Decider(person: "greta", roles: [.governance]),
            // People with several roles.
            Decider(person: "max", roles: [.dataSteward, .isb]),
            Decider(person: "gerd", roles: [.governance, .dsb]),
            // Deputies with random windows.
            deputy("paul", for: "otto", ottoRoles.isEmpty ? [.dataSteward] : ottoRoles),
            deputy("pia", for: "sina", sinaRoles),
            deputy("dirk", for: "dora", [.dsb], own: rng.chance(30) ? [.isb] : []),
            // Deputises for the Governance Office (escalation instance of every shipped step): decides an
            // escalated step and discontinues in its member's stead.
            deputy("gabi", for: "greta", [.governance]),
        ]
        // Anna, who usually files the request, sometimes deputises for Otto.
        people.append(rng.chance(30) ? deputy("anna", for: "otto", ottoRoles) : Decider(person: "anna", roles: []))
        let requester = rng.chance(70) ? "anna" : rng.pick(["otto", "sina", "stefan", "dora", "paul", "max", "gerd"])
        let accessEnd: Date? =
            kind == .sharedData && rng.chance(93) ? Fixtures.days(Int.random(in: 5...200, using: &rng)) : nil
        return Scenario(requester: requester, facts: randomFacts(kind, &rng), accessEnd: accessEnd, people: people)
    }

    // MARK: Driving

    static func pickEvent(_ state: RequestState, _ rng: inout SplitMix64) -> RequestEvent {
        if rng.chance(8) { return rng.pick(RequestEvent.allCases) }
        let roll = Int.random(in: 0..<100, using: &rng)
        switch state {
        case .draft: return roll < 88 ? .submit : .withdraw
        case .inReview:
            switch roll {
            case ..<56: return .approve
            case ..<62: return .reject
            case ..<70: return .requestChanges
            case ..<73: return .withdraw
            case ..<84: return .escalate
            case ..<87: return .discontinue
            default: return .remind
            }
        case .changesRequested: return roll < 82 ? .resubmit : roll < 90 ? .withdraw : .discontinue
        case .granted: return roll < 40 ? .expire : roll < 60 ? .announceExpiry : .revoke
        case .published, .closed: return rng.pick(RequestEvent.allCases)
        }
    }

    /// Mostly someone who holds a role that could act now (directly, as deputy or as escalation instance),
    /// otherwise anybody. For a discontinuation, the step's escalation instance (Governance) or its deputy.
    static func pickDecider(
        _ machine: RequestMachine, _ scenario: Scenario, for event: RequestEvent, _ rng: inout SplitMix64
    ) -> Decider {
        var wanted: Set<Role> = []
        switch machine.state {
        case .inReview(let progress) where event == .discontinue,
            .changesRequested(let progress, _) where event == .discontinue:
            wanted = Set(machine.definition.step(progress.step)?.deadline?.escalateTo.map { [$0] } ?? [])
        case .inReview(let progress):
            wanted = Set(machine.openBranches(of: progress).map(\.role))
            if progress.escalated, let role = machine.definition.step(progress.step)?.deadline?.escalateTo {
                wanted.insert(role)
            }
        case .granted(let end, _): wanted = Set(machine.definition.end(end)?.revocableBy ?? [])
        default: break
        }
        let candidates = scenario.people.filter { person in
            !person.roles.isDisjoint(with: wanted)
                || person.deputising.contains { !$0.principalRoles.isDisjoint(with: wanted) }
        }
        if rng.chance(70), !candidates.isEmpty { return rng.pick(candidates) }
        return rng.pick(scenario.people)
    }

    static func reason(_ rng: inout SplitMix64) -> String {
        rng.chance(92)
            ? rng.pick(["Zweck unklar", "passt nicht", "Bitte Rechtsgrundlage nennen"]) : rng.pick(["", "  ", "\n"])
    }

    /// Fires one random event; returns a description for the log.
    static func fire(
        _ event: RequestEvent, on machine: inout RequestMachine, scenario: Scenario, now: inout Date,
        actor: inout Decider?, rng: inout SplitMix64
    ) throws(WorkflowError) -> [Effect] {
        let requesterPerson = rng.chance(85) ? scenario.requester : rng.pick(scenario.people).person
        switch event {
        case .submit: return try machine.submit(by: requesterPerson, at: now)
        case .resubmit:
            let facts = rng.chance(35) ? randomFacts(machine.snapshot.facts.kind, &rng) : nil
            let accessEnd: Date?? =
                rng.chance(10) ? .some(rng.chance(80) ? Fixtures.days(Int.random(in: 5...200, using: &rng)) : nil) : nil
            return try machine.resubmit(
                by: requesterPerson, at: now, facts: facts, accessEnd: accessEnd, detailsChanged: rng.chance(20))
        case .withdraw: return try machine.withdraw(by: requesterPerson, at: now)
        case .discontinue:
            let decider = pickDecider(machine, scenario, for: event, &rng)
            actor = decider
            // Often exactly when the others' time is over, so the boundary is exercised.
            if rng.chance(50), let due = discontinueDue(machine), due > now { now = due }
            return try machine.discontinue(by: decider, at: now, reason: reason(&rng))
        case .approve, .reject, .requestChanges, .revoke:
            let decider = pickDecider(machine, scenario, for: event, &rng)
            actor = decider
            let branchIDs = machine.definition.steps.flatMap { $0.branches.map(\.id) } + ["bogus"]
            let branch: String? = rng.chance(15) ? rng.pick(branchIDs) : nil
            switch event {
            case .approve:
                let details =
                    rng.chance(85)
                    ? Fixtures.details(for: machine)
                    : rng.pick([
                        ApprovalDetails(), Fixtures.publication,
                        ApprovalDetails(licence: "cc-by-4.0", portalURL: "javascript:alert(1)"),
                    ])
                return try machine.approve(by: decider, at: now, details: details, branch: branch)
            case .reject: return try machine.reject(by: decider, at: now, reason: reason(&rng), branch: branch)
            case .requestChanges:
                return try machine.requestChanges(by: decider, at: now, question: reason(&rng), branch: branch)
            default: return try machine.revoke(by: decider, at: now, reason: reason(&rng))
            }
        case .escalate, .remind, .expire, .announceExpiry:
            // Often exactly at (or after) the timer's time, so the boundaries are exercised.
            if rng.chance(60) {
                var due: Date?
                switch (event, machine.state) {
                case (.escalate, .inReview(let progress)): due = progress.deadline
                case (.remind, .inReview(let progress)):
                    if let deadline = progress.deadline,
                        let before = machine.definition.step(progress.step)?.deadline?.remindBefore
                    {
                        due = machine.calendar.reminderDate(deadline: deadline, workingDaysBefore: before)
                    }
                case (.expire, .granted(_, let until)): due = until
                case (.announceExpiry, .granted(_, let until)):
                    due = machine.calendar.reminderDate(
                        deadline: until, workingDaysBefore: RequestMachine.expiryNoticeWorkingDays)
                default: break
                }
                if let due, due > now { now = due }
            }
            switch event {
            case .escalate: return try machine.escalate(at: now)
            case .remind: return try machine.remind(at: now)
            case .announceExpiry: return try machine.announceExpiry(at: now)
            default: return try machine.expire(at: now)
            }
        }
    }

    /// From when the escalation instance may discontinue the waiting request, written down from the rule:
    /// the step's deadline in review; with a question open, the step's deadline length in working days
    /// from the question. nil where nothing waits or the step has no deadline.
    static func discontinueDue(_ machine: RequestMachine) -> Date? {
        switch machine.state {
        case .inReview(let progress): return progress.deadline
        case .changesRequested(let progress, _):
            guard let days = machine.definition.step(progress.step)?.deadline?.workingDays,
                let asked = machine.decisions.last(where: { $0.outcome == .changesRequested })
            else { return nil }
            return machine.calendar.deadline(addingWorkingDays: days, to: asked.at)
        case .draft, .granted, .published, .closed: return nil
        }
    }

    // MARK: Invariants

    struct Stats {
        var events = 0
        var refused = 0
        var ended: [String: Int] = [:]
        var endsNeedingDSB = 0
        var endsNeedingISB = 0
        var unionDecisions = 0
        var escalationDecisions = 0
        var deputyDecisions = 0
        var restarts = 0
        var discontinued = 0
    }

    static func isDefined(_ state: RequestState, in definition: WorkflowDefinition) -> Bool {
        switch state {
        case .draft: return true
        case .inReview(let progress), .changesRequested(let progress, _):
            guard let step = definition.step(progress.step) else { return false }
            let ids = Set(step.branches.map(\.id))
            return !progress.activeBranches.isEmpty && progress.activeBranches.allSatisfy(ids.contains)
                && Set(progress.approvals.keys).isSubset(of: Set(progress.activeBranches))
        case .granted(let end, _): return definition.end(end)?.type == .granted
        case .published(let end): return definition.end(end)?.type == .published
        case .closed(let end): return definition.end(end)?.type == .final
        }
    }

    static let auditEvent: [RequestEvent: AuditRecord.Event] = [
        .submit: .submitted, .approve: .approved, .reject: .rejected, .requestChanges: .changesRequested,
        .resubmit: .resubmitted, .withdraw: .withdrawn, .escalate: .escalated, .remind: .reminded,
        .expire: .expired, .revoke: .revoked, .announceExpiry: .expiryAnnounced, .discontinue: .discontinued,
    ]

    /// Separation of duties over all decisions so far; returns a violation or nil.
    static func separationViolation(_ machine: RequestMachine) -> (String, String)? {
        let requester = machine.snapshot.requester
        for decision in machine.decisions where decision.person == requester || decision.actingFor == requester {
            return ("requester decided", "\(decision.outcome.rawValue) of \(decision.branch) by \(decision.person)")
        }
        // A revocation, and a discontinuation by the escalation instance, decide no step of the review.
        let decisions = machine.decisions.filter { $0.outcome != .revoked && $0.outcome != .discontinued }
        for (i, a) in decisions.enumerated() {
            for b in decisions[(i + 1)...] where !a.identities.isDisjoint(with: b.identities) && a.branch != b.branch {
                if a.covers.contains(b.branch) || b.covers.contains(a.branch) { continue }
                return (
                    "one person decided two steps",
                    "\(a.person)/\(a.actingFor ?? "-") on \(a.branch), \(b.person)/\(b.actingFor ?? "-") on \(b.branch)"
                )
            }
        }
        return nil
    }

    /// When access is granted or data published: every step and branch that applies to the facts was
    /// approved in the current round, DSB and ISB by their own role; the statements are there.
    static func completionViolation(_ machine: RequestMachine, roundStart: Int) -> (String, String)? {
        let facts = machine.snapshot.facts
        let round = machine.decisions.dropFirst(roundStart).filter { $0.outcome == .approved }
        if Fixtures.dsbRequired(facts), !round.contains(where: { $0.role == .dsb && !$0.asEscalation }) {
            return ("DSB skipped", "\(facts)")
        }
        if Fixtures.isbRequired(facts), !round.contains(where: { $0.role == .isb && !$0.asEscalation }) {
            return ("ISB skipped", "\(facts)")
        }
        for step in machine.definition.steps where step.condition?.holds(for: facts) ?? true {
            for branch in step.branches where branch.condition?.holds(for: facts) ?? true {
                let approvals = round.filter { $0.branch == branch.id || $0.covers.contains(branch.id) }
                if Set(approvals.map { $0.actingFor ?? $0.person }).count < branch.quorum {
                    return ("required step not approved", "\(branch.id) with \(facts)")
                }
                if branch.role.isIndependentController, approvals.contains(where: { $0.role != branch.role }) {
                    return ("controller step decided by another role", "\(branch.id)")
                }
            }
        }
        switch machine.state {
        case .granted(_, let until):
            if facts.personalData >= .pseudonymised && !facts.hasLegalBasis { return ("no legal basis", "\(facts)") }
            if until != machine.snapshot.accessEnd { return ("granted without the requested end", "\(until)") }
        case .published:
            if facts.personalData >= .anonymised && !facts.hasAnonymisationStatement {
                return ("published without anonymisation statement", "\(facts)")
            }
            if !facts.hasOpenDataCheck { return ("published without the Open Data check", "\(facts)") }
        default: break
        }
        return nil
    }

    /// The decision an accepted event added must fit the capacity the person had.
    static func capacityViolation(
        _ decision: Decision, _ decider: Decider, _ machine: RequestMachine
    ) -> (String, String)? {
        let direct =
            decider.person == decision.person && decision.actingFor == nil && decider.roles.contains(decision.role)
        let asDeputy =
            decision.actingFor.map { principal in
                decider.deputising.contains {
                    $0.deputyship.principal == principal && $0.deputyship.deputy == decider.person
                        && $0.deputyship.isActive(at: decision.at) && $0.principalRoles.contains(decision.role)
                }
            } ?? false
        guard direct || asDeputy else {
            return (
                "decision in a capacity the person lacks",
                "\(decision.person) as \(decision.role) for \(decision.actingFor ?? "-")"
            )
        }
        if decision.outcome == .discontinued {
            // Only the escalation instance of the step, never on a branch: it closes the whole request.
            let escalation = machine.definition.step(decision.step)?.deadline?.escalateTo
            if decision.role != escalation || decision.branch != decision.step {
                return ("discontinued by another role", "\(decision.role) on \(decision.branch) by \(decision.person)")
            }
            return nil
        }
        if decision.asEscalation {
            let branchRole = machine.definition.step(decision.step)?.branches.first { $0.id == decision.branch }?.role
            if branchRole?.isIndependentController ?? true {
                return ("escalation decided a controller step", "\(decision.branch) by \(decision.person)")
            }
        }
        return nil
    }

    /// An accepted discontinuation: only while the request waited, not before the others' time was over,
    /// and it ends as the requester's withdrawal would.
    static func discontinueViolation(
        before: RequestMachine, after machine: RequestMachine, at now: Date
    ) -> (String, String)? {
        guard let due = discontinueDue(before) else {
            return ("discontinued where nothing waits", before.state.name)
        }
        if now < due { return ("discontinued too early", "at \(now), due \(due)") }
        if machine.state != .closed(end: machine.definition.withdrawTo) {
            return ("discontinued but not withdrawn", machine.state.name)
        }
        if machine.decisions.count != before.decisions.count + 1 || machine.decisions.last?.outcome != .discontinued {
            return ("discontinuation not recorded as one decision", "\(machine.decisions.last as Any)")
        }
        return nil
    }

    /// Runs one sequence; returns the first violation (kind, message) or nil.
    static func run(seed: UInt64, definition: WorkflowDefinition, stats: inout Stats) -> (String, String)? {
        var rng = SplitMix64(seed: seed)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func bytes(_ machine: RequestMachine) -> Data? { try? encoder.encode(machine.snapshot) }
        let scenario = scenario(definition.kinds.first!, &rng)
        var machine: RequestMachine
        do {
            machine = try RequestMachine(
                definition: definition, calendar: Fixtures.calendar, requester: scenario.requester,
                facts: scenario.facts, accessEnd: scenario.accessEnd)
        } catch {
            return ("draft refused", "\(error)")
        }
        var now = Fixtures.days(Int.random(in: 0...2, using: &rng))
        var roundStart = 0
        // What happened, formatted only when a violation is reported (formatting dates is slow).
        var log: [(event: RequestEvent, person: String?, at: Date, outcome: String)] = []
        func violation(_ found: (String, String)) -> (String, String) {
            let trail = log.suffix(16).map { entry in
                "\(entry.event.rawValue) by \(entry.person ?? "-") at \(entry.at) → \(entry.outcome)"
            }.joined(separator: "\n  ")
            return (
                found.0,
                "\(found.1)\n  seed \(seed) (\(definition.id), requester \(scenario.requester), facts \(scenario.facts))"
                    + "\n  \(trail)"
            )
        }
        for _ in 0..<Int.random(in: 4...36, using: &rng) {
            now = now.addingTimeInterval(Double(Int.random(in: 0...(rng.chance(25) ? 600 : 200_000), using: &rng)))
            let event = pickEvent(machine.state, &rng)
            let before = machine
            var actor: Decider?
            stats.events += 1
            do {
                let effects = try fire(event, on: &machine, scenario: scenario, now: &now, actor: &actor, rng: &rng)
                log.append((event, actor?.person, now, machine.state.name))
                guard case .audit(let record) = effects.first, record.event == auditEvent[event] else {
                    return violation(("first effect is not the event's audit record", "\(effects.first as Any)"))
                }
                guard machine.decisions.starts(with: before.decisions) else {
                    return violation(("decisions rewritten", "\(before.decisions) → \(machine.decisions)"))
                }
                if [.submit, .resubmit, .withdraw].contains(event), record.actor != scenario.requester {
                    return violation(("requester event by someone else", "\(record.actor ?? "-")"))
                }
                if machine.decisions.count > before.decisions.count, let actor, let decision = machine.decisions.last {
                    if let found = capacityViolation(decision, actor, machine) { return violation(found) }
                    if decision.covers.count > 1 { stats.unionDecisions += 1 }
                    if decision.asEscalation { stats.escalationDecisions += 1 }
                    if decision.actingFor != nil { stats.deputyDecisions += 1 }
                }
                if event == .discontinue {
                    if let found = discontinueViolation(before: before, after: machine, at: now) {
                        return violation(found)
                    }
                    stats.discontinued += 1
                }
                if event == .resubmit, case .inReview(let progress) = machine.state, progress.step == definition.start {
                    roundStart = machine.decisions.count
                    stats.restarts += 1
                }
            } catch {
                stats.refused += 1
                log.append((event, actor?.person, now, "refused: \(error.code.rawValue)"))
                if error.state != before.state.name || error.event != event {
                    return violation(("refusal names the wrong state or event", "\(error)"))
                }
                // Value equality on every refusal; the stored JSON bytes too in every fourth sequence (encoding
                // every time would double the run time, and equal values encode to equal bytes anyway).
                if machine != before || (seed % 4 == 0 && bytes(machine) != bytes(before)) {
                    return violation(("refused event changed the snapshot", "\(error)"))
                }
            }
            if !isDefined(machine.state, in: definition) {
                return violation(("undefined state", machine.state.name))
            }
            if let found = separationViolation(machine) { return violation(found) }
            switch machine.state {
            case .granted, .published:
                if before.state != machine.state {
                    stats.ended[machine.state.name, default: 0] += 1
                    if Fixtures.dsbRequired(machine.snapshot.facts) { stats.endsNeedingDSB += 1 }
                    if Fixtures.isbRequired(machine.snapshot.facts) { stats.endsNeedingISB += 1 }
                }
                if let found = completionViolation(machine, roundStart: roundStart) { return violation(found) }
            default: break
            }
        }
        return nil
    }

    @Test("random sequences keep every invariant", arguments: Shipped.allCases)
    func randomSequences(_ workflow: Shipped) throws {
        let definition = try Fixtures.definition(workflow)
        var stats = Stats()
        var first: [String: String] = [:]
        var counts: [String: Int] = [:]
        for index in 0..<Self.sequences {
            let seed = Self.baseSeed &+ UInt64(index)
            if let (kind, message) = Self.run(seed: seed, definition: definition, stats: &stats) {
                counts[kind, default: 0] += 1
                if first[kind] == nil { first[kind] = message }
            }
        }
        for (kind, message) in first.sorted(by: { $0.key < $1.key }) {
            Issue.record(
                "\(workflow.rawValue): \(kind) in \(counts[kind] ?? 0) of \(Self.sequences) sequences; first: \(message)"
            )
        }
        // The property must not hold vacuously: the random walks reach the interesting places.
        try #require(
            Self.sequences >= 1000,
            "FREIGABE_MACHINE_SEQUENCES=\(Self.sequences): too few walks to reach the places below")
        let ends = stats.ended.values.reduce(0, +)
        #expect(ends >= Self.sequences / 10, "only \(ends) sequences reached an end: \(stats)")
        #expect(stats.endsNeedingDSB >= 20 && stats.endsNeedingISB >= 20, "\(stats)")
        #expect(
            stats.unionDecisions >= 20 && stats.escalationDecisions >= 20 && stats.deputyDecisions >= 20, "\(stats)")
        #expect(stats.restarts >= 20 && stats.refused >= stats.events / 10, "\(stats)")
        #expect(stats.discontinued >= 20, "\(stats)")
    }
}
