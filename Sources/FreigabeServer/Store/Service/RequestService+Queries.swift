import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

extension RequestService {
    func performRead(id: UUID, caller: Caller, now: Date, logger: Logger) async throws -> RequestView {
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        logger[metadataKey: "request.id"] = "\(id)"
        let context = try await CallerContext.load(
            caller: caller, now: now, client: client, principals: principals, logger: logger)
        // One snapshot for the request and its facts (see RequestFactsCheck.check).
        return try await Database.transaction(client, logger: logger) { [logger] connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            guard let record = try await RequestRecord.load(id: id, on: connection, logger: logger) else {
                throw ServiceError.notFound()
            }
            guard let dataset = try await DatasetRecord.load(id: record.datasetID, on: connection, logger: logger)
            else {
                throw ServiceError.internal("dataset \(record.datasetID) of request \(id) is missing")
            }
            let machine = try await self.machine(for: record, on: connection, logger: logger)
            guard context.maySee(machine, dataset: dataset, now: now) else {
                // Someone else's request: answered like a missing one, recorded as a security event.
                throw SecurityRefusal(
                    error: ServiceError.notFound(),
                    event: AuditRow(
                        occurredAt: now, actor: caller.uid, requestID: id, datasetID: record.datasetID,
                        event: .readDenied, state: machine.state.name, clientAddress: caller.clientAddress))
            }
            try await RequestFactsCheck.check(record, on: connection, logger: logger)
            var view = views.view(record, machine: machine, dataset: dataset, context: context, now: now)
            view.answers = try await Self.answers(request: id, on: connection, logger: logger)
            return view
        }
    }

    /// The requester's answers to questions, from the decision log: the engine's snapshot keeps the
    /// decisions, the answers live only in their `resubmitted` events.
    static func answers(
        request id: UUID, on connection: PostgresConnection, logger: Logger
    ) async throws -> [AnswerView] {
        let rows = try await connection.query(
            """
            SELECT actor, step, comment, occurred_at FROM audit_events
            WHERE request_id = \(id) AND event = 'resubmitted' AND comment IS NOT NULL ORDER BY id
            """, logger: logger)
        var answers: [AnswerView] = []
        for try await (person, step, text, at) in rows.decode((String?, String?, String, Date).self) {
            answers.append(AnswerView(person: person ?? "", step: step, text: text, at: at))
        }
        return answers
    }

    func machine(
        for record: RequestRecord, on connection: PostgresConnection, logger: Logger
    ) async throws
        -> RequestMachine
    {
        let definition = try await pinnedCache.definition(for: record.snapshot.pin, on: connection, logger: logger)
        return try engine(definition: definition) { () throws(WorkflowError) in
            try RequestMachine(definition: definition, calendar: calendar, snapshot: record.snapshot)
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
                let machine = try await self.machine(for: record, on: connection, logger: logger)
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
        try await performInboxPage(caller: caller, after: nil, limit: 1000, now: now, logger: logger).items
    }
}
