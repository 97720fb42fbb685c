/// Appends the primitives of the canonical encodings (``AuditEventEncoder``, ``AuditPayload``):
/// big-endian integers and length-prefixed UTF-8, nothing else, so an auditor can re-implement them
/// from `FORMAT.md` in any language.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ byte: UInt8) {
        bytes.append(byte)
    }

    mutating func append(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: Int64) {
        append(UInt64(bitPattern: value))
    }

    mutating func append(_ uuid: UUIDBytes) {
        withUnsafeBytes(of: uuid) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ hash: SHA256Hash) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: SHA256Hash.byteCount))
        bytes.withUnsafeMutableBytes { hash.store(to: $0.baseAddress! + start) }
    }

    /// u32 byte count, then the UTF-8 bytes exactly as stored (no Unicode normalisation: the encoding
    /// commits to the bytes, and the database gives back the bytes it was given).
    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            // PostgreSQL's text holds at most 1 GB, so a u32 count always suffices for what the server
            // stores; a larger string is a programming error, not data.
            precondition(utf8.count <= Int(UInt32.max), "string longer than 4 GiB in an audit encoding")
            append(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// 0x00 for absent; 0x01 followed by the value for present.
    mutating func appendOptional<Value>(_ value: Value?, _ appendValue: (inout ByteWriter, Value) -> Void) {
        guard let value else { return append(UInt8(0)) }
        append(UInt8(1))
        appendValue(&self, value)
    }
}

/// Reads what ``ByteWriter`` wrote; every read fails on missing bytes instead of trapping.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func readByte() throws(CanonicalDecodingError) -> UInt8 {
        try take(1).first!
    }

    mutating func readUInt32() throws(CanonicalDecodingError) -> UInt32 {
        try take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func readUInt64() throws(CanonicalDecodingError) -> UInt64 {
        try take(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func readInt64() throws(CanonicalDecodingError) -> Int64 {
        Int64(bitPattern: try readUInt64())
    }

    mutating func readUUID() throws(CanonicalDecodingError) -> UUIDBytes {
        let raw = Array(try take(16))
        return (
            raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
            raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]
        )
    }

    mutating func readHash() throws(CanonicalDecodingError) -> SHA256Hash {
        SHA256Hash(bytes: try take(SHA256Hash.byteCount))!
    }

    mutating func readString() throws(CanonicalDecodingError) -> String {
        let count = Int(try readUInt32())
        let start = offset
        let raw = try take(count)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(offset: start) }
        return text
    }

    mutating func readOptional<Value>(
        _ readValue: (inout ByteReader) throws(CanonicalDecodingError) -> Value
    ) throws(CanonicalDecodingError) -> Value? {
        let start = offset
        switch try readByte() {
        case 0: return nil
        case 1: return try readValue(&self)
        case let tag: throw .invalidPresenceTag(offset: start, tag: tag)
        }
    }

    /// The next `count` bytes; the slice keeps the indices of the whole input.
    private mutating func take(_ count: Int) throws(CanonicalDecodingError) -> ArraySlice<UInt8> {
        guard count <= bytes.count - offset else { throw .truncated(offset: offset) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }
}

/// The 16 bytes of a UUID in RFC 9562 order, as Foundation's `uuid_t`.
typealias UUIDBytes = (
    UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
)

/// The UUID in `text`, its 8-4-4-4-12 hex form (36 bytes); nil for any other text. `lowercaseOnly`:
/// digits `a`–`f` only, the one form the export writer gives.
func uuidBytes(text: UnsafeBufferPointer<UInt8>, lowercaseOnly: Bool) -> UUIDBytes? {
    guard text.count == 36 else { return nil }
    let upperHex = UInt8(ascii: "A")...UInt8(ascii: "F")
    var raw: UUIDBytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    let parsed = withUnsafeMutableBytes(of: &raw) { bytes in
        var index = 0
        for byteIndex in 0..<16 {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard text[index] == UInt8(ascii: "-") else { return false }
                index += 1
            }
            let (first, second) = (text[index], text[index + 1])
            guard let high = SHA256Hash.hexValue(first), let low = SHA256Hash.hexValue(second) else { return false }
            if lowercaseOnly && (upperHex.contains(first) || upperHex.contains(second)) { return false }
            bytes[byteIndex] = high << 4 | low
            index += 2
        }
        return true
    }
    return parsed ? raw : nil
}

/// The length of the well-formed UTF-8 sequence (RFC 3629 §4: no overlong forms, no surrogates, at
/// most U+10FFFF) starting with a byte ≥ 0x80 at `index`; nil when it is not one.
func utf8SequenceLength(_ input: UnsafeBufferPointer<UInt8>, at index: Int) -> Int? {
    let lead = input[index]
    let length: Int
    var low: UInt8 = 0x80
    var high: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF: length = 2
    case 0xE0:
        length = 3
        low = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED:
        length = 3
        high = 0x9F
    case 0xF0:
        length = 4
        low = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4:
        length = 4
        high = 0x8F
    default: return nil
    }
    guard index + length <= input.count else { return nil }
    guard (low...high).contains(input[index + 1]) else { return nil }
    for offset in 2..<length where !(0x80...0xBF).contains(input[index + offset]) { return nil }
    return length
}

/// Why bytes are not a canonical encoding (``AuditEventEncoder/decode(_:)``,
/// ``AuditPayload/init(canonicalEncoding:)``).
public enum CanonicalDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    case unsupportedVersion(UInt8)
    case truncated(offset: Int)
    case invalidUTF8(offset: Int)
    case invalidPresenceTag(offset: Int, tag: UInt8)
    case trailingBytes(offset: Int)
    case fieldsNotInCanonicalOrder(offset: Int)

    public var description: String {
        switch self {
        case .unsupportedVersion(let version): "format version \(version) is not supported (this reader knows 1)"
        case .truncated(let offset): "the bytes end early, at offset \(offset)"
        case .invalidUTF8(let offset): "the string at offset \(offset) is not valid UTF-8"
        case .invalidPresenceTag(let offset, let tag):
            "byte \(tag) at offset \(offset) is not a presence tag (0 absent, 1 present)"
        case .trailingBytes(let offset): "bytes follow the end of the encoding at offset \(offset)"
        case .fieldsNotInCanonicalOrder(let offset):
            "the field at offset \(offset) is not in strictly increasing key order"
        }
    }
}
