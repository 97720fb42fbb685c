/// The first thing found wrong, with where: an event's position in the log (= its expected sequence
/// number) or a checkpoint's index in the list given to the verifier.
///
/// The cases are precise so that the server can translate them; ``description`` is the English text.
public enum VerificationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    // Checkpoints, checked before any event: the signed statements everything else is measured by.
    /// Not a signed note or not a checkpoint.
    case checkpointUnreadable(checkpoint: Int, reason: String)
    /// No signature by the trusted key: signed with another key (or the wrong key was given).
    case checkpointNotSignedByKey(checkpoint: Int)
    /// The trusted key's signature does not verify: the checkpoint was changed or forged.
    case checkpointSignatureInvalid(checkpoint: Int)
    /// Signed, but for another log.
    case checkpointOriginMismatch(checkpoint: Int, origin: String)
    /// Smaller than the checkpoint before it: checkpoints only grow.
    case checkpointShrinks(checkpoint: Int, treeSize: UInt64, previousTreeSize: UInt64)
    /// Does not extend the checkpoint before it: another root at the same size, or its consistency
    /// proof fails. The log signed two histories.
    case checkpointInconsistent(checkpoint: Int, treeSize: UInt64, previousTreeSize: UInt64)

    // Events, in log order.
    /// The row claims an encoding format this verifier does not know.
    case unsupportedFormatVersion(position: UInt64, version: UInt8)
    /// The event at this position carries another sequence number: a gap (deleted event), a repeat or
    /// reordering (inserted or moved event), or an export that does not start where it says.
    case sequenceMismatch(position: UInt64, found: UInt64)
    /// The stored payload does not hash to the event's payload hash: the payload was changed.
    case payloadHashMismatch(position: UInt64)
    /// The event does not hash to the leaf hash stored when it was sealed: the event was changed.
    case leafHashMismatch(position: UInt64)
    /// The first `treeSize` events do not hash to the checkpoint's root. The events up to
    /// `lastVerifiedSize` matched earlier checkpoints, so the change lies in `lastVerifiedSize..<treeSize`.
    case rootMismatch(checkpoint: Int, treeSize: UInt64, lastVerifiedSize: UInt64)
    /// The checkpoint covers more events than the log has: the tail was cut off.
    case logShorterThanCheckpoint(checkpoint: Int, treeSize: UInt64, eventCount: UInt64)
    /// The event's payload is marked erased, but no `payloads_redacted` event after it records that
    /// erasure (its time and actor): the payload was replaced by a made-up marker.
    case erasureNotRecorded(position: UInt64)
    /// The `payloads_redacted` event at this position says it erased `recorded` events; `marked` events
    /// carry its marker.
    case erasureCountMismatch(position: UInt64, recorded: UInt64, marked: UInt64)
    /// The `payloads_redacted` event at this position names no readable cut-off (`erased_before`) or no
    /// retention period of 1 to 100 years (`retention_years`): nothing says the erasure waited for it.
    case erasureCutOffMissing(position: UInt64)
    /// The `payloads_redacted` event at this position states a cut-off within the retention period before
    /// itself (or after itself): payloads still to be kept were erased.
    case erasureWithinRetention(position: UInt64, erasedBefore: AuditTimestamp, retentionYears: Int)
    /// The event at this position carries the marker of an erasure whose cut-off it did not happen
    /// before: a payload the erasure did not reach was erased.
    case erasedAfterCutOff(position: UInt64, erasedBefore: AuditTimestamp)
    /// The `payloads_redacted` event at this position is dated `occurredAt`, more than a day after
    /// `signedAt`, the signed time of checkpoint `checkpoint`, the first to cover it: the sealer signed it
    /// before the time it claims. Its date, and with it the retention it measures, was forged.
    case erasureAfterCheckpoint(position: UInt64, occurredAt: AuditTimestamp, checkpoint: Int, signedAt: AuditTimestamp)

    /// Where the fault is, for reports and tests.
    public var location: Location {
        switch self {
        case .checkpointUnreadable(let index, _), .checkpointNotSignedByKey(let index),
            .checkpointSignatureInvalid(let index), .checkpointOriginMismatch(let index, _),
            .checkpointShrinks(let index, _, _), .checkpointInconsistent(let index, _, _):
            .checkpoint(index)
        case .unsupportedFormatVersion(let position, _), .sequenceMismatch(let position, _),
            .payloadHashMismatch(let position), .leafHashMismatch(let position):
            .event(position)
        case .rootMismatch(_, let treeSize, let lastVerifiedSize):
            .eventRange(lastVerifiedSize..<treeSize)
        case .logShorterThanCheckpoint(_, _, let eventCount):
            .event(eventCount)
        case .erasureNotRecorded(let position), .erasureCountMismatch(let position, _, _),
            .erasureCutOffMissing(let position), .erasureWithinRetention(let position, _, _),
            .erasedAfterCutOff(let position, _), .erasureAfterCheckpoint(let position, _, _, _):
            .event(position)
        }
    }

    public enum Location: Sendable, Hashable {
        /// The checkpoint at this index of the list given to the verifier.
        case checkpoint(Int)
        /// The event at this position (for a cut tail: the first missing one).
        case event(UInt64)
        /// Somewhere in these positions; checkpoints closer together narrow it.
        case eventRange(Range<UInt64>)
    }

    public var description: String {
        switch self {
        case .checkpointUnreadable(let index, let reason):
            "checkpoint #\(index) cannot be read: \(reason)"
        case .checkpointNotSignedByKey(let index):
            "checkpoint #\(index) carries no signature by the trusted key (signed with another key, or the wrong public key was given)"
        case .checkpointSignatureInvalid(let index):
            "checkpoint #\(index): the signature by the trusted key does not verify (the checkpoint was changed after signing, or forged)"
        case .checkpointOriginMismatch(let index, let origin):
            "checkpoint #\(index) belongs to the log '\(origin)', not to this one"
        case .checkpointShrinks(let index, let treeSize, let previousTreeSize):
            "checkpoint #\(index) has tree size \(treeSize), smaller than \(previousTreeSize) of the checkpoint before it"
        case .checkpointInconsistent(let index, let treeSize, let previousTreeSize):
            "checkpoint #\(index) (tree size \(treeSize)) does not extend the checkpoint before it (tree size \(previousTreeSize)): the log signed two different histories"
        case .unsupportedFormatVersion(let position, let version):
            "event at position \(position) claims encoding format \(version); this verifier knows format 1"
        case .sequenceMismatch(let position, let found):
            "event at position \(position) has sequence number \(found): events are missing, inserted or reordered here"
        case .payloadHashMismatch(let position):
            "event at position \(position): the stored payload does not match the payload hash sealed in the event (the payload was changed)"
        case .leafHashMismatch(let position):
            "event at position \(position) does not match the leaf hash recorded when it was sealed (the event was changed)"
        case .rootMismatch(let index, let treeSize, let lastVerifiedSize) where treeSize == lastVerifiedSize:
            "the tree of the first \(treeSize) events, as the export's starting frontier gives it, does not match the root hash of checkpoint #\(index)"
        case .rootMismatch(let index, let treeSize, let lastVerifiedSize):
            "the first \(treeSize) events do not match the root hash of checkpoint #\(index): an event at a position from \(lastVerifiedSize) to \(treeSize - 1) was changed, inserted or removed"
        case .logShorterThanCheckpoint(let index, let treeSize, let eventCount):
            "the log ends after \(eventCount) events, but checkpoint #\(index) covers \(treeSize): events from position \(eventCount) on were removed"
        case .erasureNotRecorded(let position):
            "event at position \(position) is marked as erased, but no payloads_redacted event after it records that erasure (the payload was replaced by a made-up marker)"
        case .erasureCountMismatch(let position, let recorded, let marked):
            "the erasure recorded at position \(position) erased \(recorded) events, but \(marked) events carry its marker"
        case .erasureCutOffMissing(let position):
            "the erasure recorded at position \(position) states no cut-off (erased_before) or no retention period of 1 to 100 years (retention_years)"
        case .erasureWithinRetention(let position, let erasedBefore, let years):
            "the erasure recorded at position \(position) erased events up to \(erasedBefore), within the retention period of \(years) years before the erasure"
        case .erasedAfterCutOff(let position, let erasedBefore):
            "event at position \(position) is marked as erased, but it happened at or after its erasure's cut-off \(erasedBefore) (a payload the erasure did not reach was erased)"
        case .erasureAfterCheckpoint(let position, let occurredAt, let index, let signedAt):
            "the erasure recorded at position \(position) is dated \(occurredAt), but checkpoint #\(index), the first to cover it, was signed at \(signedAt): the erasure's date was forged (a date in the future lets it erase recent events)"
        }
    }
}
