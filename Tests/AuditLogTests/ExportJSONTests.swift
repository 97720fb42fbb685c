import Foundation
import Testing

@testable import AuditLog

/// The hand-written export writer and parser against the `JSONEncoder`/`JSONDecoder` forms they
/// replace: the same bytes for every line, the same lines accepted, the same kind of failure.
@Suite("Export JSON by hand")
struct ExportJSONTests {
    /// Texts a person or an attacker could put into a comment, a uid or a payload field name.
    static let hostile: [String] = [
        "", "plain", #"quote " inside"#, #"back\slash"#, "slash / and </script>", "tab\there", "new\nline",
        "cr\rlf\r\n", "nul \u{0} bell \u{7} esc \u{1b} us \u{1f}", "del \u{7f}", "line sep \u{2028} para \u{2029}",
        "emoji 😀👩‍👩‍👧 flag 🇩🇪", "Umlaute äöüÄÖÜß", "e\u{301} composed é", "bom \u{feff}", "=1+2", "+49 30",
        "-1", "@SUM(A1)", "\t=tab", "\u{ffff}\u{10ffff}", "\\u0041", "{\"json\":[1,2]}", "a,b;c",
        "'quoted", String(repeating: "x", count: 300),
    ]

    static func events() -> [ExportedEvent] {
        var events: [ExportedEvent] = []
        for (index, text) in hostile.enumerated() {
            let base = LogFixture.event(at: UInt64(index))
            var event = base.event
            event.type = text
            event.actor = text
            event.actingFor = index % 2 == 0 ? text : nil
            event.capacity = index % 3 == 0 ? nil : text
            event.role = text
            event.step = index % 4 == 0 ? nil : text
            event.decision = text
            event.datasetID = text
            event.state = index % 5 == 0 ? nil : text
            event.workflow = index % 2 == 0 ? WorkflowReference(id: text, version: UInt32.max - UInt32(index)) : nil
            event.requestID = index % 3 == 1 ? nil : event.requestID
            event.sequence = index == 1 ? UInt64.max : UInt64(index)
            event.occurredAt = AuditTimestamp(
                microsecondsSinceEpoch: [-62_167_219_200_000_000, 0, 253_402_300_799_999_999, -1][index % 4])
            let fields = [
                text: text, "comment": text, "Z": "", "_": "u", "a10": "x", "a9": "y", "é": "acute", "\u{ff01}": "fw",
                "😀": "e",
            ]
            let payload: PayloadEvidence =
                index % 4 == 3
                ? .redacted(
                    Redaction(
                        redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_800_000_000_000_000), redactedBy: text))
                : .present(
                    AuditPayload(salt: index % 5 == 4 ? [] : Array(repeating: UInt8(index), count: 16), fields: fields))
            let proof: [SHA256Hash]? =
                index % 3 == 0 ? nil : (0..<(index % 4)).map { SHA256Hash.digest(of: [UInt8($0), UInt8(index)]) }
            events.append(
                ExportedEvent(
                    event: event, payload: payload, leafHash: SHA256Hash.digest(of: [UInt8(index)]),
                    inclusionProof: proof))
        }
        return events
    }

    static func lines() -> [ExportLine] {
        let checkpoint = LogFixture.signedCheckpoints(over: BrokenLog.sealed().events, sizes: [40])[0].signedNote
        var lines = events().map(ExportLine.event)
        for (index, text) in hostile.enumerated() {
            lines.append(
                .header(
                    ExportHeader(
                        format: index == 2 ? -7 : 1, origin: text, treeSize: UInt64(index) * 1_000_003,
                        selection: index % 2 == 0 ? .complete : .filtered,
                        filters: index % 3 == 0
                            ? [:] : ["person": text, text: "x", "from": "2024-01-01T00:00:00.000000Z"],
                        checkpoint: index % 2 == 0 ? checkpoint : (index % 3 == 0 ? nil : text))))
        }
        lines += [.end(ExportEnd(eventCount: 0)), .end(ExportEnd(eventCount: UInt64.max))]
        return lines
    }

    @Test("the writer writes every line byte for byte as JSONEncoder did, hostile texts included")
    func writerMatchesJSONEncoder() throws {
        let lines = Self.lines()
        #expect(lines.count == 2 * Self.hostile.count + 2)
        for line in lines {
            let mine = try line.encoded()
            let reference = try line.foundationEncoded()
            #expect(mine == reference, "\(String(decoding: reference, as: UTF8.self))")
        }
    }

    @Test("a time outside the years 0 to 9999 cannot be written, as before")
    func unwritableTime() throws {
        var event = Self.events()[0]
        event.event.occurredAt = AuditTimestamp(microsecondsSinceEpoch: 253_402_300_800_000_000)
        #expect(throws: (any Error).self) { try ExportLine.event(event).encoded() }
        #expect(throws: (any Error).self) { try ExportLine.event(event).foundationEncoded() }
    }

    @Test("the parser reads every written line back to the same value")
    func parserRoundTrips() throws {
        for line in Self.lines() {
            let bytes = try line.encoded()
            #expect(try ExportLine(decoding: bytes) == line)
            #expect(try ExportLine.foundationDecoded(bytes) == line)
        }
    }

    /// The verdict of a reader: the line, or the kind of failure (the reasons' wording may differ).
    enum Verdict: Equatable {
        case accepted(ExportLine)
        case unreadable
        case notCanonical
    }

    static func verdict(_ read: ([UInt8]) throws(ExportLineError) -> ExportLine, _ bytes: [UInt8]) -> Verdict {
        do throws(ExportLineError) {
            return .accepted(try read(bytes))
        } catch .notCanonical {
            return .notCanonical
        } catch {
            return .unreadable
        }
    }

    static func compare(_ bytes: [UInt8], _ what: String) {
        let mine = verdict({ (bytes) throws(ExportLineError) in try ExportLine(decoding: bytes) }, bytes)
        let reference = verdict(ExportLine.foundationDecoded, bytes)
        #expect(mine == reference, "\(what): \(String(decoding: bytes, as: UTF8.self))")
    }

    @Test("every single-byte change, deletion and cut of a line is judged as JSONDecoder judged it")
    func mutationsAgreeWithJSONDecoder() throws {
        // Short lines: the reference reader is slow.
        var short = Self.events()[3]
        short.event.type = "a\"b"
        short.payload = .redacted(Redaction(redactedAt: short.event.occurredAt, redactedBy: "x"))
        let samples = [
            ExportLine.event(Self.events()[7]), .event(short), Self.lines()[Self.hostile.count + 1], Self.lines().last!,
        ]
        let replacements: [UInt8] = [0x00, 0x20, 0x22, 0x2D, 0x31, 0x41, 0x5C, 0x7D, 0xC3]
        var checked = 0
        for sample in samples {
            let line = try sample.encoded()
            for index in line.indices {
                var deleted = line
                deleted.remove(at: index)
                Self.compare(deleted, "deleted byte \(index)")
                Self.compare(Array(line[..<index]), "cut at \(index)")
                for byte in replacements where byte != line[index] {
                    var changed = line
                    changed[index] = byte
                    Self.compare(changed, "byte \(index) → \(byte)")
                    checked += 1
                }
            }
        }
        #expect(checked > 4_000)
    }

    @Test("hand-made malformed and non-canonical lines are judged as JSONDecoder judged them")
    func malformedAgreeWithJSONDecoder() throws {
        let event = String(decoding: try Self.lines()[2].encoded(), as: UTF8.self)
        func changed(_ old: String, _ new: String) -> String { event.replacingOccurrences(of: old, with: new) }
        var variants: [String] = [
            "", " ", "null", "[]", "{}", "{\"record\":\"event\"}", "{\"record\":\"nonsense\"}", "{\"record\":1}",
            "{\"record\":null,\"event_count\":1}", "{\"event_count\":1,\"record\":\"end\"}",
            "{\"event_count\":1,\"record\":\"end\"} ", " {\"event_count\":1,\"record\":\"end\"}",
            "{\"event_count\":1,\"record\":\"end\"}x", "{\"event_count\":-1,\"record\":\"end\"}",
            "{\"event_count\":18446744073709551616,\"record\":\"end\"}", "{\"event_count\":01,\"record\":\"end\"}",
            "{\"event_count\":\"1\",\"record\":\"end\"}",
            "{\"event_count\":1,\"record\":\"end\",\"extra\":[1,{\"a\":null}]}",
            "{\"event_count\":1,\"record\":\"end\",\"record\":\"end\"}", "{\"event_count\":1,\"rec\\u006frd\":\"end\"}",
            "{\"event_count\":1,\"record\":\"end\"", "{\"event_count\":1,,\"record\":\"end\"}",
        ]
        variants += [
            changed("\"sequence\":2", "\"sequence\":null"),
            changed("\"sequence\":2", "\"sequence\":true"),
            changed("\"sequence\":2", "\"sequence\":1e0"),
            changed("\"sequence\":2", "\"sequence\":1.5"),
            changed("\"record\":\"event\"", "\"record\":\"event\",\"format\":\"x\""),
            changed("\"record\":\"event\"", "\"record\":\"event\",\"tree_size\":1"),
            changed("\"record\":\"event\"", "\"record\":\"event\",\"payload\":null"),
            changed("\"type\":", "\"type\":null,\"x\":"),
            changed("\"salt\":\"", "\"salt\":\"A"),
            changed("\"version\":", "\"version\":-"),
            changed("\"version\":", "\"version\":4294967296,\"v\":"),
            changed("\"fields\":{", "\"fields\":{\"n\":null,"),
            changed("\"fields\":{", "\"fields\":{\"n\":1,"),
            changed("\"fields\":{", "\"fields\":{\"_\":\"dup\","),
            changed("\"actor\":\"", "\"actor\":\"\\ud83d\\ude00"),
            changed("\"actor\":\"", "\"actor\":\"\\ud83d"),
            changed("\"actor\":\"", "\"actor\":\"\\/"),
            changed("\"actor\":\"", "\"actor\":\"\\x"),
            changed("\"id\":\"", "\"id\":\"X"),
            changed("\"occurred_at\":\"", "\"occurred_at\":\"+"),
            changed("\"leaf_hash\":\"", "\"leaf_hash\":\"0"),
            changed("\"inclusion_proof\":[", "\"inclusion_proof\":[1,"),
            changed("\"record\":\"event\"", "\"record\":\"event\",\"type\":7"),
            changed("\"workflow\":{", "\"workflow\":{\"id\":null,"),
            changed("\"fields\":{", "\"fields\":{\"comment\":1,"),
            changed("\"sequence\":2", "\"sequence\":-0"),
            changed("\"sequence\":2", "\"sequence\":20e-1"),
        ]
        for variant in variants { Self.compare(Array(variant.utf8), "variant") }
        var invalidUTF8 = Array(event.utf8)
        invalidUTF8.insert(0xFF, at: invalidUTF8.firstIndex(of: UInt8(ascii: "a"))!)
        Self.compare(invalidUTF8, "invalid UTF-8")
    }
}
