/// The verifier keys an auditor trusts for one log: the key that signs now and those it replaced. A
/// city rotates its signing key (a new `audit keygen` under the same log name), and checkpoints signed
/// before stay signed by the old one: verification must accept either, and nothing else.
///
/// All keys carry the log's name (the checkpoints' origin): a rotation keeps the log, it does not start
/// another one.
public struct TrustedKeys: Sendable, Hashable {
    public let keys: [NoteVerifierKey]

    /// One key.
    public init(_ key: NoteVerifierKey) {
        self.keys = [key]
    }

    /// - Throws: ``NoteKeyError/noKey`` for none, ``NoteKeyError/differentLogNames`` when the keys name
    ///   different logs.
    public init(_ keys: [NoteVerifierKey]) throws(NoteKeyError) {
        guard let first = keys.first else { throw .noKey }
        guard keys.allSatisfy({ $0.keyName == first.keyName }) else { throw .differentLogNames }
        var distinct: [NoteVerifierKey] = []
        for key in keys where !distinct.contains(key) { distinct.append(key) }
        self.keys = distinct
    }

    /// A key file: one `vkey` per line (as `audit keygen` prints it); empty lines and lines starting
    /// with `#` (a note on when a key was replaced) are skipped.
    public init(parsing text: String) throws(NoteKeyError) {
        var keys: [NoteVerifierKey] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            keys.append(try NoteVerifierKey(parsing: trimmed))
        }
        try self.init(keys)
    }

    /// The log's name, which every checkpoint carries as its origin.
    public var logName: String { keys[0].keyName }

    /// Verified when a trusted key signed the note and no signature under a trusted key's name and ID
    /// fails (a forged signature under an old key is no less forged).
    public func verify(_ note: SignedNote) -> NoteVerification {
        let results = keys.map { $0.verify(note) }
        if results.contains(.invalidSignature) { return .invalidSignature }
        return results.contains(.verified) ? .verified : .noSignatureFromKey
    }
}
