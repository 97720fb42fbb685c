/// One event as the verifier receives it from the database or an export: the leaf, what the row says
/// about its payload, and the leaf hash the sealer stored, if the source has it.
public struct VerifiableEvent: Sendable, Hashable {
    /// The encoding format the row claims (its `format_version` column); the verifier knows only 1.
    public var formatVersion: UInt8
    public var event: AuditEvent
    public var payload: PayloadEvidence
    /// The leaf hash stored when the event was sealed. A tamperer who does not recompute it is found at
    /// the exact event; one who does is still found by the signed checkpoints, within a range.
    public var recordedLeafHash: SHA256Hash?

    public init(
        formatVersion: UInt8 = AuditEventEncoder.formatVersion, event: AuditEvent, payload: PayloadEvidence,
        recordedLeafHash: SHA256Hash? = nil
    ) {
        self.formatVersion = formatVersion
        self.event = event
        self.payload = payload
        self.recordedLeafHash = recordedLeafHash
    }
}

/// The payload, or the marker that it was erased.
public enum PayloadEvidence: Sendable, Hashable {
    /// The payload is still stored: its hash must be the event's ``AuditEvent/payloadHash``.
    case present(AuditPayload)
    /// The payload (and its salt) were erased after the retention period; only the hash remains in
    /// the event, and the tree still verifies.
    case redacted(Redaction)
}

/// When and by whom a payload was erased (`freigabe audit redact`). Not part of the tree: erasure
/// happens years after sealing. The server records the erasure as an audit event of its own, which is.
public struct Redaction: Sendable, Hashable, Codable {
    public var redactedAt: AuditTimestamp
    /// uid of who ran the erasure.
    public var redactedBy: String

    public init(redactedAt: AuditTimestamp, redactedBy: String) {
        self.redactedAt = redactedAt
        self.redactedBy = redactedBy
    }
}

/// A stored checkpoint: the signed note as it was written, and optionally the consistency proof from
/// the checkpoint before it in the list, which lets the checkpoints be checked against each other
/// without the events in between (as for an export that starts later).
public struct CheckpointRecord: Sendable, Hashable {
    public var signedNote: String
    public var consistencyProof: [SHA256Hash]?
    /// Where the note was read, for a report that points at it (`checkpoints.txt:17`, the table); the
    /// verifiers sort the notes by tree size, so their index says nothing to whoever holds the file.
    public var source: String?

    public init(signedNote: String, consistencyProof: [SHA256Hash]? = nil, source: String? = nil) {
        self.signedNote = signedNote
        self.consistencyProof = consistencyProof
        self.source = source
    }
}
