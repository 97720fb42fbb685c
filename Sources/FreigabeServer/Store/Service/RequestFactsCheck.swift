import Foundation
import Logging
import PostgresNIO

/// The append-only facts behind one request (its `decisions` rows and its decision events in the log),
/// read beside its mutable state so that nothing is shown from a snapshot the facts contradict.
///
/// The engine works from `requests.snapshot`, and the tables' owner can rewrite it (`requests` must
/// change, so it has no append-only trigger). A request's page and `GET /requests/{id}` show the
/// timeline and decisions from that snapshot only after this check found them equal to the facts;
/// `freigabe audit verify` runs the same comparison (``StoredRequestFacts``) over every request.
enum RequestFactsCheck {
    /// The `decisions` rows of request `r` as a JSON array of ``StoredRequestFacts/DecisionFact``.
    static let decisionRows = """
        coalesce((
            SELECT json_agg(json_build_object(
                'person', d.person, 'acting_for', d.acting_for, 'role', d.role, 'step', d.step,
                'outcome', d.outcome, 'as_escalation', d.as_escalation) ORDER BY d.position)
            FROM decisions d WHERE d.request_id = r.id), '[]')::text
        """

    /// The audit events of request `r` that record a decision, as a JSON array of
    /// ``StoredRequestFacts/DecisionFact``.
    static let decisionEvents = """
        coalesce((
            SELECT json_agg(json_build_object(
                'person', e.actor, 'acting_for', e.acting_for, 'step', e.step, 'outcome', e.decision)
                ORDER BY e.id)
            FROM audit_events e WHERE e.request_id = r.id AND e.decision IS NOT NULL), '[]')::text
        """

    /// The state request `r` was left in by its last engine event in the log.
    static let loggedState = """
        (SELECT e.state FROM audit_events e
         WHERE e.request_id = r.id AND e.event = ANY(\(engineEventsArray)) AND e.state IS NOT NULL
         ORDER BY e.id DESC LIMIT 1)
        """

    /// ``RequestStateCheck/engineEvents`` as an SQL literal (fixed identifiers, no user input).
    private static let engineEventsArray =
        "ARRAY[" + RequestStateCheck.engineEvents.map { "'\($0)'" }.joined(separator: ", ") + "]::text[]"

    /// Throws when `record`'s stored state disagrees with its `facts`. Both must come from one snapshot
    /// (one statement, or one REPEATABLE READ transaction), so that a decision committing in between
    /// cannot look like a disagreement; the record's snapshot is the one already decoded, not read twice.
    ///
    /// - Throws: ``ServiceError`` `internal` with a message for people; `details` (for the log) names
    ///   the first disagreement.
    static func check(_ record: RequestRecord, facts: StoredFacts) throws {
        if let mismatch = StoredRequestFacts.firstMismatch(
            state: facts.state, snapshot: record.snapshot, decisions: facts.decisions,
            decisionEvents: facts.decisionEvents, loggedState: facts.loggedState)
        {
            throw ServiceError(
                .internal, message: UserText("general.request_inconsistent"),
                details: "request \(record.id.uuidString.lowercased()) disagrees with its facts: \(mismatch)")
        }
    }
}

/// The columns ``RequestFactsCheck`` reads for request `r`, in this order: `r.state`,
/// ``RequestFactsCheck/decisionRows``, ``RequestFactsCheck/decisionEvents``, ``RequestFactsCheck/loggedState``.
struct StoredFacts: Sendable {
    var state: String
    var decisions: String
    var decisionEvents: String
    var loggedState: String?
}
