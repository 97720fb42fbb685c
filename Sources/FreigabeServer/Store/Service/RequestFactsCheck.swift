import AuditLog
import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// The append-only facts behind one request (its `decisions` rows and its decision events in the log),
/// read beside its mutable state so that nothing is shown from a snapshot the facts contradict.
///
/// The engine works from `requests.snapshot`, and the tables' owner can rewrite it (`requests` must
/// change, so it has no append-only trigger). A request's page and `GET /requests/{id}` show the
/// timeline and decisions from that snapshot only after this check found them equal to the facts;
/// `freigabe audit verify` runs the same comparison (``StoredRequestFacts``) over every request.
enum RequestFactsCheck {
    /// The `decisions` rows of request `r` as a JSON array of ``StoredRequestFacts/DecisionFact``, every
    /// column (the decision time in microseconds since 1970, exact as numeric).
    static let decisionRows = """
        coalesce((
            SELECT json_agg(json_build_object(
                'person', d.person, 'acting_for', d.acting_for, 'role', d.role, 'step', d.step,
                'outcome', d.outcome, 'as_escalation', d.as_escalation, 'branch', d.branch, 'comment', d.comment,
                'covers', d.covers, 'licence', d.licence, 'portal_url', d.portal_url,
                'decided_at_us', (extract(epoch FROM d.decided_at) * 1000000)::bigint) ORDER BY d.position)
            FROM decisions d WHERE d.request_id = r.id), '[]')::text
        """

    /// The audit events of request `r` that record a decision, as a JSON array of
    /// ``StoredRequestFacts/DecisionFact``: whether one's payload was erased is its seal's to say; its
    /// escalation capacity only from migration 13 on (rows before it were given `false`).
    static let decisionEvents = """
        coalesce((
            SELECT json_agg(json_build_object(
                'person', e.actor, 'acting_for', e.acting_for, 'step', e.step, 'outcome', e.decision,
                'comment', e.comment, 'role', e.role,
                'as_escalation', CASE WHEN e.recorded_at >= m.applied_at THEN e.as_escalation END,
                'erased', e.comment IS NULL
                    AND EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id AND s.redaction_id IS NOT NULL))
                ORDER BY e.id)
            FROM audit_events e
                LEFT JOIN schema_migrations m ON m.version = \(Migrations.auditEscalation.version)
            WHERE e.request_id = r.id AND e.decision IS NOT NULL), '[]')::text
        """

    /// The state request `r` was left in by its last engine event in the log.
    static let loggedState = """
        (SELECT e.state FROM audit_events e
         WHERE e.request_id = r.id AND e.event = ANY(\(engineEventsArray)) AND e.state IS NOT NULL
         ORDER BY e.id DESC LIMIT 1)
        """

    /// What request `r`'s last submission or resubmission logged, as JSON text: `request` (the details)
    /// and `routing` (the facts routed on), each null for events logged before the log recorded them and
    /// after an erasure; NULL before the first submission.
    static let loggedSubmission = """
        (SELECT jsonb_build_object('request', e.details->'request', 'routing', e.details->'routing')::text
         FROM audit_events e
         WHERE e.request_id = r.id AND e.event IN ('submitted', 'resubmitted')
         ORDER BY e.id DESC LIMIT 1)
        """

    /// When request `r` last entered review of a step, as the log says, as JSON text
    /// (``LoggedStepEntry``): the time in microseconds since 1970, the step's deadline as that event
    /// logged it (null before the log recorded deadlines, or erased), and whether the log holds an
    /// escalation since; NULL when no logged event entered a step.
    ///
    /// The entering event is the last engine event whose state `in_review:…` differs from the one before
    /// it: a submission, a resubmission, or the decision that completed the step before. Every record of
    /// one command names the state it led to, so the first of them is the one that differs.
    static let loggedStepEntry = """
        (SELECT json_build_object(
                    'entered_at_us', (extract(epoch FROM x.occurred_at) * 1000000)::bigint,
                    'deadline', x.details->>'deadline',
                    'escalated', EXISTS (
                        SELECT 1 FROM audit_events s
                        WHERE s.request_id = r.id AND s.event = 'escalated' AND s.id > x.id))::text
         FROM (SELECT e.id, e.occurred_at, e.details, e.state, lag(e.state) OVER (ORDER BY e.id) AS before
               FROM audit_events e
               WHERE e.request_id = r.id AND e.event = ANY(\(engineEventsArray)) AND e.state IS NOT NULL) x
         WHERE starts_with(x.state, 'in_review:') AND x.state IS DISTINCT FROM x.before
         ORDER BY x.id DESC LIMIT 1)
        """

    /// The columns of ``StoredFacts``, in its order, for request `r`.
    static let columns =
        "r.state, \(decisionRows), \(decisionEvents), \(loggedState), \(loggedSubmission), \(loggedStepEntry), "
        + "r.redaction_id IS NOT NULL"

    /// ``RequestStateCheck/engineEvents`` as an SQL literal (fixed identifiers, no user input).
    private static let engineEventsArray =
        "ARRAY[" + RequestStateCheck.engineEvents.map { "'\($0)'" }.joined(separator: ", ") + "]::text[]"

    /// Throws when `record`'s stored state disagrees with its `facts`. Both must come from one snapshot
    /// (one statement, or one REPEATABLE READ transaction), so that a decision committing in between
    /// cannot look like a disagreement; the record's snapshot is the one already decoded, not read twice.
    ///
    /// - Throws: ``ServiceError`` `internal` with a message for people; `details` (for the log) names
    ///   the first disagreement.
    static func check(_ record: RequestRecord, facts: StoredFacts, definition: WorkflowDefinition) throws {
        if let mismatch = StoredRequestFacts.firstMismatch(
            snapshot: record.snapshot, details: record.details, kind: record.kind, facts: facts,
            definition: definition)
        {
            throw ServiceError(
                .internal, message: UserText("general.request_inconsistent"),
                details: "request \(record.id.uuidString.lowercased()) disagrees with its facts: \(mismatch)")
        }
    }
}

extension AuditTimestamp {
    /// Whether a stored copy of a time is this one: a `Date` reaches PostgreSQL through another rounding
    /// than the log's text or a snapshot's JSON `Double`, so copies of one instant may differ by 1 µs.
    func isSameStoredInstant(as other: AuditTimestamp) -> Bool {
        abs(microsecondsSinceEpoch - other.microsecondsSinceEpoch) <= 1
    }
}

/// The columns ``RequestFactsCheck`` reads for request `r` (``RequestFactsCheck/columns``).
struct StoredFacts: Sendable {
    var state: String
    /// ``RequestFactsCheck/decisionRows``.
    var decisions: String
    /// ``RequestFactsCheck/decisionEvents``.
    var decisionEvents: String
    /// ``RequestFactsCheck/loggedState``.
    var loggedState: String?
    /// ``RequestFactsCheck/loggedSubmission``.
    var loggedSubmission: String?
    /// ``RequestFactsCheck/loggedStepEntry``, read.
    var stepEntry: LoggedStepEntry?
    /// `audit redact` erased the request's free texts (the row's details are no longer the ones stated).
    var textsErased: Bool

    /// The cells of ``RequestFactsCheck/columns``.
    static func decode(_ cells: inout RowCursor) throws -> StoredFacts {
        StoredFacts(
            state: try cells.next(), decisions: try cells.next(), decisionEvents: try cells.next(),
            loggedState: try cells.next(), loggedSubmission: try cells.next(),
            stepEntry: try (cells.next() as String?).map { try StoredJSON.decode(LoggedStepEntry.self, from: $0) },
            textsErased: try cells.next())
    }
}

/// When a request last entered review of a step, when that step was due, and whether it escalated since,
/// as the log says (``RequestFactsCheck/loggedStepEntry``).
struct LoggedStepEntry: Sendable, Hashable, Decodable {
    var enteredAt: AuditTimestamp
    /// nil where the entering event logged none (before the log recorded deadlines, or erased since).
    var deadline: AuditTimestamp?
    var escalated: Bool

    enum CodingKeys: String, CodingKey {
        case enteredAt = "entered_at_us"
        case deadline, escalated
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        enteredAt = AuditTimestamp(microsecondsSinceEpoch: try container.decode(Int64.self, forKey: .enteredAt))
        escalated = try container.decode(Bool.self, forKey: .escalated)
        guard let text = try container.decodeIfPresent(String.self, forKey: .deadline) else { return }
        guard let deadline = AuditTimestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .deadline, in: container, debugDescription: "not the log's RFC 3339 form")
        }
        self.deadline = deadline
    }
}
