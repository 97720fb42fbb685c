import Foundation
import Testing

@testable import AuditLog

/// The export verifier's one-pass reader (``CanonicalEventLineReader``) against the slow path it
/// short-cuts (parse, write back, compare, re-encode): whatever it accepts, the slow path accepts with
/// the same sequence and leaf hash; every other form of the same content is left to the slow path.
@Suite("Export lines in one pass")
struct CanonicalEventLineTests {
    /// What the slow path makes of a line (without its newline): the event's place and leaf hash when
    /// the line is canonical, its payload matches and its recorded leaf hash is the event's.
    static func slow(_ bytes: [UInt8]) -> CanonicalEventLine? {
        guard case .event(let exported)? = try? ExportLine(decoding: bytes), exported.inclusionProof == nil,
            case .present(let payload) = exported.payload, payload.hash == exported.event.payloadHash,
            exported.event.leafHash == exported.leafHash
        else { return nil }
        return CanonicalEventLine(sequence: exported.event.sequence, leafHash: exported.leafHash)
    }

    /// Event lines as the exporter writes them, with their real leaf hashes: the hostile texts of
    /// ``ExportJSONTests`` and the ordinary events of ``LogFixture``.
    static func wholeLines() throws -> [[UInt8]] {
        var events = ExportJSONTests.events()
        for index in events.indices {
            events[index].inclusionProof = nil
            events[index].leafHash = events[index].event.leafHash
            if case .present(let payload) = events[index].payload { events[index].event.payloadHash = payload.hash }
            events[index].leafHash = events[index].event.leafHash
        }
        let fixture = (0..<20).map { ExportFixture.exported(LogFixture.event(at: $0)) }
        return try (events + fixture).map { try ExportLine.event($0).encoded() }
    }

    @Test("every line the fast path reads, the slow path reads to the same place and leaf hash")
    func agreesWithTheSlowPath() throws {
        var reader = CanonicalEventLineReader()
        var fast = 0
        for line in try Self.wholeLines() {
            let slow = Self.slow(line)
            let text = String(decoding: line, as: UTF8.self)
            // Erased payloads are the slow path's alone; every other line is whole.
            #expect((slow == nil) == text.contains("\"redacted\""), "\(text)")
            if let read = reader.read(line) {
                fast += 1
                #expect(read == slow)
            } else {
                // Only lines with an erased payload are left to the slow path.
                #expect(text.contains("\"redacted\""), "\(text)")
            }
        }
        #expect(fast >= 30)
    }

    @Test("every single-byte change, deletion and cut of a line: accepted only if the slow path agrees")
    func mutationsAgree() throws {
        var reader = CanonicalEventLineReader()
        let lines = try Self.wholeLines().filter { reader.read($0) != nil }.prefix(6)
        let replacements: [UInt8] = [0x00, 0x20, 0x22, 0x2C, 0x30, 0x31, 0x41, 0x5C, 0x61, 0x7D, 0xC3, 0xFF]
        var checked = 0
        for line in lines {
            func check(_ bytes: [UInt8], _ what: String) {
                if let read = reader.read(bytes) {
                    #expect(Self.slow(bytes) == read, "\(what): \(String(decoding: bytes, as: UTF8.self))")
                }
                checked += 1
            }
            for index in line.indices {
                var deleted = line
                deleted.remove(at: index)
                check(deleted, "deleted byte \(index)")
                check(Array(line[..<index]), "cut at \(index)")
                for byte in replacements where byte != line[index] {
                    var changed = line
                    changed[index] = byte
                    check(changed, "byte \(index) → \(byte)")
                }
            }
        }
        #expect(checked > 20_000)
    }

    /// The same content in another form: the leaf hash would still match if a reader were lenient, so
    /// only the canonical check can refuse these. The fast path must leave each to the slow path, and
    /// the verifier must refuse the export.
    static func otherForms(of line: String) -> [(String, String)] {
        func swapped(_ old: String, _ new: String) -> String {
            guard let range = line.range(of: old) else { fatalError("\(old) not in \(line)") }
            return line.replacingCharacters(in: range, with: new)
        }
        let id = line.firstMatch(of: /"id":"([0-9a-f-]{36})"/)!.1
        let leaf = line.firstMatch(of: /"leaf_hash":"([0-9a-f]{64})"/)!.1
        let sequence = line.firstMatch(of: /"sequence":(\d+)/)!.1
        let time = line.firstMatch(of: /"occurred_at":"([^"]+)"/)!.1
        return [
            ("upper-case event id", swapped("\"id\":\"\(id)\"", "\"id\":\"\(id.uppercased())\"")),
            ("upper-case leaf hash", swapped("\"\(leaf)\"", "\"\(leaf.uppercased())\"")),
            ("sequence with a leading zero", swapped("\"sequence\":\(sequence)", "\"sequence\":0\(sequence)")),
            ("sequence as a fraction", swapped("\"sequence\":\(sequence)", "\"sequence\":\(sequence).0")),
            ("sequence with an exponent", swapped("\"sequence\":\(sequence)", "\"sequence\":\(sequence)e0")),
            ("space after a colon", swapped("\"sequence\":", "\"sequence\": ")),
            ("space before the end", String(line.dropLast()) + " }"),
            ("escaped slash-free letter", swapped("\"record\":\"event\"", "\"record\":\"\\u0065vent\"")),
            ("time without fraction digits", swapped("\"\(time)\"", "\"\(time.prefix(19))Z\"")),
            ("time with an offset", swapped("\"\(time)\"", "\"\(time.dropLast())+00:00\"")),
            ("keys out of order", "{\"record\":\"event\"," + swapped(",\"record\":\"event\"", "").dropFirst()),
            ("a null optional", swapped("\"id\":", "\"role\":null,\"id\":")),
            ("a key twice", swapped("\"record\":\"event\"", "\"record\":\"event\",\"record\":\"event\"")),
            ("an unknown key", swapped("\"record\":\"event\"", "\"record\":\"event\",\"remark\":\"x\"")),
        ]
    }

    @Test("the same content in another form is left to the slow path and the export is refused")
    func otherFormsAreRefused() throws {
        let log = LogFixture.make(count: 8, checkpointSizes: [8])
        let export = ExportFixture.complete(log, treeSize: 8)
        let lines = ExportLines.split(export)
        var reader = CanonicalEventLineReader()
        let target = 3
        let original = String(decoding: lines[1 + target].dropLast(), as: UTF8.self)
        #expect(reader.read(Array(original.utf8)) != nil)
        var checked = 0
        // A form that happens to be the same here (an id without hex letters in upper case) proves nothing.
        for (what, variant) in Self.otherForms(of: original) where variant != original {
            checked += 1
            #expect(reader.read(Array(variant.utf8)) == nil, "\(what): \(variant)")
            var changed = lines
            changed[1 + target] = Array(variant.utf8) + [UInt8(ascii: "\n")]
            let result = ExportVerifier(key: LogFixture.signer.verifierKey)
                .verify(lines: changed, checkpoints: log.checkpoints)
            guard case .failure(let failure) = result else {
                Issue.record("\(what) was accepted: \(variant)")
                continue
            }
            #expect(failure.line == 2 + target, "\(what): \(failure)")
        }
        #expect(checked >= 12)
    }

    @Test("only the writer's escapes are read the fast way; every other escape of the same text is refused")
    func otherEscapes() throws {
        var event = LogFixture.event(at: 4).event
        let text = "a/b\nc\u{1f}d\"e\\f\tg"
        event.actor = text
        let payload = AuditPayload(salt: [9], fields: ["comment": text])
        event.payloadHash = payload.hash
        let exported = ExportedEvent(event: event, payload: .present(payload), leafHash: event.leafHash)
        let line = String(decoding: try ExportLine.event(exported).encoded(), as: UTF8.self)
        var reader = CanonicalEventLineReader()
        #expect(reader.read(Array(line.utf8)) == CanonicalEventLine(sequence: 4, leafHash: event.leafHash))
        let variants = [
            (#"\n"#, #"\u000a"#), (#"\u001f"#, #"\u001F"#), (#"\u001f"#, #"\u001f\u0000"#), ("a/b", #"a\/b"#),
            (#"\""#, #"\u0022"#), ("d", #"\u0064"#), (#"\t"#, #"\u0009"#), (#"\\"#, #"\u005c"#), (#"\n"#, "\n"),
        ]
        for (old, new) in variants {
            let variant = line.replacingOccurrences(of: old, with: new)
            #expect(variant != line, "\(old)")
            #expect(reader.read(Array(variant.utf8)) == nil, "\(old) → \(new)")
            #expect(Self.slow(Array(variant.utf8)) == nil, "\(old) → \(new)")
        }
    }

    /// Payload texts whose bytes are not well-formed UTF-8 or not in canonical order: the fast path must
    /// refuse each even though it hashes the bytes as they stand.
    @Test("malformed UTF-8 and payload keys out of order or repeated are left to the slow path")
    func hostileBytes() throws {
        let base = LogFixture.event(at: 2)
        let malformed: [[UInt8]] = [
            [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xC3], [0xE2, 0x82], [0x80], [0xFF], [0x1F],
        ]
        var reader = CanonicalEventLineReader()
        for bytes in malformed {
            // The line as a lenient reader would take it: the payload field's bytes as given, hashes over them.
            let marker = "MARKER"
            var event = base.event
            let payload = AuditPayload(salt: [1, 2], fields: ["comment": marker])
            event.payloadHash = payload.hash
            let exported = ExportedEvent(event: event, payload: .present(payload), leafHash: event.leafHash)
            var line = try ExportLine.event(exported).encoded()
            let text = String(decoding: line, as: UTF8.self)
            let range = text.range(of: marker)!
            let offset = text.utf8.distance(from: text.utf8.startIndex, to: range.lowerBound)
            line.replaceSubrange(offset..<(offset + marker.utf8.count), with: bytes)
            #expect(reader.read(line) == nil, "\(bytes)")
            #expect(Self.slow(line) == nil, "\(bytes)")
        }
        // Keys out of order and a key twice, with hashes computed over the fields as written.
        for fields in [[("b", "1"), ("a", "2")], [("a", "1"), ("a", "1")], [("a", "1"), ("", "2")]] {
            var payloadBytes: [UInt8] = [1, 0]
            payloadBytes += withUnsafeBytes(of: UInt32(fields.count).bigEndian, Array.init)
            for (key, value) in fields {
                for text in [key, value] {
                    payloadBytes +=
                        withUnsafeBytes(of: UInt32(text.utf8.count).bigEndian, Array.init) + Array(text.utf8)
                }
            }
            var event = base.event
            event.payloadHash = SHA256Hash.digest(of: payloadBytes)
            let json = fields.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",")
            let exported = ExportedEvent(
                event: event, payload: .present(AuditPayload(salt: [], fields: ["x": "y"])), leafHash: event.leafHash)
            let line = String(decoding: try ExportLine.event(exported).encoded(), as: UTF8.self)
                .replacingOccurrences(of: "\"fields\":{\"x\":\"y\"}", with: "\"fields\":{\(json)}")
            #expect(reader.read(Array(line.utf8)) == nil, "\(fields)")
            #expect(Self.slow(Array(line.utf8)) == nil, "\(fields)")
        }
    }
}
