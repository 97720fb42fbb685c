import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// What a read of one request records besides serving it.
public enum ReadRecording: Sendable {
    /// A reading by someone whom the request concerns only through their office (auditor,
    /// administrator) is logged (`audit_read`); a refused one is a security event (`read_denied`).
    case recorded
    /// The caller's door logged the reading already (the Verfahrensakte); a refusal is still recorded.
    case alreadyRecorded
    /// A decision link's lookup, which a mail scanner's GET may make: it records nothing, and a person
    /// who may no longer see the request, or sees it only through their office, gets `notFound`.
    case decisionLink
}

extension RequestService {
    /// A request as its page and `GET /requests/{id}` show it: the request, its dataset, its facts
    /// (``RequestFactsCheck``), the requester's answers and the caller's deputyships, all in one statement.
    ///
    /// One statement is one snapshot (PostgreSQL gives every statement of READ COMMITTED its own, and
    /// subqueries share it), so a decision committing meanwhile cannot make the facts look contradicted,
    /// as the REPEATABLE READ transaction of five statements guaranteed before; and it is one round trip
    /// and one commit instead of eight round trips and two commits (`make bench-web`).
    ///
    /// With `actingFacts` (the request page) the same statement also reads ``ActingFacts``.
    func performRead(
        id: UUID, caller: Caller, now: Date, actingFacts: Bool, recording: ReadRecording = .recorded,
        branch: String? = nil, logger: Logger
    ) async throws -> (view: RequestView, acting: ActingFacts?) {
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        logger[metadataKey: "request.id"] = "\(id)"
        let query = try Self.readStatement(id: id, caller: caller.uid, now: now, actingFacts: actingFacts)
        let read = try await Database.read(client, logger: logger) { [logger] connection -> StoredRead? in
            var found:
                (
                    record: RequestRecord, dataset: DatasetRecord, facts: StoredFacts, answers: String,
                    deputyships: String, erasedAt: Date?, erasedBy: String?, deputiesInForce: String?
                )?
            let rows =
                actingFacts
                ? try await connection.rows(of: query, as: RequestPageRead.self, logger: logger)
                : try await connection.rows(of: query, as: RequestRead.self, logger: logger)
            for row in rows {
                var cells = RowCursor(row)
                found = (
                    try RequestRecord.from(&cells), try DatasetRecord.from(&cells),
                    try StoredFacts.decode(&cells),
                    try cells.next(), try cells.next(), try cells.next(), try cells.next(), try cells.next()
                )
            }
            guard let found else { return nil }
            // After the rows are read: the connection runs one statement at a time. The pinned definition
            // is immutable, so reading it now (on a cache miss) is no other snapshot.
            let machine = try await self.machine(
                for: found.record, dataset: found.dataset, on: connection, logger: logger)
            return StoredRead(
                record: found.record, dataset: found.dataset, machine: machine, facts: found.facts,
                answers: found.answers,
                deputyships: try RelevantDeputyships.decode(found.deputyships, deputy: caller.uid),
                textsErased: found.erasedAt.flatMap { at in found.erasedBy.map { TextErasure(at: at, by: $0) } },
                acting: actingFacts
                    ? ActingFacts(
                        stewardGroup: found.dataset.stewardGroup,
                        deputies: try ActingFacts.decode(found.deputiesInForce)) : nil)
        }
        guard let read else { throw ServiceError.notFound() }
        // The principals' directory facts are asked for after the connection went back to the pool.
        let context = try await CallerContext.resolve(
            caller: caller, deputyships: read.deputyships, principals: principals)
        let maySee = context.maySee(read.machine, dataset: read.dataset, now: now)
        if recording == .decisionLink,
            !maySee || context.seesOnlyByOffice(read.machine, dataset: read.dataset, now: now)
        {
            // The link's person is no longer concerned: nothing to show, and a GET records nothing.
            throw ServiceError.notFound()
        }
        guard maySee else {
            // Someone else's request: answered like a missing one, recorded as a security event.
            throw SecurityRefusal(
                error: ServiceError.notFound(),
                event: AuditRow(
                    occurredAt: now, actor: caller.uid, requestID: id, datasetID: read.record.datasetID,
                    event: .readDenied, state: read.machine.state.name, clientAddress: caller.clientAddress))
        }
        try RequestFactsCheck.check(read.record, facts: read.facts, definition: read.machine.definition)
        if recording == .recorded, context.seesOnlyByOffice(read.machine, dataset: read.dataset, now: now) {
            // Logged before it is served; a reading that cannot be logged is not served (503).
            try await performRecordAuditRead(
                ["view": "request", "via": caller.channel.rawValue], requestID: id, datasetID: read.record.datasetID,
                caller: caller, now: now, logger: logger)
        }
        var view = views.view(
            read.record, machine: read.machine, dataset: read.dataset, context: context, now: now, branch: branch)
        let requesterEvents = try Self.answers(json: read.answers)
        view.answers = requesterEvents.answers
        view.withdrawal = requesterEvents.withdrawal
        view.textsErased = read.textsErased
        return (view, read.acting)
    }

    /// The read of ``performRead(id:caller:now:actingFacts:recording:branch:logger:)`` for `GET /requests/{id}`, prepared once
    /// per connection: its subqueries (facts, answers, deputyships) made planning a visible part of
    /// PostgreSQL's CPU per page view (`make bench-web`).
    struct RequestRead: RecurringStatement {
        // Binding a UUID, a text and a date never fails; an empty text would only mean "never prepared".
        static let sql =
            (try? readStatement(id: UUID(), caller: "", now: Date(timeIntervalSince1970: 0), actingFacts: false).sql)
            ?? ""
        let bindings: PostgresBindings
    }

    /// The same read for the request page, with ``ActingFacts``.
    struct RequestPageRead: RecurringStatement {
        static let sql =
            (try? readStatement(id: UUID(), caller: "", now: Date(timeIntervalSince1970: 0), actingFacts: true).sql)
            ?? ""
        let bindings: PostgresBindings
    }

    /// The one statement of ``performRead(id:caller:now:actingFacts:recording:branch:logger:)``; its text depends only on
    /// `actingFacts`.
    static func readStatement(id: UUID, caller: String, now: Date, actingFacts: Bool) throws -> PostgresQuery {
        var sql = StatementBuilder()
        let requestID = try sql.bind(id)
        let deputyshipRows = RelevantDeputyships.subquery(
            deputy: try sql.bind(caller), cutoff: try sql.bind(RelevantDeputyships.cutoff(now)))
        let deputiesInForce = actingFacts ? ActingFacts.subquery(at: try sql.bind(now)) : "NULL::text"
        // The erasure's row, when `audit redact` erased the free texts (a reader must learn why they are gone).
        sql.text = """
            SELECT \(RequestRecord.columns), \(DatasetRecord.columns),
                \(RequestFactsCheck.columns), \(Self.answerRows), \(deputyshipRows),
                ar.redacted_at, ar.redacted_by, \(deputiesInForce)
            FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
                LEFT JOIN audit_redactions ar ON ar.id = r.redaction_id
            WHERE r.id = \(requestID)
            """
        return sql.query
    }

    /// What ``performRead(id:caller:now:actingFacts:recording:branch:logger:)`` reads in its one statement.
    private struct StoredRead: Sendable {
        var record: RequestRecord
        var dataset: DatasetRecord
        var machine: RequestMachine
        var facts: StoredFacts
        /// ``answerRows``.
        var answers: String
        var deputyships: [Deputyship]
        var textsErased: TextErasure?
        var acting: ActingFacts?
    }

    /// The requester's resubmissions (their answers to questions) and withdrawal of request `r` as a JSON
    /// array of ``LoggedRequesterEvent``, from the decision log: the engine's snapshot keeps the decisions,
    /// the answers live only in their `resubmitted` events, who withdrew and why only in the `withdrawn`
    /// event. Resubmissions without a comment too: a task mail must know which one answered a question
    /// (``RequestStanding/answeredQuestion(step:enteredAt:)``). The time is whole microseconds, as the
    /// column stores it, so that nothing is lost to a decimal.
    static let answerRows = """
        coalesce((
            SELECT json_agg(json_build_object(
                'event', e.event, 'person', e.actor, 'step', e.step, 'text', e.comment,
                'at', (extract(epoch FROM e.occurred_at) * 1000000)::bigint) ORDER BY e.id)
            FROM audit_events e
            WHERE e.request_id = r.id AND e.event IN ('resubmitted', 'withdrawn')), '[]')::text
        """

    /// ``answerRows`` decoded: the answers, oldest first, and the withdrawal (the last, should there be
    /// more than one).
    static func answers(json: String) throws -> (answers: [AnswerView], withdrawal: WithdrawalView?) {
        var answers: [AnswerView] = []
        var withdrawal: WithdrawalView?
        for row in try StoredJSON.decode([LoggedRequesterEvent].self, from: json) {
            if row.isResubmission {
                // Sent back without a comment: no answer to show.
                guard let text = row.text else { continue }
                answers.append(AnswerView(person: row.person ?? "", step: row.step, text: text, at: row.date))
            } else {
                withdrawal = WithdrawalView(person: row.person ?? "", step: row.step, comment: row.text, at: row.date)
            }
        }
        return (answers, withdrawal)
    }
}

/// A resubmission or withdrawal as the log recorded it (``RequestService/answerRows``).
struct LoggedRequesterEvent: Sendable, Hashable, Decodable {
    var event: String
    var person: String?
    var step: String?
    /// The requester's comment: the answer to the question, or why they withdrew.
    var text: String?
    /// Microseconds since 1970.
    var at: Int64

    var isResubmission: Bool { AuditRecord.Event(rawValue: event) == .resubmitted }

    /// The same Date PostgresNIO makes of a timestamptz (seconds after 2000-01-01), to the last bit.
    var date: Date {
        Date(
            timeInterval: Double(at - Self.postgresEpochMicroseconds) / 1_000_000,
            since: Date(timeIntervalSince1970: Double(Self.postgresEpochMicroseconds / 1_000_000)))
    }

    /// 2000-01-01 00:00 UTC, PostgreSQL's epoch, in microseconds after 1970.
    private static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000
}

extension RequestService {

    /// The engine's machine for a stored request. A draft is shown as it will go: on the workflow its
    /// submission will take (so its page and its form name the same one) and, given its `dataset`, routed
    /// on the catalogue as it is now (``RequestRecord/routedAsDraft(_:dataset:definition:)``), which may
    /// have changed since the draft was last saved.
    func machine(
        for record: RequestRecord, dataset: DatasetRecord? = nil, on connection: PostgresConnection, logger: Logger
    ) async throws
        -> RequestMachine
    {
        var snapshot = record.snapshot
        let definition: WorkflowDefinition
        if let newer = newerDefinition(forDraft: record) {
            definition = newer.definition
            snapshot.pin = newer.definition.pin
        } else {
            definition = try await pinnedCache.definition(for: record.snapshot.pin, on: connection, logger: logger)
        }
        if case .draft = snapshot.state, let dataset {
            snapshot = record.routedAsDraft(snapshot, dataset: dataset, definition: definition)
        }
        return try engine(definition: definition) { [snapshot] () throws(WorkflowError) in
            try RequestMachine(definition: definition, calendar: calendar, snapshot: snapshot)
        }
    }

    /// The id of the request a reference names, if there is one. Who may read the request is the
    /// caller's question.
    func requestID(_ reference: RequestReference, logger: Logger) async throws -> UUID? {
        try await Self.requestID(reference, client: client, logger: logger)
    }

    static func requestID(_ reference: RequestReference, client: PostgresClient, logger: Logger) async throws -> UUID? {
        try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                "SELECT id FROM requests WHERE id = \(reference.id) OR number = \(reference.number)", logger: logger
            ).decode(UUID.self).first(where: { _ in true })
        }
    }

    func performMyRequests(
        caller: Caller, query: RequestQuery, now: Date, logger: Logger
    ) async throws
        -> [RequestSummary]
    {
        let limit = min(max(query.limit, 1), 500)
        return try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: RequestRecord.columns), \(unescaped: DatasetRecord.columns)
                FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
                WHERE r.requester = \(caller.uid)
                  AND (\(query.phase?.rawValue)::text IS NULL OR r.phase = \(query.phase?.rawValue))
                ORDER BY r.created_at DESC, r.number DESC
                LIMIT \(limit) OFFSET \(max(query.offset, 0))
                """, logger: logger)
            var loaded: [(RequestRecord, DatasetRecord)] = []
            for try await row in rows { loaded.append(try Self.requestAndDataset(row)) }
            var result: [RequestSummary] = []
            for (record, dataset) in loaded {
                let machine = try await self.machine(for: record, dataset: dataset, on: connection, logger: logger)
                result.append(views.summary(record, machine: machine, dataset: dataset, now: now))
            }
            return result
        }
    }

    /// A row of `RequestRecord.columns` followed by `DatasetRecord.columns`.
    static func requestAndDataset(_ row: PostgresRow) throws -> (RequestRecord, DatasetRecord) {
        var cells = RowCursor(row)
        return (try RequestRecord.from(&cells), try DatasetRecord.from(&cells))
    }

    /// The whole inbox for the API, oldest deadline first, at most 1,000 items (as it always was).
    func performInbox(caller: Caller, now: Date, logger: Logger) async throws -> [InboxItem] {
        try await performInboxPage(
            caller: caller, after: nil, limit: 1000, withSideLists: false, now: now, logger: logger
        ).items
    }
}
