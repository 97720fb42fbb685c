import AuditLog
import Foundation

/// Exports written from a ``LogFixture`` the way the server writes them: a complete export of the first
/// `treeSize` events, or a filtered one with inclusion proofs.
enum ExportFixture {
    static func complete(_ log: LogFixture, treeSize: UInt64, embed checkpoint: CheckpointRecord? = nil) -> [UInt8] {
        var lines: [ExportLine] = [
            .header(
                ExportHeader(
                    origin: LogFixture.origin, treeSize: treeSize, selection: .complete,
                    checkpoint: checkpoint?.signedNote))
        ]
        for verifiable in log.events.prefix(Int(treeSize)) {
            lines.append(.event(exported(verifiable)))
        }
        lines.append(.end(ExportEnd(eventCount: treeSize)))
        return bytes(of: lines)
    }

    /// The events at `sequences` with proofs in the tree of `treeSize`, made with small tiles so that the
    /// proofs cross tile borders.
    /// With `erased`, those events carry the given erasure marker instead of their payload.
    static func filtered(
        _ log: LogFixture, sequences: [UInt64], treeSize: UInt64, erased: [UInt64: Redaction] = [:]
    ) -> [UInt8] {
        var tree = TiledMerkleTree(tileHeight: 3)
        let leafHashes = log.events.prefix(Int(treeSize)).map(\.event.leafHash)
        for leafHash in leafHashes { tree.append(leafHash: leafHash) }
        var lines: [ExportLine] = [
            .header(
                ExportHeader(
                    origin: LogFixture.origin, treeSize: treeSize, selection: .filtered,
                    filters: ["dataset": "ds-3"]))
        ]
        for sequence in sequences {
            let start = tree.tileStart(of: sequence)
            let tile = MerkleTile(
                start: start,
                leafHashes: Array(leafHashes[Int(start)..<min(Int(start + tree.tileSize), leafHashes.count)]))
            var event = exported(log.events[Int(sequence)])
            if let redaction = erased[sequence] { event.payload = .redacted(redaction) }
            event.inclusionProof = try! tree.inclusionProof(index: sequence, tile: tile)
            lines.append(.event(event))
        }
        lines.append(.end(ExportEnd(eventCount: UInt64(sequences.count))))
        return bytes(of: lines)
    }

    static func exported(_ verifiable: VerifiableEvent) -> ExportedEvent {
        ExportedEvent(event: verifiable.event, payload: verifiable.payload, leafHash: verifiable.event.leafHash)
    }

    static func bytes(of lines: [ExportLine]) -> [UInt8] {
        lines.flatMap { try! $0.encoded() + [UInt8(ascii: "\n")] }
    }

    static func verify(
        _ bytes: [UInt8], checkpoints: [CheckpointRecord], key: NoteVerifierKey = LogFixture.signer.verifierKey
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        ExportVerifier(key: key).verify(lines: ExportLines.split(bytes), checkpoints: checkpoints)
    }

    /// Replaces the first occurrence of `old` in `bytes`.
    static func replacing(_ old: String, with new: String, in bytes: some Collection<UInt8>) -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let range = text.range(of: old) else { fatalError("\(old) not in the export") }
        return Array(text.replacingCharacters(in: range, with: new).utf8)
    }
}
