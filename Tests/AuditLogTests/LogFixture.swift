import AuditLog
import Foundation

/// A deterministic, correctly sealed log: events with payloads and recorded leaf hashes, and signed
/// checkpoints with consistency proofs, as the sealer will produce them. The corpus of broken logs
/// starts from this and changes one thing.
struct LogFixture {
    static let origin = "freigabe.test/audit"
    static let signer = try! NoteSigner(keyName: origin, seed: Array(repeating: 7, count: 32))
    /// Same name, other key: what an attacker without the private key can sign with.
    static let attacker = try! NoteSigner(keyName: origin, seed: Array(repeating: 9, count: 32))
    /// 2030-03-17T17:46:40Z: after every event and erasure record the tests seal (the verifier refuses an
    /// erasure record dated after the checkpoint that first covers it).
    static let checkpointTime = AuditTimestamp(microsecondsSinceEpoch: 1_900_000_000_000_000)

    var events: [VerifiableEvent]
    var checkpoints: [CheckpointRecord]

    static func make(count: Int, checkpointSizes: [UInt64], signer: NoteSigner = signer) -> LogFixture {
        let events = (0..<UInt64(count)).map(event(at:))
        var fixture = LogFixture(events: events, checkpoints: [])
        fixture.resealEvents()
        fixture.checkpoints = signedCheckpoints(over: fixture.events, sizes: checkpointSizes, signer: signer)
        return fixture
    }

    /// Event `sequence` with a payload naming people, as the server will write them.
    static func event(at sequence: UInt64) -> VerifiableEvent {
        let types = ["submitted", "approved", "changes_requested", "resubmitted", "approved", "rejected"]
        var salt = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: sequence.bigEndian) { salt.replaceSubrange(0..<8, with: $0) }
        let payload = AuditPayload(
            salt: salt,
            fields: [
                "actor_name": "Person \(sequence % 23)",
                "comment": "Begründung für Schritt \(sequence): Freigabe nach Prüfung gemäß Datenstrategie.",
            ])
        let type = types[Int(sequence % UInt64(types.count))]
        let event = AuditEvent(
            sequence: sequence, id: uuid(sequence, salt: 1),
            occurredAt: AuditTimestamp(microsecondsSinceEpoch: 1_700_000_000_000_000 + Int64(sequence) * 1_234_567),
            type: type, requestID: uuid(sequence / 6, salt: 2), actor: "user\(sequence % 17)",
            actingFor: sequence % 5 == 0 ? "user\(sequence % 7)" : nil,
            capacity: sequence % 5 == 0 ? "deputy" : "principal",
            role: "data_owner", step: "owner", decision: type == "approved" || type == "rejected" ? type : nil,
            datasetID: "ds-\(sequence % 11)", workflow: WorkflowReference(id: "shared-data", version: 3),
            state: "in_review", payloadHash: payload.hash)
        return VerifiableEvent(event: event, payload: .present(payload))
    }

    /// The `payloads_redacted` event `audit redact` appends: at the erasure's time, by its uid, with the
    /// count of events it erased, the cut-off and the retention period in its payload's `details` (as
    /// PostgreSQL writes them: the cut-off with the session's offset). The default cut-off lies a day
    /// after the fixture's events, three years before the erasures the tests make.
    static func erasureRecord(
        at sequence: UInt64, _ redaction: Redaction, count: Int,
        details: String = #""erased_before": "2023-11-16T00:00:00+01:00", "retention_years": 3"#
    ) -> VerifiableEvent {
        let payload = AuditPayload(
            salt: Array(repeating: 3, count: 16),
            fields: ["details": #"{"event_count": \#(count), "redaction": 1, \#(details)}"#])
        let event = AuditEvent(
            sequence: sequence, id: uuid(sequence, salt: 1), occurredAt: redaction.redactedAt,
            type: "payloads_redacted",
            actor: redaction.redactedBy, payloadHash: payload.hash)
        return VerifiableEvent(event: event, payload: .present(payload))
    }

    static func uuid(_ value: UInt64, salt: UInt8) -> UUID {
        var bytes = [UInt8](repeating: salt, count: 16)
        withUnsafeBytes(of: value.bigEndian) { bytes.replaceSubrange(8..<16, with: $0) }
        bytes[6] = 0x40 | (bytes[6] & 0x0f)
        bytes[8] = 0x80 | (bytes[8] & 0x3f)
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    /// Checkpoints at the given sizes over `events`, each with the consistency proof from the one before.
    static func signedCheckpoints(
        over events: [VerifiableEvent], sizes: [UInt64], signer: NoteSigner = signer, origin: String = origin
    ) -> [CheckpointRecord] {
        let leafHashes = events.map(\.event.leafHash)
        var previousSize: UInt64?
        return sizes.map { size in
            let root = MerkleFrontier(leafHashes: leafHashes.prefix(Int(size))).rootHash
            let checkpoint = Checkpoint(origin: origin, treeSize: size, rootHash: root, time: checkpointTime)
            let note = try! signer.sign(checkpoint).serialized
            defer { previousSize = size }
            guard let previousSize, previousSize > 0 else { return CheckpointRecord(signedNote: note) }
            let proof = try! MerkleProofs.consistencyProof(from: previousSize, to: size, leafHashes: leafHashes)
            return CheckpointRecord(signedNote: note, consistencyProof: proof)
        }
    }

    /// What an attacker with write access does after a change: store matching leaf hashes again.
    mutating func resealEvents() {
        for index in events.indices {
            events[index].recordedLeafHash = events[index].event.leafHash
        }
    }

    /// An export or database without the recorded leaf hashes: only the checkpoints can tell.
    mutating func dropRecordedLeafHashes() {
        for index in events.indices { events[index].recordedLeafHash = nil }
    }

    func verify(
        key: NoteVerifierKey = LogFixture.signer.verifierKey, start: MerkleFrontier = MerkleFrontier()
    ) -> Result<VerificationSummary, VerificationFailure> {
        LogVerifier(key: key).verify(events: events, checkpoints: checkpoints, start: start)
    }
}
