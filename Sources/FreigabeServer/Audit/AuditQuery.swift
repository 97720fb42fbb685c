import AuditLog
import Foundation
import Logging
import PostgresNIO

/// What an auditor narrows the sealed decision log to. Every value is typed and checked
/// (``AuditFilter/parse(from:to:dataset:person:request:)``) before it reaches SQL, and then only as a
/// bound parameter.
struct AuditFilter: Sendable, Hashable {
    /// Events that happened at or after this instant.
    var from: Date?
    /// Events that happened before this instant (exclusive).
    var to: Date?
    var datasetID: String?
    /// uid acting, acting for someone (deputy), or the requester of the event's request, in any case
    /// (`mmueller` finds the directory's `MMueller`).
    var person: String?
    var requestID: UUID?
    /// A request by its number (`FG-2026-000042`), as the requester's screenshot and every mail show it.
    var requestNumber: String?
    var eventTypes: [AuditEvent] = []
    /// Events on datasets of this domain.
    var domainID: String?
    /// The role acted in (`data_owner`, `dsb`, ..., `auditor`).
    var role: RecordedRole?
    var decision: DecisionOutcome?
    /// Only what was done in this capacity: as a deputy (Vertretung) or as the escalation instance.
    var capacity: Capacity?

    /// The capacities an auditor filters by, besides acting in one's own role.
    enum Capacity: String, Sendable, Hashable, CaseIterable {
        /// Acting for someone (Vertretung): the event's `acting_for`.
        case deputy
        /// Deciding an overdue step as the escalation instance: the event's `as_escalation`, sealed as
        /// the capacity `escalation` (events written before migration 13 do not carry it).
        case escalation
    }

    /// The outcomes a decision event records.
    enum DecisionOutcome: String, Sendable, Hashable, CaseIterable {
        case approved, rejected, revoked, discontinued
        case changesRequested = "changes_requested"

        /// The event that records this outcome (each has its own).
        var event: AuditEvent {
            switch self {
            case .approved: .approved
            case .rejected: .rejected
            case .revoked: .revoked
            case .discontinued: .discontinued
            case .changesRequested: .changesRequested
            }
        }
    }

    var isEmpty: Bool { self == AuditFilter() }

    /// The filters as the export header names them.
    var described: [String: String] {
        var values: [String: String] = [:]
        if let from { values["from"] = AuditTimestamp(from).rfc3339 }
        if let to { values["to"] = AuditTimestamp(to).rfc3339 }
        if let datasetID { values["dataset"] = datasetID }
        if let person { values["person"] = person }
        if let requestID { values["request"] = requestID.uuidString.lowercased() }
        if let requestNumber { values["request"] = requestNumber }
        if !eventTypes.isEmpty { values["type"] = eventTypes.map(\.rawValue).joined(separator: ",") }
        if let domainID { values["domain"] = domainID }
        if let role { values["role"] = role.rawValue }
        if let decision { values["decision"] = decision.rawValue }
        if let capacity { values["capacity"] = capacity.rawValue }
        return values
    }

    /// Appends ` AND <condition>` on `e` (audit_events) for each filter that is set, each value bound:
    /// only the conditions present, so that the planner sees the indexes they can use.
    func appendConditions(to sql: inout StatementBuilder) throws {
        if let from { sql.text += " AND e.occurred_at >= \(try sql.bind(from))" }
        if let to { sql.text += " AND e.occurred_at < \(try sql.bind(to))" }
        if let datasetID { sql.text += " AND e.dataset_id = \(try sql.bind(datasetID))" }
        if let requestID { sql.text += " AND e.request_id = \(try sql.bind(requestID))" }
        if let requestNumber {
            // One probe of the unique number, computed once before the scan of `audit_events_request`.
            sql.text +=
                " AND e.request_id = (SELECT r.id FROM requests r WHERE r.number = \(try sql.bind(requestNumber)))"
        }
        if !eventTypes.isEmpty { sql.text += " AND e.event = ANY(\(try sql.bind(eventTypes.map(\.rawValue))))" }
        if let domainID {
            sql.text +=
                " AND e.dataset_id IN (SELECT d.id FROM datasets d WHERE d.domain_id = \(try sql.bind(domainID)))"
        }
        if let role { sql.text += " AND e.role = \(try sql.bind(role.rawValue))" }
        if let decision {
            // The event as well: its index `audit_events_event (event, occurred_at)` serves the time order.
            sql.text += " AND e.decision = \(try sql.bind(decision.rawValue))"
            sql.text += " AND e.event = \(try sql.bind(decision.event.rawValue))"
        }
        switch capacity {
        case nil: break
        // Everything done as someone's deputy, also as the escalation instance in a member's stead.
        case .deputy: sql.text += " AND e.acting_for IS NOT NULL"
        case .escalation:
            // The partial index `audit_events_escalation` (migration 13) finds these few rows.
            sql.text += " AND e.as_escalation"
        }
        if let person {
            let uid = try sql.bind(person)
            // `= ANY(ARRAY(subquery))`, not `IN (subquery)`: the array is computed once before the scan, so
            // the three arms become one BitmapOr over the actor, acting-for and request indexes. With
            // `IN`, a hashed subplan that no index can use, PostgreSQL walked the whole log in sequence
            // order instead: 4.4 s for one person and 30 days in 2 million events, now 1.3 ms (README,
            // make bench-audit). Case-insensitive, as login and deputyships treat uids: the log keeps the
            // directory's spelling (`MMueller`); the `lower(…)` expression indexes of migration 23 serve it.
            sql.text += """
                 AND (lower(e.actor) = lower(\(uid)) OR lower(e.acting_for) = lower(\(uid))
                      OR e.request_id = ANY(ARRAY(
                          SELECT r.id FROM requests r WHERE lower(r.requester) = lower(\(uid)))))
                """
        }
    }

    /// The sealed events matching, after place `after` and below `below`, in log order (exports and
    /// verification: the order the tree and its checkpoints are built in).
    func statement(after: UInt64?, below: UInt64?, limit: Int?) throws -> PostgresQuery {
        var sql = StatementBuilder()
        sql.text = """
            SELECT \(SealedEvent.columns)
            FROM \(SealedEvent.tables)
            WHERE true
            """
        // Places beyond Int64 are beyond every place the log has: clamped, not trapped on.
        if let after { sql.text += " AND s.sequence > \(try sql.bind(Int64(clamping: after)))" }
        if let below { sql.text += " AND s.sequence < \(try sql.bind(Int64(clamping: below)))" }
        try appendConditions(to: &sql)
        sql.text += " ORDER BY s.sequence"
        if let limit { sql.text += " LIMIT \(try sql.bind(limit))" }
        return sql.query
    }

    /// A page of the sealed events matching, sorted by time (`occurred_at`, then the row's id), after the
    /// event at place `after` in that order: the keyset is that event's time and id, read in the same
    /// statement, so the cursor stays a place in the log.
    ///
    /// By time, not by place, because the indexes are by time: `audit_events_occurred` and the filters'
    /// `(…, occurred_at)` indexes give the page in order, where walking the places in order and testing
    /// each event took 1.4 s for "last month" at 1 million events and 3–4 s for a dataset with few events
    /// (EXPLAIN ANALYZE, README "Für Prüfer"); the statement timeout would have cut it at 10 million.
    func pageStatement(after: UInt64?, limit: Int, order: AuditQuery.Order) throws -> PostgresQuery {
        let direction = order == .oldest ? "" : " DESC"
        var sql = StatementBuilder()
        sql.text = """
            SELECT \(SealedEvent.columns)
            FROM \(SealedEvent.tables)
            WHERE true
            """
        if let after {
            // A place nobody holds compares with NULL: an empty page, as past the end.
            sql.text += """
                 AND (e.occurred_at, e.id) \(order == .oldest ? ">" : "<") (
                    SELECT k.occurred_at, k.id FROM audit_seals ks JOIN audit_events k ON k.id = ks.event_row
                    WHERE ks.sequence = \(try sql.bind(Int64(clamping: after))))
                """
        }
        try appendConditions(to: &sql)
        sql.text += " ORDER BY e.occurred_at\(direction), e.id\(direction) LIMIT \(try sql.bind(limit))"
        return sql.query
    }
}

extension AuditFilter {
    /// Checks the texts of a command line (or a query string): dates `YYYY-MM-DD` (a whole day in
    /// Europe/Berlin: `to` includes that day) or RFC 3339 instants (`to` exclusive); dataset and domain
    /// ids of the catalogue's form; a uid of letters, digits and `. _ - @`; a request's UUID; event
    /// types, roles, decisions and capacities by their stored names. Anything else is
    /// refused with the reason, before any database work.
    static func parse(
        from: String? = nil, to: String? = nil, dataset: String? = nil, person: String? = nil,
        request: String? = nil, types: [String] = [], domain: String? = nil, role: String? = nil,
        decision: String? = nil, capacity: String? = nil
    ) throws(AuditFilterError) -> AuditFilter {
        var filter = AuditFilter()
        if let from { filter.from = try instant(from, option: "--from", endOfDay: false) }
        if let to { filter.to = try instant(to, option: "--to", endOfDay: true) }
        if let start = filter.from, let end = filter.to, start >= end {
            throw AuditFilterError(option: "--to", value: to ?? "", problem: .notAfterFrom)
        }
        if let dataset {
            guard dataset.wholeMatch(of: /[a-z0-9][a-z0-9._-]{0,99}/) != nil else {
                throw AuditFilterError(option: "--dataset", value: dataset, problem: .datasetID)
            }
            filter.datasetID = dataset
        }
        if let person {
            guard (1...200).contains(person.count),
                person.unicodeScalars.allSatisfy({
                    $0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_@".unicodeScalars.contains($0)
                })
            else {
                throw AuditFilterError(option: "--person", value: person, problem: .uid)
            }
            filter.person = person
        }
        if let request {
            guard let reference = RequestReference(request) else {
                throw AuditFilterError(option: "--request", value: request, problem: .requestID)
            }
            filter.requestID = reference.id
            filter.requestNumber = reference.number
        }
        if let domain {
            guard domain.wholeMatch(of: /[a-z0-9][a-z0-9._-]{0,99}/) != nil else {
                throw AuditFilterError(option: "--domain", value: domain, problem: .domainID)
            }
            filter.domainID = domain
        }
        if let role {
            guard let recorded = RecordedRole(rawValue: role) else {
                throw AuditFilterError(option: "--role", value: role, problem: .role)
            }
            filter.role = recorded
        }
        if let decision {
            guard let outcome = DecisionOutcome(rawValue: decision) else {
                throw AuditFilterError(option: "--decision", value: decision, problem: .decision)
            }
            filter.decision = outcome
        }
        if let capacity {
            guard let value = Capacity(rawValue: capacity) else {
                throw AuditFilterError(option: "--capacity", value: capacity, problem: .capacity)
            }
            filter.capacity = value
        }
        for type in types {
            guard let event = AuditEvent(rawValue: type) else {
                throw AuditFilterError(option: "--type", value: type, problem: .eventType)
            }
            filter.eventTypes.append(event)
        }
        return filter
    }

    static let berlin: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Berlin")!
        return calendar
    }()

    static func instant(_ text: String, option: String, endOfDay: Bool) throws(AuditFilterError) -> Date {
        if let match = text.wholeMatch(of: /(\d{4})-(\d{2})-(\d{2})/),
            let year = Int(match.1), let month = Int(match.2), let day = Int(match.3),
            (1...9999).contains(year),
            let start = berlin.date(from: DateComponents(year: year, month: month, day: day)),
            berlin.dateComponents([.year, .month, .day], from: start)
                == DateComponents(year: year, month: month, day: day)
        {
            return endOfDay ? berlin.date(byAdding: .day, value: 1, to: start)! : start
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
        ] {
            formatter.formatOptions = options
            if text.count <= 40, let date = formatter.date(from: text) { return date }
        }
        throw AuditFilterError(option: option, value: text, problem: .instant)
    }
}

extension QueryNames {
    /// ``AuditFilter/parse(from:to:dataset:person:request:types:domain:role:decision:capacity:)``'s, by
    /// their query names. A name outside them (a misspelt `datset=`, a `request_id=`, a `domain=` on the
    /// page, which has no such field), or a single-valued one given twice (`person=a&person=b`), is
    /// refused before anything is read or recorded: ignored, it would answer the whole log, or the first
    /// value only, as if it were the selection asked for.
    static let filter = QueryNames(
        single: ["from", "to", "dataset", "domain", "person", "request", "role", "decision", "capacity"],
        repeatable: ["type"])
    /// `GET /api/v1/audit/events`: the filter, its pages and their order.
    static let events = filter.adding(["after", "limit", "order"])
    /// `GET /api/v1/audit/export` and the page's download `/pruefung/export`: the filter and the file's
    /// form. (`after`, `limit` and `order` are refused by their own reason: an export has no pages.)
    static let export = filter.adding(["format", "separator", "bom"])
}

/// A filter value that was refused, and why, in the catalogue's words (`query.filter.*`): in the reader's
/// language for the API and the pages (``reason``), in German on the command line (``description``, the
/// language of `freigabe audit` like the rest of its output).
struct AuditFilterError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Problem: String, Sendable, Hashable, CaseIterable {
        case notAfterFrom = "not_after_from"
        case datasetID = "dataset_id"
        case uid
        case requestID = "request_id"
        case domainID = "domain_id"
        case role
        case decision
        case capacity
        case eventType = "event_type"
        case instant
        case order
    }

    var option: String
    var value: String
    var problem: Problem

    /// Why, for the API and the pages (catalogue `query.filter.*`).
    var reason: UserText { UserText("query.filter.\(problem.rawValue)") }

    /// "Invalid value: <the reason>" for the API, in the reader's language.
    var userText: UserText { UserText("query.audit_filter", ["reason": .message("query.filter.\(problem.rawValue)")]) }

    var description: String {
        "\(option) „\(QueryNames.shown(value))“ \(reason.resolved(in: StringCatalogs.console))."
    }
}

/// One sealed event as the log holds it: its place and leaf hash from `audit_seals`, the stored row, the
/// payload with its salt (or, once erased, when and by whom), and the leaf it encodes to now.
struct SealedEvent: Sendable {
    var sequence: UInt64
    var eventID: UUID
    /// The `format_version` the seal claims.
    var formatVersion: Int16
    /// The leaf hash recorded when it was sealed.
    var leafHash: SHA256Hash
    var stored: AuditEventRow
    /// The payload with its salt, or the erasure that removed both (`freigabe audit redact`).
    var payload: PayloadEvidence
    /// What the leaf commits to: the hash of the payload as the row holds it now, or, once erased, the
    /// hash kept at erasure (checked by the leaf hash, since the leaf commits to it).
    var payloadHash: SHA256Hash

    static let columns =
        "s.sequence, s.event_id, s.format_version, s.payload_salt, s.payload_hash, s.leaf_hash, r.redacted_at, "
        + "r.redacted_by, " + AuditEventRow.columns
    /// How many ``columns`` there are.
    static let columnCount = 23
    /// ``columns`` as one cell, the row's record (`audit verify`'s fast path reads it in PostgreSQL's
    /// binary form: ``SealedRowEncoder/leaf(ofRecord:)``).
    static let recordColumn = "ROW(" + columns + ")"
    /// The tables of ``columns``: every sealed event, with its erasure if there was one.
    static let tables = """
        audit_seals s JOIN audit_events e ON e.id = s.event_row
        LEFT JOIN audit_redactions r ON r.id = s.redaction_id
        """

    init(_ row: PostgresRow) throws {
        var cells = RowCursor(row)
        let sequence: Int64 = try cells.next()
        // The table's CHECK keeps these out; without it (an owner's doing) they must not trap the verifier.
        guard let place = UInt64(exactly: sequence) else {
            throw ServiceError.internal("audit seal has the negative sequence number \(sequence)")
        }
        self.sequence = place
        eventID = try cells.next()
        formatVersion = try cells.next()
        let salt: ByteBuffer? = try cells.next()
        let keptHash: ByteBuffer? = try cells.next()
        let leafHash: ByteBuffer = try cells.next()
        let redactedAt: Date? = try cells.next()
        let redactedBy: String? = try cells.next()
        guard let hash = SHA256Hash(bytes: leafHash.readableBytesView) else {
            throw ServiceError.internal("audit seal \(sequence) has a leaf hash of \(leafHash.readableBytes) bytes")
        }
        self.leafHash = hash
        stored = try AuditEventRow(&cells)
        if let salt {
            guard salt.readableBytes <= Int(UInt8.max) else {
                throw ServiceError.internal("audit seal \(sequence) has a payload salt of \(salt.readableBytes) bytes")
            }
            let payload = AuditPayload(salt: Array(salt.readableBytesView), fields: stored.payloadFields)
            self.payload = .present(payload)
            payloadHash = payload.hash
        } else if let keptHash, let kept = SHA256Hash(bytes: keptHash.readableBytesView), let redactedAt,
            let redactedBy
        {
            payload = .redacted(Redaction(redactedAt: AuditTimestamp(redactedAt), redactedBy: redactedBy))
            payloadHash = kept
        } else {
            // The table's CHECK constraint and the triggers keep this from happening.
            throw ServiceError.internal("audit seal \(sequence) has neither a payload salt nor a recorded erasure")
        }
    }

    /// The erasure, if the payload was erased.
    var redaction: Redaction? {
        guard case .redacted(let redaction) = payload else { return nil }
        return redaction
    }

    /// The payload's texts as any view or export may show them: none for an erased event, whatever its
    /// row holds again (``holdsTextAfterErasure``, which `audit verify` reports).
    var shownTexts: (comment: String?, clientAddress: String?, details: String?) {
        guard redaction == nil else { return (nil, nil, nil) }
        return (stored.row.comment, stored.row.clientAddress, stored.row.details)
    }

    /// An erased event whose row holds texts again: someone wrote them back after the erasure. Without
    /// the salt they cannot be checked against the hash, so they are reported instead of shown.
    var holdsTextAfterErasure: Bool {
        redaction != nil
            && (stored.row.comment != nil || stored.row.clientAddress != nil || stored.row.details != "{}")
    }

    /// The leaf as the row reads now: a changed row encodes to another hash than ``leafHash``.
    var leaf: AuditLog.AuditEvent {
        stored.leaf(sequence: sequence, id: eventID, payloadHash: payloadHash)
    }

    var exported: ExportedEvent {
        ExportedEvent(event: leaf, payload: payload, leafHash: leafHash)
    }

    var verifiable: VerifiableEvent {
        VerifiableEvent(
            formatVersion: UInt8(clamping: formatVersion), event: leaf, payload: payload, recordedLeafHash: leafHash)
    }
}

/// One page of sealed events, sorted by time in the order asked for.
struct AuditPage: Sendable {
    /// A place in the log as a query string names it (`after`, the page's `nach`): digits only, at most
    /// the largest place PostgreSQL's `bigint` holds; nil for anything else.
    static func place(_ text: some StringProtocol) -> UInt64? {
        UInt64(digits: text, in: 0...UInt64(Int64.max))
    }

    var events: [SealedEvent]
    /// Pass as `after` (with the same order) for the next page; nil on the last page.
    var nextAfter: UInt64?
}

/// Reads the sealed decision log for auditors: pages (keyset on the sequence number, never OFFSET) for
/// pages and the API, and a stream for exports. Only sealed events: what has a place in the tree can
/// be proven.
struct AuditQuery: Sendable {
    let client: PostgresClient

    static let maximumPageSize = 1000

    /// The order of a page: by time (when the event happened, `occurred_at`). The log's places follow the
    /// order in which the events' transactions committed, so a page's places are nearly, not strictly,
    /// ascending: two commands that overlapped commit in either order.
    enum Order: String, Sendable, Hashable, CaseIterable {
        /// The earliest event first.
        case oldest
        /// The latest event first: what an auditor checking recent activity reads.
        case newest

        /// `oldest` when not given; anything but the two names is refused.
        static func parse(_ text: String?) throws(AuditFilterError) -> Order {
            guard let text else { return .oldest }
            guard let order = Order(rawValue: text) else {
                throw AuditFilterError(option: "--order", value: text, problem: .order)
            }
            return order
        }
    }

    /// Up to `limit` events that match `filter`, sorted by time in `order`, after the event at place
    /// `after` in that order (nil: from the start of that order).
    func page(
        _ filter: AuditFilter, after: UInt64? = nil, limit: Int = 100, order: Order = .oldest, logger: Logger
    ) async throws -> AuditPage {
        let limit = min(max(limit, 1), Self.maximumPageSize)
        // One more than asked: whether a next page exists without a count.
        let statement = try filter.pageStatement(after: after, limit: limit + 1, order: order)
        // A page is a short read: the store's pool-wait and call deadlines, like every page's query.
        var events = try await Database.read(client, logger: logger) { connection in
            var events: [SealedEvent] = []
            for try await row in try await connection.query(statement, logger: logger) {
                events.append(try SealedEvent(row))
            }
            return events
        }
        let more = events.count > limit
        if more { events.removeLast() }
        return AuditPage(events: events, nextAfter: more ? events.last?.sequence : nil)
    }

    /// How ``forEachInBatches(_:below:batching:logger:_:)`` cuts the log into short statements.
    struct Batching: Sendable {
        /// Rows per statement at most.
        var rows = 2_000
        /// Places in the log one statement looks at, at most: a selective filter (one person in ten
        /// million events) then still ends each statement quickly instead of scanning on to its limit.
        var window: UInt64 = 100_000
    }

    /// Every event before `treeSize` that matches `filter`, in log order, in keyset batches, each one
    /// short statement with the store's deadlines (``Database/read(_:logger:_:)``), so that the role's
    /// statement timeout of seconds holds and a database that stops answering fails the export within
    /// them. Memory holds one batch, whatever the log's size.
    func forEachInBatches(
        _ filter: AuditFilter, below treeSize: UInt64, batching: Batching = Batching(), logger: Logger,
        _ body: (SealedEvent) async throws -> Void
    ) async throws {
        var after: UInt64?
        var windowStart: UInt64 = 0
        while windowStart < treeSize {
            let windowEnd = min(windowStart + batching.window, treeSize)
            let statement = try filter.statement(after: after, below: windowEnd, limit: batching.rows)
            let events = try await Database.read(client, logger: logger) { connection in
                var events: [SealedEvent] = []
                events.reserveCapacity(batching.rows)
                for try await row in try await connection.query(statement, logger: logger) {
                    events.append(try SealedEvent(row))
                }
                return events
            }
            for event in events { try await body(event) }
            if events.count == batching.rows, let last = events.last {
                after = last.sequence
            } else {
                after = windowEnd - 1
                windowStart = windowEnd
            }
        }
    }

    /// The newest signed checkpoint: what an export is made against.
    func latestSignedCheckpoint(logger: Logger) async throws -> (treeSize: UInt64, signedNote: String)? {
        // Through the store's deadlines (pool wait, the whole call): a dead database is a quick 503.
        try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT tree_size, signed_note FROM audit_checkpoints
                WHERE signed_note IS NOT NULL ORDER BY tree_size DESC LIMIT 1
                """, logger: logger)
            for try await (size, note) in rows.decode((Int64, String).self) { return (UInt64(size), note) }
            return nil
        }
    }

    /// Whether some erasure marks an event below `treeSize` while its `payloads_redacted` event is not
    /// sealed below it (``AuditExporter/waitsForErasureRecord(_:treeSize:query:logger:)``). There
    /// are few erasures and few such events (`audit_events_event` finds them).
    func erasureWithoutRecord(below treeSize: UInt64, logger: Logger) async throws -> Bool {
        let size = Int64(clamping: treeSize)
        return try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT EXISTS (
                    SELECT 1 FROM audit_redactions r
                    WHERE EXISTS (SELECT 1 FROM audit_seals s WHERE s.redaction_id = r.id AND s.sequence < \(size))
                      AND NOT EXISTS (
                          SELECT 1 FROM audit_events x JOIN audit_seals xs ON xs.event_row = x.id
                          WHERE x.event = 'payloads_redacted' AND x.details->>'redaction' = r.id::text
                            AND xs.sequence < \(size)))
                """, logger: logger)
            return try await rows.decode(Bool.self).first(where: { _ in true }) ?? false
        }
    }

    /// The leaf hashes `[range)` in order, as recorded at sealing.
    func leafHashes(_ range: Range<UInt64>, logger: Logger) async throws -> [SHA256Hash] {
        try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT leaf_hash FROM audit_seals
                WHERE sequence >= \(Int64(range.lowerBound)) AND sequence < \(Int64(range.upperBound))
                ORDER BY sequence
                """, logger: logger)
            var hashes: [SHA256Hash] = []
            hashes.reserveCapacity(range.count)
            for try await bytes in rows.decode(ByteBuffer.self) {
                guard let hash = SHA256Hash(bytes: bytes.readableBytesView) else {
                    throw ServiceError.internal("an audit seal has a leaf hash of \(bytes.readableBytes) bytes")
                }
                hashes.append(hash)
            }
            guard hashes.count == range.count else {
                throw ServiceError.internal("audit_seals has \(hashes.count) of the places \(range): a gap")
            }
            return hashes
        }
    }

    /// The tree over the first `treeSize` leaves, tiled, for inclusion proofs (one pass over 32 bytes per
    /// event; keeps 0.25 bytes per event).
    func tiledTree(size treeSize: UInt64, logger: Logger) async throws -> TiledMerkleTree {
        var tree = TiledMerkleTree()
        // In ranges of the primary key: each statement short, whatever the log's size.
        let range: UInt64 = 100_000
        var start: UInt64 = 0
        while start < treeSize {
            let (from, end) = (start, min(start + range, treeSize))
            let hashes = try await Database.read(client, logger: logger) { connection in
                var hashes: [SHA256Hash] = []
                let rows = try await connection.query(
                    """
                    SELECT leaf_hash FROM audit_seals WHERE sequence >= \(Int64(from)) AND sequence < \(Int64(end))
                    ORDER BY sequence
                    """, logger: logger)
                for try await bytes in rows.decode(ByteBuffer.self) {
                    guard let hash = SHA256Hash(bytes: bytes.readableBytesView) else {
                        throw ServiceError.internal("an audit seal has a leaf hash of \(bytes.readableBytes) bytes")
                    }
                    hashes.append(hash)
                }
                return hashes
            }
            for hash in hashes { tree.append(leafHash: hash) }
            guard hashes.count == Int(end - start) else { break }
            start = end
        }
        return tree
    }
}
