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
            try await RequestFactsCheck.check(request: id, on: connection, logger: logger)
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

    func performInbox(caller: Caller, now: Date, logger: Logger) async throws -> [InboxItem] {
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        let context = try await CallerContext.load(
            caller: caller, now: now, client: client, principals: principals, logger: logger)
        // Candidates by SQL (the roles the caller or an active principal holds); the engine then answers
        // for each who may decide in which capacity, so separation of duties and escalation rules are exactly the engine's.
        var people = [caller.directoryFacts]
        var uids = [caller.uid]
        for deputy in context.activePrincipals(at: now) {
            people.append(deputy.principalFacts)
            uids.append(deputy.deputyship.principal)
        }
        let roleNames = Array(
            Set(
                people.flatMap { CallerContext.directoryRoles($0).map(\.identifier) }))
        let domains = Array(Set(people.flatMap(\.stewardDomains)))
        let groupKeys = Array(Set(people.flatMap { $0.groups.map(DNKey.key) }))
        let ownRoleNames = CallerContext.directoryRoles(caller.directoryFacts).map(\.identifier)
        return try await Database.read(client, logger: logger) { [logger, uids] connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: RequestRecord.columns), \(unescaped: DatasetRecord.columns)
                FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
                WHERE r.phase = 'in_review' AND r.requester <> \(caller.uid)
                  AND (r.pending_roles && \(roleNames)::text[]
                    OR ('data_owner' = ANY (r.pending_roles)
                        AND (d.owner = ANY (\(uids)::text[]) OR d.owner_group_key = ANY (\(groupKeys)::text[])))
                    OR ('data_steward' = ANY (r.pending_roles)
                        AND (d.domain_id = ANY (\(domains)::text[]) OR dm.steward_group_key = ANY (\(groupKeys)::text[])))
                    OR r.escalation_role = ANY (\(Array(ownRoleNames))::text[]))
                ORDER BY r.deadline NULLS LAST, r.created_at
                LIMIT 1000
                """, logger: logger)
            var loaded: [(RequestRecord, DatasetRecord)] = []
            for try await row in rows { loaded.append(try Self.requestAndDataset(row)) }
            var items: [InboxItem] = []
            for (record, dataset) in loaded {
                let machine = try await self.machine(for: record, on: connection, logger: logger)
                guard case .inReview(let progress) = machine.state,
                    let authority = context.authority(machine, dataset: dataset, now: now),
                    let step = machine.definition.step(progress.step)
                else { continue }
                let capacity: DecisionCapacity =
                    switch authority.capacity {
                    case .ownRole: .own
                    case .deputy: .deputy
                    case .escalation: .escalation
                    }
                items.append(
                    InboxItem(
                        request: views.summary(record, machine: machine, dataset: dataset, now: now), step: step.id,
                        stepTitle: step.title, branch: authority.branch, role: authority.role.identifier,
                        capacity: capacity, actingFor: authority.principal, deadline: progress.deadline,
                        since: progress.enteredAt,
                        workingDaysWaited: calendar.workingDaysElapsed(from: progress.enteredAt, to: now),
                        overdue: progress.deadline.map { $0 <= now } ?? false))
            }
            return items
        }
    }
}
