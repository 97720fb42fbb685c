import AuditLog
import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Whether each request's mutable state (`requests.state`, `requests.snapshot`) still agrees with the
/// facts it was made from: the append-only `decisions` and the decision log.
///
/// The snapshot is what the engine works from, and an UPDATE by the tables' owner (triggers disabled or
/// not: `requests` has none, it must change) could make it show a decider who never decided, or the row a
/// recipient nobody approved. The decisions and the audit events cannot be changed unseen, so they are
/// the measure (``StoredRequestFacts/firstMismatch(snapshot:details:kind:facts:)`` lists the comparisons).
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
            SELECT r.number, \(unescaped: RequestRecord.columns), \(unescaped: RequestFactsCheck.columns)
            FROM requests r
            ORDER BY r.created_at, r.id
            """, logger: logger)
        for try await row in rows {
            var cells = RowCursor(row)
            let number: String = try cells.next()
            let record: RequestRecord
            let facts: StoredFacts
            do {
                record = try RequestRecord.from(&cells, rememberSnapshot: false)
                facts = try StoredFacts.decode(&cells)
            } catch {
                return "request \(number): its stored row cannot be read (\(error))"
            }
            if let mismatch = StoredRequestFacts.firstMismatch(
                snapshot: record.snapshot, details: record.details, kind: record.kind, facts: facts)
            {
                return "request \(number) (\(record.id.uuidString.lowercased())): \(mismatch)"
            }
        }
        return nil
    }
}

/// The comparison of one request's stored state with its facts; pure.
enum StoredRequestFacts {
    /// Who decided what, as the snapshot, the `decisions` table and (fewer fields) the log say it.
    struct DecisionFact: Sendable, Hashable, Decodable, CustomStringConvertible {
        var person: String?
        var actingFor: String?
        var step: String?
        var outcome: String?
        /// The log's comment: nil also where `audit redact` erased it.
        var comment: String?
        /// Only `decisions` and the snapshot know these.
        var role: String?
        var asEscalation: Bool?
        var branch: String?
        var covers: [String]?
        var licence: String?
        var portalURL: String?
        /// Microseconds since 1970.
        var decidedAtMicroseconds: Int64?

        enum CodingKeys: String, CodingKey {
            case person, step, outcome, comment, role, branch, covers, licence
            case actingFor = "acting_for"
            case asEscalation = "as_escalation"
            case portalURL = "portal_url"
            case decidedAtMicroseconds = "decided_at_us"
        }

        /// Names no comment: it may be personal, and the description goes to the server's log.
        var description: String {
            "\(outcome ?? "?") by \(person ?? "?")" + (actingFor.map { " for \($0)" } ?? "") + " at step \(step ?? "?")"
        }

        /// Whether `other` is the same decision. The times agree within a microsecond: the snapshot's
        /// went through JSON as a `Double`, the row's through `to_timestamp`.
        func agrees(with other: DecisionFact) -> Bool {
            var (a, b) = (self, other)
            (a.decidedAtMicroseconds, b.decidedAtMicroseconds) = (nil, nil)
            guard a == b else { return false }
            switch (decidedAtMicroseconds, other.decidedAtMicroseconds) {
            case (let x?, let y?):
                return AuditTimestamp(microsecondsSinceEpoch: x).isSameStoredInstant(
                    as: AuditTimestamp(microsecondsSinceEpoch: y))
            case (nil, nil): return true
            default: return false
            }
        }

        /// Whether the log's record of a decision (`self`, from `decisionEvents`) is this row's: who, for
        /// whom, which step, what outcome, and the comment unless the log's was erased.
        func recordsRow(_ row: DecisionFact) -> Bool {
            person == row.person && actingFor == row.actingFor && step == row.step && outcome == row.outcome
                && (comment == nil || comment == row.comment)
        }
    }

    /// The first disagreement between the stored state (`requests.state` in `facts`, the `snapshot`, the
    /// row's `details`) and the facts; nil when all agree:
    /// 1. `requests.state` is the snapshot's state;
    /// 2. the snapshot's decisions are the `decisions` rows, every field;
    /// 3. the `decisions` rows are the request's decision events in the log;
    /// 4. the state after the request's last engine event in the log is `requests.state`;
    /// 5. the snapshot's routing facts are the ones the last submission logged (where it did);
    /// 6. the row's details are the ones the last submission logged (where it did, and not erased since).
    static func firstMismatch(
        snapshot: RequestSnapshot, details: RequestDetails, kind: ReleaseKind, facts: StoredFacts
    ) -> String? {
        let rows: [DecisionFact]
        let logged: [DecisionFact]
        do {
            rows = try StoredJSON.decode([DecisionFact].self, from: facts.decisions)
            logged = try StoredJSON.decode([DecisionFact].self, from: facts.decisionEvents)
        } catch {
            return "the stored decisions cannot be read (\(error))"
        }
        guard snapshot.state.name == facts.state else {
            return "requests.state is \(facts.state), the snapshot's state is \(snapshot.state.name)"
        }
        let fromSnapshot = snapshot.decisions.map {
            DecisionFact(
                person: $0.person, actingFor: $0.actingFor, step: $0.step, outcome: $0.outcome.rawValue,
                comment: $0.comment, role: $0.role.identifier, asEscalation: $0.asEscalation, branch: $0.branch,
                covers: $0.covers, licence: $0.details?.licence, portalURL: $0.details?.portalURL,
                decidedAtMicroseconds: AuditTimestamp($0.at).microsecondsSinceEpoch)
        }
        if let mismatch = compare(
            fromSnapshot, "the snapshot", rows, "the decisions table", by: { $0.agrees(with: $1) })
        {
            return mismatch
        }
        if let mismatch = compare(rows, "the decisions table", logged, "the decision log", by: { $1.recordsRow($0) }) {
            return mismatch
        }
        if let loggedState = facts.loggedState, loggedState != facts.state {
            return "requests.state is \(facts.state), the decision log's last event left it \(loggedState)"
        }
        guard let text = facts.loggedSubmission else { return nil }
        guard case .object(let submission)? = try? StoredJSON.decode(JSONValue.self, from: text) else {
            return "what the last submission logged cannot be read"
        }
        if let routing = submission["routing"], routing != .null, routing != snapshot.facts.logged {
            return "the snapshot's routing facts are not the ones its last submission logged"
        }
        if !facts.textsErased, let request = submission["request"], request != .null {
            return details.loggedMismatch(request, kind: kind)
        }
        return nil
    }

    private static func compare(
        _ left: [DecisionFact], _ leftName: String, _ right: [DecisionFact], _ rightName: String,
        by agree: (DecisionFact, DecisionFact) -> Bool
    ) -> String? {
        for (position, (a, b)) in zip(left, right).enumerated() where !agree(a, b) {
            return "decision #\(position): \(leftName) says \(a), \(rightName) says \(b)"
        }
        guard left.count == right.count else {
            return "\(leftName) has \(left.count) decisions, \(rightName) \(right.count)"
        }
        return nil
    }
}
