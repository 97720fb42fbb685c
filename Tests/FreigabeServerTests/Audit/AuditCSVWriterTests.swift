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

    /// The row as the `String`-based writer made it: the reference, except where it missed a formula
    /// (a first `Character` that is `=` or `\r` plus what combines with it), see `neutralisesByByte`.
    /// Leading blanks are skipped and the full-width ＝ ＋ － ＠ count, as spreadsheets do.
    static func referenceField(_ text: String, separator: UInt8) -> [UInt8] {
        let formulaStarts: Set<Character> = ["=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"]
        var text = text
        if let first = text.drop(while: { $0 == " " }).first, formulaStarts.contains(first) { text = "'" + text }
        let needsQuotes =
            text.utf8.contains { $0 == separator || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D } || text.first == "'"
        guard needsQuotes else { return Array(text.utf8) }
        return [0x22] + Array(text.replacingOccurrences(of: "\"", with: "\"\"").utf8) + [0x22]
    }

    static func referenceRow(_ cells: [String?], separator: UInt8) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, cell) in cells.enumerated() {
            if index > 0 { bytes.append(separator) }
            bytes += referenceField(cell ?? "", separator: separator)
        }
        return bytes + [0x0D, 0x0A]
    }

    @Test("every row is byte for byte the String-based row, for both separators, hostile texts included")
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
            try await AuditQuery(client: fixture.app).forEach(AuditFilter(), below: size, logger: logger) { event in
                for separator in [UInt8(ascii: ","), UInt8(ascii: ";")] {
                    let table = CSVTable(options: CSVOptions(separator: separator))
                    let proof: [SHA256Hash]? =
                        event.sequence % 2 == 0 ? [SHA256Hash.digest(of: [1]), SHA256Hash.digest(of: [2])] : nil
                    var mine: [UInt8] = []
                    table.appendRow(of: event, treeSize: size, proof: proof, to: &mine)
                    let cells = CSVTable.cells(of: event, treeSize: size, proof: proof)
                    #expect(mine == Self.referenceRow(cells, separator: separator), "\(cells)")
                    #expect(mine == table.row(cells))
                }
                rows += 1
            }
            #expect(rows == Int(size))
        }
    }

    @Test("a cell is neutralised by its first byte, also where the first Character hides the = or the CR")
    func neutralisesByByte() {
        let table = CSVTable(options: CSVOptions())
        for text in Self.hostile + ["x", "ü=1"] {
            #expect(table.field(text) == Self.referenceField(text, separator: UInt8(ascii: ",")), "\(text)")
        }
        // The String-based writer saw one Character "=\u{301}" or "\r\n", neither "=" nor "\r".
        #expect(Self.referenceField("=\u{301}1+2", separator: UInt8(ascii: ",")) == Array("=\u{301}1+2".utf8))
        #expect(table.field("=\u{301}1+2") == Array("\"'=\u{301}1+2\"".utf8))
        #expect(table.field("\r\n=1") == Array("\"'\r\n=1\"".utf8))
        #expect(table.field("-\u{20dd}") == Array("\"'-\u{20dd}\"".utf8))
    }

    @Test("a formula after leading blanks or in full-width signs is neutralised too")
    func neutralisesHiddenFormulas() {
        let table = CSVTable(options: CSVOptions(separator: UInt8(ascii: ";")))
        #expect(table.field(" =1+2") == Array("\"' =1+2\"".utf8))
        #expect(table.field("   @SUM(A1)") == Array("\"'   @SUM(A1)\"".utf8))
        for sign in ["\u{FF1D}", "\u{FF0B}", "\u{FF0D}", "\u{FF20}"] {
            #expect(table.field(sign + "1") == Array("\"'\(sign)1\"".utf8), "\(sign)")
        }
        // Not formulas: other full-width signs, blanks alone, a sign after text.
        #expect(table.field("\u{FF1E}1") == Array("\u{FF1E}1".utf8))
        #expect(table.field("   ") == Array("   ".utf8))
        #expect(table.field("a =1") == Array("a =1".utf8))
        #expect(table.field("\u{EF}") == Array("\u{EF}".utf8))
    }
}
