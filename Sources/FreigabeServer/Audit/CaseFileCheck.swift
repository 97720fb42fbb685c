import AuditLog
import Foundation
import Logging
import PostgresNIO

/// The proof behind one request's Verfahrensakte: each of its sealed events still encodes to the leaf
/// hash recorded at sealing, and lies in the tree the newest signed checkpoint commits to (an inclusion
/// proof from the stored leaf hashes, checked against the checkpoint's root); events sealed after that
/// checkpoint, and events not sealed yet, are named as such.
///
/// The checkpoint's signature is not checked here: the server holds the signing key, so only the public
/// key and a checkpoint kept outside the database can show that the stored ones were not replaced
/// (`freigabe audit verify`, README "Für Prüfer"). The page prints the checkpoint for that comparison.
struct CaseFileCheck: Sendable {
    let query: AuditQuery
    /// An event unsealed for longer than this means the sealing has stopped (the grace `audit verify` and
    /// `/api/v1/ready` allow, ``AuditVerification/defaultSealingGrace``).
    var sealingGrace: Duration = AuditVerification.defaultSealingGrace

    /// How one event stands.
    enum EventStatus: Sendable, Hashable {
        /// Encodes to its recorded leaf hash and lies in the checkpoint's tree.
        case proven
        /// Encodes to its recorded leaf hash; sealed after the newest signed checkpoint.
        case sealedAfterCheckpoint
        /// The row as stored now encodes to another leaf than the one sealed: it was changed.
        case changedSinceSealing
        /// The recorded leaf hash does not lead to the checkpoint's root: the stored tree was changed.
        case notInCheckpoint
        /// Encodes to its recorded leaf hash, but the newest signed checkpoint cannot be read (or
        /// contradicts its row), so nothing proves it is in the tree.
        case checkpointUnreadable
    }

    /// The newest signed checkpoint as stored.
    enum CheckpointState: Sendable {
        /// None signed yet (no `audit.key_file`, or the sealer has not run).
        case none
        /// The signed note, with its parsed content, whose tree size is the row's.
        case readable(note: String, content: Checkpoint)
        /// There is one, but its note is not a signed checkpoint, or it names another tree size than its
        /// row: the stored checkpoints were changed. Not "none yet": nothing can be proven with it.
        case unreadable(note: String)
    }

    struct Result: Sendable {
        var events: [(event: SealedEvent, status: EventStatus)]
        /// The newest signed checkpoint as stored (C2SP signed note), with its parsed content.
        var checkpoint: CheckpointState
        /// Events of the request written but not sealed yet (the sealer runs every second), reads
        /// (`audit_read`) left out: the read that opened this page is always among them.
        var unsealedCount: Int
        /// Of those, the events written longer than the sealing grace ago: the sealer has stopped or refuses.
        var overdueCount = 0
        /// More events than one page holds: only the first ``CaseFileCheck/maximumEvents`` are checked.
        var truncated: Bool
        /// The request's last submission or resubmission, checked like ``events``, read on its own so that
        /// a cut list never hides it (what was asked is shown from it).
        var lastSubmission: (event: SealedEvent, status: EventStatus)?
        /// How often auditors and administrators read the request (`audit_read`, this read included): those
        /// events are counted, not listed, so that reading a request never pushes its decisions off the page.
        var readCount = 0
        /// The request's row is gone (the tables' owner deleted it) while its events remain: only the log
        /// knows the request, and that is a finding (`audit verify` names it too).
        var rowMissing = false

        var holds: Bool {
            if case .unreadable = checkpoint { return false }
            return events.allSatisfy { $0.status == .proven || $0.status == .sealedAfterCheckpoint }
        }
    }

    static let maximumEvents = AuditQuery.maximumPageSize

    /// The events listed: what the engine and the security checks logged, not who read the request.
    static let listedEvents = AuditEvent.allCases.filter { $0 != .auditRead }

    func check(request id: UUID, logger: Logger) async throws -> Result {
        var filter = AuditFilter()
        filter.requestID = id
        filter.eventTypes = Self.listedEvents
        let page = try await query.page(filter, limit: Self.maximumEvents, logger: logger)
        filter.eventTypes = [.submitted, .resubmitted]
        let submission = try await query.page(filter, limit: 1, order: .newest, logger: logger).events.first
        let unsealed = try await query.unsealedCount(request: id, grace: sealingGrace, logger: logger)
        let reads = try await query.readCount(request: id, logger: logger)
        let rowMissing = try await !query.requestRowExists(id, logger: logger)
        // The submission is proven with the listed events, against the same tree (read once).
        let extra = submission.map { [$0] } ?? []
        var result = try await check(
            page: AuditPage(events: page.events + extra, nextAfter: page.nextAfter), unsealed: unsealed.count,
            logger: logger)
        result.overdueCount = unsealed.overdue
        if !extra.isEmpty { result.lastSubmission = result.events.removeLast() }
        result.readCount = reads
        result.rowMissing = rowMissing
        return result
    }

    /// Each event of `page` against its leaf hash and the newest signed checkpoint.
    private func check(page: AuditPage, unsealed: Int, logger: Logger) async throws -> Result {
        var checkpoint = CheckpointState.none
        var proofs: ProofSource?
        if let (treeSize, note) = try await query.latestSignedCheckpoint(logger: logger) {
            guard let content = try? Checkpoint(noteText: try SignedNote(parsing: note).text),
                content.treeSize == treeSize
            else {
                checkpoint = .unreadable(note: note)
                return Result(
                    events: page.events.map { event in
                        (event, Self.leafHolds(event) ? .checkpointUnreadable : .changedSinceSealing)
                    }, checkpoint: checkpoint, unsealedCount: unsealed, truncated: page.nextAfter != nil)
            }
            checkpoint = .readable(note: note, content: content)
            if page.events.contains(where: { $0.sequence < treeSize }) {
                let tree = try await query.tiledTree(size: treeSize, logger: logger)
                // A stored tree that does not rebuild the signed root proves nothing about any event.
                if tree.size == treeSize, try tree.rootHash == content.rootHash {
                    proofs = ProofSource(tree: tree, query: query)
                }
            }
        }
        var events: [(event: SealedEvent, status: EventStatus)] = []
        for event in page.events {
            guard Self.leafHolds(event) else {
                events.append((event, .changedSinceSealing))
                continue
            }
            guard case .readable(_, let content) = checkpoint, event.sequence < content.treeSize else {
                events.append((event, .sealedAfterCheckpoint))
                continue
            }
            guard let proofs,
                let proof = try? await proofs.proof(for: event.sequence, logger: logger),
                MerkleProofVerifier.verifyInclusion(
                    leafHash: event.leafHash, index: event.sequence, treeSize: content.treeSize, proof: proof,
                    rootHash: content.rootHash)
            else {
                events.append((event, .notInCheckpoint))
                continue
            }
            events.append((event, .proven))
        }
        return Result(
            events: events, checkpoint: checkpoint, unsealedCount: unsealed, truncated: page.nextAfter != nil)
    }

    /// The event as stored now encodes to the leaf hash recorded when it was sealed.
    static func leafHolds(_ event: SealedEvent) -> Bool {
        var encoder = AuditEventEncoder()
        return encoder.leafHash(of: event.leaf) == event.leafHash
    }
}

extension AuditQuery {
    /// Events of request `id` that have no place in the tree yet, reads (`audit_read`) left out: the
    /// Verfahrensakte records its own read just before it asks; and how many of them were written more
    /// than `grace` ago (by the database's clock, as `audit verify` counts them).
    /// (Each read below goes through the store's deadlines, ``Database/read(_:logger:_:)``: a dead
    /// database makes the Verfahrensakte a quick 503, not a request that hangs.)
    func unsealedCount(request id: UUID, grace: Duration, logger: Logger) async throws -> (count: Int, overdue: Int) {
        let seconds = grace.seconds
        return try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT count(*), count(*) FILTER (WHERE e.recorded_at < now() - make_interval(secs => \(seconds)))
                FROM audit_events e
                WHERE e.request_id = \(id) AND e.event <> \(AuditEvent.auditRead.rawValue)
                  AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id)
                """, logger: logger)
            for try await (count, overdue) in rows.decode((Int, Int).self) { return (count, overdue) }
            return (0, 0)
        }
    }

    /// Whether request `id` has its row in `requests`.
    func requestRowExists(_ id: UUID, logger: Logger) async throws -> Bool {
        try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                "SELECT EXISTS (SELECT 1 FROM requests WHERE id = \(id))", logger: logger)
            for try await exists in rows.decode(Bool.self) { return exists }
            return false
        }
    }

    /// How often request `id` was read by auditors and administrators (`audit_read`), sealed or not.
    func readCount(request id: UUID, logger: Logger) async throws -> Int {
        try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT count(*) FROM audit_events e
                WHERE e.request_id = \(id) AND e.event = \(AuditEvent.auditRead.rawValue)
                """, logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}
