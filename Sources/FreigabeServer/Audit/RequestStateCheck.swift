import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Whether each request's mutable state (`requests.state`, `requests.snapshot`) still agrees with the
/// facts it was made from: the append-only `decisions` and the decision log.
///
/// The snapshot is what the engine works from, and an UPDATE by the tables' owner (triggers disabled or
/// not: `requests` has none, it must change) could make it show a decider who never decided. The
/// decisions and the audit events cannot be changed unseen, so they are the measure:
/// 1. `requests.state` is the snapshot's state (the column is a copy for queries);
/// 2. the snapshot's decisions are the `decisions` rows, position by position;
/// 3. the `decisions` rows are the request's decision events in the log (who, for whom, step, outcome);
/// 4. the state after the request's last engine event in the log is `requests.state`.
struct RequestStateCheck: Sendable {
    let client: PostgresClient

    /// The engine's events: each carries the request's state after the command that wrote it.
    static let engineEvents: [String] = [
        AuditEvent.submitted, .approved, .rejected, .resubmitted, .withdrawn, .escalated, .reminded, .expired,
        .revoked, .changesRequested, .expiryAnnounced, .stepSkipped, .stepCompleted, .ended,
    ].map(\.rawValue)

    /// The first request that disagrees, described; nil when all agree. Streams the requests.
    func firstMismatch(logger: Logger) async throws -> String? {
        let rows = try await client.query(
            """
            SELECT r.id, r.number, r.state, r.snapshot::text, \(unescaped: RequestFactsCheck.decisionRows),
                \(unescaped: RequestFactsCheck.decisionEvents), \(unescaped: RequestFactsCheck.loggedState)
            FROM requests r
            ORDER BY r.created_at, r.id
            """, logger: logger)
        for try await (id, number, state, snapshot, decisions, events, loggedState) in rows.decode(
            (UUID, String, String, String, String, String, String?).self)
        {
            let stored = StoredRequestFacts(
                state: state, snapshot: snapshot, decisions: decisions, decisionEvents: events,
                loggedState: loggedState)
            if let mismatch = stored.firstMismatch() {
                return "request \(number) (\(id.uuidString.lowercased())): \(mismatch)"
            }
        }
        return nil
    }
}

/// One request's stored state and facts, as read; the comparison is pure.
struct StoredRequestFacts: Sendable {
    var state: String
    /// `requests.snapshot` as JSON text.
    var snapshot: String
    /// The `decisions` rows as a JSON array of ``DecisionFact``.
    var decisions: String
    /// The request's audit events with a decision, as a JSON array of ``DecisionFact``.
    var decisionEvents: String
    /// The state the last engine event recorded.
    var loggedState: String?

    /// Who decided what, as all three sources can say it.
    struct DecisionFact: Sendable, Hashable, Decodable, CustomStringConvertible {
        var person: String?
        var actingFor: String?
        var step: String?
        var outcome: String?
        /// Only `decisions` and the snapshot know these.
        var role: String?
        var asEscalation: Bool?

        enum CodingKeys: String, CodingKey {
            case person, step, outcome, role
            case actingFor = "acting_for"
            case asEscalation = "as_escalation"
        }

        var description: String {
            "\(outcome ?? "?") by \(person ?? "?")" + (actingFor.map { " for \($0)" } ?? "") + " at step \(step ?? "?")"
        }

        /// The fields the log records.
        var logged: DecisionFact {
            DecisionFact(person: person, actingFor: actingFor, step: step, outcome: outcome)
        }
    }

    func firstMismatch() -> String? {
        let snapshot: RequestSnapshot
        do {
            snapshot = try StoredJSON.decode(RequestSnapshot.self, from: self.snapshot)
        } catch {
            return "the stored snapshot cannot be read (\(error))"
        }
        return Self.firstMismatch(
            state: state, snapshot: snapshot, decisions: decisions, decisionEvents: decisionEvents,
            loggedState: loggedState)
    }

    /// ``firstMismatch()`` for a snapshot already read (a request's page decoded it to build its view).
    static func firstMismatch(
        state: String, snapshot: RequestSnapshot, decisions: String, decisionEvents: String, loggedState: String?
    ) -> String? {
        let rows: [DecisionFact]
        let logged: [DecisionFact]
        do {
            rows = try StoredJSON.decode([DecisionFact].self, from: decisions)
            logged = try StoredJSON.decode([DecisionFact].self, from: decisionEvents)
        } catch {
            return "the stored decisions cannot be read (\(error))"
        }
        guard snapshot.state.name == state else {
            return "requests.state is \(state), the snapshot's state is \(snapshot.state.name)"
        }
        let fromSnapshot = snapshot.decisions.map {
            DecisionFact(
                person: $0.person, actingFor: $0.actingFor, step: $0.step, outcome: $0.outcome.rawValue,
                role: $0.role.identifier, asEscalation: $0.asEscalation)
        }
        if let mismatch = Self.compare(fromSnapshot, "the snapshot", rows, "the decisions table") { return mismatch }
        if let mismatch = Self.compare(rows.map(\.logged), "the decisions table", logged, "the decision log") {
            return mismatch
        }
        if let loggedState, loggedState != state {
            return "requests.state is \(state), the decision log's last event left it \(loggedState)"
        }
        return nil
    }

    private static func compare(
        _ left: [DecisionFact], _ leftName: String, _ right: [DecisionFact], _ rightName: String
    ) -> String? {
        for (position, (a, b)) in zip(left, right).enumerated() where a != b {
            return "decision #\(position): \(leftName) says \(a), \(rightName) says \(b)"
        }
        guard left.count == right.count else {
            return "\(leftName) has \(left.count) decisions, \(rightName) \(right.count)"
        }
        return nil
    }
}
