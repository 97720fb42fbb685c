import Foundation

/// Checks a log, or an export of its tail, against signed checkpoints and reports the first fault.
///
/// In this order: every checkpoint (a signed note by the trusted key, a checkpoint of this log, each
/// extending the one before); then the events in log order (encoding format, sequence without gaps,
/// payload against its hash, event against its recorded leaf hash), and whenever the events reach a
/// checkpoint's size, that the tree over them has the checkpoint's root. Events after the last
/// checkpoint are checked for everything but the root; ``VerificationSummary`` says how many.
///
/// One pass, O(log n) memory: events may come from a stream.
public struct LogVerifier: Sendable {
    /// The keys a checkpoint may be signed by: the signing key and those it replaced.
    public let keys: TrustedKeys
    /// The origin line every checkpoint must carry; by default the keys' name, as the spec advises.
    public let origin: String
    /// Whether every erasure marker must be on record as a `payloads_redacted` event in the events read
    /// (``LogVerification``'s erasure check). True for a log or export whose markers are text anyone
    /// could write. The database's `audit verify` turns it off: there a marker is a row of the
    /// append-only `audit_redactions`, checked against its `payloads_redacted` event by SQL, and that
    /// event may not be sealed yet in the second after an erasure.
    public var requiresErasureRecords = true

    public init(key: NoteVerifierKey, origin: String? = nil) {
        self.init(keys: TrustedKeys(key), origin: origin)
    }

    public init(keys: TrustedKeys, origin: String? = nil) {
        self.keys = keys
        self.origin = origin ?? keys.logName
    }

    /// - Parameters:
    ///   - events: In log order, starting at position `start.size`.
    ///   - checkpoints: In the order they were made (non-decreasing sizes).
    ///   - start: The tree before the first event: empty for a whole log; for an export, the frontier
    ///     the export carries, which is trusted only as far as a checkpoint's root confirms it.
    public func verify(
        events: some Sequence<VerifiableEvent>, checkpoints records: [CheckpointRecord],
        start: MerkleFrontier = MerkleFrontier()
    ) -> Result<VerificationSummary, VerificationFailure> {
        var verification: LogVerification
        switch begin(checkpoints: records, start: start) {
        case .success(let begun): verification = begun
        case .failure(let failure): return .failure(failure)
        }
        for verifiable in events {
            if let failure = verification.check(verifiable) { return .failure(failure) }
        }
        return verification.finish()
    }

    /// The same checks one event at a time, for a caller that reads the events in batches (the
    /// database's `audit verify`, which must not hold the whole log): checks the checkpoints, then
    /// give each event to ``LogVerification/check(_:)`` and end with ``LogVerification/finish()``.
    public func begin(
        checkpoints records: [CheckpointRecord], start: MerkleFrontier = MerkleFrontier()
    ) -> Result<LogVerification, VerificationFailure> {
        switch readCheckpoints(records) {
        case .success(let checkpoints):
            var verification = LogVerification(checkpoints: checkpoints, start: start)
            verification.requiresErasureRecords = requiresErasureRecords
            if let failure = verification.checkReachedCheckpoints() { return .failure(failure) }
            return .success(verification)
        case .failure(let failure):
            return .failure(failure)
        }
    }

    /// Signature, origin and form of each checkpoint, then each against the one before.
    func readCheckpoints(_ records: [CheckpointRecord]) -> Result<[Checkpoint], VerificationFailure> {
        var checkpoints: [Checkpoint] = []
        for (index, record) in records.enumerated() {
            let note: SignedNote
            do throws(NoteFormatError) {
                note = try SignedNote(parsing: record.signedNote)
            } catch {
                return .failure(.checkpointUnreadable(checkpoint: index, reason: error.description))
            }
            switch keys.verify(note) {
            case .verified: break
            case .noSignatureFromKey: return .failure(.checkpointNotSignedByKey(checkpoint: index))
            case .invalidSignature: return .failure(.checkpointSignatureInvalid(checkpoint: index))
            }
            let checkpoint: Checkpoint
            do throws(CheckpointFormatError) {
                checkpoint = try Checkpoint(noteText: note.text)
            } catch {
                return .failure(.checkpointUnreadable(checkpoint: index, reason: error.description))
            }
            guard checkpoint.origin == origin else {
                return .failure(.checkpointOriginMismatch(checkpoint: index, origin: checkpoint.origin))
            }
            if let previous = checkpoints.last,
                let failure = Self.checkExtension(
                    checkpoint, of: previous, index: index, proof: record.consistencyProof)
            {
                return .failure(failure)
            }
            checkpoints.append(checkpoint)
        }
        return .success(checkpoints)
    }

    private static func checkExtension(
        _ checkpoint: Checkpoint, of previous: Checkpoint, index: Int, proof: [SHA256Hash]?
    ) -> VerificationFailure? {
        guard checkpoint.treeSize >= previous.treeSize else {
            return .checkpointShrinks(
                checkpoint: index, treeSize: checkpoint.treeSize, previousTreeSize: previous.treeSize)
        }
        let inconsistent = VerificationFailure.checkpointInconsistent(
            checkpoint: index, treeSize: checkpoint.treeSize, previousTreeSize: previous.treeSize)
        if checkpoint.treeSize == previous.treeSize {
            return checkpoint.rootHash == previous.rootHash ? nil : inconsistent
        }
        // Every tree extends the empty one; without a proof the events decide.
        guard let proof, previous.treeSize > 0 else { return nil }
        let consistent = MerkleProofVerifier.verifyConsistency(
            oldSize: previous.treeSize, newSize: checkpoint.treeSize, oldRoot: previous.rootHash,
            newRoot: checkpoint.rootHash, proof: proof)
        return consistent ? nil : inconsistent
    }
}

/// One pass of ``LogVerifier`` over the events, fed one at a time: O(log n) memory whatever the
/// log's size.
public struct LogVerification: Sendable {
    private let checkpoints: [Checkpoint]
    private let startSize: UInt64
    private var frontier: MerkleFrontier
    private var encoder = AuditEventEncoder()
    private var payloadBuffer = ByteWriter()
    private var redacted: UInt64 = 0
    private var redactions: [Redaction: UInt64] = [:]
    /// Where the events of each erasure named by the events' markers lie.
    private var erasedEvents: [Redaction: ErasedEvents] = [:]
    /// The `payloads_redacted` events of the log, by the erasure they record (their time and actor).
    private var erasureRecords: [Redaction: [ErasureRecord]] = [:]
    /// ``LogVerifier/requiresErasureRecords``.
    fileprivate var requiresErasureRecords = true
    private var lastVerifiedSize: UInt64
    /// The next checkpoint the events have not reached; those below the start are covered by the
    /// consistency checks alone.
    private var next: Int

    init(checkpoints: [Checkpoint], start: MerkleFrontier) {
        self.checkpoints = checkpoints
        startSize = start.size
        frontier = start
        lastVerifiedSize = start.size
        next = checkpoints.firstIndex { $0.treeSize >= start.size } ?? checkpoints.endIndex
    }

    /// The events so far: the position the next event must have.
    public var size: UInt64 { frontier.size }

    /// Checks the event at the next position; the first failure ends the pass (later calls are not
    /// meaningful).
    public mutating func check(_ verifiable: VerifiableEvent) -> VerificationFailure? {
        let position = frontier.size
        guard verifiable.formatVersion == AuditEventEncoder.formatVersion else {
            return .unsupportedFormatVersion(position: position, version: verifiable.formatVersion)
        }
        guard verifiable.event.sequence == position else {
            return .sequenceMismatch(position: position, found: verifiable.event.sequence)
        }
        switch verifiable.payload {
        case .present(let payload):
            guard payload.hash(reusing: &payloadBuffer) == verifiable.event.payloadHash else {
                return .payloadHashMismatch(position: position)
            }
            if verifiable.event.type == ErasureRecord.eventType,
                let record = ErasureRecord(payload, at: position, occurredAt: verifiable.event.occurredAt)
            {
                // The database's `audit verify` compares the erasure's row with the signed clock itself.
                if requiresErasureRecords, let failure = signedClockProblem(of: record) { return failure }
                erasureRecords[
                    Redaction(redactedAt: verifiable.event.occurredAt, redactedBy: verifiable.event.actor ?? ""),
                    default: []
                ].append(record)
            }
        case .redacted(let redaction):
            redacted += 1
            redactions[redaction, default: 0] += 1
            erasedEvents[redaction, default: ErasedEvents(first: position, at: verifiable.event.occurredAt)]
                .add(position, at: verifiable.event.occurredAt)
        }
        let leafHash = encoder.leafHash(of: verifiable.event)
        if let recorded = verifiable.recordedLeafHash, recorded != leafHash {
            return .leafHashMismatch(position: position)
        }
        frontier.append(leafHash: leafHash)
        return checkReachedCheckpoints()
    }

    /// The event at the next position, whose line the caller has read whole (``CanonicalEventLineReader``:
    /// canonical, payload and recorded leaf hash checked): what is left of ``check(_:)`` is its place in
    /// the sequence and the tree.
    mutating func check(_ line: CanonicalEventLine) -> VerificationFailure? {
        let position = frontier.size
        guard line.sequence == position else { return .sequenceMismatch(position: position, found: line.sequence) }
        frontier.append(leafHash: line.leafHash)
        return checkReachedCheckpoints()
    }

    /// The event at the next position, whose leaf ``StoredEventEncoder`` recomputed from the stored row
    /// and found equal to the recorded one (format version 1, payload present and hashed): what is left
    /// of ``check(_:)-(VerifiableEvent)`` is its place in the sequence and the tree.
    public mutating func check(_ leaf: RecomputedLeaf) -> VerificationFailure? {
        let position = frontier.size
        guard leaf.sequence == position else { return .sequenceMismatch(position: position, found: leaf.sequence) }
        frontier.append(leafHash: leaf.leafHash)
        return checkReachedCheckpoints()
    }

    /// After the last event: no checkpoint may be larger than the log, and every erasure the events'
    /// markers name is on record in the log (``erasureProblem()``).
    public func finish() -> Result<VerificationSummary, VerificationFailure> {
        if next < checkpoints.endIndex {
            return .failure(
                .logShorterThanCheckpoint(
                    checkpoint: next, treeSize: checkpoints[next].treeSize, eventCount: frontier.size))
        }
        if let problem = erasureProblem() { return .failure(problem) }
        return .success(
            VerificationSummary(
                startSize: startSize, treeSize: frontier.size, rootHash: frontier.rootHash,
                checkpointCount: checkpoints.count, coveredSize: lastVerifiedSize, latestCheckpoint: checkpoints.last,
                redactedEventCount: redacted, redactions: redactions,
                erasureRecords: erasureRecords.values.flatMap { $0 }.sorted { $0.position < $1.position }))
    }

    /// An erasure marker is only text beside the event: anyone who controls a copy of the log could
    /// replace a payload by one. What is signed is the `payloads_redacted` event `audit redact` appends
    /// (at the very time the marker states, by the uid it names, with the count of events it erased in
    /// its payload, which is never erased). Every marker must name such an event after all the events it
    /// marks, and that event's count must be theirs; read from a later frontier (an export's tail), some
    /// of the events it erased may lie before the start, so there it must be at least theirs.
    ///
    /// The count alone would let whoever controls the database erase yesterday's rejection reason and
    /// append a record of their own. So the record must also state the cut-off and the retention period
    /// (`erased_before`, `retention_years`, as `audit_redact` writes them), the cut-off must lie at least
    /// the retention period before the record (``ErasureRecord/cutOffProblem``), and every event the
    /// erasure marks must have happened before the cut-off.
    private func erasureProblem() -> VerificationFailure? {
        guard requiresErasureRecords else { return nil }
        for (redaction, events) in erasedEvents.sorted(by: { $0.value.first < $1.value.first }) {
            let records = erasureRecords[redaction] ?? []
            guard let recorded = records.last, recorded.position > events.last else {
                return .erasureNotRecorded(position: events.first)
            }
            for record in records {
                if let problem = record.cutOffProblem { return problem }
            }
            // Several records of one erasure (same time and uid) are not written by `audit_redact`; should
            // there be any, the latest cut-off among them is the most any of them allowed.
            let cutOff = records.compactMap(\.erasedBefore).max()
            if let cutOff, events.latest >= cutOff {
                return .erasedAfterCutOff(position: events.latestPosition, erasedBefore: cutOff)
            }
            let stated = records.reduce(UInt64(0)) { $0 + $1.eventCount }
            let marked = redactions[redaction] ?? 0
            guard stated == marked || (startSize > 0 && marked < stated) else {
                return .erasureCountMismatch(position: recorded.position, recorded: stated, marked: marked)
            }
        }
        return nil
    }

    /// An erasure's record dated after the signer's clock: the time of a `payloads_redacted` event is the
    /// database's (`now()` in `audit_redact`), and whoever controls the database can write another one,
    /// twenty years ahead, with a cut-off ten years ahead: then its retention check passes and it may mark
    /// last month's events. The `time` of the first checkpoint that covers the record is the sealer's,
    /// signed with a key the database owner does not hold, and the sealer seals events after they are
    /// written: a record dated later than that (``ErasureRecord/slack`` for the clocks) was forged. A
    /// record no checkpoint covers yet, or one whose checkpoint states no time, is not held to it.
    private func signedClockProblem(of record: ErasureRecord) -> VerificationFailure? {
        guard let index = checkpoints[next...].firstIndex(where: { $0.treeSize > record.position }),
            let signedAt = checkpoints[index].time
        else { return nil }
        guard !ErasureRecord.isDated(record.occurredAt, after: signedAt) else {
            return .erasureAfterCheckpoint(
                position: record.position, occurredAt: record.occurredAt, checkpoint: index, signedAt: signedAt)
        }
        return nil
    }

    fileprivate mutating func checkReachedCheckpoints() -> VerificationFailure? {
        guard next < checkpoints.endIndex, checkpoints[next].treeSize == frontier.size else { return nil }
        let root = frontier.rootHash
        while next < checkpoints.endIndex, checkpoints[next].treeSize == frontier.size {
            guard checkpoints[next].rootHash == root else {
                return .rootMismatch(checkpoint: next, treeSize: frontier.size, lastVerifiedSize: lastVerifiedSize)
            }
            next += 1
        }
        lastVerifiedSize = frontier.size
        return nil
    }
}

/// What a successful verification covered.
public struct VerificationSummary: Sendable, Hashable {
    /// The position of the first event checked (0 for a whole log).
    public var startSize: UInt64
    /// The position after the last event checked.
    public var treeSize: UInt64
    /// The root over all events checked (with the start frontier).
    public var rootHash: SHA256Hash
    /// How many checkpoints verified (signature, origin, extension).
    public var checkpointCount: Int
    /// The events up to here match a signed checkpoint root.
    public var coveredSize: UInt64
    public var latestCheckpoint: Checkpoint?
    /// Events whose payload was erased; their hash was taken on trust of the tree.
    public var redactedEventCount: UInt64
    /// Each erasure and how many of the events it erased (an erasure covers everything before a date, so
    /// there are few).
    public var redactions: [Redaction: UInt64] = [:]
    /// The `payloads_redacted` events checked, in the log's order: each erasure's cut-off and the
    /// retention period it states, for the reader to hold against the city's.
    public var erasureRecords: [ErasureRecord] = []

    /// Events after the last checkpoint: checked for form and sequence, but nothing signed covers them
    /// yet.
    public var uncoveredEventCount: UInt64 { treeSize - coveredSize }
}

/// The first and last position of the events one erasure marker names, and the newest of them.
private struct ErasedEvents {
    var first: UInt64
    var last: UInt64
    /// The latest `occurred_at` of these events, and where that event is.
    var latest: AuditTimestamp
    var latestPosition: UInt64

    init(first: UInt64, at time: AuditTimestamp) {
        self.first = first
        self.last = first
        self.latest = time
        self.latestPosition = first
    }

    mutating func add(_ position: UInt64, at time: AuditTimestamp) {
        last = position
        if time > latest {
            latest = time
            latestPosition = position
        }
    }
}

/// A `payloads_redacted` event: where it is, when it was written, how many events it says it erased and
/// the cut-off and retention period it erased by (its payload's `details`, written by the database
/// function `audit_redact`). The database's `audit verify` reads its events' details with it too: one
/// rule for both.
public struct ErasureRecord: Sendable, Hashable {
    public static let eventType = "payloads_redacted"

    public var position: UInt64
    public var occurredAt: AuditTimestamp
    public var eventCount: UInt64
    /// `details.erased_before`; nil when missing or not a time.
    public var erasedBefore: AuditTimestamp?
    /// `details.retention_years`; nil when missing.
    public var retentionYears: Int?

    /// nil when the payload holds no count (then the erasure it would record is not on record).
    init?(_ payload: AuditPayload, at position: UInt64, occurredAt: AuditTimestamp) {
        guard let text = payload.fields["details"] else { return nil }
        self.init(details: text, at: position, occurredAt: occurredAt)
    }

    /// From the event's `details` as JSON text; nil when it holds no count.
    public init?(details text: String, at position: UInt64, occurredAt: AuditTimestamp) {
        struct Details: Decodable {
            var event_count: UInt64
            var erased_before: String?
            var retention_years: Int?
        }
        guard let details = try? JSONDecoder().decode(Details.self, from: Data(text.utf8)) else { return nil }
        self.position = position
        self.occurredAt = occurredAt
        self.eventCount = details.event_count
        self.erasedBefore = details.erased_before.flatMap(AuditTimestamp.init(jsonTimestamp:))
        self.retentionYears = details.retention_years
    }

    /// What is wrong with the cut-off the record states: none or none readable, no retention period or
    /// one outside 1–100 years (what `audit_redact` accepts), or a cut-off within the retention period
    /// before the record, which also covers a cut-off after it (an erasure cannot reach events that
    /// happen after it). The database subtracts the years in its session's time zone; a day's slack
    /// takes in what that, and a 29 February, can move.
    public var cutOffProblem: VerificationFailure? {
        guard let erasedBefore, let retentionYears, Self.retentionYearsRange.contains(retentionYears) else {
            return .erasureCutOffMissing(position: position)
        }
        let latestAllowed = occurredAt.subtractingYears(retentionYears)
        guard erasedBefore <= occurredAt,
            erasedBefore.microsecondsSinceEpoch <= latestAllowed.microsecondsSinceEpoch + Self.slack
        else {
            return .erasureWithinRetention(
                position: position, erasedBefore: erasedBefore, retentionYears: retentionYears)
        }
        return nil
    }

    /// One day in microseconds.
    public static let slack: Int64 = 86_400_000_000

    /// Whether an erasure dated `time` lies more than ``slack`` after `signedAt`, the signed time of a
    /// checkpoint whose tree holds it: the sealer signed before the time the erasure claims, so that
    /// time was forged. The one rule of the online check, the complete export's and the filtered one's.
    public static func isDated(_ time: AuditTimestamp, after signedAt: AuditTimestamp) -> Bool {
        time.microsecondsSinceEpoch > signedAt.microsecondsSinceEpoch + slack
    }

    /// The retention periods, in years, `audit_redact` accepts.
    public static let retentionYearsRange = 1...100
}
