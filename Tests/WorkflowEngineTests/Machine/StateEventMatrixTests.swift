import Foundation
import Testing

@testable import WorkflowEngine

/// Every state × every event of both shipped workflows: valid pairs lead to the listed state, every other
/// pair is refused with `invalid_transition` naming the state and the event, and changes nothing.
@Suite("State × event matrix of the shipped workflows")
struct StateEventMatrixTests {
    typealias Fixtures = MachineFixtures
    typealias Shipped = MachineFixtures.Shipped

    struct Pair: Sendable, CustomTestStringConvertible {
        let workflow: Shipped
        let state: String
        let event: RequestEvent
        var testDescription: String { "\(workflow.rawValue): \(state) × \(event.rawValue)" }
    }

    /// The rows of a review step: what each event does while the step waits, and after `request_changes`.
    /// Every shipped step escalates to the Governance Office, which may discontinue a request that waits
    /// (once the step's deadline passed, or the question's time): it ends as withdrawn. A question left
    /// unanswered that long escalates too (the Governance Office is told; the request keeps waiting).
    static func reviewRows(_ steps: [(step: String, next: String)]) -> [String: [RequestEvent: String]] {
        var rows: [String: [RequestEvent: String]] = [:]
        for (step, next) in steps {
            rows["in_review:\(step)"] = [
                .approve: next, .reject: "closed:rejected", .requestChanges: "changes_requested:\(step)",
                .withdraw: "closed:withdrawn", .escalate: "in_review:\(step)", .remind: "in_review:\(step)",
                .discontinue: "closed:withdrawn",
            ]
            rows["changes_requested:\(step)"] = [
                .resubmit: "in_review:\(step)", .withdraw: "closed:withdrawn", .discontinue: "closed:withdrawn",
                .escalate: "changes_requested:\(step)",
            ]
        }
        return rows
    }

    /// The valid transitions, written down from the domain (not read from the YAML): state → event → next
    /// state. A pair that is not listed must be refused.
    static let valid: [Shipped: [String: [RequestEvent: String]]] = [
        .sharedData: reviewRows([
            ("owner_review", "in_review:steward_review"),
            ("steward_review", "in_review:privacy_review"),
            ("privacy_review", "in_review:security_review"),
            ("security_review", "granted:granted"),
        ]).merging(
            [
                "draft": [.submit: "in_review:owner_review", .withdraw: "closed:withdrawn"],
                "granted:granted": [
                    .expire: "closed:expired", .revoke: "closed:revoked", .announceExpiry: "granted:granted",
                ],
                "closed:expired": [:], "closed:revoked": [:], "closed:rejected": [:], "closed:withdrawn": [:],
            ], uniquingKeysWith: { first, _ in first }),
        .openData: reviewRows([
            ("owner_review", "in_review:steward_review"),
            ("steward_review", "in_review:legal_review"),
            // One approval (the DSB branch) of the parallel step; the ISB branch still waits.
            ("legal_review", "in_review:legal_review"),
            ("publication", "published:published"),
        ]).merging(
            [
                "draft": [.submit: "in_review:owner_review", .withdraw: "closed:withdrawn"],
                "published:published": [:], "closed:rejected": [:], "closed:withdrawn": [:],
            ], uniquingKeysWith: { first, _ in first }),
    ]

    static let pairs: [Pair] = Shipped.allCases.flatMap { workflow in
        (valid[workflow] ?? [:]).keys.sorted().flatMap { state in
            RequestEvent.allCases.map { Pair(workflow: workflow, state: state, event: $0) }
        }
    }

    static let auditEvent: [RequestEvent: AuditRecord.Event] = [
        .submit: .submitted, .approve: .approved, .reject: .rejected, .requestChanges: .changesRequested,
        .resubmit: .resubmitted, .withdraw: .withdrawn, .escalate: .escalated, .remind: .reminded,
        .expire: .expired, .revoke: .revoked, .announceExpiry: .expiryAnnounced, .discontinue: .discontinued,
    ]

    /// Fires `event` with an actor who is entitled to it wherever the event is valid.
    static func fire(
        _ event: RequestEvent, on machine: inout RequestMachine, at time: Date
    ) throws(WorkflowError)
        -> [Effect]
    {
        var decider = Fixtures.otto
        if case .inReview(let progress) = machine.state, let branch = machine.openBranches(of: progress).first {
            decider = Fixtures.decider(for: branch.role)
        }
        switch event {
        case .submit: return try machine.submit(by: Fixtures.requester, at: time)
        case .approve: return try machine.approve(by: decider, at: time, details: Fixtures.details(for: machine))
        case .reject: return try machine.reject(by: decider, at: time, reason: "Nicht freigabefähig")
        case .requestChanges:
            return try machine.requestChanges(by: decider, at: time, question: "Bitte den Zweck genauer angeben")
        case .resubmit: return try machine.resubmit(by: Fixtures.requester, at: time)
        case .withdraw: return try machine.withdraw(by: Fixtures.requester, at: time)
        case .escalate: return try machine.escalate(at: time)
        case .remind: return try machine.remind(at: time)
        case .expire: return try machine.expire(at: time)
        case .revoke: return try machine.revoke(by: Fixtures.otto, at: time, reason: "Zweck entfallen")
        case .announceExpiry: return try machine.announceExpiry(at: time)
        case .discontinue:
            return try machine.discontinue(by: Fixtures.greta, at: time, reason: "Seit Wochen keine Rückmeldung")
        }
    }

    static let timerEvents: Set<RequestEvent> = [.escalate, .remind, .expire, .announceExpiry]
    /// Events people may take only once others had their time: refused at `t0`, when every request of the
    /// table entered its step.
    static let waitingEvents: Set<RequestEvent> = [.discontinue]

    @Test("the table covers every node of both definitions and every event")
    func coverage() throws {
        for workflow in Shipped.allCases {
            let definition = try Fixtures.definition(workflow)
            var names: Set<String> = ["draft"]
            for step in definition.steps {
                names.insert("in_review:\(step.id)")
                names.insert("changes_requested:\(step.id)")
            }
            for end in definition.ends {
                switch end.type {
                case .granted: names.insert("granted:\(end.id)")
                case .published: names.insert("published:\(end.id)")
                case .final: names.insert("closed:\(end.id)")
                }
            }
            #expect(Set((Self.valid[workflow] ?? [:]).keys) == names, "\(workflow.rawValue)")
        }
        #expect(RequestEvent.allCases.count == 12)
        #expect(Self.pairs.filter { $0.workflow == .sharedData }.count == 14 * 12)
        #expect(Self.pairs.filter { $0.workflow == .openData }.count == 12 * 12)
        #expect(Self.pairs.count == 312)
        let validCount = Self.pairs.filter { Self.valid[$0.workflow]?[$0.state]?[$0.event] != nil }.count
        #expect(validCount == 49 + 46)
    }

    @Test(arguments: pairs)
    func pair(_ pair: Pair) throws {
        var machine = try Fixtures.machine(pair.workflow, in: pair.state)
        guard let next = Self.valid[pair.workflow]?[pair.state]?[pair.event] else {
            let error = Fixtures.expectRefused(.invalidTransition, pair.event, details: [], on: &machine) {
                try Self.fire(pair.event, on: &$0, at: Fixtures.muchLater)
            }
            #expect(error?.description == "invalid_transition: event '\(pair.event.rawValue)' in state '\(pair.state)'")
            return
        }
        if Self.timerEvents.contains(pair.event) || Self.waitingEvents.contains(pair.event) {
            // A timer event that is valid here is still refused before its time, and so is a discontinuation
            // while the step's deciders (or the requester, asked a question) still have theirs.
            Fixtures.expectRefused(.tooEarly, pair.event, on: &machine) {
                try Self.fire(pair.event, on: &$0, at: Fixtures.t0)
            }
        }
        // Timer events fire long after every deadline; people act while the access period still runs. A
        // reminder only before the step's deadline: after it, the escalation speaks.
        var time = Self.timerEvents.contains(pair.event) ? Fixtures.muchLater : Fixtures.days(30)
        if pair.event == .remind, case .inReview(let progress) = machine.state, let deadline = progress.deadline {
            var late = machine
            Fixtures.expectRefused(.invalidTransition, .remind, on: &late) { try $0.remind(at: Fixtures.muchLater) }
            time = deadline.addingTimeInterval(-1)
        }
        // Likewise the expiry notice only before access ends: after it, the expiry speaks.
        if pair.event == .announceExpiry, case .granted(_, let until) = machine.state {
            var late = machine
            Fixtures.expectRefused(.invalidTransition, .announceExpiry, on: &late) {
                try $0.announceExpiry(at: Fixtures.muchLater)
            }
            time = until.addingTimeInterval(-1)
        }
        let effects = try Self.fire(pair.event, on: &machine, at: time)
        #expect(machine.state.name == next)
        // The escalation of an unanswered question is recorded as what it is.
        let recorded =
            pair.state.hasPrefix("changes_requested:") && pair.event == .escalate
            ? .questionUnanswered : Self.auditEvent[pair.event]
        #expect(Fixtures.auditRecords(effects).first?.event == recorded)
        if case .audit = effects.first {} else { Issue.record("the first effect is not the audit record: \(effects)") }
    }
}
