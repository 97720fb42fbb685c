import Foundation

/// The personal part of an audit event (display names, comments, request texts): committed by its
/// hash in the event, stored beside it, erasable after the retention period.
///
/// The random ``salt`` is what makes erasure real: without it the hash of a short payload such as
/// `{"actor_name": "Erika Mustermann"}` could be confirmed by guessing names. The salt is stored with
/// the payload and erased with it, which leaves the hash as an opaque commitment.
public struct AuditPayload: Sendable, Hashable, Codable {
    /// The format of ``canonicalEncoding``: its first byte.
    public static let formatVersion: UInt8 = 1
    /// The salt length ``generateSalt()`` returns: 128 bits defeat guessing.
    public static let saltByteCount = 16

    /// Random bytes chosen when the event is written (``generateSalt()``); 0 to 255 bytes are encodable.
    public var salt: [UInt8]
    /// Named texts. Keys are encoded in ascending order of their UTF-8 bytes, so the dictionary's order
    /// does not matter.
    public var fields: [String: String]

    public init(salt: [UInt8], fields: [String: String]) {
        precondition(salt.count <= Int(UInt8.max), "an audit payload salt has at most 255 bytes")
        self.salt = salt
        self.fields = fields
    }

    /// Fresh random salt from the system's cryptographically secure generator.
    public static func generateSalt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<saltByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Format v1 (`FORMAT.md`): version, salt, field count, then each field as key and value.
    public var canonicalEncoding: [UInt8] {
        var writer = ByteWriter()
        write(into: &writer)
        return writer.bytes
    }

    /// SHA-256 of ``canonicalEncoding``: what ``AuditEvent/payloadHash`` holds.
    public var hash: SHA256Hash {
        var writer = ByteWriter()
        return hash(reusing: &writer)
    }

    /// ``hash`` with a buffer kept by the caller: the verifier hashes a payload per event.
    func hash(reusing writer: inout ByteWriter) -> SHA256Hash {
        writer.bytes.removeAll(keepingCapacity: true)
        write(into: &writer)
        return writer.bytes.withUnsafeBytes { SHA256Hash.digest(of: $0) }
    }

    private func write(into writer: inout ByteWriter) {
        writer.append(Self.formatVersion)
        writer.append(UInt8(salt.count))
        writer.bytes.append(contentsOf: salt)
        writer.append(UInt32(fields.count))
        for key in fields.keys.sorted(by: Self.utf8Precedes) {
            writer.append(key)
            writer.append(fields[key]!)
        }
    }

    /// Byte order of the UTF-8 forms (not `String`'s `<`, which orders by Unicode scalars after
    /// normalisation): what FORMAT.md specifies, and a `memcmp`.
    static func utf8Precedes(_ left: String, _ right: String) -> Bool {
        var left = left
        var right = right
        return left.withUTF8 { leftBytes in
            right.withUTF8 { rightBytes in
                let common = min(leftBytes.count, rightBytes.count)
                let order = common == 0 ? 0 : memcmp(leftBytes.baseAddress!, rightBytes.baseAddress!, common)
                return order != 0 ? order < 0 : leftBytes.count < rightBytes.count
            }
        }
    }

    /// Reads ``canonicalEncoding`` back, refusing any other encoding of the same value (keys out of
    /// order or repeated, trailing bytes).
    public init(canonicalEncoding bytes: [UInt8]) throws(CanonicalDecodingError) {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == Self.formatVersion else { throw .unsupportedVersion(version) }
        var salt = [UInt8]()
        for _ in 0..<Int(try reader.readByte()) { salt.append(try reader.readByte()) }
        let count = try reader.readUInt32()
        var fields: [String: String] = [:]
        var previousKey: String?
        for _ in 0..<count {
            let keyOffset = reader.offset
            let key = try reader.readString()
            // Swift compares strings by canonical equivalence: two byte-distinct keys can still be one
            // dictionary key, which would make the decoded value re-encode differently.
            if let previousKey, !Self.utf8Precedes(previousKey, key) || fields[key] != nil {
                throw .fieldsNotInCanonicalOrder(offset: keyOffset)
            }
            fields[key] = try reader.readString()
            previousKey = key
        }
        guard reader.isAtEnd else { throw .trailingBytes(offset: reader.offset) }
        self.init(salt: salt, fields: fields)
    }
}
