import Crypto
import Foundation

/// The Ed25519 key that signs checkpoints, with its note key name.
///
/// Its file form is the signer key string of Go's `golang.org/x/mod/sumdb/note`,
/// `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>`, so keys made by
/// `freigabe audit keygen` work with the transparency tools of that ecosystem and the other way round.
public struct NoteSigner: Sendable {
    public let keyName: String
    public let keyID: UInt32
    private let privateKey: Curve25519.Signing.PrivateKey

    private static let privateKeyPrefix = "PRIVATE+KEY+"

    /// A new key from the system's secure random generator.
    public static func generate(keyName: String) throws(NoteKeyError) -> NoteSigner {
        try NoteSigner(keyName: keyName, privateKey: Curve25519.Signing.PrivateKey())
    }

    /// A key from its 32-byte RFC 8032 seed.
    public init(keyName: String, seed: [UInt8]) throws(NoteKeyError) {
        guard seed.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
            throw .malformedKey
        }
        try self.init(keyName: keyName, privateKey: key)
    }

    private init(keyName: String, privateKey: Curve25519.Signing.PrivateKey) throws(NoteKeyError) {
        guard NoteKeyName.isValid(keyName) else { throw .invalidKeyName }
        self.keyName = keyName
        self.privateKey = privateKey
        self.keyID = NoteVerifierKey.keyID(
            keyName: keyName, publicKey: Array(privateKey.publicKey.rawRepresentation))
    }

    /// Parses the private key file: one line, trailing whitespace (the file's final newline) ignored.
    /// The key ID in the file must be the one the name and key give, which catches edited files.
    public init(privateKeyFile contents: String) throws(NoteKeyError) {
        let line = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        guard line.hasPrefix(Self.privateKeyPrefix) else { throw .malformedKey }
        // The base64 part may itself contain '+': name and ID never do.
        let parts = line.dropFirst(Self.privateKeyPrefix.count).split(
            separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let keyID = NoteVerifierKey.parseKeyID(parts[1]),
            let raw = Data(base64Encoded: String(parts[2])), raw.base64EncodedString() == parts[2],
            raw.count == 33, raw.first == NoteVerifierKey.ed25519Type
        else { throw .malformedKey }
        try self.init(keyName: String(parts[0]), seed: Array(raw.dropFirst()))
        guard self.keyID == keyID else { throw .keyIDMismatch }
    }

    /// The private key file's contents, ending in a newline. Whoever holds it can sign checkpoints:
    /// write it with mode 0600.
    public var privateKeyFileContents: String {
        let raw = [NoteVerifierKey.ed25519Type] + Array(privateKey.rawRepresentation)
        return Self.privateKeyPrefix + keyName + "+" + NoteVerifierKey.hex(keyID) + "+"
            + Data(raw).base64EncodedString() + "\n"
    }

    /// The public half, to give to auditors and to keep outside the database.
    public var verifierKey: NoteVerifierKey {
        NoteVerifierKey(keyName: keyName, keyID: keyID, publicKey: Array(privateKey.publicKey.rawRepresentation))
    }

    /// Signs `text`, which must be a note text (ends in a newline, no other control characters).
    public func sign(text: String) throws(NoteKeyError) -> SignedNote {
        guard text.hasSuffix("\n"), text != "\n",
            !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" })
        else { throw .invalidText }
        // Ed25519 here (BoringSSL) is RFC 8032 deterministic: the same key and text give the same note.
        guard let signature = try? privateKey.signature(for: Data(text.utf8)) else { throw .signingFailed }
        return SignedNote(
            text: text, signatures: [NoteSignature(keyName: keyName, keyID: keyID, signature: Array(signature))])
    }
}

/// Printed as its name and id, never its key material.
extension NoteSigner: CustomStringConvertible, CustomReflectable {
    public var description: String { "NoteSigner(\(keyName), key id \(String(keyID, radix: 16)))" }
    public var customMirror: Mirror {
        Mirror(self, children: ["keyName": keyName, "keyID": keyID, "privateKey": "<redacted>"], displayStyle: .struct)
    }
}

/// The public key that verifies checkpoints, in the note verifier key form
/// `<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>` (C2SP `signed-note`).
public struct NoteVerifierKey: Sendable, Hashable {
    static let ed25519Type: UInt8 = 0x01

    public let keyName: String
    public let keyID: UInt32
    /// The 32-byte RFC 8032 public key.
    public let publicKey: [UInt8]

    init(keyName: String, keyID: UInt32, publicKey: [UInt8]) {
        self.keyName = keyName
        self.keyID = keyID
        self.publicKey = publicKey
    }

    /// Parses a `vkey` (surrounding whitespace ignored). The key ID must match the name and key.
    public init(parsing vkey: String) throws(NoteKeyError) {
        // The base64 part may itself contain '+': name and ID never do.
        let parts = vkey.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, NoteKeyName.isValid(parts[0]), let keyID = Self.parseKeyID(parts[1]),
            let raw = Data(base64Encoded: String(parts[2])), raw.base64EncodedString() == parts[2]
        else { throw .malformedKey }
        guard raw.first == Self.ed25519Type else { throw .unsupportedAlgorithm }
        let publicKey = Array(raw.dropFirst())
        guard publicKey.count == 32, (try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey)) != nil else {
            throw .malformedKey
        }
        guard Self.keyID(keyName: String(parts[0]), publicKey: publicKey) == keyID else { throw .keyIDMismatch }
        self.init(keyName: String(parts[0]), keyID: keyID, publicKey: publicKey)
    }

    /// The `vkey` text, as auditors receive it (without a newline).
    public var vkey: String {
        keyName + "+" + Self.hex(keyID) + "+" + Data([Self.ed25519Type] + publicKey).base64EncodedString()
    }

    /// Checks the note's signatures the way the signed-note spec demands: signatures under other names
    /// or IDs are ignored (witnesses may cosign); a signature under this key's name and ID must verify.
    public func verify(_ note: SignedNote) -> NoteVerification {
        let ours = note.signatures.filter { $0.keyName == keyName && $0.keyID == keyID }
        guard !ours.isEmpty else { return .noSignatureFromKey }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else {
            return .invalidSignature
        }
        let message = Data(note.text.utf8)
        for signature in ours where !key.isValidSignature(signature.signature, for: message) {
            return .invalidSignature
        }
        return .verified
    }

    /// SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian (signed-note §Ed25519).
    static func keyID(keyName: String, publicKey: [UInt8]) -> UInt32 {
        let hash = SHA256Hash.digest(of: Array(keyName.utf8) + [0x0A, ed25519Type] + publicKey).bytes
        return hash.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func hex(_ keyID: UInt32) -> String {
        let digits = String(keyID, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// Exactly eight lowercase hex digits: one text per ID.
    static func parseKeyID(_ text: Substring) -> UInt32? {
        guard text.utf8.count == 8, text.allSatisfy({ "0123456789abcdef".contains($0) }) else { return nil }
        return UInt32(text, radix: 16)
    }
}

/// What ``NoteVerifierKey/verify(_:)`` found.
public enum NoteVerification: Sendable, Hashable {
    /// Every signature under this key's name and ID verifies, and there is at least one.
    case verified
    /// No signature carries this key's name and ID: signed by another key, or not signed at all.
    case noSignatureFromKey
    /// A signature under this key's name and ID does not verify: the text was changed after signing, or
    /// the signature was forged.
    case invalidSignature
}

/// Why a key or key file was refused.
public enum NoteKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidKeyName
    case malformedKey
    case unsupportedAlgorithm
    case keyIDMismatch
    case invalidText
    case signingFailed
    /// A key file with no key in it.
    case noKey
    /// A key file whose keys name different logs (``TrustedKeys``).
    case differentLogNames

    public var description: String {
        switch self {
        case .invalidKeyName: "a key name must be non-empty, without spaces and without '+'"
        case .malformedKey: "the key is not in the note key format"
        case .unsupportedAlgorithm: "the key is not an Ed25519 key (signature type 0x01)"
        case .keyIDMismatch: "the key ID does not match the key name and key"
        case .invalidText: "a note text must end in a newline and contain no other control characters"
        case .signingFailed: "the Ed25519 signature could not be made"
        case .noKey: "the file holds no verifier key"
        case .differentLogNames: "the keys name different logs: every trusted key must carry the log's name"
        }
    }
}
