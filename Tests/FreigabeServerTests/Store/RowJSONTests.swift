import Foundation
import Testing

@testable import FreigabeServer
@testable import WorkflowEngine

/// ``RowJSON`` writes the rows of a command by hand; what it writes must read back as exactly what
/// `JSONEncoder` wrote before (the statement's `jsonb_to_recordset` sees the same values), for hostile
/// texts too.
@Suite("Row JSON")
struct RowJSONTests {
    /// Quotes, backslashes, every control character, a slash, umlauts, an emoji, a right-to-left mark,
    /// the line separators JavaScript chokes on, and SQL.
    static let hostile =
        "\"quoted\" \\back\\slash\\\" /slash/ \n\r\t\u{08}\u{0C}"
        + String((1..<0x20).map { Character(Unicode.Scalar($0)!) })
        + " Grüße ß 🚦 \u{200F}\u{2028}\u{2029} '); DROP TABLE requests; --"

    /// What the JSONEncoder made of the same rows, the way ``RowJSON`` used to encode them.
    static func encoderJSON(_ rows: some Encodable) throws -> Any {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return try JSONSerialization.jsonObject(with: try encoder.encode(rows))
    }

    static func rowJSON(_ rows: [some RowJSONWritable]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try RowJSON.encode(rows).utf8))
    }

    /// Compares as parsed JSON, each row written again with sorted keys (values compared, not spelling);
    /// keys JSONEncoder leaves out for nil are `null` in ``RowJSON``.
    static func expectSame(_ written: Any, _ encoded: Any, sourceLocation: SourceLocation = #_sourceLocation) {
        let written = (written as? [[String: Any]]) ?? []
        let encoded = (encoded as? [[String: Any]]) ?? []
        #expect(written.count == encoded.count, sourceLocation: sourceLocation)
        #expect(!written.isEmpty, sourceLocation: sourceLocation)
        func canonical(_ row: [String: Any]) -> String {
            let present = row.filter { !($0.value is NSNull) }
            let data = try? JSONSerialization.data(withJSONObject: present, options: [.sortedKeys])
            return String(decoding: data ?? Data(), as: UTF8.self)
        }
        for (mine, theirs) in zip(written, encoded) {
            #expect(canonical(mine) == canonical(theirs), sourceLocation: sourceLocation)
            #expect(!canonical(mine).isEmpty, sourceLocation: sourceLocation)
            #expect(Set(mine.keys).isSuperset(of: theirs.keys), sourceLocation: sourceLocation)
        }
    }

    /// A date with a fraction the way the engine records them (microseconds), and a whole one.
    static let dates = [
        Date(timeIntervalSince1970: 1_764_570_123.456789), Date(timeIntervalSince1970: 1_764_570_000),
        Date(timeIntervalSince1970: 0.000001),
    ]

    @Test("audit rows: the same JSON as JSONEncoder, hostile texts and null fields included")
    func auditRows() throws {
        let rows = Self.dates.map {
            AuditRow(
                occurredAt: $0, actor: Self.hostile, actingFor: nil, role: "data_owner", requestID: UUID(),
                datasetID: "baumkataster", event: .approved, decision: "approved", step: Self.hostile, state: nil,
                comment: Self.hostile, clientAddress: "not an address " + Self.hostile,
                details: #"{"note":"\"x\"\n"}"#)
        }
        Self.expectSame(try Self.rowJSON(rows), try Self.encoderJSON(rows))
        // The malformed address went into details, as before.
        let first = try #require((try Self.rowJSON(rows) as? [[String: Any]])?.first)
        #expect(first["client_address"] is NSNull)
        #expect((first["details"] as? String)?.contains("client_address_raw") == true)
    }

    @Test("decision rows: the same JSON as JSONEncoder")
    func decisionRows() throws {
        let rows = Self.dates.enumerated().map { index, date in
            DecisionRow(
                Decision(
                    person: Self.hostile, actingFor: index == 0 ? nil : "paul", role: .dataOwner,
                    asEscalation: index == 1, step: "owner_review", branch: "owner", outcome: .approved, at: date,
                    comment: index == 2 ? nil : Self.hostile, covers: index == 0 ? [] : ["owner_review", Self.hostile],
                    details: ApprovalDetails(licence: Self.hostile, portalURL: nil)),
                position: index)
        }
        Self.expectSame(try Self.rowJSON(rows), try Self.encoderJSON(rows))
    }

    @Test("timer and outbox rows: the same JSON as JSONEncoder")
    func timerAndOutboxRows() throws {
        let timers =
            Self.dates.map { TimerRow(kind: .reminder, step: Self.hostile, dueAt: $0) }
            + [TimerRow(kind: .expiry, step: nil, dueAt: Self.dates[0])]
        Self.expectSame(try Self.rowJSON(timers), try Self.encoderJSON(timers))
        var message = OutboxMessage(
            topic: .requestDecision, requestID: UUID(), requestNumber: "FG-2026-000042", datasetID: "baumkataster",
            datasetTitle: Self.hostile, kind: .sharedData, recipients: [], step: "owner_review", text: Self.hostile)
        message.deadline = Self.dates[0]
        let outbox = [OutboxRow(topic: .requestDecision, payload: message)]
        Self.expectSame(try Self.rowJSON(outbox), try Self.encoderJSON(outbox))
    }

    @Test("the text is JSON PostgreSQL reads: no raw control character, quotes escaped")
    func escaping() throws {
        let text = try RowJSON.encode([TimerRow(kind: .reminder, step: Self.hostile, dueAt: Self.dates[0])])
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 })
        #expect(text.contains(#"\"quoted\" \\back\\slash\\\""#))
        #expect(text.contains(#"\u001f"#))
        #expect(try RowJSON.encode([TimerRow]()) == "[]")
    }
}
