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
    /// Who held the dataset's owner and steward steps when the command read it. The row is written only
    /// while they still do: a catalogue change committed meanwhile handed the step to others, after the
    /// engine judged the caller's authority and the task mails were addressed on the old holders (the
    /// change's handover saw the request at its earlier step), so the command is a conflict, to be sent
    /// again. Ignored without `request`.
    var holders: StepHolders? = nil
    var decisions: [DecisionRow] = []
    var audit: [AuditRow] = []
    var outbox: [OutboxRow] = []
    var timers: [TimerRow] = []
    /// Steps whose timers (reminder, escalation, handovers to new holders: every kind with a step) are moot.
    var cancelledSteps: [String] = []
    var cancelsExpiry = false
    var now: Date

    /// Writes everything, or nothing when the request is no longer at `expectedVersion`.
    /// - Throws: `ServiceError.conflict` when the version moved on.
    func execute(on connection: PostgresConnection, logger: Logger) async throws {
        let query = try query()
        let rows =
            request == nil
            ? try await connection.rows(of: query, as: EffectsWrite.self, logger: logger)
            : try await connection.rows(of: query, as: RowWrite.self, logger: logger)
        guard !rows.isEmpty else {
            throw ServiceError.conflict("request \(requestID) is no longer at version \(expectedVersion)")
        }
    }

    func query() throws -> PostgresQuery {
        var sql = StatementBuilder()
        let id = try sql.bind(requestID)
        if let columns = request {
            let assignments = try columns.assignments(&sql, updatedAt: now)
            let clearsErasure = try sql.bind(columns.clearsErasure)
            var stillHeld = ""
            if let holders {
                stillHeld = """

                        AND EXISTS (
                            SELECT 1 FROM datasets d JOIN domains dm ON dm.id = d.domain_id
                            WHERE d.id = requests.dataset_id AND d.owner IS NOT DISTINCT FROM \(try sql.bind(holders.owner))
                              AND d.owner_group_key IS NOT DISTINCT FROM \(try sql.bind(holders.ownerGroupKey))
                              AND dm.steward_group_key = \(try sql.bind(holders.stewardGroupKey)))
                    """
            }
            sql.text += """
                WITH request AS (
                    UPDATE requests
                    SET \(assignments.map { "\($0.column) = \($0.value)" }.joined(separator: ", ")),
                        redaction_id = CASE WHEN \(clearsErasure) THEN NULL ELSE redaction_id END, version = version + 1
                    WHERE id = \(id) AND version = \(try sql.bind(expectedVersion))\(stillHeld)
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
                FROM request, jsonb_to_recordset(\(try sql.bind(RowJSON.encode(decisions)))::text::jsonb) AS d(
                    position integer, person text, acting_for text, role text, as_escalation boolean, step text,
                    branch text, outcome text, comment text, covers text[], licence text, portal_url text,
                    decided_at double precision)
            ), new_audit AS (
                INSERT INTO audit_events (\(AuditWriter.insertedColumnList))
                SELECT to_timestamp(a.occurred_at), a.actor, a.acting_for, a.role, a.as_escalation, request.id,
                       a.dataset_id, a.event, a.decision, a.step, a.state, a.comment, a.client_address::inet,
                       a.details::jsonb
                FROM request, ROWS FROM (jsonb_to_recordset(\(try sql.bind(RowJSON.encode(audit)))::text::jsonb) AS (
                        occurred_at double precision, actor text, acting_for text, role text, as_escalation boolean,
                        dataset_id text,
                        event text, decision text, step text, state text, comment text, client_address text,
                        details text)
                    ) WITH ORDINALITY AS a
                ORDER BY a.ordinality
            ), new_outbox AS (
                INSERT INTO outbox (kind, topic, request_id, payload, created_at, available_at)
                SELECT o.kind, o.topic, request.id, o.payload, \(now), \(now)
                FROM request, ROWS FROM (jsonb_to_recordset(\(try sql.bind(RowJSON.encode(outbox)))::text::jsonb) AS (
                        kind text, topic text, payload jsonb)
                    ) WITH ORDINALITY AS o
                ORDER BY o.ordinality
            ), cancelled_timers AS (
                UPDATE timers SET cancelled_at = \(now)
                WHERE request_id = (SELECT request.id FROM request) AND fired_at IS NULL AND cancelled_at IS NULL
                  AND (step = ANY(\(try sql.bind(cancelledSteps))::text[])
                       OR (kind IN ('expiry', 'expiry_notice') AND \(try sql.bind(cancelsExpiry))))
            ), new_timers AS (
                INSERT INTO timers (request_id, kind, step, due_at, created_at)
                SELECT request.id, t.kind, t.step, to_timestamp(t.due_at), \(now)
                FROM request, jsonb_to_recordset(\(try sql.bind(RowJSON.encode(timers)))::text::jsonb)
                    AS t(kind text, step text, due_at double precision)
            )
            SELECT id FROM request
            """
        return sql.query
    }
}

extension CommandWrite {
    /// The write of a command that changes the request row, prepared once per connection.
    struct RowWrite: RecurringStatement {
        static let sql = CommandWrite.representative(updatingRow: true)
        let bindings: PostgresBindings
    }

    /// The write of effects only (a request's creation), prepared once per connection.
    struct EffectsWrite: RecurringStatement {
        static let sql = CommandWrite.representative(updatingRow: false)
        let bindings: PostgresBindings
    }

    /// The text the builder makes for every write of this shape (it depends on the shape only).
    private static func representative(updatingRow: Bool) -> String {
        let record = RequestRecord(
            id: UUID(), number: "", kind: .sharedData, datasetID: "", requester: "", details: RequestDetails(),
            snapshot: RequestSnapshot(
                pin: WorkflowPin(id: "", version: 1, contentHash: ""), requester: "",
                facts: RequestFacts(
                    kind: .sharedData, classification: .public, personalData: .none, protectionNeed: .normal),
                accessEnd: nil),
            version: 1, createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0))
        let columns = RequestColumns(
            details: record.details, derived: RequestRecord.Derived(state: "", phase: .draft), snapshot: "{}",
            pin: record.snapshot.pin, submittedAt: nil)
        let write = CommandWrite(
            requestID: record.id, expectedVersion: 1, request: updatingRow ? columns : nil,
            holders: StepHolders(owner: nil, ownerGroupKey: nil, stewardGroupKey: ""),
            now: Date(timeIntervalSince1970: 0))
        // Building never fails for this value; an empty text would only mean "never prepared".
        return (try? write.query().sql) ?? ""
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
    var details: RequestDetails
    var derived: RequestRecord.Derived
    /// JSON of the engine's `RequestSnapshot`.
    var snapshot: String
    /// The workflow definition the request follows (a draft follows the one in force until it is submitted).
    var pin: WorkflowPin
    var submittedAt: Date?
    /// The request's erased texts were stated anew (`requests.redaction_id` cleared); a bound flag, so that
    /// the statement's text stays the same for every command.
    var clearsErasure = false

    init(
        details: RequestDetails, derived: RequestRecord.Derived, snapshot: String, pin: WorkflowPin,
        submittedAt: Date?
    ) {
        self.details = details
        self.derived = derived
        self.snapshot = snapshot
        self.pin = pin
        self.submittedAt = submittedAt
    }

    init(record: RequestRecord, machine: RequestMachine) throws {
        details = record.details
        derived = RequestRecord.derived(from: machine)
        snapshot = try StoredJSON.encode(machine.snapshot)
        pin = machine.snapshot.pin
        submittedAt = record.submittedAt
    }

    /// Binds every column with its new value, for an INSERT's lists or an UPDATE's SET.
    func assignments(_ sql: inout StatementBuilder, updatedAt: Date) throws -> [(column: String, value: String)] {
        let detailColumns = zip(RequestDetails.columnNames, try details.bindColumns(&sql)).map {
            (column: $0, value: $1)
        }
        return detailColumns + [
            ("state", try sql.bind(derived.state)), ("phase", try sql.bind(derived.phase.rawValue)),
            ("current_step", try sql.bind(derived.currentStep)), ("pending_roles", try sql.bind(derived.pendingRoles)),
            ("escalation_role", try sql.bind(derived.escalationRole)),
            ("step_entered_at", try sql.bind(derived.stepEnteredAt)), ("deadline", try sql.bind(derived.deadline)),
            ("snapshot", try sql.bind(snapshot) + "::text::jsonb"), ("updated_at", try sql.bind(updatedAt)),
            ("submitted_at", try sql.bind(submittedAt)), ("workflow_id", try sql.bind(pin.id)),
            ("workflow_version", try sql.bind(pin.version)), ("workflow_hash", try sql.bind(pin.contentHash)),
        ]
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
    /// The table's `kind`, by which the mail and the webhook dispatcher each claim theirs.
    enum Kind: String, Sendable, Encodable {
        case mail, webhook
    }

    let kind: Kind
    var topic: OutboxTopic
    var payload: OutboxMessage

    /// A webhook event's topic is `webhook`; every other topic is a mail: the kind follows the topic, so
    /// the two cannot disagree.
    init(topic: OutboxTopic, payload: OutboxMessage) {
        kind = topic == .webhook ? .webhook : .mail
        self.topic = topic
        self.payload = payload
    }
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
///
/// Written by hand (``RowJSONWriter``) rather than by `JSONEncoder`: the encoder's generic boxing was
/// 5–6 % of the server's CPU under `make bench` for four small arrays per command. The text is the
/// same JSON `JSONEncoder` makes (`RowJSONTests` compares them, hostile strings included).
enum RowJSON {
    static func encode(_ rows: [some RowJSONWritable]) throws -> String {
        var writer = RowJSONWriter()
        writer.bytes.append(UInt8(ascii: "["))
        for (index, row) in rows.enumerated() {
            if index > 0 { writer.bytes.append(UInt8(ascii: ",")) }
            writer.beginObject()
            try row.write(to: &writer)
            writer.endObject()
        }
        writer.bytes.append(UInt8(ascii: "]"))
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// A payload that is itself a JSON object, with the same date strategy.
    static func encodeObject(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A row that writes its own fields for ``RowJSON``.
protocol RowJSONWritable {
    func write(to writer: inout RowJSONWriter) throws
}

/// Appends one JSON object's fields (RFC 8259: strings escaped, non-ASCII as UTF-8).
struct RowJSONWriter {
    var bytes: [UInt8] = []
    private var needsComma = false

    init() { bytes.reserveCapacity(1024) }

    mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() { bytes.append(UInt8(ascii: "}")) }

    private mutating func key(_ name: StaticString) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    mutating func field(_ name: StaticString, _ value: Int) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// Seconds since 1970 as the shortest text that reads back as the same `Double` (what `JSONEncoder`
    /// writes for `.secondsSince1970`).
    mutating func field(_ name: StaticString, _ value: Date) throws {
        let seconds = value.timeIntervalSince1970
        guard seconds.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: [], debugDescription: "date \(value) is not a finite number of seconds"))
        }
        key(name)
        var text = "\(seconds)"
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    mutating func field(_ name: StaticString, _ values: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// A value that is JSON text already (an object encoded elsewhere).
    mutating func field(_ name: StaticString, json: String) {
        key(name)
        bytes.append(contentsOf: json.utf8)
    }

    private mutating func null() { bytes.append(contentsOf: "null".utf8) }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)],
                ])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension DecisionRow: RowJSONWritable {
    func write(to writer: inout RowJSONWriter) throws {
        writer.field("position", position)
        writer.field("person", person)
        writer.field("acting_for", actingFor)
        writer.field("role", role)
        writer.field("as_escalation", asEscalation)
        writer.field("step", step)
        writer.field("branch", branch)
        writer.field("outcome", outcome)
        writer.field("comment", comment)
        writer.field("covers", covers)
        writer.field("licence", licence)
        writer.field("portal_url", portalURL)
        try writer.field("decided_at", decidedAt)
    }
}

extension AuditRow: RowJSONWritable {
    func write(to writer: inout RowJSONWriter) throws {
        let (address, details) = storedAddressAndDetails
        try writer.field("occurred_at", occurredAt)
        writer.field("actor", actor)
        writer.field("acting_for", actingFor)
        writer.field("role", role)
        writer.field("as_escalation", asEscalation)
        writer.field("dataset_id", datasetID)
        writer.field("event", event.rawValue)
        writer.field("decision", decision)
        writer.field("step", step)
        writer.field("state", state)
        writer.field("comment", comment)
        writer.field("client_address", address)
        writer.field("details", details)
    }
}

extension OutboxRow: RowJSONWritable {
    func write(to writer: inout RowJSONWriter) throws {
        writer.field("kind", kind.rawValue)
        writer.field("topic", topic.rawValue)
        writer.field("payload", json: try RowJSON.encodeObject(payload))
    }
}

extension TimerRow: RowJSONWritable {
    func write(to writer: inout RowJSONWriter) throws {
        writer.field("kind", kind.rawValue)
        writer.field("step", step)
        try writer.field("due_at", dueAt)
    }
}
