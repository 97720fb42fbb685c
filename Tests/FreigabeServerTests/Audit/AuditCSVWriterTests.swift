import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The hand-written CSV row against the `String`-based one it replaces, on hostile texts read back
/// from real PostgreSQL.
@Suite("Decision log: CSV rows by hand")
struct AuditCSVWriterTests {
    let logger = StoreTestSupport.logger

    /// Texts PostgreSQL can store (no NUL) that a person or an attacker could put into a log row.
    static let hostile: [String] = [
        "", "plain", #"quote " inside"#, #"back\slash"#, "tab\there", "new\nline", "cr\rlf\r\n", "bell \u{7}",
        "del \u{7f}", "line sep \u{2028}", "emoji 😀👩‍👩‍👧", "Umlaute äöüÄÖÜß", "=1+2", "+49 30", "-1", "@SUM(A1)",
        "\t=tab", "\rcr first", "a,b", "a;b", "'quoted", "\"=quoted formula\"", " =space first",
        "  +blanks first", "\u{FF1D}1+2", "\u{FF0B}49", "\u{FF0D}1", "\u{FF20}SUM(A1)", " \u{FF1D}1", "\u{FF1E}not one",
        "   ",
    ]

    /// A text cell as the `String`-based writer made it: the reference, except where it missed a formula
    /// (a first `Character` that is `=` or `\r` plus what combines with it), see `neutralisesByByte`.
    /// Leading blanks are skipped and the full-width ＝ ＋ － ＠ count, as spreadsheets do; a text that
    /// starts with `'` gets one more; an empty text is `""`, an absent one nothing.
    static func referenceField(_ text: String?, separator: UInt8) -> [UInt8] {
        guard var text else { return [] }
        let formulaStarts: Set<Character> = ["=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"]
        let formula = text.drop(while: { $0 == " " }).first.map { formulaStarts.contains($0) } ?? false
        if formula || text.first == "'" { text = "'" + text }
        let needsQuotes =
            text.isEmpty || text.utf8.contains { $0 == separator || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
            || text.first == "'"
        guard needsQuotes else { return Array(text.utf8) }
        return [0x22] + Array(text.replacingOccurrences(of: "\"", with: "\"\"").utf8) + [0x22]
    }

    /// The row of one event from its cells as strings, the texts through ``referenceField(_:separator:)``,
    /// the rest (numbers, UUIDs, times, hex) as they are.
    static func referenceRow(_ exported: ExportedEvent, treeSize: UInt64, separator: UInt8) -> [UInt8] {
        let event = exported.event
        let texts: [String?]
        let salt: String
        let redaction: (at: String?, by: String?)
        switch exported.payload {
        case .present(let payload):
            texts = CSVExportLayout.payloadKeys.map { payload.fields[$0] }
            salt = payload.salt.map { String(format: "%02x", $0) }.joined()
            redaction = (nil, nil)
        case .redacted(let erased):
            texts = [nil, nil, nil]
            salt = ""
            redaction = (erased.redactedAt.rfc3339, erased.redactedBy)
        }
        func text(_ value: String?) -> [UInt8] { referenceField(value, separator: separator) }
        func raw(_ value: String?) -> [UInt8] { Array((value ?? "").utf8) }
        let cells: [[UInt8]] =
            [
                raw(String(event.sequence)), raw(event.id.uuidString.lowercased()), raw(event.occurredAt.rfc3339),
                text(event.type), raw(event.requestID?.uuidString.lowercased()), text(event.actor),
                text(event.actingFor), text(event.capacity), text(event.role), text(event.step), text(event.decision),
                text(event.datasetID), text(event.workflow?.id), raw(event.workflow.map { String($0.version) }),
                text(event.state),
            ] + texts.map(text)
            + [
                raw(salt), raw(event.payloadHash.hex), raw(exported.leafHash.hex), raw(String(treeSize)),
                raw(exported.inclusionProof?.map(\.hex).joined(separator: " ")), raw(redaction.at), text(redaction.by),
            ]
        return Array(cells.joined(separator: [separator])) + [0x0D, 0x0A]
    }

    /// One text cell as ``CSVExportWriter`` writes it.
    static func field(_ text: String?, separator: UInt8 = UInt8(ascii: ",")) -> [UInt8] {
        var bytes: [UInt8] = []
        CSVExportWriter(separator: separator).appendText(text, to: &bytes)
        return bytes
    }

    @Test("every row is byte for byte the String-based row, for both separators; the export of them verifies")
    func rowsMatchTheReference() async throws {
        try await ServiceFixture.with { fixture in
            for (index, text) in Self.hostile.enumerated() {
                try await fixture.admin.query(
                    """
                    INSERT INTO audit_events (occurred_at, actor, acting_for, role, dataset_id, step, state, comment,
                        client_address, details, event, request_id)
                    VALUES (\(Clock.start), \(text), \(index % 2 == 0 ? text : nil), \(text), \(text), \(text), \(text),
                        \(text), \(index % 3 == 0 ? "192.0.2.7" : nil)::inet, jsonb_build_object('why', \(text)),
                        'login_failed', \(index % 2 == 0 ? UUID() : nil))
                    """, logger: logger)
            }
            let sealer = AuditSealer(client: fixture.app, signer: AuditExportTests.signer, checkpointFile: nil)
            let size = try await sealer.sealAll(now: Clock.start, logger: logger)
            #expect(size >= UInt64(Self.hostile.count))
            var rows = 0
            try await AuditQuery(client: fixture.app).forEachInBatches(AuditFilter(), below: size, logger: logger) {
                event in
                for separator in [UInt8(ascii: ","), UInt8(ascii: ";")] {
                    var exported = event.exported
                    exported.inclusionProof =
                        event.sequence % 2 == 0 ? [SHA256Hash.digest(of: [1]), SHA256Hash.digest(of: [2])] : nil
                    var mine: [UInt8] = []
                    CSVExportWriter(separator: separator).appendRow(of: exported, treeSize: size, to: &mine)
                    #expect(
                        mine == Self.referenceRow(exported, treeSize: size, separator: separator),
                        "\(String(decoding: mine, as: UTF8.self))")
                }
                rows += 1
            }
            #expect(rows == Int(size))
            // Read back by the verifier: every hostile text re-encodes to its signed leaf.
            for options in [CSVOptions(), CSVOptions(separator: UInt8(ascii: ";"), byteOrderMark: true)] {
                var bytes: [UInt8] = []
                _ = try await AuditExporter(query: AuditQuery(client: fixture.app)).export(
                    AuditFilter(), format: .csv, csv: options, logger: logger
                ) { bytes += $0 }
                let note = try #require(
                    try await AuditQuery(client: fixture.app).latestSignedCheckpoint(logger: logger)?.signedNote)
                let summary = try ExportVerifier(key: AuditExportTests.signer.verifierKey).verify(
                    lines: ExportLines.split(bytes), checkpoints: [CheckpointRecord(signedNote: note)]
                ).get()
                #expect(summary.eventCount == size)
            }
        }
    }

    @Test("a cell is neutralised by its first byte, also where the first Character hides the = or the CR")
    func neutralisesByByte() {
        for text in Self.hostile + ["x", "ü=1"] {
            #expect(Self.field(text) == Self.referenceField(text, separator: UInt8(ascii: ",")), "\(text)")
        }
        // The String-based writer saw one Character "=\u{301}" or "\r\n", neither "=" nor "\r".
        #expect(Self.referenceField("=\u{301}1+2", separator: UInt8(ascii: ",")) == Array("=\u{301}1+2".utf8))
        #expect(Self.field("=\u{301}1+2") == Array("\"'=\u{301}1+2\"".utf8))
        #expect(Self.field("\r\n=1") == Array("\"'\r\n=1\"".utf8))
        #expect(Self.field("-\u{20dd}") == Array("\"'-\u{20dd}\"".utf8))
    }

    @Test("a formula after leading blanks or in full-width signs is neutralised too")
    func neutralisesHiddenFormulas() {
        func field(_ text: String) -> [UInt8] { Self.field(text, separator: UInt8(ascii: ";")) }
        #expect(field(" =1+2") == Array("\"' =1+2\"".utf8))
        #expect(field("   @SUM(A1)") == Array("\"'   @SUM(A1)\"".utf8))
        for sign in ["\u{FF1D}", "\u{FF0B}", "\u{FF0D}", "\u{FF20}"] {
            #expect(field(sign + "1") == Array("\"'\(sign)1\"".utf8), "\(sign)")
        }
        // Not formulas: other full-width signs, blanks alone, a sign after text.
        #expect(field("\u{FF1E}1") == Array("\u{FF1E}1".utf8))
        #expect(field("   ") == Array("   ".utf8))
        #expect(field("a =1") == Array("a =1".utf8))
        #expect(field("\u{EF}") == Array("\u{EF}".utf8))
    }
}
