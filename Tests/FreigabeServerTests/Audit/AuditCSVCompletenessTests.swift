import AuditLog
import Foundation
import PostgresNIO
import Testing

@testable import FreigabeServer

/// A CSV export ends with a record that counts its rows and names the covering signed checkpoint, so
/// that `freigabe audit verify --export` refuses a file cut anywhere (at a line boundary or inside a
/// line), a wrong count, or rows after the end; and its rows must re-encode to the signed tree.
@Suite("Decision log: a cut CSV export is detected")
struct AuditCSVCompletenessTests {
    static let signer = AuditSealTests.signer
    /// Multi-line and quoted cells: records that span lines and cells that need quoting.
    static let comments = ["=SUM(A1:A9)", "Er sagte \"ja\"; dann\nneu", "Zeile\r\nzwei", "Jürgen ✓", "-2"]

    struct Exported {
        var complete: [UInt8]
        var filtered: [UInt8]
        var note: String
        var size: UInt64
    }

    /// Events with those texts, sealed under a signed checkpoint; a complete CSV (`,`) and one filtered
    /// to mallory (`;` with BOM), as the exporter writes them.
    static func exports(_ store: ServiceFixture) async throws -> Exported {
        for (index, comment) in comments.enumerated() {
            try await store.admin.query(
                """
                INSERT INTO audit_events (occurred_at, actor, event, comment)
                VALUES (now(), \(index % 2 == 0 ? "anna" : "mallory"), 'login_failed', \(comment))
                """, logger: store.logger)
        }
        let size = try await AuditSealer(client: store.app, signer: signer, checkpointFile: nil)
            .sealAll(now: Date(), logger: store.logger)
        let exporter = AuditExporter(query: AuditQuery(client: store.app))
        var complete: [UInt8] = []
        _ = try await exporter.export(AuditFilter(), format: .csv, logger: store.logger) { complete += $0 }
        var filtered: [UInt8] = []
        _ = try await exporter.export(
            try AuditFilter.parse(person: "mallory"), format: .csv,
            csv: CSVOptions(separator: UInt8(ascii: ";"), byteOrderMark: true), logger: store.logger
        ) { filtered += $0 }
        let note = try #require(
            try await AuditQuery(client: store.app).latestSignedCheckpoint(logger: store.logger)?.signedNote)
        return Exported(complete: complete, filtered: filtered, note: note, size: size)
    }

    static func verify(_ bytes: [UInt8], note: String) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        ExportVerifier(key: signer.verifierKey).verify(
            lines: ExportLines.split(bytes), checkpoints: [CheckpointRecord(signedNote: note)])
    }

    static func problem(_ bytes: [UInt8], note: String) -> ExportVerificationFailure? {
        guard case .failure(let failure) = verify(bytes, note: note) else { return nil }
        return failure
    }

    @Test("a whole CSV export verifies: complete (leaf hashes give the root) and filtered (each proof holds)")
    func wholeExportsVerify() async throws {
        try await ServiceFixture.with(importCatalogue: false) { store in
            let exported = try await Self.exports(store)
            let text = String(decoding: exported.complete, as: UTF8.self)
            // The last record: end, the count, the tree size, the selection, the signed note.
            #expect(text.hasSuffix("\r\n"))
            #expect(text.contains("\r\nend,\(exported.size),\(exported.size),complete,\""))
            let complete = try Self.verify(exported.complete, note: exported.note).get()
            #expect(complete.kind == .csv)
            #expect(complete.selection == .complete)
            #expect(complete.eventCount == exported.size)
            let filtered = try Self.verify(exported.filtered, note: exported.note).get()
            #expect(filtered.kind == .csv)
            #expect(filtered.selection == .filtered)
            #expect(filtered.eventCount == 2)
            #expect(
                String(decoding: exported.filtered, as: UTF8.self).contains("\r\nend;2;\(exported.size);filtered;\""))
        }
    }

    @Test("cut at every line boundary and at every byte: refused, the cut named")
    func everyCutIsRefused() async throws {
        try await ServiceFixture.with(importCatalogue: false) { store in
            let exported = try await Self.exports(store)
            for bytes in [exported.complete, exported.filtered] {
                let lines = ExportLines.split(bytes)
                // Only the end record gone (it spans the lines of the signed note): "no end", cut off.
                let endStart = try #require(
                    lines.lastIndex { String(decoding: $0, as: UTF8.self).hasPrefix("end") })
                let withoutEnd = Array(lines[..<endStart].joined())
                let noEnd = try #require(Self.problem(withoutEnd, note: exported.note))
                #expect(noEnd.problem == .missingEnd)
                #expect(noEnd.description.contains("it was cut off"), "\(noEnd)")
                // Every other line boundary.
                for count in 1..<lines.count {
                    let cut = Array(lines[..<count].joined())
                    let failure = Self.problem(cut, note: exported.note)
                    #expect(failure != nil, "cut after line \(count) verified")
                    #expect(
                        failure?.description.contains("cut off") == true,
                        "line \(count): \(failure.map { "\($0)" } ?? "")")
                }
                // Every byte: a cut inside a line is refused too.
                for length in 0..<bytes.count {
                    #expect(Self.problem(Array(bytes[..<length]), note: exported.note) != nil, "cut at byte \(length)")
                }
                // The last row cut in the middle of its line.
                let lastRow = Array(lines[endStart - 1])
                let midLine = Array(lines[..<(endStart - 1)].joined()) + lastRow[..<(lastRow.count / 2)]
                #expect(Self.problem(midLine, note: exported.note)?.problem == .missingFinalNewline)
            }
        }
    }

    @Test("an end record with a wrong count, rows after it, a changed leaf hash, a removed row: refused")
    func wrongEndRecordAndChangedRows() async throws {
        try await ServiceFixture.with(importCatalogue: false) { store in
            let exported = try await Self.exports(store)
            let text = String(decoding: exported.complete, as: UTF8.self)
            let size = exported.size
            for stated in [size + 1, size - 1, 0] {
                let wrong = text.replacingOccurrences(of: "\r\nend,\(size),", with: "\r\nend,\(stated),")
                let failure = try #require(Self.problem(Array(wrong.utf8), note: exported.note))
                #expect(failure.problem == .eventCountMismatch(stated: stated, found: size))
                #expect(failure.description.contains("counts \(stated) events, the export has \(size)"))
            }
            let filtered = String(decoding: exported.filtered, as: UTF8.self)
            let wrongFiltered = filtered.replacingOccurrences(of: "\r\nend;2;", with: "\r\nend;3;")
            #expect(
                Self.problem(Array(wrongFiltered.utf8), note: exported.note)?.problem
                    == .eventCountMismatch(stated: 3, found: 2))

            // Rows after the end record.
            let lines = ExportLines.split(exported.complete)
            let appended = exported.complete + lines[1]
            #expect(Self.problem(appended, note: exported.note)?.problem == .contentAfterEnd)

            // A changed leaf hash: the event re-encodes to another leaf, complete and filtered.
            let leafHashColumn = try #require(CSVExportLayout.columns.firstIndex(of: "leaf_hash"))
            let row = String(decoding: lines[1], as: UTF8.self)
            let leafHash = row.split(separator: ",", omittingEmptySubsequences: false)[leafHashColumn]
            let changed = text.replacingOccurrences(of: leafHash, with: String(repeating: "0", count: 64))
            #expect(
                Self.problem(Array(changed.utf8), note: exported.note)?.problem == .log(.leafHashMismatch(position: 0)))
            // The last row: on one line (the first of mallory's rows spans two).
            let filteredLines = ExportLines.split(exported.filtered)
            let filteredEnd = try #require(
                filteredLines.lastIndex { String(decoding: $0, as: UTF8.self).hasPrefix("end") })
            let filteredRow = filteredLines[filteredEnd - 1]
            let filteredHash = String(decoding: filteredRow, as: UTF8.self)
                .split(separator: ";", omittingEmptySubsequences: false)[leafHashColumn]
            let changedFiltered = filtered.replacingOccurrences(
                of: filteredHash, with: String(repeating: "1", count: 64))
            if case .log(.leafHashMismatch)? = Self.problem(Array(changedFiltered.utf8), note: exported.note)?.problem {
            } else {
                Issue.record("a changed leaf hash in a filtered CSV was not refused")
            }

            // The first row removed and the count corrected: the complete export has a gap.
            let withoutRow = text.replacingOccurrences(of: row, with: "")
                .replacingOccurrences(of: "\r\nend,\(size),", with: "\r\nend,\(size - 1),")
            #expect(Self.problem(Array(withoutRow.utf8), note: exported.note) != nil)

            // Another checkpoint in the end record than the trusted one.
            let other = try AuditSealTests.signer.sign(
                Checkpoint(origin: AuditSealTests.signer.keyName, treeSize: size, rootHash: .empty))
            let replacedNote = text.replacingOccurrences(of: exported.note, with: other.serialized)
            #expect(Self.problem(Array(replacedNote.utf8), note: exported.note)?.problem == .embeddedCheckpointDiffers)

            // A cell's text changed with its hashes kept: the payload no longer has its hash, in the complete
            // export and in the filtered one (the CSV proves its content as JSON Lines does, FORMAT.md §7).
            for (export, separator) in [(text, ","), (filtered, ";")] {
                let textChanged = export.replacingOccurrences(of: "Jürgen", with: "Jochen")
                #expect(textChanged != export)
                let failure = try #require(Self.problem(Array(textChanged.utf8), note: exported.note))
                if case .log(.payloadHashMismatch) = failure.problem {
                } else {
                    Issue.record("a changed comment was not refused by its payload hash: \(failure)")
                }
                // A neutralised formula whose escape was removed: not as the exporter writes it.
                let unescaped = export.replacingOccurrences(
                    of: "\(separator)\"'-2\"\(separator)", with: "\(separator)-2\(separator)")
                if export == text {
                    #expect(unescaped != export)
                    #expect(Self.problem(Array(unescaped.utf8), note: exported.note)?.problem == .csvRowNotAsWritten)
                }
            }
        }
    }

    @Test("freigabe audit verify --export: a whole CSV passes and says what was checked; a cut one fails")
    func commandLine() async throws {
        try await AuditExportTests.Folder.with { folder in
            try await ServiceFixture.with(importCatalogue: false) { store in
                let exported = try await Self.exports(store)
                try (exported.note + "\n").write(
                    toFile: folder.path("checkpoints.txt"), atomically: true, encoding: .utf8)
                let lines = ExportLines.split(exported.complete)
                let endStart = try #require(
                    lines.lastIndex { String(decoding: $0, as: UTF8.self).hasPrefix("end") })
                for (name, bytes) in [
                    ("whole.csv", exported.complete), ("cut.csv", Array(lines[..<endStart].joined())),
                    ("mid.csv", Array(exported.complete.dropLast(200))),
                ] {
                    #expect(FileManager.default.createFile(atPath: folder.path(name), contents: Data(bytes)))
                }
                func verify(_ name: String) -> ToolOutput {
                    AuditTool.verifyExport(
                        exportFile: folder.path(name), checkpointFile: folder.path("checkpoints.txt"),
                        publicKeyFile: folder.path("audit.pub"))
                }
                let whole = verify("whole.csv")
                #expect(whole.succeeded, "\(whole)")
                #expect(whole.standardOutput.last == "Der Export ist unverändert (alle Prüfungen bestanden).")
                #expect(
                    whole.standardOutput.contains { $0.hasPrefix("Geprüft: vollständiger CSV-Export: alle ") },
                    "\(whole)")
                let cut = verify("cut.csv")
                #expect(!cut.succeeded)
                #expect(
                    cut.standardError.first?.hasSuffix("the export has no end line (it was cut off)") == true, "\(cut)")
                let mid = verify("mid.csv")
                #expect(!mid.succeeded)
                #expect(mid.standardError.first?.contains("cut off") == true, "\(mid)")
            }
        }
    }
}
