import Crypto
import Foundation

/// A SHA-256 value: a leaf, node or root hash of the log's Merkle tree, or the hash of an event's
/// personal payload.
///
/// Kept as four big-endian words rather than an array: the verifier makes and compares several of
/// these per event, millions of times, and words never touch the heap.
public struct SHA256Hash: Sendable, Hashable {
    /// The number of bytes of a SHA-256 value.
    public static let byteCount = 32

    // Bytes 0..<8, 8..<16, 16..<24 and 24..<32, each read big-endian.
    private var w0: UInt64
    private var w1: UInt64
    private var w2: UInt64
    private var w3: UInt64

    /// The hash of nothing, which RFC 6962 also defines as the root of the empty tree.
    public static let empty = SHA256Hash.digest(of: UnsafeRawBufferPointer(start: nil, count: 0))

    /// Takes exactly 32 bytes; any other count is not a SHA-256 value.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        // Straight from contiguous storage (a database cell's bytes): no array per hash read.
        if let hash = bytes.withContiguousStorageIfAvailable({
            SHA256Hash(loadingFrom: UnsafeRawPointer($0.baseAddress!))
        }) {
            self = hash
            return
        }
        let array = Array(bytes)
        self = array.withUnsafeBytes { SHA256Hash(loadingFrom: $0.baseAddress!) }
    }

    /// Parses standard base64 (RFC 4648 §4, padded), as in checkpoints and signed notes.
    public init?(base64: String) {
        guard let data = Data(base64Encoded: base64), data.base64EncodedString() == base64 else { return nil }
        self.init(bytes: data)
    }

    /// Parses 64 hexadecimal digits (either case).
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 2 * Self.byteCount else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.byteCount)
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = Self.hexValue(utf8[index]), let low = Self.hexValue(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.init(bytes: bytes)
    }

    /// Parses 64 hexadecimal digits (either case) given as UTF-8 bytes, without an allocation: the
    /// export parser reads two hashes per line.
    init?(hexUTF8 digits: UnsafeBufferPointer<UInt8>) {
        guard digits.count == 2 * Self.byteCount else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for word in 0..<4 {
            var value: UInt64 = 0
            for index in word * 16..<word * 16 + 16 {
                guard let digit = Self.hexValue(digits[index]) else { return nil }
                value = value << 4 | UInt64(digit)
            }
            switch word {
            case 0: words.0 = value
            case 1: words.1 = value
            case 2: words.2 = value
            default: words.3 = value
            }
        }
        (w0, w1, w2, w3) = words
    }

    init(_ digest: SHA256.Digest) {
        self = digest.withUnsafeBytes { SHA256Hash(loadingFrom: $0.baseAddress!) }
    }

    private init(loadingFrom pointer: UnsafeRawPointer) {
        w0 = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        w1 = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        w2 = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        w3 = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    /// SHA-256 of the given bytes.
    public static func digest(of bytes: UnsafeRawBufferPointer) -> SHA256Hash {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return SHA256Hash(hasher.finalize())
    }

    /// SHA-256 of the given bytes.
    public static func digest(of bytes: [UInt8]) -> SHA256Hash {
        bytes.withUnsafeBytes { digest(of: $0) }
    }

    /// Writes the 32 bytes at `pointer`, which needs no alignment.
    func store(to pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: w0.bigEndian, toByteOffset: 0, as: UInt64.self)
        pointer.storeBytes(of: w1.bigEndian, toByteOffset: 8, as: UInt64.self)
        pointer.storeBytes(of: w2.bigEndian, toByteOffset: 16, as: UInt64.self)
        pointer.storeBytes(of: w3.bigEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// The 32 bytes.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.byteCount) { buffer, count in
            store(to: UnsafeMutableRawPointer(buffer.baseAddress!))
            count = Self.byteCount
        }
    }

    /// Standard padded base64, the form checkpoints use.
    public var base64: String { Data(bytes).base64EncodedString() }

    /// 64 lowercase hexadecimal digits, the form JSON exports and error texts use.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(2 * Self.byteCount)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends ``hex``'s 64 digits as UTF-8, without building a `String`: the exporters write several
    /// hashes per event.
    public func appendHex(to text: inout [UInt8]) {
        func append(_ word: UInt64) {
            for shift in stride(from: 60, through: 0, by: -4) {
                text.append(Self.hexDigits[Int(truncatingIfNeeded: (word >> UInt64(shift)) & 0x0f)])
            }
        }
        append(w0)
        append(w1)
        append(w2)
        append(w3)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hex digit, either case; nil for any other byte.
    static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension SHA256Hash: CustomStringConvertible {
    public var description: String { hex }
}

/// JSON carries the hash as lowercase hex: what auditors compare by eye and `sha256sum` prints.
extension SHA256Hash: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let hash = SHA256Hash(hex: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected 64 hexadecimal digits, got \(text.utf8.count) characters")
        }
        self = hash
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}
