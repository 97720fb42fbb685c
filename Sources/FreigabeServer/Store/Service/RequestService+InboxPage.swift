import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// One page of the inbox, oldest deadline first, and how many requests wait in all.
public struct InboxPage: Sendable, Hashable {
    public var items: [InboxItem]
    /// How many requests wait for the caller, all pages together: the SQL pre-selection (roles,
    /// ownership, stewardship, escalation) less the candidates the engine kept from the caller among those
    /// this page read (say, the DSB step of a request whose owner step they decided). Exact whenever the
    /// page read every candidate (an inbox that fits on one page); in a longer inbox a candidate the
    /// engine would keep from the caller beyond this page is still counted. Asking the engine for every
    /// candidate on every page cost 2.5 times the CPU of an inbox of 500 (README "Inbox count").
    public var total: Int?
    /// The place to continue after (`after:` of the next page), or nil on the last page.
    public var next: InboxCursor?
    /// On the first page, the requests nobody moves on that the caller may close
    /// (``RequestService/stalledRequests(caller:now:logger:)``); empty on later pages.
    public var stalled: [StalledItem] = []
    /// On the first page, the granted access the caller may revoke
    /// (``RequestService/revocableGrants(caller:now:logger:)``); empty on later pages.
    public var grants: [RevocableGrant] = []
}

extension RequestService {
    /// A page of ``inbox(caller:now:logger:)``: at most `limit` items after the place `after`
    /// (keyset: deadline, nulls last, then creation time and id), so a page costs the same with 50 or 5,000
    /// open tasks. The engine answers for each item as in the full inbox.
    /// The first page (`after` nil) also carries ``InboxPage/stalled`` and ``InboxPage/grants`` unless
    /// `withSideLists` is false (the API lists them at `/inbox/stalled` and `/inbox/revocable`).
    public func inboxPage(
        caller: Caller, after: InboxCursor?, limit: Int = 50, withSideLists: Bool = true, now: Date, logger: Logger
    ) async throws(ServiceError) -> InboxPage {
        try await guarded(logger) {
            try await self.performInboxPage(
                caller: caller, after: after, limit: min(max(limit, 1), 200),
                withSideLists: withSideLists && after == nil,
                now: now, logger: $0)
        }
    }

    /// The inbox from `after` on, at most `limit` items; the pages and the API ask for a page,
    /// ``inbox(caller:now:logger:)`` for the whole inbox (up to its cap), through the same query and the
    /// same engine answers.
    ///
    /// Most people deputise for nobody: the first statement reads the caller's deputyships together with
    /// the candidates of the caller alone, so such an inbox is one round trip and one commit. When there
    /// are deputyships, their principals' facts come from the directory and the page is read again with
    /// them, as ``CallerContext/load(caller:now:client:principals:logger:)`` and a second read did before.
    func performInboxPage(
        caller: Caller, after: InboxCursor?, limit: Int, withSideLists: Bool, now: Date, logger: Logger
    ) async throws -> InboxPage {
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        let alone = CallerContext(caller: caller, deputies: [])
        let first = try await readInboxPage(
            filter: InboxFilter(alone, now: now), deputyshipsAt: now, context: alone, after: after, limit: limit,
            withSideLists: withSideLists, now: now, logger: logger)
        var context = alone
        var page = first.page
        if let deputyships = first.deputyships, !deputyships.isEmpty {
            context = try await CallerContext.resolve(caller: caller, deputyships: deputyships, principals: principals)
            page = try await readInboxPage(
                filter: InboxFilter(context, now: now), deputyshipsAt: nil, context: context, after: after,
                limit: limit, withSideLists: withSideLists, now: now, logger: logger
            ).page
        }
        return page
    }

    /// One read of an inbox page by `filter`, with the caller's deputyships relevant at `deputyshipsAt`
    /// (nil: not read), and `withSideLists` the stalled requests and the revocable grants on the same
    /// connection lease (each is still a statement of its own, so one more commit per list).
    private func readInboxPage(
        filter: InboxFilter, deputyshipsAt: Date?, context: CallerContext, after: InboxCursor?, limit: Int,
        withSideLists: Bool, now: Date, logger: Logger
    ) async throws -> (page: InboxPage, deputyships: [Deputyship]?) {
        try await Database.read(client, logger: logger) { [logger] connection in
            var items: [(item: InboxItem, place: InboxCursor)] = []
            var cursor = after
            var relevant: [Deputyship]?
            // The pre-selection's count over all candidates, and how many of those read the engine refused.
            var candidateCount: Int?
            var refused = 0
            // One extra item tells whether a next page exists; batches repeat only when the engine left
            // candidates out.
            while items.count <= limit {
                let batch = try await filter.candidates(
                    after: cursor, limit: limit + 1, deputyshipsAt: relevant == nil ? deputyshipsAt : nil,
                    on: connection, logger: logger)
                if relevant == nil, let json = batch.deputyships {
                    relevant = try RelevantDeputyships.decode(json, deputy: context.caller.uid)
                    // A deputy's inbox is read again with the principals' facts: this one is not it.
                    if relevant?.isEmpty == false { return (InboxPage(items: [], total: nil, next: nil), relevant) }
                }
                if candidateCount == nil { candidateCount = batch.total }
                refused += batch.unreadable
                for candidate in batch.rows {
                    if let item = try await self.inboxItem(
                        candidate, context: context, now: now, on: connection, logger: logger)
                    {
                        items.append((item, candidate.place))
                    } else {
                        refused += 1
                    }
                }
                guard batch.read == limit + 1, let last = batch.last else { break }
                cursor = last
            }
            let total: Int
            if let candidateCount {
                total = candidateCount - refused
            } else if after == nil {
                total = 0
            } else {
                // A page after the last candidate carries no count; only then is every candidate asked.
                total = try await self.admittedCount(
                    filter, after: nil, context: context, now: now, on: connection, logger: logger)
            }
            let hasMore = items.count > limit
            let shown = items.prefix(limit)
            var page = InboxPage(items: shown.map(\.item), total: total, next: hasMore ? shown.last?.place : nil)
            if withSideLists {
                page.stalled = try await self.stalled(context: context, now: now, on: connection, logger: logger)
                page.grants = try await self.revocableGrants(context: context, now: now, on: connection, logger: logger)
            }
            return (page, relevant)
        }
    }

    /// How many candidates after `after` (nil: all) the engine lets the caller decide now, read in batches.
    private func admittedCount(
        _ filter: InboxFilter, after: InboxCursor?, context: CallerContext, now: Date,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Int {
        let size = 500
        var count = 0
        var cursor = after
        while true {
            let batch = try await filter.candidates(
                after: cursor, limit: size, deputyshipsAt: nil, on: connection, logger: logger)
            for candidate in batch.rows
            where try await inboxItem(candidate, context: context, now: now, on: connection, logger: logger) != nil {
                count += 1
            }
            guard batch.read == size, let last = batch.last else { return count }
            cursor = last
        }
    }

    /// The engine's answer for one candidate, as an inbox item: nil when the caller may not decide it now,
    /// or when the engine cannot take up its snapshot (``readableMachine(for:list:on:logger:)``).
    private func inboxItem(
        _ candidate: InboxFilter.Candidate, context: CallerContext, now: Date, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> InboxItem? {
        guard
            let machine = try await readableMachine(
                for: candidate.record, list: "inbox", on: connection, logger: logger)
        else { return nil }
        return inboxItem(candidate.record, dataset: candidate.dataset, machine: machine, context: context, now: now)
    }

    /// The engine's answer for one candidate, as an inbox item (nil: the caller may not decide it now).
    func inboxItem(
        _ record: RequestRecord, dataset: DatasetRecord, machine: RequestMachine, context: CallerContext, now: Date
    ) -> InboxItem? {
        guard case .inReview(let progress) = machine.state,
            let authority = context.authority(machine, dataset: dataset, now: now),
            let step = machine.definition.step(progress.step)
        else { return nil }
        return InboxItem(
            request: views.summary(record, machine: machine, dataset: dataset, now: now), step: step.id,
            stepTitle: step.title, branch: authority.branch, role: authority.role.identifier,
            capacity: DecisionCapacity(authority.capacity), actingFor: authority.principal, deadline: progress.deadline,
            since: progress.enteredAt,
            workingDaysWaited: calendar.workingDaysElapsed(from: progress.enteredAt, to: now),
            overdue: progress.deadline.map { $0 <= now } ?? false)
    }
}

/// The SQL pre-selection of the inbox (the same as ``RequestService/inbox(caller:now:logger:)``), paged by
/// keyset: an ``InboxCursor`` (deadline, creation time, id) is the key.
struct InboxFilter: Sendable {
    var caller: String
    var uids: [String]
    var roleNames: [String]
    var domains: [String]
    var groupKeys: [String]

    /// The caller and the principals they deputise for at `now`.
    init(_ context: CallerContext, now: Date) {
        let caller = context.caller
        var people = [caller.directoryFacts]
        var uids = [caller.uid]
        for deputy in context.activePrincipals(at: now) {
            people.append(deputy.principalFacts)
            uids.append(deputy.deputyship.principal)
        }
        self.caller = caller.uid
        self.uids = uids
        roleNames = Array(Set(people.flatMap { CallerContext.directoryRoles($0).map(\.identifier) }))
        domains = Array(Set(people.flatMap(\.stewardDomains)))
        groupKeys = Array(Set(people.flatMap { $0.groups.map(DNKey.key) }))
    }

    struct Candidate {
        var record: RequestRecord
        var dataset: DatasetRecord
        /// Its place in the inbox's order, the cursor of a page that ends with it.
        var place: InboxCursor
    }

    struct Batch {
        /// The candidates that could be read.
        var rows: [Candidate]
        /// How many candidates the statement returned, and the place of the last: the next batch starts
        /// after it even when that one could not be read.
        var read = 0
        var last: InboxCursor?
        /// Candidates left out because their stored row cannot be read (``RequestService/readableRow(_:list:logger:)``).
        var unreadable = 0
        /// All candidates, before the keyset; nil when the batch is empty.
        var total: Int?
        /// The caller's ``RelevantDeputyships`` as JSON, when asked for.
        var deputyships: String?
    }

    /// The candidates' statement with the caller's deputyships, prepared once per connection (the first
    /// read of every inbox page). Planning it was a visible part of PostgreSQL's CPU per page view
    /// (`make bench-web`).
    struct CandidatesWithDeputyships: RecurringStatement {
        // Binding texts, arrays of texts, a UUID, an integer and a date never fails; an empty text would
        // only mean "never prepared".
        static let sql =
            (try? InboxFilter.representative.statement(after: nil, limit: 1, deputyshipsAt: .now).sql) ?? ""
        let bindings: PostgresBindings
    }

    /// The candidates' statement without the deputyships (a deputy's second read, further batches).
    struct Candidates: RecurringStatement {
        static let sql = (try? InboxFilter.representative.statement(after: nil, limit: 1, deputyshipsAt: nil).sql) ?? ""
        let bindings: PostgresBindings
    }

    /// A filter for the statements' texts, which depend only on whether the deputyships are read.
    static let representative = InboxFilter(
        caller: "", uids: [], roleNames: [], domains: [], groupKeys: [])

    init(caller: String, uids: [String], roleNames: [String], domains: [String], groupKeys: [String]) {
        self.caller = caller
        self.uids = uids
        self.roleNames = roleNames
        self.domains = domains
        self.groupKeys = groupKeys
    }

    /// Candidates after the place `after`; with `deputyshipsAt`, also the caller's deputyships that
    /// matter then, in the same statement (a row even when there is no candidate).
    func candidates(
        after: InboxCursor?, limit: Int, deputyshipsAt: Date?, on connection: PostgresConnection, logger: Logger
    ) async throws -> Batch {
        let query = try statement(after: after, limit: limit, deputyshipsAt: deputyshipsAt)
        let rows =
            deputyshipsAt == nil
            ? try await connection.rows(of: query, as: Candidates.self, logger: logger)
            : try await connection.rows(of: query, as: CandidatesWithDeputyships.self, logger: logger)
        var batch = Batch(rows: [])
        for row in rows {
            var cells = RowCursor(row)
            batch.deputyships = try cells.next()
            guard let total: Int = try cells.next(), let createdAt: Int64 = try cells.next() else { continue }
            let deadline: Int64? = try cells.next()
            let (id, readable) = try RequestService.readableRow(&cells, list: "inbox", logger: logger)
            let place = InboxCursor(deadline: deadline, createdAt: createdAt, id: id)
            batch.total = total
            batch.read += 1
            batch.last = place
            if let (record, dataset) = readable {
                batch.rows.append(Candidate(record: record, dataset: dataset, place: place))
            } else {
                batch.unreadable += 1
            }
        }
        return batch
    }

    /// The statement of ``candidates(after:limit:deputyshipsAt:on:logger:)``; its text depends only on
    /// whether `deputyshipsAt` is given. Every bound value is cast to its own type first (see
    /// ``RecurringStatement``).
    func statement(after: InboxCursor?, limit: Int, deputyshipsAt: Date?) throws -> PostgresQuery {
        var sql = StatementBuilder()
        let caller = try sql.bind(self.caller)
        let roleNames = try sql.bind(self.roleNames)
        let uids = try sql.bind(self.uids)
        let groupKeys = try sql.bind(self.groupKeys)
        let domains = try sql.bind(self.domains)
        let afterDeadline = try sql.bind(after?.deadline)
        let afterCreated = try sql.bind(after?.createdAt)
        let afterID = try sql.bind(after?.id)
        let limit = try sql.bind(limit)
        let deputyships =
            try deputyshipsAt.map {
                RelevantDeputyships.subquery(
                    deputy: caller, cutoff: try sql.bind(RelevantDeputyships.cutoff($0)))
            } ?? "NULL::text"
        sql.text = """
            WITH candidates AS (
                SELECT r.id, r.deadline, r.created_at, count(*) OVER () AS total,
                       (extract(epoch FROM r.deadline) * 1000000)::bigint AS deadline_us,
                       (extract(epoch FROM r.created_at) * 1000000)::bigint AS created_us
                FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
                WHERE r.phase = 'in_review' AND r.requester <> \(caller)
                  AND (r.pending_roles && \(roleNames)::text[]
                    OR ('data_owner' = ANY (r.pending_roles)
                        AND (d.owner = ANY (\(uids)::text[]) OR d.owner_group_key = ANY (\(groupKeys)::text[])))
                    OR ('data_steward' = ANY (r.pending_roles)
                        AND (d.domain_id = ANY (\(domains)::text[]) OR dm.steward_group_key = ANY (\(groupKeys)::text[])))
                    -- The escalation instance, and its members' deputies in force (the engine's rule).
                    OR r.escalation_role = ANY (\(roleNames)::text[])
                    -- A workflow may escalate to a catalogue role: the dataset's owner or steward, or their
                    -- deputy.
                    OR (r.escalation_role = 'data_owner'
                        AND (d.owner = ANY (\(uids)::text[]) OR d.owner_group_key = ANY (\(groupKeys)::text[])))
                    OR (r.escalation_role = 'data_steward'
                        AND (d.domain_id = ANY (\(domains)::text[]) OR dm.steward_group_key = ANY (\(groupKeys)::text[]))))
            ), page AS (
                -- In microseconds, as the cursor carries them, so that its own request compares equal.
                SELECT c.id, c.total, c.created_us, c.deadline_us FROM candidates c
                WHERE \(afterCreated)::bigint IS NULL
                   OR (CASE WHEN \(afterDeadline)::bigint IS NULL
                        THEN c.deadline_us IS NULL AND (c.created_us, c.id) > (\(afterCreated)::bigint, \(afterID)::uuid)
                        ELSE c.deadline_us IS NULL
                          OR (c.deadline_us, c.created_us, c.id)
                             > (\(afterDeadline)::bigint, \(afterCreated)::bigint, \(afterID)::uuid)
                      END)
                ORDER BY c.deadline NULLS LAST, c.created_at, c.id
                LIMIT \(limit)
            )
            -- One row with only the deputyships when there is no candidate.
            SELECT \(deputyships), page.total, page.created_us, page.deadline_us, \(RequestRecord.columns),
                   \(DatasetRecord.columns)
            FROM (SELECT 1) AS one LEFT JOIN (
                page JOIN requests r ON r.id = page.id
                  JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id) ON true
            ORDER BY r.deadline NULLS LAST, r.created_at, r.id
            """
        return sql.query
    }
}
