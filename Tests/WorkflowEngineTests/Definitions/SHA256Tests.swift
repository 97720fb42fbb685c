import Testing

@testable import WorkflowEngine

/// SHA-256 against the FIPS 180-2 / NIST example vectors, plus lengths around the padding boundary and a
/// 1000-byte message (expected values from `sha256sum` and Python's hashlib).
@Suite("SHA-256")
struct SHA256Tests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var message: [UInt8]
        var digest: String
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(
            name: "empty", message: [],
            digest: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        Vector(
            name: "abc", message: Array("abc".utf8),
            digest: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        Vector(
            name: "448 bits", message: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
            digest: "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        Vector(
            name: "896 bits",
            message: Array(
                ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                    + "mnopqrstnopqrstu").utf8),
            digest: "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        Vector(
            name: "55 × a (padding fits the block)", message: Array(repeating: UInt8(ascii: "a"), count: 55),
            digest: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        Vector(
            name: "56 × a (padding needs a second block)", message: Array(repeating: UInt8(ascii: "a"), count: 56),
            digest: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        Vector(
            name: "64 × a (one full block)", message: Array(repeating: UInt8(ascii: "a"), count: 64),
            digest: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        Vector(
            name: "1000 × a", message: Array(repeating: UInt8(ascii: "a"), count: 1000),
            digest: "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
        Vector(
            name: "bytes 0...255 four times", message: Array((0..<1024).map { UInt8(truncatingIfNeeded: $0) }),
            digest: "785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9"),
    ]

    @Test("known digests", arguments: vectors)
    func knownDigest(_ vector: Vector) {
        #expect(SHA256.hexDigest(of: vector.message) == vector.digest)
        #expect(SHA256.digest(of: vector.message).count == 32)
    }

    /// The long NIST vector: one million "a". About a second in a debug build.
    @Test("one million a")
    func millionA() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hexDigest(of: message) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("hexDigest accepts any collection of bytes, e.g. a String's UTF-8 view")
    func collections() {
        #expect(SHA256.hexDigest(of: "abc".utf8) == SHA256.hexDigest(of: Array("abc".utf8)))
        #expect(SHA256.hexDigest(of: Array("abc".utf8)[...]) == Self.vectors[1].digest)
        // Umlauts are hashed as their UTF-8 bytes.
        #expect(SHA256.hexDigest(of: "ä".utf8) == SHA256.hexDigest(of: [0xC3, 0xA4]))
    }
}
