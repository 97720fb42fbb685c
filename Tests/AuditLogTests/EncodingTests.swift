import AuditLog
import Foundation
import Testing

@Suite("Canonical encoding") struct EncodingTests {
    /// The worked example of `FORMAT.md`. The expected bytes and hashes were computed with Python's
    /// `struct` and `hashlib` from the format description, not with this module.
    static let payload = AuditPayload(salt: Array(0..<16), fields: ["comment": "ok"])
    static let example = AuditEvent(
        sequence: 5, id: UUID(uuidString: "01234567-89AB-CDEF-0123-456789ABCDEF")!,
        occurredAt: AuditTimestamp(microsecondsSinceEpoch: 1_700_000_000_123_456), type: "approved", actor: "anna",
        capacity: "principal", step: "owner", decision: "approved",
        workflow: WorkflowReference(id: "shared-data", version: 3), payloadHash: payload.hash)

    @Test("the worked example encodes to the bytes FORMAT.md describes")
    func workedExample() {
        #expect(
            Self.payload.canonicalEncoding
                == hexBytes("0110000102030405060708090a0b0c0d0e0f0000000100000007636f6d6d656e74000000026f6b"))
        #expect(Self.payload.hash.hex == "d45b5c24e6623eb68ef59429501e1f19f4b927d6d3ea285688ba6ed03c883df6")
        let expected =
            "01" + "0000000000000005" + "0123456789abcdef0123456789abcdef" + "00060a2418202240"
            + "00000008617070726f766564" + "00" + "0100000004616e6e61" + "00" + "01000000097072696e636970616c" + "00"
            + "01000000056f776e6572" + "0100000008617070726f766564" + "00"
            + "010000000b7368617265642d6461746100000003" + "00"
            + "d45b5c24e6623eb68ef59429501e1f19f4b927d6d3ea285688ba6ed03c883df6"
        #expect(Self.example.canonicalEncoding == hexBytes(expected))
        #expect(Self.example.leafHash.hex == "049f562f0d1450f3f8f2c34e4a34a4d32eec8fca04bfeb45ddf5207dde195298")
        #expect(MerkleHashing.leafHash(Self.example.canonicalEncoding) == Self.example.leafHash)
    }

    @Test("encodings decode to the same event, and a reused encoder gives the same bytes")
    func roundTrip() throws {
        var encoder = AuditEventEncoder()
        for sequence in 0..<UInt64(200) {
            let event = LogFixture.event(at: sequence).event
            let bytes = encoder.encode(event)
            #expect(bytes == event.canonicalEncoding)
            #expect(try AuditEventEncoder.decode(bytes) == event)
        }
        var everything = Self.example
        everything.requestID = UUID()
        everything.actingFor = "bert"
        everything.role = "dsb"
        everything.datasetID = "ds-1"
        everything.state = "granted"
        everything.type = "grüße \u{0} 🙂"
        everything.occurredAt = AuditTimestamp(microsecondsSinceEpoch: -1)
        #expect(try AuditEventEncoder.decode(everything.canonicalEncoding) == everything)
    }

    @Test("absent, empty and moved values encode differently (no two events share an encoding)")
    func unambiguous() {
        let base = Self.example
        var variants: [AuditEvent] = [base]
        var empty = base
        empty.role = ""
        variants.append(empty)
        var moved = base
        moved.step = nil
        moved.role = "owner"
        variants.append(moved)
        var split = base
        split.actor = "ann"
        split.actingFor = "a"
        variants.append(split)
        var joined = base
        joined.actor = "annaa"
        variants.append(joined)
        var workflow = base
        workflow.workflow = WorkflowReference(id: "shared-data", version: 4)
        variants.append(workflow)
        let encodings = Set(variants.map(\.canonicalEncoding))
        #expect(encodings.count == variants.count)
    }

    @Test("malformed encodings are refused with the reason")
    func malformed() {
        let bytes = Self.example.canonicalEncoding
        #expect(throws: CanonicalDecodingError.truncated(offset: 116)) {
            try AuditEventEncoder.decode(Array(bytes.dropLast()))
        }
        #expect(throws: CanonicalDecodingError.trailingBytes(offset: bytes.count)) {
            try AuditEventEncoder.decode(bytes + [0])
        }
        var version = bytes
        version[0] = 2
        #expect(throws: CanonicalDecodingError.unsupportedVersion(2)) { try AuditEventEncoder.decode(version) }
        var tag = bytes
        tag[45] = 2  // the request id's presence byte
        #expect(throws: CanonicalDecodingError.invalidPresenceTag(offset: 45, tag: 2)) {
            try AuditEventEncoder.decode(tag)
        }
        var utf8 = bytes
        utf8[41] = 0xff  // inside "approved"
        #expect(throws: CanonicalDecodingError.invalidUTF8(offset: 37)) { try AuditEventEncoder.decode(utf8) }
    }

    @Test("the payload hash does not depend on field order, and depends on the salt and every byte")
    func payloadHash() throws {
        let fields = ["b": "2", "a": "1", "ä": "3", "A": "0"]
        let one = AuditPayload(salt: [1, 2, 3], fields: fields)
        let reordered = AuditPayload(salt: [1, 2, 3], fields: Dictionary(uniqueKeysWithValues: fields.reversed()))
        #expect(one.canonicalEncoding == reordered.canonicalEncoding)
        #expect(one.hash != AuditPayload(salt: [1, 2, 4], fields: fields).hash)
        #expect(one.hash != AuditPayload(salt: [1, 2, 3], fields: fields.merging(["b": "3"]) { $1 }).hash)
        #expect(try AuditPayload(canonicalEncoding: one.canonicalEncoding) == one)
        #expect(AuditPayload.generateSalt().count == 16)
        #expect(AuditPayload.generateSalt() != AuditPayload.generateSalt())
        // Keys out of order are another encoding of the same value: refused.
        let swapped = [1, 0, 0, 0, 0, 2] + [0, 0, 0, 1, 98, 0, 0, 0, 0] + [0, 0, 0, 1, 97, 0, 0, 0, 0] as [UInt8]
        #expect(throws: CanonicalDecodingError.fieldsNotInCanonicalOrder(offset: 15)) {
            try AuditPayload(canonicalEncoding: swapped)
        }
    }

    @Test("times have one text form: RFC 3339, UTC, six fraction digits")
    func timestamps() throws {
        let cases: [(Int64, String)] = [
            (0, "1970-01-01T00:00:00.000000Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
            (1_709_164_800_000_001, "2024-02-29T00:00:00.000001Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000000Z"),
            (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
            (-62_135_596_800_000_000, "0001-01-01T00:00:00.000000Z"),
        ]
        for (microseconds, text) in cases {
            let time = AuditTimestamp(microsecondsSinceEpoch: microseconds)
            #expect(time.rfc3339 == text)
            #expect(AuditTimestamp(rfc3339: text) == time)
        }
        for invalid in [
            "2023-02-29T00:00:00.000000Z", "2024-13-01T00:00:00.000000Z", "2024-01-01T24:00:00.000000Z",
            "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000000+01:00", "2024-01-01 00:00:00.000000Z",
        ] {
            #expect(AuditTimestamp(rfc3339: invalid) == nil, "\(invalid)")
        }
        #expect(AuditTimestamp(microsecondsSinceEpoch: 253_402_300_800_000_000).rfc3339 == nil)
        let date = Date(timeIntervalSince1970: 1_700_000_000.1234567)
        #expect(AuditTimestamp(date).microsecondsSinceEpoch == 1_700_000_000_123_457)
        let json = try JSONEncoder().encode(Self.example)
        #expect(try JSONDecoder().decode(AuditEvent.self, from: json) == Self.example)
    }

    @Test("hashes parse from and print to hex and base64, and only 32 bytes")
    func hashText() {
        let hash = Self.example.leafHash
        #expect(SHA256Hash(hex: hash.hex) == hash)
        #expect(SHA256Hash(hex: hash.hex.uppercased()) == hash)
        #expect(SHA256Hash(base64: hash.base64) == hash)
        #expect(SHA256Hash(bytes: hash.bytes) == hash)
        #expect(SHA256Hash(bytes: hash.bytes.dropLast()) == nil)
        #expect(SHA256Hash(hex: String(hash.hex.dropLast())) == nil)
        #expect(SHA256Hash(base64: "V3JvbmdSb290") == nil)
        #expect(SHA256Hash.empty.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
