import AuditLog
import Foundation
import Logging
import PostgresNIO

/// `freigabe audit verify`: the whole decision log in the database against the public key.
///
/// Checks, and reports the first that fails: the append-only triggers of `audit_events`, `audit_seals`,
/// `audit_checkpoints`, `decisions` and `audit_redactions` are the ones the migrations wrote, enabled
/// (``AuditTriggerGuard``), and the application role owns none of these tables; every event older than
/// the sealing window, and every event written more than ``sealingGrace`` ago, is sealed; then, through `AuditLog.LogVerifier`: the
/// sequence has no gaps, each event's canonical encoding gives the leaf hash stored when it was sealed,
/// each payload gives its hash, each checkpoint's signature holds and its root is the tree over the
/// events before it, and each checkpoint extends the one before; that every erasure of payloads
/// (`freigabe audit redact`) is on record in the log and no erased event holds texts again; finally that
/// each request's stored state agrees with its decisions and its events (``RequestStateCheck``).
struct AuditVerification: Sendable {
    let client: PostgresClient
    /// The signing key and those it replaced: a checkpoint signed by any of them is the log's.
    let keys: TrustedKeys
    /// The application role, which must not own the log's tables.
    let appRole: String?
    /// Rows per statement when reading the log: each statement stays far below the role's
    /// `statement_timeout`, and memory holds one batch, whatever the log's size.
    var batchSize = 10_000
    /// The fast path reads each range as one record per row; false: as cells (for A/B figures and the
    /// tests that hold both ways to the same verdicts).
    var readsRecords = true
    /// Ranges of the log the fast path reads at once: PostgreSQL reads the next ones while this process
    /// hashes the one before, and the leaves of each are computed in a task of their own.
    var concurrentReads = max(2, ProcessInfo.processInfo.activeProcessorCount)
    /// Told, at most once per ``progressInterval`` while the events are read, how many were checked of
    /// the sealed places there were when it began: ten million events take minutes, and whoever runs it
    /// should see that it is moving.
    var progress: (@Sendable (_ checked: UInt64, _ of: UInt64) -> Void)?
    var progressInterval: Duration = .seconds(10)
    /// How long an event may wait for the sealer before verify calls it stalled (``unsealedBeyondGrace``).
    var sealingGrace: Duration = Self.defaultSealingGrace
    /// How long a written event may wait for the sealer before verify and `/ready` say it stalled.
    static let defaultSealingGrace: Duration = .seconds(300)
    /// The retention period the city keeps the log for (`audit.retention_years`): an erasure that states
    /// a shorter one erased what was still to be kept. nil: every period of 1 to 100 years is accepted.
    var retentionYears: Int?
    /// The outside copy of the checkpoints (`audit verify --checkpoint FILE`, as `audit.checkpoint_file`
    /// collects them), checked with the database's: whoever owns the database can delete its checkpoints
    /// after some size, rewrite the events after it and have the sealer sign the new history, which then
    /// holds on its own. Merged by tree size (each identical note once), a note of the old history is a
    /// second root at its size, or a root the events no longer reach.
    var outsideCheckpoints: [CheckpointRecord] = []

    struct Report: Sendable {
        var problems: [String]
        var summary: VerificationSummary?
        /// Events read the slow way (``SealedEvent``): erased ones, and those whose leaf did not match.
        var slowPathEvents = 0
        /// Ranges the fast path did not take, walked again the exact way.
        var rangesWalkedAgain = 0
        /// Of the whole run, the time spent reading and checking the events (the rest: the guards
        /// before, the erasures and the requests' states after).
        var eventsDuration: Duration = .zero

        var holds: Bool { problems.isEmpty }
    }

    static let appendOnlyTables = ["audit_events", "audit_seals", "audit_checkpoints", "decisions", "audit_redactions"]

    /// The log's tables, with their owner, that `role` (nil: the connected role) owns or may act as the
    /// owner of (a member of the owner role, with or without inheriting its rights: `SET ROLE` is enough
    /// to disable a trigger). One rule for `audit verify` and `/ready`.
    static func tablesOwnable(
        by role: String?, on connection: PostgresConnection, logger: Logger
    ) async throws -> [(table: String, owner: String)] {
        let rows = try await connection.query(
            """
            SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c
            WHERE c.relname = ANY(\(appendOnlyTables)) AND c.relkind = 'r'
              AND c.relnamespace = 'public'::regnamespace
              AND pg_has_role(coalesce(\(role)::name, current_user), c.relowner, 'MEMBER')
            ORDER BY c.relname
            """, logger: logger)
        var owned: [(table: String, owner: String)] = []
        for try await (table, owner) in rows.decode((String, String).self) { owned.append((table, owner)) }
        return owned
    }

    /// The columns the reads of the log rely on being unique and never NULL (a primary key or a unique
    /// key on a `NOT NULL` column): with them, every place and every event row is in ``SealedEvent/tables``
    /// once. Without them (only the tables' owner can drop a key) a doubled event row or a place without a
    /// number could hide beside the checked ones, which ``rowsNotChecked(treeSize:logger:)`` also finds.
    static let requiredKeys = [
        (table: "audit_events", column: "id"), (table: "audit_seals", column: "sequence"),
        (table: "audit_seals", column: "event_row"), (table: "audit_redactions", column: "id"),
    ]

    func run(logger: Logger) async throws -> Report {
        var problems = try await guardProblems(logger: logger)
        let checkpoints = CheckpointRecord.inTreeSizeOrder(try await checkpoints(logger: logger) + outsideCheckpoints)
        let eventsStarted = ContinuousClock.now
        let (result, erasureProblems, slowPathEvents, rangesWalkedAgain) = try await verifyEvents(
            checkpoints: checkpoints, logger: logger)
        let eventsDuration = ContinuousClock.now - eventsStarted
        problems += erasureProblems
        problems += try await redactionProblems(checkpoints: checkpoints, logger: logger)
        var summary: VerificationSummary?
        switch result {
        case .success(let verified):
            if verified.checkpointCount == 0 && verified.treeSize > 0 {
                problems.append("no signed checkpoint covers the log (audit.key_file not configured?)")
            }
            if let unread = try await rowsNotChecked(treeSize: verified.treeSize, logger: logger) {
                problems.append(unread)
            }
            summary = verified
        case .failure(let failure):
            // A checkpoint's fault names the note where it was read (the table, or the file and line).
            var source = ""
            if case .checkpoint(let index) = failure.location, checkpoints.indices.contains(index),
                let read = checkpoints[index].source
            {
                source = " (\(read))"
            }
            problems.append("\(failure.location): \(failure)\(source)")
        }
        // The mutable state against the facts: a rewritten snapshot is found even when the log holds.
        if let mismatch = try await RequestStateCheck(client: client).firstMismatch(logger: logger) {
            problems.append(mismatch)
        }
        return Report(
            problems: problems, summary: summary, slowPathEvents: slowPathEvents, rangesWalkedAgain: rangesWalkedAgain,
            eventsDuration: eventsDuration)
    }

    /// Triggers as the migrations wrote them (``AuditTriggerGuard``), tables not owned by the
    /// application role, nothing left unsealed.
    private func guardProblems(logger: Logger) async throws -> [String] {
        var problems = try await Database.read(client, logger: logger) { [appRole] connection in
            var problems: [String] = []
            if let appRole {
                for (table, owner) in try await Self.tablesOwnable(by: appRole, on: connection, logger: logger) {
                    problems.append(
                        "table \(table) is owned by \(owner), as whom the application role \(appRole) may act: it "
                            + "could disable the table's triggers")
                }
            }
            problems += try await AuditTriggerGuard.problems(on: connection, logger: logger)
            let keys = try await connection.query(
                """
                SELECT t.relname, a.attname FROM pg_constraint c
                JOIN pg_class t ON t.oid = c.conrelid
                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                WHERE c.contype IN ('p', 'u') AND cardinality(c.conkey) = 1 AND a.attnotnull
                  AND t.relname = ANY(\(Self.requiredKeys.map(\.table)))
                """, logger: logger)
            var keyed: Set<String> = []
            for try await (table, column) in keys.decode((String, String).self) { keyed.insert("\(table).\(column)") }
            for (table, column) in Self.requiredKeys where !keyed.contains("\(table).\(column)") {
                problems.append("table \(table) has no key on \(column): a place or an event could be there twice")
            }
            let unsealed = try await connection.query(
                """
                SELECT count(*), min(e.id) FROM audit_events e
                WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id)
                  AND e.id < (SELECT coalesce(max(event_row), 0) FROM audit_seals) - \(AuditSealer.lookBehind)
                """, logger: logger)
            for try await (count, first) in unsealed.decode((Int64, Int64?).self) where count > 0 {
                problems.append(
                    "\(count) audit events behind the sealing window were never sealed (the first is row \(first ?? 0))"
                )
            }
            return problems
        }
        if let stalled = try await unsealedBeyondGrace(logger: logger) { problems.append(stalled) }
        return problems
    }

    /// Events written more than ``sealingGrace`` ago (by the database's clock, `recorded_at`) and still
    /// not sealed: every instance runs the sealer every few seconds, so these mean it stopped. The window
    /// check above sees only events far behind the newest sealed one; a sealer that stopped a month ago
    /// leaves nothing sealed after its last run, and without this verify would call the log complete.
    private func unsealedBeyondGrace(logger: Logger) async throws -> String? {
        let grace = sealingGrace.seconds
        let found = try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                """
                SELECT count(*), min(e.id), min(e.occurred_at), min(e.recorded_at) FROM audit_events e
                WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id)
                  AND e.recorded_at < now() - make_interval(secs => \(grace))
                """, logger: logger
            ).decode((Int64, Int64?, Date?, Date?).self).first(where: { _ in true })
        }
        if let (count, first, oldest, recorded) = found, count > 0 {
            let seconds = Int(sealingGrace.components.seconds)
            return "\(count) audit events written more than \(seconds) s ago are not sealed (the first is row "
                + "\(first ?? 0); the oldest happened at "
                + "\(oldest.map { AuditTimestamp($0).description } ?? "?"), written at "
                + "\(recorded.map { AuditTimestamp($0).description } ?? "?")): the sealer is not running"
        }
        return nil
    }

    /// The sealed events in log order through ``LogVerification``. An erased event whose row holds texts
    /// again is reported (its salt is gone, so no hash could check them); those are looked for in the
    /// whole log, also after the verifier's first failure.
    ///
    /// First the fast way, for an honest log: the places from the smallest to the largest sealed one, cut
    /// into ranges of ``batchSize``, each read as one record per row (``SealedEvent/recordColumn``: one
    /// cell instead of 23; as cells when not ``readsRecords``) with each row's leaf recomputed from its
    /// bytes (``SealedRowEncoder``), ``concurrentReads`` ranges at a time (``OrderedReads``).
    /// A range counts only when it holds exactly its places, each once, in order, and every leaf equals
    /// the recorded one; its leaves are then checked in order. Any other range is walked again the exact
    /// way (``EventWalk``, as cells: each row the fast way or else the slow way, ``SealedEvent``, which
    /// counts erasures and names the fault); an empty range (the places end, or a forger's far-off
    /// place) ends the ranges, and the walk goes on from the last checked event to the log's end, which
    /// also takes what was sealed while this ran.
    private func verifyEvents(
        checkpoints: [CheckpointRecord], logger: Logger
    ) async throws -> (Result<VerificationSummary, VerificationFailure>, [String], Int, Int) {
        let verification: LogVerification
        var verifier = LogVerifier(keys: keys)
        // Erasures are rows of audit_redactions here, checked against their events in redactionProblems.
        verifier.requiresErasureRecords = false
        switch verifier.begin(checkpoints: checkpoints) {
        case .success(let begun): verification = begun
        case .failure(let failure): return (.failure(failure), [], 0, 0)
        }
        var walk = EventWalk(verification: verification, client: client, batchSize: max(batchSize, 1))
        let places = try await sealedPlaces(logger: logger)
        walk.progress = progress.map {
            Progress(tell: $0, interval: progressInterval, places: places.map(Self.count(of:)) ?? 0)
        }
        if let places {
            let ranges = Self.ranges(of: places, size: Int64(max(batchSize, 1)))
            let reads = OrderedReads<Range<Int64>, RangeRead>(width: concurrentReads) { [client, readsRecords] range in
                try await Self.read(range, asRecords: readsRecords, client: client, logger: logger)
            }
            try await reads.run(ranges) { range, read in
                switch read {
                case .accepted(let leaves):
                    for (leaf, key) in leaves { walk.check(leaf, key: key) }
                    walk.reportProgress()
                case .readAgain:
                    walk.rangesWalkedAgain += 1
                    try await walk.walk(below: range.upperBound, logger: logger)
                case .empty:
                    return false
                }
                return true
            }
        }
        try await walk.walk(below: nil, logger: logger)
        return walk.outcome
    }

    /// `places` cut into ranges of `size` places (the last may be shorter). Where the table's CHECK was
    /// dropped the places may lie anywhere in `Int64`, so no step may overflow.
    static func ranges(of places: Range<Int64>, size: Int64) -> UnfoldSequence<Range<Int64>, Int64?> {
        precondition(size > 0)
        return sequence(state: places.isEmpty ? nil : places.lowerBound) { next in
            guard let lower = next else { return nil }
            let (sum, overflow) = lower.addingReportingOverflow(size)
            let upper = overflow || sum > places.upperBound ? places.upperBound : sum
            next = upper < places.upperBound ? upper : nil
            return lower..<upper
        }
    }

    /// How many places `places` spans; exact even when it spans more than `Int64.max` (the bounds of a
    /// non-empty range differ by less than 2^64).
    static func count(of places: Range<Int64>) -> UInt64 {
        UInt64(bitPattern: places.upperBound &- places.lowerBound)
    }

    /// After a walk that held: whether the log has rows below the checked tree size (or without a place)
    /// beyond the `treeSize` that were checked. The walk reads each place once, in the order of the keys;
    /// a second row with the key of a checked one (an event row inserted twice, a seal doubled: only
    /// possible with the tables' keys dropped) or a seal with no place is never read, and only this
    /// count of everything that is there shows it.
    private func rowsNotChecked(treeSize: UInt64, logger: Logger) async throws -> String? {
        let size = Int64(clamping: treeSize)
        let counted = try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                """
                SELECT count(*) FROM \(unescaped: SealedEvent.tables)
                WHERE s.sequence < \(size) OR s.sequence IS NULL
                """, logger: logger
            ).decode(Int64.self).first(where: { _ in true })
        }
        if let count = counted, count != size {
            return "the log holds \(count) sealed events at positions below \(size) or without a position, "
                + "but \(size) were checked: an event or a place is there twice, or a seal has no position"
        }
        return nil
    }

    /// The smallest sealed place and one past the largest; nil: nothing is sealed.
    private func sealedPlaces(logger: Logger) async throws -> Range<Int64>? {
        let bounds = try await Database.read(client, logger: logger) { connection in
            try await connection.query("SELECT min(sequence), max(sequence) FROM audit_seals", logger: logger)
                .decode((Int64?, Int64?).self).first(where: { _ in true })
        }
        guard let (lowest, highest) = bounds, let lowest, let highest, lowest <= highest, highest < Int64.max else {
            return nil
        }
        return lowest..<(highest + 1)
    }

    /// What one range of places gave the fast path.
    enum RangeRead: Sendable {
        /// Exactly the range's places, in order, each leaf equal to the recorded one.
        case accepted([(leaf: RecomputedLeaf, key: SealedRowEncoder.Key)])
        /// Rows, but not that: walk it the exact way.
        case readAgain
        /// No row at all: past the end of the log.
        case empty
    }

    /// One range, as records or as cells; `LIMIT` one more than its places, so that a doubled place shows.
    private static func read(
        _ range: Range<Int64>, asRecords: Bool, client: PostgresClient, logger: Logger
    ) async throws -> RangeRead {
        try await Database.read(client, logger: logger) { connection -> RangeRead in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: asRecords ? SealedEvent.recordColumn : SealedEvent.columns)
                FROM \(unescaped: SealedEvent.tables)
                WHERE s.sequence >= \(range.lowerBound) AND s.sequence < \(range.upperBound)
                ORDER BY s.sequence, s.event_row LIMIT \(range.count + 1)
                """, logger: logger)
            var encoder = SealedRowEncoder()
            var leaves: [(leaf: RecomputedLeaf, key: SealedRowEncoder.Key)] = []
            leaves.reserveCapacity(range.count)
            var rowCount = 0
            var exact = true
            for try await row in rows {
                rowCount += 1
                // The rest of a range that is walked again is only drained.
                guard exact, let leaf = asRecords ? encoder.leaf(ofRecord: row) : encoder.leaf(of: row),
                    leaf.key.sequence == range.lowerBound + Int64(leaves.count)
                else {
                    exact = false
                    continue
                }
                leaves.append(leaf)
            }
            if rowCount == 0 { return .empty }
            return exact && leaves.count == range.count ? .accepted(leaves) : .readAgain
        }
    }

    /// ``progress`` at most once per interval.
    struct Progress {
        let tell: @Sendable (_ checked: UInt64, _ of: UInt64) -> Void
        let interval: Duration
        let places: UInt64
        private var last = ContinuousClock.now

        init(tell: @escaping @Sendable (UInt64, UInt64) -> Void, interval: Duration, places: UInt64) {
            self.tell = tell
            self.interval = interval
            self.places = places
        }

        mutating func report(checked: UInt64) {
            let now = ContinuousClock.now
            guard now - last >= interval else { return }
            last = now
            tell(checked, places)
        }
    }

    /// The exact way through the log: keyset batches of cells after the last event checked, every row
    /// the fast way from its cells or else the slow way, and the verifier's state between them.
    private struct EventWalk {
        var verification: LogVerification
        let client: PostgresClient
        let batchSize: Int
        var failure: VerificationFailure?
        var problems: [String] = []
        var fast = SealedRowEncoder()
        /// Events read the slow way; ranges the fast path did not accept.
        var slowPathEvents = 0
        var rangesWalkedAgain = 0
        // Keyset on (sequence, event row): in the order of the primary key; a place doubled with another
        // event row is read too. A row whose key is there twice (the keys dropped) can be skipped at a
        // batch's end: the guards and ``rowsNotChecked(treeSize:logger:)`` report that.
        var after: SealedRowEncoder.Key?
        /// Events checked so far, whether or not the verifier failed on one before.
        private(set) var checked: UInt64 = 0
        var progress: Progress?

        init(verification: LogVerification, client: PostgresClient, batchSize: Int) {
            self.verification = verification
            self.client = client
            self.batchSize = batchSize
        }

        var outcome: (Result<VerificationSummary, VerificationFailure>, [String], Int, Int) {
            (failure.map { .failure($0) } ?? verification.finish(), problems, slowPathEvents, rangesWalkedAgain)
        }

        mutating func check(_ leaf: RecomputedLeaf, key: SealedRowEncoder.Key) {
            after = key
            if failure == nil { failure = verification.check(leaf) }
            checked += 1
        }

        mutating func reportProgress() {
            progress?.report(checked: checked)
        }

        /// Every row after ``after`` and below the place `below` (nil: to the end), in batches.
        mutating func walk(below: Int64?, logger: Logger) async throws {
            while true {
                // The batch is taken whole, within the store's deadlines, and then checked.
                let query = try batchQuery(below: below)
                let rows = try await Database.read(client, logger: logger) { connection in
                    var rows: [PostgresRow] = []
                    for try await row in try await connection.query(query, logger: logger) { rows.append(row) }
                    return rows
                }
                for row in rows {
                    if let (leaf, key) = fast.leaf(of: row) {
                        check(leaf, key: key)
                        continue
                    }
                    slowPathEvents += 1
                    // The payload as the row holds it now: a changed comment changes its hash, hence the leaf.
                    let sealed = try SealedEvent(row)
                    after = SealedRowEncoder.Key(sequence: Int64(sealed.sequence), eventRow: sealed.stored.id)
                    if sealed.holdsTextAfterErasure, let redaction = sealed.redaction {
                        problems.append(
                            "event at position \(sealed.sequence): its payload was erased on "
                                + "\(redaction.redactedAt.rfc3339 ?? "?") by \(redaction.redactedBy), but the row holds text again"
                        )
                    }
                    if failure == nil { failure = verification.check(sealed.verifiable) }
                    checked += 1
                }
                reportProgress()
                if rows.count < batchSize { return }
            }
        }

        /// One batch of the keyset as cells: every sealed event after ``after`` (and below `below`).
        private func batchQuery(below: Int64?) throws -> PostgresQuery {
            var sql = StatementBuilder()
            sql.text = "SELECT \(SealedEvent.columns) FROM \(SealedEvent.tables) WHERE true"
            if let after {
                // `sequence >= …` lets the primary key's index find the start; the rest breaks the tie.
                let sequence = try sql.bind(after.sequence)
                sql.text +=
                    " AND s.sequence >= \(sequence) AND (s.sequence > \(sequence) OR s.event_row > \(try sql.bind(after.eventRow)))"
            }
            if let below { sql.text += " AND s.sequence < \(try sql.bind(below))" }
            sql.text += " ORDER BY s.sequence, s.event_row LIMIT \(try sql.bind(batchSize))"
            return sql.query
        }
    }

    /// The signed checkpoints, oldest first (a few per day: small).
    private func checkpoints(logger: Logger) async throws -> [CheckpointRecord] {
        try await Database.read(client, logger: logger) { connection in
            var checkpoints: [CheckpointRecord] = []
            let notes = try await connection.query(
                "SELECT signed_note FROM audit_checkpoints WHERE signed_note IS NOT NULL ORDER BY tree_size",
                logger: logger)
            for try await note in notes.decode(String.self) {
                checkpoints.append(CheckpointRecord(signedNote: note, source: "audit_checkpoints"))
            }
            return checkpoints
        }
    }

    /// Every erasure is on record as a `payloads_redacted` event that names it and the number of events
    /// it erased: an erasure made around `audit_redact` (triggers disabled) has none, or another count.
    /// And it erased only what the retention period allowed: the event states the cut-off and the
    /// retention period (``ErasureRecord``, the rule the offline check applies too), at least that period
    /// before the erasure; the event agrees with the erasure's row (time, uid, cut-off, retention); and
    /// every event the erasure marks happened before its cut-off. Without these the database owner could
    /// erase last month's rejection reason and append a record of their own with the right count.
    ///
    /// The erasure's time is the database's clock, which its owner can set ahead (a row written around
    /// `audit_redact` with its trigger off, dated twenty years ahead with a cut-off ten years ahead, passes
    /// every rule above and reaches last month's events). So it must not lie ahead of this clock, nor
    /// after the signed `time` of the first checkpoint whose tree covers its `payloads_redacted` event:
    /// the sealer's clock, which the owner cannot sign (each with ``ErasureRecord/slack``).
    private func redactionProblems(checkpoints: [CheckpointRecord], logger: Logger) async throws -> [String] {
        let signed = checkpoints.compactMap { record -> Checkpoint? in
            guard let note = try? SignedNote(parsing: record.signedNote), keys.verify(note) == .verified else {
                return nil
            }
            return try? Checkpoint(noteText: note.text)
        }
        typealias ErasureRow = (
            Int64, String, Date, Date, Int32, Int64, Int64, Int64?, Date?, String?, String?, Int64?, Bool
        )
        // Few rows (one per erasure): read whole, within the store's deadlines, then compared.
        let erasures = try await Database.read(client, logger: logger) { connection in
            var erasures: [ErasureRow] = []
            let rows = try await connection.query(
                """
                SELECT r.id, r.redacted_by, r.redacted_at, r.erased_before, r.retention_years,
                    (SELECT count(*) FROM audit_seals s WHERE s.redaction_id = r.id),
                    (SELECT count(*) FROM audit_seals s JOIN audit_events e ON e.id = s.event_row
                     WHERE s.redaction_id = r.id AND e.occurred_at >= r.erased_before),
                    (SELECT min(s.sequence) FROM audit_seals s JOIN audit_events e ON e.id = s.event_row
                     WHERE s.redaction_id = r.id AND e.occurred_at >= r.erased_before),
                    x.occurred_at, x.actor, x.details, x.sequence, r.redacted_at > now() + interval '1 day'
                FROM audit_redactions r
                LEFT JOIN LATERAL (
                    SELECT e.occurred_at, e.actor, e.details::text AS details, s.sequence FROM audit_events e
                    LEFT JOIN audit_seals s ON s.event_row = e.id
                    WHERE e.event = 'payloads_redacted' AND e.details->>'redaction' = r.id::text
                    ORDER BY e.id LIMIT 1) x ON true
                ORDER BY r.id
                """, logger: logger)
            for try await row in rows.decode(ErasureRow.self) { erasures.append(row) }
            return erasures
        }
        var problems: [String] = []
        for (
            id, by, at, cutOff, years, erased, afterCutOff, firstAfterCutOff, eventAt, eventActor, details, sequence,
            ahead
        ) in erasures {
            let erasure = "erasure #\(id) by \(by)"
            if ahead {
                problems.append(
                    "\(erasure) is dated \(AuditTimestamp(at)), more than a day after the database's clock: its time "
                        + "was forged (a date in the future lets it erase recent events)")
            }
            if let sequence, sequence >= 0,
                let covering = signed.first(where: { $0.treeSize > UInt64(sequence) }), let signedAt = covering.time,
                ErasureRecord.isDated(AuditTimestamp(at), after: signedAt)
            {
                problems.append(
                    "\(erasure) is dated \(AuditTimestamp(at)), but the checkpoint of tree size \(covering.treeSize), "
                        + "the first to cover its payloads_redacted event (position \(sequence)), was signed at "
                        + "\(signedAt): the erasure's time was forged")
            }
            guard let eventAt, let details else {
                problems.append("\(erasure) has no payloads_redacted event in the log")
                continue
            }
            guard let record = ErasureRecord(details: details, at: 0, occurredAt: AuditTimestamp(eventAt)) else {
                problems.append("\(erasure): its payloads_redacted event states no count of erased events")
                continue
            }
            if record.eventCount != UInt64(clamping: erased) {
                problems.append(
                    "\(erasure): its event says \(record.eventCount) payloads were erased, \(erased) are marked")
            }
            switch record.cutOffProblem {
            case .erasureWithinRetention(_, let erasedBefore, let retention):
                problems.append(
                    "\(erasure): its payloads_redacted event states the cut-off \(erasedBefore), within the "
                        + "retention period of \(retention) years before the erasure")
            case .some:
                problems.append(
                    "\(erasure): its payloads_redacted event states no cut-off (erased_before) or no retention "
                        + "period of 1 to 100 years (retention_years)")
            case nil:
                break
            }
            if let kept = retentionYears, let stated = record.retentionYears, stated < kept {
                problems.append(
                    "\(erasure): it kept the log for \(stated) years, the retention period is \(kept) "
                        + "(audit.retention_years)")
            }
            let row = (at: AuditTimestamp(at), by: by, cutOff: AuditTimestamp(cutOff), years: Int(years))
            if record.occurredAt != row.at || eventActor != row.by {
                problems.append(
                    "\(erasure) at \(row.at): its payloads_redacted event was written at \(record.occurredAt) by "
                        + "\(eventActor ?? "the system")")
            }
            if record.erasedBefore != row.cutOff || record.retentionYears != row.years {
                problems.append(
                    "\(erasure): erased before \(row.cutOff) with a retention of \(row.years) years, but its "
                        + "payloads_redacted event states \(record.erasedBefore?.description ?? "no cut-off") and "
                        + "\(record.retentionYears.map { "\($0) years" } ?? "no retention period")")
            }
            if afterCutOff > 0 {
                problems.append(
                    "\(erasure) erased the payloads of \(afterCutOff) events that happened at or after its cut-off "
                        + "\(row.cutOff): within the retention period (the first at position \(firstAfterCutOff ?? 0))")
            }
        }
        let unrecorded = try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                "SELECT count(*), min(sequence) FROM audit_seals WHERE payload_salt IS NULL AND redaction_id IS NULL",
                logger: logger
            ).decode((Int64, Int64?).self).first(where: { _ in true })
        }
        if let (count, first) = unrecorded, count > 0 {
            problems.append(
                "\(count) sealed events lost their payload salt without a recorded erasure (the first at position "
                    + "\(first ?? 0))")
        }
        return problems
    }
}
