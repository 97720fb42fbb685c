import Foundation

/// A signed note (C2SP `signed-note` v1): a text ending in a newline, an empty line, and one or more
/// signature lines `— <key name> <base64(key ID || signature)>`.
///
/// Parsing only splits and checks the form; nothing in a note may be believed before
/// ``NoteVerifierKey/verify(_:)`` has checked a signature from a trusted key.
public struct SignedNote: Sendable, Hashable {
    /// The signed text, including its final newline.
    public var text: String
    public var signatures: [NoteSignature]

    /// The spec asks verifiers to bound the number of signatures and to accept at least 16.
    public static let maximumSignatureCount = 16
    /// Checkpoints are a few hundred bytes; refusing large input first keeps parsing cheap.
    public static let maximumByteCount = 64 * 1024
    /// How every signature line begins: an em dash and a space.
    static let signaturePrefix = "\u{2014} "

    public init(text: String, signatures: [NoteSignature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The note as it is stored and sent: text, empty line, signature lines.
    public var serialized: String {
        text + "\n" + signatures.map { Self.signaturePrefix + $0.keyName + " " + $0.base64 + "\n" }.joined()
    }

    /// Parses a serialised note; the text is separated from the signatures by the *last* empty line,
    /// since the text may contain empty lines.
    public init(parsing note: String) throws(NoteFormatError) {
        guard note.utf8.count <= Self.maximumByteCount else { throw .tooLarge }
        guard !note.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) else {
            throw .controlCharacter
        }
        guard note.hasSuffix("\n") else { throw .missingFinalNewline }
        guard let separator = note.range(of: "\n\n", options: .backwards) else { throw .missingSignatureBlock }
        let text = String(note[..<separator.lowerBound]) + "\n"
        let block = note[separator.upperBound...]
        guard text != "\n" else { throw .emptyText }
        var signatures: [NoteSignature] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            signatures.append(try NoteSignature(line: line, prefix: Self.signaturePrefix))
        }
        guard !signatures.isEmpty else { throw .missingSignatureBlock }
        guard signatures.count <= Self.maximumSignatureCount else { throw .tooManySignatures }
        self.init(text: text, signatures: signatures)
    }
}

/// One signature line of a ``SignedNote``.
public struct NoteSignature: Sendable, Hashable {
    public var keyName: String
    /// The first four bytes of the signature, big-endian: which key of that name signed.
    public var keyID: UInt32
    /// The signature algorithm's output (64 bytes for Ed25519).
    public var signature: [UInt8]

    public init(keyName: String, keyID: UInt32, signature: [UInt8]) {
        self.keyName = keyName
        self.keyID = keyID
        self.signature = signature
    }

    var base64: String {
        Data(withUnsafeBytes(of: keyID.bigEndian) { Array($0) } + signature).base64EncodedString()
    }

    init(line: Substring, prefix: String) throws(NoteFormatError) {
        guard line.hasPrefix(prefix) else { throw .malformedSignatureLine }
        let fields = line.dropFirst(prefix.count).split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 2, NoteKeyName.isValid(fields[0]),
            let raw = Data(base64Encoded: String(fields[1])), raw.base64EncodedString() == fields[1], raw.count > 4
        else { throw .malformedSignatureLine }
        self.init(
            keyName: String(fields[0]), keyID: raw.prefix(4).reduce(0) { $0 << 8 | UInt32($1) },
            signature: Array(raw.dropFirst(4)))
    }
}

/// Why text is not a signed note.
public enum NoteFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    case tooLarge
    case controlCharacter
    case missingFinalNewline
    case missingSignatureBlock
    case emptyText
    case malformedSignatureLine
    case tooManySignatures

    public var description: String {
        switch self {
        case .tooLarge: "the note is larger than \(SignedNote.maximumByteCount) bytes"
        case .controlCharacter: "the note contains a control character other than newline"
        case .missingFinalNewline: "the note does not end with a newline"
        case .missingSignatureBlock: "the note has no empty line followed by signature lines"
        case .emptyText: "the note's text is empty"
        case .malformedSignatureLine: "a signature line is not '— <key name> <base64 signature>'"
        case .tooManySignatures: "the note has more than \(SignedNote.maximumSignatureCount) signatures"
        }
    }
}

/// Key names: non-empty, no Unicode spaces, no `+` (the separator of key strings).
enum NoteKeyName {
    static func isValid(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && !name.unicodeScalars.contains { $0 == "+" || $0.properties.isWhitespace }
    }
}
