import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Everything one command on an existing request writes, gathered as plain rows so that it reaches
/// PostgreSQL as ONE statement: the request row (only if it is still at `expectedVersion`), its new
/// decisions, audit events, outbox messages, new timers and cancelled timers.
///
/// One statement is one round trip and, outside an explicit transaction, one commit: the data-modifying
/// CTEs either all take effect or none does. Every insert reads from the `request` CTE, so when the
/// version check fails (a concurrent command won), nothing at all is written and the caller gets a
/// conflict. The rows travel as JSON arrays (`jsonb_to_recordset`), so the statement text is the same
/// for every command and PostgreSQL plans it once per connection.
struct CommandWrite: Sendable {
    var requestID: UUID
    /// The version the command read; ignored without `request`.
    var expectedVersion: Int
    /// The request row's new columns; nil when only effects are written.
    var request: RequestColumns?
    var decisions: [DecisionRow] = []
    var audit: [AuditRow] = []
    var outbox: [OutboxRow] = []
    var timers: [TimerRow] = []
    /// Steps whose reminders and escalation are moot.
    var cancelledSteps: [String] = []
    var cancelsExpiry = false
    var now: Date

    /// Writes everything, or nothing when the request is no longer at `expectedVersion`.
    /// - Throws: `ServiceError.conflict` when the version moved on.
    func execute(on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query(query(), logger: logger)
        var written = false
        for try await _ in rows { written = true }
        guard written else {
            throw ServiceError.conflict("request \(requestID) is no longer at version \(expectedVersion)")
        }
    }

    func query() throws -> PostgresQuery {
        var sql = StatementBuilder()
        let id = try sql.bind(requestID)
        if let columns = request {
            sql.text += """
                WITH request AS (
                    UPDATE requests SET
                        purpose = \(try sql.bind(columns.purpose)),
                        recipient_name = \(try sql.bind(columns.recipientName)),
                        recipient_type = \(try sql.bind(columns.recipientType)),
                        legal_basis = \(try sql.bind(columns.legalBasis)),
                        access_start = \(try sql.bind(columns.accessStart)),
                        access_end = \(try sql.bind(columns.accessEnd)),
                        licence = \(try sql.bind(columns.licence)), format = \(try sql.bind(columns.format)),
                        anonymisation_statement = \(try sql.bind(columns.anonymisationStatement)),
                        open_data_check = \(try sql.bind(columns.openDataCheck))::jsonb,
                        state = \(try sql.bind(columns.state)), phase = \(try sql.bind(columns.phase)),
                        current_step = \(try sql.bind(columns.currentStep)),
                        pending_roles = \(try sql.bind(columns.pendingRoles)),
                        escalation_role = \(try sql.bind(columns.escalationRole)),
                        step_entered_at = \(try sql.bind(columns.stepEnteredAt)),
                        deadline = \(try sql.bind(columns.deadline)),
                        snapshot = \(try sql.bind(columns.snapshot))::jsonb, version = version + 1,
                        updated_at = \(try sql.bind(now)), submitted_at = \(try sql.bind(columns.submittedAt))
                    WHERE id = \(id) AND version = \(try sql.bind(expectedVersion))
                    RETURNING id
                )
                """
        } else {
            // Effects of an event that does not change the row itself hang on the row as it is.
            sql.text += "WITH request AS (SELECT id FROM requests WHERE id = \(id))"
        }
        let now = try sql.bind(now)
        sql.text += """
            , new_decisions AS (
                INSERT INTO decisions (
                    request_id, position, person, acting_for, role, as_escalation, step, branch, outcome, comment,
                    covers, licence, portal_url, decided_at)
                SELECT request.id, d.position, d.person, d.acting_for, d.role, d.as_escalation, d.step, d.branch,
                       d.outcome, d.comment, d.covers, d.licence, d.portal_url, to_timestamp(d.decided_at)
                FROM request, jsonb_to_recordset(\(try sql.bind(RowJSON.encode(decisions)))::jsonb) AS d(
                    position integer, person text, acting_for text, role text, as_escalation boolean, step text,
                    branch text, outcome text, comment text, covers text[], licence text, portal_url text,
                    decided_at double precision)
            ), new_audit AS (
                INSERT INTO audit_events (
                    occurred_at, actor, acting_for, role, request_id, dataset_id, event, decision, step, state,
                    comment, client_address, details)
                SELECT to_timestamp(a.occurred_at), a.actor, a.acting_for, a.role, request.id, a.dataset_id, a.event,
                       a.decision, a.step, a.state, a.comment, a.client_address::inet, a.details::jsonb
                FROM request, ROWS FROM (jsonb_to_recordset(\(try sql.bind(RowJSON.encode(audit)))::jsonb) AS (
                        occurred_at double precision, actor text, acting_for text, role text, dataset_id text,
                        event text, decision text, step text, state text, comment text, client_address text,
                        details text)
                    ) WITH ORDINALITY AS a
                ORDER BY a.ordinality
            ), new_outbox AS (
                INSERT INTO outbox (kind, topic, request_id, payload, created_at, available_at)
                SELECT o.kind, o.topic, request.id, o.payload, \(now), \(now)
                FROM request, ROWS FROM (jsonb_to_recordset(\(try sql.bind(RowJSON.encode(outbox)))::jsonb) AS (
                        kind text, topic text, payload jsonb)
                    ) WITH ORDINALITY AS o
                ORDER BY o.ordinality
            ), cancelled_timers AS (
                UPDATE timers SET cancelled_at = \(now)
                WHERE request_id = (SELECT request.id FROM request) AND fired_at IS NULL AND cancelled_at IS NULL
                  AND ((kind IN ('reminder', 'escalation') AND step = ANY(\(try sql.bind(cancelledSteps))::text[]))
                       OR (kind = 'expiry' AND \(try sql.bind(cancelsExpiry))))
            ), new_timers AS (
                INSERT INTO timers (request_id, kind, step, due_at, created_at)
                SELECT request.id, t.kind, t.step, to_timestamp(t.due_at), \(now)
                FROM request, jsonb_to_recordset(\(try sql.bind(RowJSON.encode(timers)))::jsonb)
                    AS t(kind text, step text, due_at double precision)
            )
            SELECT id FROM request
            """
        return sql.query
    }
}

/// SQL text with its bindings numbered as they are added, for a statement whose shape varies.
struct StatementBuilder {
    var text = ""
    private var bindings = PostgresBindings()

    /// Binds `value` and returns its placeholder (`$3`).
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value) throws -> String {
        try bindings.append(value)
        return "$\(bindings.count)"
    }

    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value?) throws -> String {
        try bindings.append(value)
        return "$\(bindings.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: bindings) }
}

/// The stored columns of a `requests` row that a command may change, derived from the request's details
/// and its engine snapshot.
struct RequestColumns: Sendable {
    var purpose: String
    var recipientName: String?
    var recipientType: String?
    var legalBasis: String?
    var accessStart: Date?
    var accessEnd: Date?
    var licence: String?
    var format: String?
    var anonymisationStatement: String?
    /// JSON, or nil.
    var openDataCheck: String?
    var state: String
    var phase: String
    var currentStep: String?
    var pendingRoles: [String]
    var escalationRole: String?
    var stepEnteredAt: Date?
    var deadline: Date?
    /// JSON of the engine's `RequestSnapshot`.
    var snapshot: String
    var submittedAt: Date?

    init(record: RequestRecord, machine: RequestMachine) throws {
        let derived = RequestRecord.derived(from: machine)
        purpose = record.purpose
        recipientName = record.recipient?.name
        recipientType = record.recipient?.type.rawValue
        legalBasis = record.legalBasis
        accessStart = record.accessStart
        accessEnd = record.accessEnd
        licence = record.licence
        format = record.format
        anonymisationStatement = record.anonymisationStatement
        openDataCheck = try record.openDataCheck.map { try StoredJSON.encode($0) }
        state = derived.state
        phase = derived.phase.rawValue
        currentStep = derived.currentStep
        pendingRoles = derived.pendingRoles
        escalationRole = derived.escalationRole
        stepEnteredAt = derived.stepEnteredAt
        deadline = derived.deadline
        snapshot = try StoredJSON.encode(machine.snapshot)
        submittedAt = record.submittedAt
    }
}

/// One row of `decisions`, as it travels in a ``CommandWrite``.
struct DecisionRow: Sendable, Encodable {
    var position: Int
    var person: String
    var actingFor: String?
    var role: String
    var asEscalation: Bool
    var step: String
    var branch: String
    var outcome: String
    var comment: String?
    var covers: [String]
    var licence: String?
    var portalURL: String?
    var decidedAt: Date

    init(_ decision: Decision, position: Int) {
        self.position = position
        person = decision.person
        actingFor = decision.actingFor
        role = decision.role.identifier
        asEscalation = decision.asEscalation
        step = decision.step
        branch = decision.branch
        outcome = decision.outcome.rawValue
        comment = decision.comment
        covers = decision.covers
        licence = decision.details?.licence
        portalURL = decision.details?.portalURL
        decidedAt = decision.at
    }

    enum CodingKeys: String, CodingKey {
        case position, person, role, step, branch, outcome, comment, covers, licence
        case actingFor = "acting_for"
        case asEscalation = "as_escalation"
        case portalURL = "portal_url"
        case decidedAt = "decided_at"
    }
}

/// One row of `outbox`.
struct OutboxRow: Sendable, Encodable {
    var kind = "mail"
    var topic: OutboxTopic
    var payload: OutboxMessage
}

/// One row of `timers`.
struct TimerRow: Sendable, Encodable {
    var kind: TimerKind
    var step: String?
    var dueAt: Date

    enum CodingKeys: String, CodingKey {
        case kind, step
        case dueAt = "due_at"
    }
}

/// The JSON in which rows travel to `jsonb_to_recordset`: dates as seconds since 1970 with their
/// fraction, which `to_timestamp` turns back into the same microsecond `timestamptz` a bound `Date`
/// gives.
enum RowJSON {
    static func encode(_ rows: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(rows), as: UTF8.self)
    }
}
