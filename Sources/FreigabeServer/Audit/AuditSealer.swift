import AuditLog
import Foundation
import Logging
import NIOPosix
import PostgresNIO

/// Gives committed audit events their place in the decision log's Merkle tree and signs a checkpoint
/// per batch (`AuditLog`, format in `Sources/AuditLog/FORMAT.md`).
///
/// Sealing happens after the events commit, in small batches, by one sealer at a time among all
/// instances (a transaction-scoped advisory lock; the others skip the round): no decision ever waits
/// for the log. Events are taken in the order of their row ids within a window behind the newest
/// sealed row, so an event whose transaction committed late (ids are handed out at insert, not at
/// commit) is sealed in a later batch rather than lost; a transaction cannot stay open longer than
/// `db.transaction_timeout_seconds`, far less than the window's worth of events.
///
/// Each event's personal payload (comment, details, client address) is committed by a salted hash, so
/// erasing the payload after the retention period keeps the tree verifiable.
struct AuditSealer: Sendable {
    let client: PostgresClient
    /// Signs the checkpoints; nil: the tree heads are stored unsigned (and `audit verify` says so).
    let signer: NoteSigner?
    /// A file every signed checkpoint is appended to: the copy outside the database that reveals a
    /// rewritten tail.
    let checkpointFile: String?
    /// Whether this sealer has noted ``checkpointFile`` in `audit_outside_copies`: once is enough (the
    /// row stays), not a statement with every checkpoint.
    private let copyNoted = OneWayFlag()
    /// `write(2)`, but for the tests, which hold a note's append open to see what it runs under.
    var writeBytes: @Sendable (Int32, UnsafeRawBufferPointer) -> Int = { write($0, $1.baseAddress, $1.count) }

    /// Events per batch at most.
    static let batchSize = 500
    /// How far behind the newest sealed row an unsealed one is still looked for.
    static let lookBehind: Int64 = 10_000
    /// `pg_try_advisory_xact_lock` key of the sealer ("FGAUDIT").
    static let lockKey: Int64 = 0x4647_4155_4449_54

    struct Batch: Sendable, Equatable {
        var sealed: Int
        var treeSize: UInt64
        /// The signed checkpoint could not be appended to ``checkpointFile`` (logged; the next one is).
        var outsideCopyFailed = false
        /// A signed checkpoint was to be appended to ``checkpointFile`` (whether it was, says the above).
        var wroteCheckpoint = false
    }

    /// A newer release migrated the database (a rolling update, an older instance left running): its
    /// events may carry sealed fields this binary does not know, whose leaves it would compute without
    /// them, and seals cannot be taken back. The newer instances seal; this one skips its rounds.
    struct NewerRelease: Error, CustomStringConvertible {
        /// The newest migration in the database, and the newest this binary knows.
        var applied: Int
        var known: Int

        var description: String {
            "the database carries migration \(applied), this release knows up to \(known): a newer release seals"
        }
    }

    /// Seals the next batch; nil when another instance is sealing.
    ///
    /// - Throws: ``NewerRelease`` when a newer release migrated the database.
    func sealBatch(now: Date, logger: Logger) async throws -> Batch? {
        let signer = signer
        let known = Migrations.newest
        let batch = try await Database.transaction(client, logger: logger) { connection -> (Batch, String?)? in
            let (applied, locked) =
                try await connection.query(
                    """
                    SELECT (SELECT coalesce(max(version), 0) FROM schema_migrations),
                           pg_try_advisory_xact_lock(\(Self.lockKey))
                    """, logger: logger
                ).decode((Int, Bool).self).first(where: { _ in true }) ?? (0, false)
            guard applied <= known else { throw NewerRelease(applied: applied, known: known) }
            guard locked else { return nil }
            var frontier = try await Self.latestFrontier(on: connection, logger: logger)
            let events = try await Self.unsealedEvents(on: connection, logger: logger)
            guard !events.isEmpty else { return (Batch(sealed: 0, treeSize: frontier.size), nil) }
            // Only when there is something to sign: an idle log reads no file. A file that hangs holds the
            // connection and the sealing lock for at most the file's deadline (``CheckpointFileIO``).
            if let checkpointFile, let key = signer?.verifierKey {
                switch try await Self.newestOutsideNote(checkpointFile, key: key, logger: logger) {
                case .note(let note):
                    try await Self.checkOutsideCopy(
                        note, of: checkpointFile, frontier: frontier, on: connection, logger: logger)
                case .empty:
                    try await Self.requireNoLostCopy(checkpointFile, on: connection, logger: logger)
                case .noNoteOfKey:
                    break
                }
            }
            var encoder = AuditEventEncoder()
            var seals = SealRows()
            for row in events {
                let payload = AuditPayload(salt: AuditPayload.generateSalt(), fields: row.payloadFields)
                let event = row.leaf(sequence: frontier.size, id: UUID(), payloadHash: payload.hash)
                let leafHash = encoder.leafHash(of: event)
                seals.append(row: row.id, event: event, salt: payload.salt, leafHash: leafHash)
                frontier.append(leafHash: leafHash)
            }
            let checkpoint = Checkpoint(
                origin: signer?.keyName ?? AuditSettings.defaultOrigin, treeSize: frontier.size,
                rootHash: frontier.rootHash, time: AuditTimestamp(now))
            let note = try signer.map { try $0.sign(checkpoint).serialized }
            try await connection.query(seals.insert(sealedAt: now), logger: logger)
            try await connection.query(
                """
                INSERT INTO audit_checkpoints (tree_size, root_hash, frontier, signed_note, created_at)
                VALUES (\(Int64(frontier.size)), \(ByteBuffer(bytes: frontier.rootHash.bytes)),
                        \(try StoredJSON.encode(frontier))::jsonb, \(note), \(now))
                """, logger: logger)
            return (Batch(sealed: events.count, treeSize: frontier.size), note)
        }
        guard case (var result, let note)? = batch else { return nil }
        if let note, let checkpointFile {
            result.wroteCheckpoint = true
            do {
                // Under the sealing lock again, taken in a short transaction of its own after the commit
                // (a note written before it could name a checkpoint a failed commit never stored): on a
                // network file system shared by several instances `O_APPEND` is no atomic append, so no
                // other instance's note or read of the tail (``newestOutsideNote``) may run beside this
                // write. The wait is the lock timeout's; a file write may block (a full disk, a network
                // mount that hangs): under a deadline, which the transaction's outlasts. A write that
                // runs past its deadline goes on in its thread after the lock is given up (it cannot be
                // stopped): on a mount that hangs that long, notes may still meet.
                var timeouts = Database.timeouts(for: client)
                timeouts.transaction = max(
                    timeouts.transaction, timeouts.poolWait + timeouts.lock + CheckpointFileIO.deadline + .seconds(2))
                try await Database.transaction(client, logger: logger, timeouts: timeouts) { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
                    try await CheckpointFileIO.run("append to", path: checkpointFile) { [writeBytes] in
                        try Self.append(note, to: checkpointFile, writeBytes: writeBytes)
                    }
                }
                await recordOutsideCopy(checkpointFile, logger: logger)
            } catch {
                // The checkpoint stands in the database; the outside copy is retried with the next one
                // (each checkpoint covers everything before it).
                logger.error(
                    "could not write the checkpoint outside the database",
                    metadata: ["audit.checkpoint_file": "\(checkpointFile)", "error": "\(error)"])
                result.outsideCopyFailed = true
            }
        }
        return result
    }

    /// What sealing until nothing was left did.
    struct Run: Sendable, Equatable {
        var treeSize: UInt64
        /// Some signed checkpoint of the run did not reach ``checkpointFile``.
        var outsideCopyFailed: Bool
    }

    /// Seals until nothing is left (for `freigabe audit seal`); nil when another instance is sealing.
    func sealRemaining(now: Date, logger: Logger) async throws -> Run? {
        var run: Run?
        while let batch = try await sealBatch(now: now, logger: logger) {
            run = Run(
                treeSize: batch.treeSize,
                outsideCopyFailed: (run?.outsideCopyFailed ?? false) || batch.outsideCopyFailed)
            if batch.sealed < Self.batchSize { break }
        }
        return run
    }

    /// The tree size after sealing until nothing is left (0 when another instance was sealing).
    func sealAll(now: Date, logger: Logger) async throws -> UInt64 {
        try await sealRemaining(now: now, logger: logger)?.treeSize ?? 0
    }

    /// How much of the end of ``checkpointFile`` is read before each batch: many notes (each about 200
    /// bytes), whatever the file's length.
    static let outsideCopyTail = 64 * 1024

    /// The sealer extends whatever tree the newest `audit_checkpoints` row holds. Whoever owns the database
    /// can delete the seals from some place on and the checkpoints after it (triggers off for a moment),
    /// delete an awkward event, and have the sealer seal and sign the rewritten history; the database's
    /// own checks then hold. The outside copy is what they cannot rewrite: the newest note of this key in
    /// the file's tail must be the database's checkpoint of that size, with its root (and, when the tree
    /// to extend has that size, be its root). Otherwise the sealer refuses and throws (the sealing service
    /// logs it at critical level): nothing is sealed or signed until an operator has looked (`audit verify
    /// --checkpoint`).
    static func checkOutsideCopy(
        _ outside: Checkpoint, of path: String, frontier: MerkleFrontier, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let rows = try await connection.query(
            "SELECT root_hash FROM audit_checkpoints WHERE tree_size = \(Int64(clamping: outside.treeSize))",
            logger: logger)
        var databaseRoot: SHA256Hash?
        for try await bytes in rows.decode(Data.self) { databaseRoot = SHA256Hash(bytes: bytes) }
        let extendsIt = frontier.size != outside.treeSize || frontier.rootHash == outside.rootHash
        guard databaseRoot == outside.rootHash, extendsIt else {
            throw HistoryRewritten(
                path: path, outside: outside, databaseRoot: databaseRoot, databaseTreeSize: frontier.size,
                databaseRootHash: frontier.rootHash)
        }
    }

    /// What the tail of the checkpoint file holds for the sealer's check.
    enum OutsideCopy: Sendable, Equatable {
        /// The newest note of the key in the tail.
        case note(Checkpoint)
        /// Notes, but none of this key that verifies (the key was replaced since): not checked, said at
        /// warning level.
        case noNoteOfKey
        /// No file, an empty one, or one whose tail holds no note at all (a blank line, zeros after a
        /// power loss, a placeholder): nothing to check against.
        case empty
    }

    /// A missing or empty outside copy is a new one only while no signed checkpoint has reached any
    /// checkpoint file, under whatever path (`audit_outside_copies`, migration 28). After that it is a copy
    /// that is gone: a mount not there (yet), a restore onto a new server before the file was brought
    /// along, the setting pointed elsewhere; sealing on would sign, unchecked, a history the auditors'
    /// copies may contradict, and begin a new file as if nothing had been before.
    static func requireNoLostCopy(_ path: String, on connection: PostgresConnection, logger: Logger) async throws {
        let found = try await connection.query(
            """
            SELECT (SELECT max(tree_size) FROM audit_checkpoints WHERE signed_note IS NOT NULL),
                   (SELECT path FROM audit_outside_copies ORDER BY first_written_at DESC, path LIMIT 1)
            """, logger: logger
        ).decode((Int64?, String?).self).first(where: { _ in true })
        if let (signed, written) = found, let signed, let written {
            throw OutsideCopyMissing(path: path, signedTreeSize: UInt64(clamping: signed), lastWritten: written)
        }
    }

    /// Notes that a signed checkpoint reached `path` (``requireNoLostCopy(_:on:logger:)``), the first
    /// time this sealer wrote it. A failure is logged only: the note is in the file, and the next
    /// checkpoint notes it again.
    private func recordOutsideCopy(_ path: String, logger: Logger) async {
        guard !copyNoted.isSet else { return }
        do {
            try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
                try await connection.query(
                    "INSERT INTO audit_outside_copies (path) VALUES (\(path)) ON CONFLICT (path) DO NOTHING",
                    logger: logger)
            }
            copyNoted.set()
        } catch {
            logger.warning(
                "could not note that the checkpoint file was written",
                metadata: ["audit.checkpoint_file": "\(path)", "error": "\(String(reflecting: error))"])
        }
    }

    /// The sealer's refusal to sign while the outside copy of a signed log is missing or empty.
    struct OutsideCopyMissing: Error, CustomStringConvertible {
        var path: String
        /// The database's newest signed checkpoint.
        var signedTreeSize: UInt64
        /// The checkpoint file a signed checkpoint reached last.
        var lastWritten: String

        var description: String {
            "the checkpoint file \(path) (audit.checkpoint_file) is missing, empty or holds no checkpoint, but the "
                + "database holds signed checkpoints up to tree size \(signedTreeSize), and they were written to "
                + "\(lastWritten): the outside copy is gone (a mount not there, a restore onto a new server, the "
                + "setting pointed elsewhere), and nothing is sealed without it; bring the file back, or begin a "
                + "new one with `freigabe audit seal --start-checkpoint-file` (README: \"Restoring the database "
                + "from a backup\")"
        }
    }

    /// Begins the empty or missing ``checkpointFile`` with the database's newest signed checkpoint, which
    /// the sealer then checks the log against as against any outside copy: for a running log given an
    /// outside copy for the first time, or a new copy after a restore (the old one put aside, never
    /// deleted: it shows what was lost). A file that holds anything else is refused: its notes are the
    /// copy. A file that holds just that note was begun by an earlier run (one whose seal then found
    /// another instance sealing): run again, nothing is written twice.
    /// - Returns: the tree size of the note the file begins with; nil when nothing is signed yet (the first
    ///   seal begins the file).
    func startCheckpointFile(logger: Logger) async throws -> UInt64? {
        guard let path = checkpointFile else { return nil }
        // Its beginning, enough to hold one note: a longer file is a copy in use anyway.
        let held = try await CheckpointFileIO.run("read", path: path) { () throws -> Data? in
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            return try handle.read(upToCount: Self.outsideCopyTail) ?? Data()
        }
        let newest = try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                """
                SELECT tree_size, signed_note FROM audit_checkpoints WHERE signed_note IS NOT NULL
                ORDER BY tree_size DESC LIMIT 1
                """, logger: logger
            ).decode((Int64, String).self).first(where: { _ in true })
        }
        if let held, !held.isEmpty {
            guard let (treeSize, note) = newest, String(decoding: held, as: UTF8.self) == note + "\n" else {
                throw CheckpointFileInUse(path: path)
            }
            return UInt64(clamping: treeSize)
        }
        guard let (treeSize, note) = newest else { return nil }
        try await CheckpointFileIO.run("append to", path: path) { try Self.append(note, to: path) }
        await recordOutsideCopy(path, logger: logger)
        return UInt64(clamping: treeSize)
    }

    /// ``startCheckpointFile(logger:)`` refused: the file holds notes already.
    struct CheckpointFileInUse: Error, CustomStringConvertible {
        var path: String
        var description: String { "\(path) is not empty" }
    }

    /// ``newestNote(inTailOf:key:tail:logger:)`` on the checkpoint file's own threads, under their deadline.
    /// A file that cannot be read, or does not answer (a mount that hangs), fails the round: nothing is
    /// signed unchecked, and the failure is the outside copy's (``CheckpointFileUnusable``).
    static func newestOutsideNote(_ path: String, key: NoteVerifierKey, logger: Logger) async throws -> OutsideCopy {
        do {
            return try await CheckpointFileIO.run("read the tail of", path: path) {
                try newestNote(inTailOf: path, key: key, logger: logger)
            }
        } catch let unusable as CheckpointFileUnusable {
            throw unusable
        } catch {
            throw CheckpointFileUnusable(path: path, call: "read the tail of", cause: .failed("\(error)"))
        }
    }

    /// The note of `key` with the largest tree size in the last `tail` bytes of `path`; ``OutsideCopy/empty``
    /// when there is no file or nothing in it, ``OutsideCopy/noNoteOfKey`` when none of its notes is this
    /// key's (then logged: the outside copy is not checked). The note cut
    /// by the tail's start is dropped (``CheckpointFile/notes(inTail:)``). Signatures are checked from the
    /// largest size down until one holds: one verification per batch, not one per note in the tail.
    static func newestNote(
        inTailOf path: String, key: NoteVerifierKey, tail: Int = outsideCopyTail, logger: Logger
    ) throws -> OutsideCopy {
        guard FileManager.default.fileExists(atPath: path) else { return .empty }
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let end = try handle.seekToEnd()
        guard end > 0 else { return .empty }
        let cut = end > UInt64(tail)
        try handle.seek(toOffset: cut ? end - UInt64(tail) : 0)
        let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        let notes = cut ? CheckpointFile.notes(inTail: text) : CheckpointFile.notes(in: text)
        let candidates = notes.compactMap { note -> (SignedNote, Checkpoint)? in
            guard let signed = try? SignedNote(parsing: note), let checkpoint = try? Checkpoint(noteText: signed.text)
            else { return nil }
            return (signed, checkpoint)
        }
        guard !candidates.isEmpty else { return .empty }
        guard
            let newest = candidates.sorted(by: { $0.1.treeSize > $1.1.treeSize })
                .first(where: { key.verify($0.0) == .verified })?.1
        else {
            logger.warning(
                "the checkpoint file holds no note of this key that verifies: the outside copy is not checked",
                metadata: ["audit.checkpoint_file": "\(path)", "audit.key": "\(key.keyName)"])
            return .noNoteOfKey
        }
        return .note(newest)
    }

    /// The sealer's refusal to extend a history that differs from the outside copy.
    struct HistoryRewritten: Error, CustomStringConvertible {
        var path: String
        var outside: Checkpoint
        /// The root of the database's checkpoint of the outside note's size; nil: it has none.
        var databaseRoot: SHA256Hash?
        var databaseTreeSize: UInt64
        var databaseRootHash: SHA256Hash

        /// The database's log ends before the outside copy's newest note: restored from a backup older
        /// than it (the usual cause), or its tail cut off. Either way the signed events after its end
        /// are gone; told apart from a history that differs where both reach, which only a rewrite makes.
        var isBehind: Bool { databaseRoot == nil && databaseTreeSize < outside.treeSize }

        /// The log line's message: the same for every round of one refusal.
        var headline: String {
            isBehind
                ? "refusing to seal: the database's log ends before the outside copy of the checkpoints (restored from a backup?)"
                : "refusing to seal: the database's history differs from the outside copy of the checkpoints"
        }

        var metadata: Logger.Metadata {
            [
                "audit.checkpoint_file": "\(path)", "outside.tree_size": "\(outside.treeSize)",
                "outside.root": "\(outside.rootHash.base64)",
                "database.root_at_that_size": "\(databaseRoot?.base64 ?? "none")",
                "database.tree_size": "\(databaseTreeSize)", "database.root": "\(databaseRootHash.base64)",
            ]
        }

        var description: String {
            let check = "nothing is sealed until it is explained (freigabe audit verify --checkpoint \(path))"
            guard !isBehind else {
                return "the checkpoint of tree size \(outside.treeSize) in \(path) is beyond the database's log, "
                    + "which ends at \(databaseTreeSize) events: the database was restored from an older backup "
                    + "or its tail was cut off, and the signed events after it are gone; " + check
                    + " (README: \"Restoring the database from a backup\")"
            }
            return
                "the checkpoint of tree size \(outside.treeSize) in \(path) has the root \(outside.rootHash.base64), "
                + "the database's "
                + (databaseRoot.map { "has \($0.base64)" } ?? "has no checkpoint of that size")
                + " (its tree has \(databaseTreeSize) events): the log in the database was rewritten; " + check
        }
    }

    private static func latestFrontier(
        on connection: PostgresConnection, logger: Logger
    ) async throws
        -> MerkleFrontier
    {
        let rows = try await connection.query(
            "SELECT frontier::text FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1", logger: logger)
        for try await text in rows.decode(String.self) {
            return try StoredJSON.decode(MerkleFrontier.self, from: text)
        }
        return MerkleFrontier()
    }

    private static func unsealedEvents(
        on connection: PostgresConnection, logger: Logger
    ) async throws
        -> [AuditEventRow]
    {
        // The window's start is read first and bound as a value: inside the statement (a sub-select) its
        // value is unknown when PostgreSQL plans, and the plan it chose then hashed every seal of the log
        // for the anti-join, 0.9 s a batch at 3 million events and growing with the log. With the value
        // bound, both sides are index ranges of the window (7 ms at 3 million).
        let newest = try await connection.query(
            "SELECT coalesce(max(event_row), 0) FROM audit_seals", logger: logger
        ).decode(Int64.self).first(where: { _ in true })
        let floor = (newest ?? 0) - lookBehind
        let rows = try await connection.query(
            """
            SELECT \(unescaped: AuditEventRow.columns) FROM audit_events e
            WHERE e.id > \(floor)
              AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id AND s.event_row > \(floor))
            ORDER BY e.id
            LIMIT \(batchSize)
            """, logger: logger)
        var events: [AuditEventRow] = []
        for try await row in rows {
            var cells = RowCursor(row)
            events.append(try AuditEventRow(&cells))
        }
        return events
    }

    /// Appends one note with one `write(2)` on a descriptor opened with `O_APPEND`: the kernel puts each
    /// write at the file's end, so a `freigabe audit seal` beside the server never writes over the
    /// other's note, as a seek to the end and a write could. (A network file system does not keep that
    /// promise: instances sharing the file append under the sealing lock, see ``sealBatch(now:logger:)``.)
    ///
    /// On a full disk the write may be short: the fragment would run into the next note and break every
    /// later offline check of the file. So a short write is cut off again (`ftruncate` to where it
    /// began, at least the size before) and reported; the next checkpoint covers everything before it.
    /// Errors name the call and the system's reason (`strerror`). `writeBytes` is `write(2)` but for
    /// the tests, which cannot fill a disk.
    static func append(
        _ note: String, to path: String,
        writeBytes: (Int32, UnsafeRawBufferPointer) -> Int = { write($0, $1.baseAddress, $1.count) }
    ) throws(CheckpointFileError) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointFileError(path: path, call: "open", code: errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw CheckpointFileError(path: path, call: "fstat", code: errno)
        }
        let sizeBefore = status.st_size
        // Notes end with their signature lines; a blank line separates one checkpoint from the next.
        let bytes = Array((note + "\n").utf8)
        var written: Int
        var code: Int32 = 0
        repeat {
            written = bytes.withUnsafeBytes { writeBytes(descriptor, $0) }
            code = written < 0 ? errno : 0
        } while written < 0 && code == EINTR
        guard written == bytes.count else {
            if written > 0 {
                // With O_APPEND the offset is now the end of this write: it began `written` bytes before.
                let end = lseek(descriptor, 0, SEEK_CUR)
                let start = end >= off_t(written) ? max(end - off_t(written), sizeBefore) : sizeBefore
                var truncated: Int32
                repeat { truncated = ftruncate(descriptor, start) } while truncated != 0 && errno == EINTR
                if truncated != 0 {
                    throw CheckpointFileError(path: path, call: "ftruncate after a short write", code: errno)
                }
            }
            throw CheckpointFileError(
                path: path, call: written < 0 ? "write" : "write (\(written) of \(bytes.count) bytes)",
                code: written < 0 ? code : nil)
        }
        guard fsync(descriptor) == 0 else { throw CheckpointFileError(path: path, call: "fsync", code: errno) }
    }
}

/// Why a checkpoint could not be appended to `audit.checkpoint_file`: the call that failed and the
/// system's reason, e.g. "write /srv/checkpoints.txt: No space left on device".
struct CheckpointFileError: Error, Sendable, Hashable, CustomStringConvertible {
    var path: String
    var call: String
    /// `errno`; nil for a short write, which sets none.
    var code: Int32?

    var description: String {
        "\(call) \(path): "
            + (code.map { String(cString: strerror($0)) } ?? "only part was written (disk full?); it was cut off again")
    }
}

/// The seals of one batch, inserted in one statement.
private struct SealRows {
    var rows: [Int64] = []
    var sequences: [Int64] = []
    var ids: [UUID] = []
    var salts: [String] = []
    var leafHashes: [String] = []

    mutating func append(row: Int64, event: AuditLog.AuditEvent, salt: [UInt8], leafHash: SHA256Hash) {
        rows.append(row)
        sequences.append(Int64(event.sequence))
        ids.append(event.id)
        salts.append(Data(salt).base64EncodedString())
        leafHashes.append(leafHash.base64)
    }

    func insert(sealedAt: Date) -> PostgresQuery {
        """
        INSERT INTO audit_seals (sequence, event_row, event_id, format_version, payload_salt, leaf_hash, sealed_at)
        SELECT s.sequence, s.event_row, s.event_id, \(Int16(AuditEventEncoder.formatVersion)),
               decode(s.salt, 'base64'), decode(s.leaf_hash, 'base64'), \(sealedAt)
        FROM unnest(\(sequences)::bigint[], \(rows)::bigint[], \(ids)::uuid[], \(salts)::text[], \(leafHashes)::text[])
            AS s(sequence, event_row, event_id, salt, leaf_hash)
        """
    }
}
