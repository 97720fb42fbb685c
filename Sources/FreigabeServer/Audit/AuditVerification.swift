import AuditLog
import Foundation
import Logging
import PostgresNIO

/// `freigabe audit verify`: the whole decision log in the database against the public key.
///
/// Checks, and reports the first that fails: the append-only triggers of `audit_events`, `audit_seals`,
/// `audit_checkpoints` and `decisions` are enabled and the application role owns none of these tables;
/// every event older than the sealing window is sealed; then, through `AuditLog.LogVerifier`: the
/// sequence has no gaps, each event's canonical encoding gives the leaf hash stored when it was sealed,
/// each payload gives its hash, each checkpoint's signature holds and its root is the tree over the
/// events before it, and each checkpoint extends the one before; that every erasure of payloads
/// (`freigabe audit redact`) is on record in the log and no erased event holds texts again; finally that
/// each request's stored state agrees with its decisions and its events (``RequestStateCheck``).
struct AuditVerification: Sendable {
    let client: PostgresClient
    let key: NoteVerifierKey
    /// The application role, which must not own the log's tables.
    let appRole: String?
    /// Rows per statement when reading the log: each statement stays far below the role's
    /// `statement_timeout`, and memory holds one batch, whatever the log's size.
    var batchSize = 10_000
    /// Each batch first as one record per row (the fast way); false: every batch as cells, as before
    /// the records (for A/B figures and the tests that hold both ways to the same verdicts).
    var readsRecords = true

    struct Report: Sendable {
        var problems: [String]
        var summary: VerificationSummary?
        /// Events read the slow way (``SealedEvent``): erased ones, and those whose leaf did not match.
        var slowPathEvents = 0
        /// Batches with a row the record's fast path did not accept, read again as cells.
        var batchesReadAgain = 0

        var holds: Bool { problems.isEmpty }
    }

    static let appendOnlyTables = ["audit_events", "audit_seals", "audit_checkpoints", "decisions", "audit_redactions"]

    func run(logger: Logger) async throws -> Report {
        var problems = try await guardProblems(logger: logger)
        let checkpoints = try await checkpoints(logger: logger)
        let (result, erasureProblems, slowPathEvents, batchesReadAgain) = try await verifyEvents(
            checkpoints: checkpoints, logger: logger)
        problems += erasureProblems
        problems += try await redactionProblems(logger: logger)
        var summary: VerificationSummary?
        switch result {
        case .success(let verified):
            if verified.checkpointCount == 0 && verified.treeSize > 0 {
                problems.append("no signed checkpoint covers the log (audit.key_file not configured?)")
            }
            summary = verified
        case .failure(let failure):
            problems.append("\(failure.location): \(failure)")
        }
        // The mutable state against the facts: a rewritten snapshot is found even when the log holds.
        if let mismatch = try await RequestStateCheck(client: client).firstMismatch(logger: logger) {
            problems.append(mismatch)
        }
        return Report(
            problems: problems, summary: summary, slowPathEvents: slowPathEvents, batchesReadAgain: batchesReadAgain)
    }

    /// Triggers enabled, tables not owned by the application role, nothing left unsealed.
    private func guardProblems(logger: Logger) async throws -> [String] {
        var problems: [String] = []
        let rows = try await client.query(
            """
            SELECT c.relname, t.tgname, t.tgenabled::text, pg_get_userbyid(c.relowner)
            FROM pg_class c LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
            WHERE c.relname = ANY(\(Self.appendOnlyTables)) AND c.relkind = 'r'
            ORDER BY c.relname, t.tgname
            """, logger: logger)
        var triggered: Set<String> = []
        for try await (table, trigger, enabled, owner) in rows.decode((String, String?, String?, String).self) {
            if let appRole, owner == appRole {
                problems.append("table \(table) is owned by the application role \(appRole)")
            }
            guard let trigger, let enabled else { continue }
            triggered.insert(table)
            if enabled == "D" { problems.append("trigger \(trigger) on \(table) is disabled") }
        }
        for table in Self.appendOnlyTables where !triggered.contains(table) {
            problems.append("table \(table) has no append-only trigger")
        }
        let unsealed = try await client.query(
            """
            SELECT count(*) FROM audit_events e
            WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id)
              AND e.id < (SELECT coalesce(max(event_row), 0) FROM audit_seals) - \(AuditSealer.lookBehind)
            """, logger: logger
        ).decode(Int.self).first(where: { _ in true })
        if let unsealed, unsealed > 0 {
            problems.append("\(unsealed) audit events behind the sealing window were never sealed")
        }
        return problems
    }

    /// The sealed events in log order through ``LogVerification``, read in keyset batches. An erased
    /// event whose row holds texts again is reported (its salt is gone, so no hash could check them);
    /// those are looked for in the whole log, also after the verifier's first failure.
    ///
    /// Each batch is first read as one record per row (``SealedEvent/recordColumn``: one cell instead of
    /// 23) and each row's leaf recomputed from the record's bytes (``SealedRowEncoder/leaf(ofRecord:)``),
    /// accepted only when it equals the recorded one. Only when every row of the batch is accepted are
    /// the leaves checked, in order. A batch with any other row is read again from the same keyset
    /// position, as cells, and goes the way it always went: each row the fast way (the leaf from the
    /// cells' bytes) or else the slow way (``SealedEvent``), which counts erasures and names the fault.
    /// Returns how many rows went the slow way and how many batches were read again.
    private func verifyEvents(
        checkpoints: [CheckpointRecord], logger: Logger
    ) async throws -> (Result<VerificationSummary, VerificationFailure>, [String], Int, Int) {
        var verification: LogVerification
        switch LogVerifier(key: key, origin: key.keyName).begin(checkpoints: checkpoints) {
        case .success(let begun): verification = begun
        case .failure(let failure): return (.failure(failure), [], 0, 0)
        }
        var failure: VerificationFailure?
        var problems: [String] = []
        var fast = SealedRowEncoder()
        var slowPathEvents = 0
        var batchesReadAgain = 0
        var leaves: [(leaf: RecomputedLeaf, key: SealedRowEncoder.Key)] = []
        leaves.reserveCapacity(batchSize)
        // Keyset on (sequence, event row): in the order of the primary key, and no row is skipped even
        // if someone with the owner's rights dropped the key and doubled a sequence number.
        var after: (sequence: Int64, row: Int64)?
        while true {
            leaves.removeAll(keepingCapacity: true)
            var rowsInBatch = 0
            var everyRowAccepted = readsRecords
            if readsRecords {
                let records = try await client.query(
                    batchQuery(SealedEvent.recordColumn, after: after), logger: logger)
                for try await row in records {
                    rowsInBatch += 1
                    // The rest of a batch that is read again is only drained.
                    guard everyRowAccepted, let leaf = fast.leaf(ofRecord: row) else {
                        everyRowAccepted = false
                        continue
                    }
                    leaves.append(leaf)
                }
            }
            if everyRowAccepted {
                for (leaf, key) in leaves {
                    after = (key.sequence, key.eventRow)
                    if failure == nil { failure = verification.check(leaf) }
                }
            } else {
                if readsRecords { batchesReadAgain += 1 }
                rowsInBatch = 0
                for try await row in try await client.query(
                    batchQuery(SealedEvent.columns, after: after), logger: logger)
                {
                    rowsInBatch += 1
                    if let (leaf, key) = fast.leaf(of: row) {
                        after = (key.sequence, key.eventRow)
                        if failure == nil { failure = verification.check(leaf) }
                        continue
                    }
                    slowPathEvents += 1
                    // The payload as the row holds it now: a changed comment changes its hash, hence the leaf.
                    let sealed = try SealedEvent(row)
                    after = (Int64(sealed.sequence), sealed.stored.id)
                    if sealed.holdsTextAfterErasure, let redaction = sealed.redaction {
                        problems.append(
                            "event at position \(sealed.sequence): its payload was erased on "
                                + "\(redaction.redactedAt.rfc3339 ?? "?") by \(redaction.redactedBy), but the row holds text again"
                        )
                    }
                    if failure == nil { failure = verification.check(sealed.verifiable) }
                }
            }
            if rowsInBatch < batchSize { break }
        }
        if let failure { return (.failure(failure), problems, slowPathEvents, batchesReadAgain) }
        return (verification.finish(), problems, slowPathEvents, batchesReadAgain)
    }

    /// One batch of the keyset: `select` of every sealed event after `after`, at most ``batchSize``.
    private func batchQuery(_ select: String, after: (sequence: Int64, row: Int64)?) -> PostgresQuery {
        guard let after else {
            return """
                SELECT \(unescaped: select) FROM \(unescaped: SealedEvent.tables)
                ORDER BY s.sequence, s.event_row LIMIT \(batchSize)
                """
        }
        // `sequence >= …` lets the primary key's index find the start; the rest breaks the tie.
        return """
            SELECT \(unescaped: select) FROM \(unescaped: SealedEvent.tables)
            WHERE s.sequence >= \(after.sequence) AND (s.sequence > \(after.sequence) OR s.event_row > \(after.row))
            ORDER BY s.sequence, s.event_row LIMIT \(batchSize)
            """
    }

    /// The signed checkpoints, oldest first (a few per day: small).
    private func checkpoints(logger: Logger) async throws -> [CheckpointRecord] {
        var checkpoints: [CheckpointRecord] = []
        let notes = try await client.query(
            "SELECT signed_note FROM audit_checkpoints WHERE signed_note IS NOT NULL ORDER BY tree_size",
            logger: logger)
        for try await note in notes.decode(String.self) { checkpoints.append(CheckpointRecord(signedNote: note)) }
        return checkpoints
    }

    /// Every erasure is on record as a `payloads_redacted` event that names it and the number of events
    /// it erased: an erasure made around `audit_redact` (triggers disabled) has none, or another count.
    private func redactionProblems(logger: Logger) async throws -> [String] {
        let rows = try await client.query(
            """
            SELECT r.id, r.redacted_by, (SELECT count(*) FROM audit_seals s WHERE s.redaction_id = r.id),
                (SELECT (e.details->>'event_count')::bigint FROM audit_events e
                 WHERE e.event = 'payloads_redacted' AND e.details->>'redaction' = r.id::text
                 ORDER BY e.id LIMIT 1)
            FROM audit_redactions r ORDER BY r.id
            """, logger: logger)
        var problems: [String] = []
        for try await (id, by, erased, recorded) in rows.decode((Int64, String, Int64, Int64?).self) {
            guard let recorded else {
                problems.append("erasure #\(id) by \(by) has no payloads_redacted event in the log")
                continue
            }
            if recorded != erased {
                problems.append(
                    "erasure #\(id) by \(by): its event says \(recorded) payloads were erased, \(erased) are marked")
            }
        }
        let unrecorded = try await client.query(
            "SELECT count(*) FROM audit_seals WHERE payload_salt IS NULL AND redaction_id IS NULL", logger: logger
        ).decode(Int64.self).first(where: { _ in true })
        if let unrecorded, unrecorded > 0 {
            problems.append("\(unrecorded) sealed events lost their payload salt without a recorded erasure")
        }
        return problems
    }
}
