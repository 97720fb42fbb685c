import Foundation
import Testing

@testable import AuditLog

/// The CSV export proves what the JSON Lines export proves: each row reads back into the event it
/// shows, one form per row, and the events are checked as those of a JSON Lines export.
@Suite("CSV export: cells read back and verified")
struct CSVExportTests {
    /// Texts a person or an attacker could put into a log row, the formula starts and the writer's own
    /// escape among them.
    static let hostile: [String?] = [
        nil, "", "plain", #"quote " inside"#, "new\nline", "cr\rlf\r\n", "a,b", "a;b", "=1+2", "'=1+2", "''",
        "'", "+49 30", "-1", "@SUM(A1)", "\t=tab", " =space first", "\u{FF1D}1+2", "Jürgen ✓ 😀", "   ",
        "\"=quoted formula\"", "'plain",
    ]

    /// A log of `count` events that carry the hostile texts in every text field the CSV shows (each text
    /// once at least from 12 events on), an erasure of two of them with its record at position `count`,
    /// and checkpoints at 9 and `count + 1`.
    static func log(count: Int = 24) -> (events: [ExportedEvent], checkpoints: [CheckpointRecord]) {
        let redaction = Redaction(
            redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_800_000_000_000_000), redactedBy: "ina")
        var events: [VerifiableEvent] = []
        for index in 0..<count {
            let text = hostile[index % hostile.count]
            let other = hostile[(index + 11) % hostile.count]
            var fields: [String: String] = [:]
            fields["comment"] = text
            fields["client_address"] = other
            fields["details"] = index % 3 == 0 ? #"{"why": "\#(index)"}"# : other
            if index == 23 { fields["comment"] = "Begründung, einmalig" }
            let payload = AuditPayload(
                salt: index == 5 ? [] : Array(repeating: UInt8(index), count: 16), fields: fields)
            let event = AuditEvent(
                sequence: UInt64(index), id: LogFixture.uuid(UInt64(index), salt: 4),
                occurredAt: AuditTimestamp(microsecondsSinceEpoch: 1_700_000_000_000_000 + Int64(index) * 1_000_001),
                type: index % 4 == 0 ? "=cmd" : "approved",
                requestID: index % 2 == 0 ? LogFixture.uuid(1, salt: 5) : nil,
                actor: text, actingFor: other, capacity: index % 2 == 0 ? "deputy" : nil, role: other, step: text,
                decision: other, datasetID: text,
                workflow: index % 3 == 0 ? nil : WorkflowReference(id: text ?? "", version: 2),
                state: other, payloadHash: payload.hash)
            events.append(VerifiableEvent(event: event, payload: .present(payload)))
        }
        events.append(LogFixture.erasureRecord(at: UInt64(count), redaction, count: 2))
        let exported = events.map { verifiable in
            var event = ExportFixture.exported(verifiable)
            if [3, 8].contains(verifiable.event.sequence) { event.payload = .redacted(redaction) }
            return event
        }
        return (exported, LogFixture.signedCheckpoints(over: events, sizes: [9, UInt64(count + 1)]))
    }

    static func csv(
        _ events: [ExportedEvent], treeSize: UInt64, selection: ExportSelection, note: String,
        separator: UInt8 = UInt8(ascii: ",")
    ) -> [UInt8] {
        let writer = CSVExportWriter(separator: separator)
        var bytes = writer.header
        for event in events { writer.appendRow(of: event, treeSize: treeSize, to: &bytes) }
        return bytes
            + writer.endRecord(
                eventCount: UInt64(events.count), treeSize: treeSize, selection: selection, checkpoint: note)
    }

    /// The whole log as a complete CSV export.
    static func complete(
        count: Int = 24, separator: UInt8 = UInt8(ascii: ",")
    ) -> (bytes: [UInt8], checkpoints: [CheckpointRecord]) {
        let (events, checkpoints) = log(count: count)
        return (
            csv(
                events, treeSize: UInt64(count + 1), selection: .complete, note: checkpoints[1].signedNote,
                separator: separator),
            checkpoints
        )
    }

    /// Events 2, 3 (erased) and 20 with their proofs in the tree of 25.
    static func filtered() -> (bytes: [UInt8], checkpoints: [CheckpointRecord]) {
        let (events, checkpoints) = log()
        let leafHashes = events.map(\.leafHash)
        let chosen = [2, 3, 20].map { index in
            var event = events[index]
            event.inclusionProof = try! MerkleProofs.inclusionProof(
                index: UInt64(index), treeSize: 25, leafHashes: leafHashes)
            return event
        }
        return (csv(chosen, treeSize: 25, selection: .filtered, note: checkpoints[1].signedNote), checkpoints)
    }

    static func verify(
        _ bytes: [UInt8], _ checkpoints: [CheckpointRecord]
    ) -> Result<
        ExportVerificationSummary, ExportVerificationFailure
    > {
        ExportFixture.verify(bytes, checkpoints: checkpoints)
    }

    @Test(
        "every row reads back into exactly its event, for both separators: absent and empty texts, ' and formulas apart"
    )
    func rowsReadBack() throws {
        let (events, _) = Self.log()
        for separator in [UInt8(ascii: ","), UInt8(ascii: ";")] {
            let writer = CSVExportWriter(separator: separator)
            for event in events {
                var row: [UInt8] = []
                writer.appendRow(of: event, treeSize: 25, to: &row)
                var reader = CSVRecordReader(
                    separator: separator, firstLine: [], rest: ExportLines.split(row).makeIterator())
                _ = reader.next()  // the empty first line given
                guard case .record(let cells) = reader.next() else {
                    Issue.record("row \(event.event.sequence) not read as a record")
                    continue
                }
                #expect(reader.recordBytes == row)
                let read = try CSVExportRow.read(cells)
                #expect(read.event == event, "row \(event.event.sequence)")
                #expect(read.treeSize == 25)
            }
        }
        // The writer's escape and a formula stay apart; absent and empty stay apart.
        let writer = CSVExportWriter()
        func cell(_ text: String?) -> String {
            var bytes: [UInt8] = []
            writer.appendText(text, to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        #expect(cell("=1+2") == #""'=1+2""#)
        #expect(cell("'=1+2") == #""''=1+2""#)
        #expect(cell("'plain") == #""''plain""#)
        #expect(cell("") == #""""#)
        #expect(cell(nil) == "")
        #expect(cell("plain") == "plain")
    }

    @Test("a complete and a filtered CSV verify as their JSON Lines twins do, erasure records included")
    func wholeExportsVerify() throws {
        let (complete, checkpoints) = Self.complete(separator: UInt8(ascii: ";"))
        let summary = try Self.verify(complete, checkpoints).get()
        #expect(summary.kind == .csv)
        #expect(summary.selection == .complete)
        #expect(summary.eventCount == 25)
        #expect(summary.redactedEventCount == 2)
        #expect(summary.erasureRecords.map(\.position) == [24])
        let (filtered, _) = Self.filtered()
        let filteredSummary = try Self.verify(filtered, checkpoints).get()
        #expect(filteredSummary.selection == .filtered)
        #expect(filteredSummary.eventCount == 3)
        #expect(filteredSummary.redactedEventCount == 1)
    }

    @Test("every changed byte of a complete CSV export is refused")
    func everyChangedByteIsRefused() throws {
        // The smallest log that holds every hostile text.
        let (bytes, checkpoints) = Self.complete(count: 12)
        for index in bytes.indices {
            var changed = bytes
            // Another printable byte (a letter stays a letter, a digit a digit where it can).
            changed[index] = bytes[index] == UInt8(ascii: "0") ? UInt8(ascii: "1") : bytes[index] ^ 0x01
            guard case .failure = Self.verify(changed, checkpoints) else {
                let line = bytes[..<index].filter { $0 == 0x0A }.count + 1
                Issue.record("byte \(index) (line \(line)) changed from \(bytes[index]) and still verified")
                continue
            }
        }
    }

    @Test("a changed text, a removed escape, a re-quoted cell, a forged erasure: refused with the reason")
    func changedCellsAreRefused() throws {
        let (bytes, checkpoints) = Self.complete()
        func problem(_ old: String, _ new: String) -> ExportVerificationFailure.Problem? {
            guard
                case .failure(let failure) = Self.verify(
                    ExportFixture.replacing(old, with: new, in: bytes), checkpoints)
            else { return nil }
            return failure.problem
        }
        // A payload text (the comment of event 23) with everything else kept: its payload hash.
        #expect(problem("Begründung, einmalig", "Begründung, geändert") == .log(.payloadHashMismatch(position: 23)))
        // The formula's escape removed, or a plain cell quoted: not as the exporter writes the event.
        #expect(problem(#""'=1+2""#, "=1+2") == .csvRowNotAsWritten)
        #expect(problem(",plain,", #","plain","#) == .csvRowNotAsWritten)
        // The column names and the end record have one form too.
        #expect(problem("sequence,event_id,", #"sequence,"event_id","#) == .csvHeader)
        #expect(
            problem("\r\nend,25,25,", "\r\nend,+25,025,")
                == .csvMalformed("the end record is not as the exporter writes it"))
        #expect(
            problem("\r\nend,25,25,", "\r\n\"end\",25,25,")
                == .csvMalformed("the end record is not as the exporter writes it"))
        // A field of the leaf: the re-encoded leaf differs from the recorded one.
        let row = String(decoding: ExportLines.split(bytes)[1], as: UTF8.self)
        #expect(row.hasPrefix("0,"))
        #expect(problem(",deputy,", ",principal,") == .log(.leafHashMismatch(position: 0)))
        // A payload replaced by an erasure marker: the erasure record counts two events, not three.
        let (events, _) = Self.log()
        let writer = CSVExportWriter()
        var original: [UInt8] = []
        writer.appendRow(of: events[4], treeSize: 25, to: &original)
        var erased = events[4]
        erased.payload = .redacted(
            Redaction(redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_800_000_000_000_000), redactedBy: "ina"))
        var forged: [UInt8] = []
        writer.appendRow(of: erased, treeSize: 25, to: &forged)
        let text = String(decoding: bytes, as: UTF8.self)
            .replacingOccurrences(
                of: String(decoding: original, as: UTF8.self), with: String(decoding: forged, as: UTF8.self))
        guard case .failure(let failure) = Self.verify(Array(text.utf8), checkpoints) else {
            Issue.record("a forged erasure marker verified")
            return
        }
        #expect(failure.problem == .log(.erasureCountMismatch(position: 24, recorded: 2, marked: 3)), "\(failure)")
    }

    @Test("the rows' selection and the end record's must agree; a filtered export without its proofs is refused")
    func selectionMustAgree() throws {
        let (bytes, checkpoints) = Self.complete()
        let relabelled = ExportFixture.replacing(",complete,", with: ",filtered,", in: bytes)
        guard case .failure(let failure) = Self.verify(relabelled, checkpoints) else {
            Issue.record("a complete export relabelled filtered verified")
            return
        }
        #expect(failure.problem == .csvSelectionDiffers(rows: .complete, end: .filtered))
        // The first row's proof removed: the rows now claim to be a complete export, which they are not.
        let (filtered, _) = Self.filtered()
        let (events, _) = Self.log()
        let writer = CSVExportWriter()
        var withProof = events[2]
        withProof.inclusionProof = try MerkleProofs.inclusionProof(
            index: 2, treeSize: 25, leafHashes: events.map(\.leafHash))
        var original: [UInt8] = []
        writer.appendRow(of: withProof, treeSize: 25, to: &original)
        var bare: [UInt8] = []
        writer.appendRow(of: events[2], treeSize: 25, to: &bare)
        let text = String(decoding: filtered, as: UTF8.self)
        let proofless = text.replacingOccurrences(
            of: String(decoding: original, as: UTF8.self), with: String(decoding: bare, as: UTF8.self))
        #expect(proofless != text)
        guard case .failure = Self.verify(Array(proofless.utf8), checkpoints) else {
            Issue.record("a filtered export without its proofs verified")
            return
        }
    }
}
