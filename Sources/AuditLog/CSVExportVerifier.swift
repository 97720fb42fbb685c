/// Checks a CSV export offline as the JSON Lines export is checked: each row is read back into the
/// event it shows (``CSVExportRow``), written again and compared byte for byte (one form per row, as
/// each JSON line must be canonical), and the events go through the same checks: a complete export
/// through ``LogVerification`` (sequence from 0, payloads, re-encoded leaves, the tree against every
/// trusted checkpoint, the erasure records), a filtered one through ``FilteredExportCheck``. The end
/// record must count the rows and name the trusted checkpoint of their tree size; nothing may follow.
///
/// The CSV has no header line stating its selection before the rows: the first row tells it (a
/// filtered export's rows carry inclusion proofs, a complete export's none), and the end record must
/// agree. In a tree of one event the two look alike, and the complete export's checks are made.
struct CSVExportVerifier {
    let verifier: LogVerifier
    /// The trusted checkpoints, as given and as read (in tree-size order, verified).
    let records: [CheckpointRecord]
    let checkpoints: [Checkpoint]

    /// How the rows are checked, once the first row showed which export this is.
    private enum Rows {
        case none
        case complete(LogVerification)
        case filtered(FilteredExportCheck)

        var selection: ExportSelection? {
            switch self {
            case .none: nil
            case .complete: .complete
            case .filtered: .filtered
            }
        }
    }

    func verify(
        firstLine: [UInt8], rest: some IteratorProtocol<[UInt8]>
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        var first = firstLine
        if first.starts(with: CSVExportLayout.byteOrderMark) { first.removeFirst(3) }
        // `isCSV(firstLine:)` holds: the ninth byte is the separator.
        let separator = first[8]
        var reader = CSVRecordReader(separator: separator, firstLine: first, rest: rest)
        let writer = CSVExportWriter(separator: separator)
        func fail(
            _ problem: ExportVerificationFailure.Problem, line: Int? = nil
        ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
            .failure(ExportVerificationFailure(line: line ?? reader.recordLine, problem: problem))
        }
        switch reader.next() {
        // The column names exactly as written (each cell, its quoting, the line end): one form, as every row.
        case .record where reader.recordBytes == writer.header: break
        case .record: return fail(.csvHeader)
        case .malformed(let reason): return fail(.csvMalformed(reason))
        case .cut, .end: return fail(.missingFinalNewline)
        }
        var rows = Rows.none
        var treeSize: UInt64?
        var count: UInt64 = 0
        var written: [UInt8] = []
        while true {
            let cells: [String?]
            switch reader.next() {
            case .record(let read): cells = read
            case .malformed(let reason): return fail(.csvMalformed(reason))
            case .cut: return fail(.missingFinalNewline)
            case .end: return fail(.missingEnd, line: reader.recordLine + 1)
            }
            if cells.first == CSVExportLayout.endMarker {
                return finish(
                    cells, rows: rows, rowsTreeSize: treeSize, count: count, writer: writer, reader: &reader)
            }
            guard cells.count == CSVExportLayout.columns.count else {
                return fail(.csvFieldCount(expected: CSVExportLayout.columns.count, found: cells.count))
            }
            var exported: ExportedEvent
            let size: UInt64
            do throws(CSVRowError) {
                (exported, size) = try CSVExportRow.read(cells)
            } catch {
                return fail(.csvMalformed(error.reason))
            }
            written.removeAll(keepingCapacity: true)
            writer.appendRow(of: exported, treeSize: size, to: &written)
            guard written == reader.recordBytes else { return fail(.csvRowNotAsWritten) }
            if let treeSize, size != treeSize { return fail(.csvTreeSizeDiffers(found: size, expected: treeSize)) }
            if case .none = rows {
                guard let trusted = checkpoints.last(where: { $0.treeSize == size }) else {
                    return fail(.noTrustedCheckpoint(treeSize: size))
                }
                treeSize = size
                if exported.inclusionProof == nil {
                    switch verifier.begin(checkpoints: recordsUpTo(size)) {
                    case .success(let verification): rows = .complete(verification)
                    case .failure(let failure): return fail(.log(failure), line: nil)
                    }
                } else {
                    rows = .filtered(FilteredExportCheck(checkpoint: trusted))
                }
            }
            switch rows {
            case .none: break
            case .complete(var verification):
                if exported.inclusionProof != nil {
                    return fail(.unexpectedInclusionProof(sequence: exported.event.sequence))
                }
                let failure = verification.check(exported.verifiable)
                rows = .complete(verification)
                // The check looks at this event only (the erasure records are checked at the end).
                if let failure { return fail(.log(failure)) }
            case .filtered(var check):
                // The proof of the one leaf of a tree of one is empty, and so is its cell.
                if exported.inclusionProof == nil, size == 1 { exported.inclusionProof = [] }
                let problem = check.check(exported)
                rows = .filtered(check)
                if let problem { return fail(problem) }
            }
            count += 1
        }
    }

    /// The trusted checkpoints a complete export of `treeSize` events must reach.
    private func recordsUpTo(_ treeSize: UInt64) -> [CheckpointRecord] {
        zip(records, checkpoints).filter { $0.1.treeSize <= treeSize }.map(\.0)
    }

    /// The end record: its count, tree size, selection and checkpoint; then nothing may follow.
    private func finish(
        _ cells: [String?], rows: Rows, rowsTreeSize: UInt64?, count: UInt64, writer: CSVExportWriter,
        reader: inout CSVRecordReader<some IteratorProtocol<[UInt8]>>
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        let line = reader.recordLine
        func fail(
            _ problem: ExportVerificationFailure.Problem
        ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
            .failure(ExportVerificationFailure(line: line, problem: problem))
        }
        let fields = cells.map { $0 ?? "" }
        guard fields.count == CSVExportLayout.endFieldCount, let stated = UInt64(fields[1]),
            let treeSize = UInt64(fields[2]), let selection = ExportSelection(rawValue: fields[3])
        else { return fail(.csvMalformed("the end record is not `end`, count, tree size, selection, checkpoint")) }
        guard
            reader.recordBytes
                == writer.endRecord(eventCount: stated, treeSize: treeSize, selection: selection, checkpoint: fields[4])
        else { return fail(.csvMalformed("the end record is not as the exporter writes it")) }
        guard stated == count else { return fail(.eventCountMismatch(stated: stated, found: count)) }
        if let rowsTreeSize, rowsTreeSize != treeSize {
            return fail(.csvTreeSizeDiffers(found: treeSize, expected: rowsTreeSize))
        }
        guard let trusted = checkpoints.last(where: { $0.treeSize == treeSize }) else {
            return fail(.noTrustedCheckpoint(treeSize: treeSize))
        }
        guard let note = try? SignedNote(parsing: fields[4]), verifier.keys.verify(note) == .verified,
            let named = try? Checkpoint(noteText: note.text), named.origin == verifier.origin,
            named.treeSize == trusted.treeSize, named.rootHash == trusted.rootHash
        else { return fail(.embeddedCheckpointDiffers) }
        if let read = rows.selection, read != selection, !(read == .complete && treeSize == 1) {
            return fail(.csvSelectionDiffers(rows: read, end: selection))
        }
        var summary: ExportVerificationSummary
        switch rows {
        case .complete(let verification):
            switch ExportVerifier.completeExport(
                verification.finish(), treeSize: treeSize, endLine: line, eventLine: { _ in nil })
            {
            case .success(let complete): summary = complete
            case .failure(let failure): return .failure(failure)
            }
            summary.selection = selection
        case .filtered(let check):
            summary = check.summary(checkpointCount: records.count)
        case .none:
            // No rows: a complete export of the empty tree, or a filtered one that matched nothing.
            guard selection == .filtered || treeSize == 0 else {
                return fail(.treeSizeMismatch(header: treeSize, events: 0))
            }
            summary = ExportVerificationSummary(
                selection: selection, treeSize: treeSize, eventCount: 0, checkpoint: trusted,
                checkpointCount: records.count, redactedEventCount: 0)
        }
        summary.kind = .csv
        switch reader.next() {
        case .end: return .success(summary)
        case .record, .malformed, .cut:
            return .failure(ExportVerificationFailure(line: reader.recordLine, problem: .contentAfterEnd))
        }
    }
}

/// RFC 4180 records from lines that each keep their `\n` (a quoted cell may span lines): fields
/// separated by `separator`, a record ended by CRLF, quotes doubled inside quoted cells. An empty cell
/// is nil unless quoted (`""`): the export writes an absent text as nothing, an empty one quoted.
struct CSVRecordReader<Lines: IteratorProtocol<[UInt8]>> {
    let separator: UInt8
    private var pending: [UInt8]?
    private var lines: Lines
    private var lineNumber = 0
    /// The line the last record read started on (1-based).
    private(set) var recordLine = 0
    /// The bytes of the last record read, as they were in the file.
    private(set) var recordBytes: [UInt8] = []

    init(separator: UInt8, firstLine: [UInt8], rest: Lines) {
        self.separator = separator
        pending = firstLine
        lines = rest
    }

    enum Item {
        case record([String?])
        /// Not a record the exporter writes.
        case malformed(String)
        /// The input ended inside a record: cut off.
        case cut
        /// No more input.
        case end
    }

    private mutating func nextLine() -> [UInt8]? {
        if let line = pending {
            pending = nil
            lineNumber += 1
            return line
        }
        guard let line = lines.next() else { return nil }
        lineNumber += 1
        return line
    }

    mutating func next() -> Item {
        let quote = UInt8(ascii: "\"")
        var fields: [String?] = []
        var field: [UInt8] = []
        var inQuotes = false
        var quoted = false
        var started = false
        recordBytes.removeAll(keepingCapacity: true)
        func cell() -> String? {
            quoted || !field.isEmpty ? String(decoding: field, as: UTF8.self) : nil
        }
        while let line = nextLine() {
            if !started { recordLine = lineNumber }
            started = true
            recordBytes += line
            var index = 0
            while index < line.count {
                let byte = line[index]
                if inQuotes {
                    if byte == quote {
                        if index + 1 < line.count, line[index + 1] == quote {
                            field.append(quote)
                            index += 1
                        } else {
                            inQuotes = false
                        }
                    } else {
                        field.append(byte)
                    }
                } else if byte == quote {
                    guard field.isEmpty, !quoted else { return .malformed("a quote inside a cell") }
                    inQuotes = true
                    quoted = true
                } else if byte == separator {
                    fields.append(cell())
                    field.removeAll(keepingCapacity: true)
                    quoted = false
                } else if byte == 0x0D, index + 2 == line.count, line[index + 1] == 0x0A {
                    fields.append(cell())
                    return .record(fields)
                } else if byte == 0x0D || byte == 0x0A {
                    return .malformed("a line that does not end with CRLF")
                } else if quoted {
                    return .malformed("text after a closing quote")
                } else {
                    field.append(byte)
                }
                index += 1
            }
            // The line ended inside a quoted cell (its newline is part of the text), or without a newline.
            guard inQuotes, line.last == 0x0A else { return .cut }
        }
        return started ? .cut : .end
    }
}
