/// A tree head in the C2SP `tlog-checkpoint` form: the note text that the log signs.
///
/// ```
/// freigabe.stadt.example/audit
/// 20852163
/// CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
/// time 2025-06-01T12:00:00.000000Z
/// ```
///
/// Origin, tree size (decimal, no leading zeros) and base64 root hash, then extension lines. Freigabe
/// writes one extension line, `time <RFC 3339>`, when the checkpoint was made: the spec advises
/// against extensions because monitors cannot audit them, and so the time here is a claim of the
/// signer, not a proof; it tells the auditor when the outside copy was taken.
public struct Checkpoint: Sendable, Hashable {
    public var origin: String
    public var treeSize: UInt64
    public var rootHash: SHA256Hash
    /// Lines after the root hash, each non-empty, without newline.
    public var extensionLines: [String]

    private static let timePrefix = "time "

    public init(origin: String, treeSize: UInt64, rootHash: SHA256Hash, extensionLines: [String] = []) {
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.extensionLines = extensionLines
    }

    /// A checkpoint with Freigabe's `time` extension line.
    public init(origin: String, treeSize: UInt64, rootHash: SHA256Hash, time: AuditTimestamp) {
        self.init(
            origin: origin, treeSize: treeSize, rootHash: rootHash,
            extensionLines: time.rfc3339.map { [Self.timePrefix + $0] } ?? [])
    }

    /// The time from the first `time` extension line, if there is one that parses.
    public var time: AuditTimestamp? {
        extensionLines.lazy.filter { $0.hasPrefix(Self.timePrefix) }.first.flatMap {
            AuditTimestamp(rfc3339: String($0.dropFirst(Self.timePrefix.count)))
        }
    }

    /// The note text to sign.
    public var noteText: String {
        ([origin, String(treeSize), rootHash.base64] + extensionLines).map { $0 + "\n" }.joined()
    }

    /// Parses a (verified) note text.
    public init(noteText: String) throws(CheckpointFormatError) {
        guard noteText.hasSuffix("\n") else { throw .missingFinalNewline }
        let lines = noteText.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3 else { throw .tooFewLines }
        guard !lines[0].isEmpty else { throw .emptyOrigin }
        let size = lines[1]
        guard !size.isEmpty, size.allSatisfy({ $0.isASCII && $0.isNumber }), size == "0" || !size.hasPrefix("0"),
            let treeSize = UInt64(size)
        else { throw .invalidTreeSize }
        guard let rootHash = SHA256Hash(base64: String(lines[2])) else { throw .invalidRootHash }
        let extensionLines = lines.dropFirst(3).map(String.init)
        guard !extensionLines.contains(where: \.isEmpty) else { throw .emptyExtensionLine }
        self.init(origin: String(lines[0]), treeSize: treeSize, rootHash: rootHash, extensionLines: extensionLines)
    }
}

extension NoteSigner {
    /// Signs the checkpoint's note text.
    public func sign(_ checkpoint: Checkpoint) throws(NoteKeyError) -> SignedNote {
        try sign(text: checkpoint.noteText)
    }
}

/// Why a note text is not a checkpoint.
public enum CheckpointFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    case missingFinalNewline
    case tooFewLines
    case emptyOrigin
    case invalidTreeSize
    case invalidRootHash
    case emptyExtensionLine

    public var description: String {
        switch self {
        case .missingFinalNewline: "the checkpoint text does not end with a newline"
        case .tooFewLines: "a checkpoint has at least three lines: origin, tree size, root hash"
        case .emptyOrigin: "the checkpoint's origin line is empty"
        case .invalidTreeSize: "the tree size is not a decimal number without leading zeros"
        case .invalidRootHash: "the root hash is not the base64 of 32 bytes"
        case .emptyExtensionLine: "a checkpoint extension line is empty"
        }
    }
}
