/// The CSV export's shape (`FORMAT.md` §7, "CSV"): the columns of its first record, and the end record
/// that makes a cut-off file visible.
public enum CSVExportLayout {
    /// The first record. The server writes exactly these, in this order.
    public static let columns = [
        "sequence", "event_id", "occurred_at", "type", "request_id", "actor", "acting_for", "capacity", "role",
        "step", "decision", "dataset_id", "state", "comment", "client_address", "details", "payload_salt",
        "payload_hash", "leaf_hash", "tree_size", "inclusion_proof", "redacted_at", "redacted_by",
    ]

    /// The first cell of the last record: `end`, the event count, the tree size, `complete` or
    /// `filtered`, and the signed note of the checkpoint the export was made against.
    public static let endMarker = "end"
    static let endFieldCount = 5

    static let sequenceColumn = 0
    static let leafHashColumn = columns.firstIndex(of: "leaf_hash")!
    static let treeSizeColumn = columns.firstIndex(of: "tree_size")!
    static let proofColumn = columns.firstIndex(of: "inclusion_proof")!

    /// Whether a file that starts with `line` is a CSV export (with or without its byte order mark),
    /// rather than JSON Lines, whose first byte is `{`.
    public static func isCSV(firstLine line: [UInt8]) -> Bool {
        let text = line.starts(with: byteOrderMark) ? Array(line.dropFirst(3)) : line
        return text.starts(with: Array("sequence,".utf8)) || text.starts(with: Array("sequence;".utf8))
    }

    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
}

/// Checks what a CSV export can show offline: that it is whole (its end record is there, counts its
/// rows and names a checkpoint the auditor trusts, signed by the key) and that the leaf hashes of its
/// rows lie in that signed tree (a complete export rebuilds the root; a filtered one carries each
/// row's inclusion proof). It does **not** check the cells' text against those hashes: neutralising
/// formula cells (a leading `'`) makes the text ambiguous. That is what the JSON Lines export is for.
struct CSVExportVerifier {
    let key: NoteVerifierKey
    let origin: String

    func verify(
        firstLine: [UInt8], rest: some IteratorProtocol<[UInt8]>, checkpoints: [Checkpoint], trustedCount: Int
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        var first = firstLine
        if first.starts(with: CSVExportLayout.byteOrderMark) { first.removeFirst(3) }
        // `isCSV(firstLine:)` holds: the ninth byte is the separator.
        var reader = CSVRecordReader(separator: first[8], firstLine: first, rest: rest)
        func fail(
            _ problem: ExportVerificationFailure.Problem, line: Int? = nil
        ) -> Result<
            ExportVerificationSummary, ExportVerificationFailure
        > {
            .failure(ExportVerificationFailure(line: line ?? reader.recordLine, problem: problem))
        }
        switch reader.next() {
        case .record(let header) where header == CSVExportLayout.columns: break
        case .record: return fail(.csvHeader)
        case .malformed(let reason): return fail(.csvMalformed(reason))
        case .cut, .end: return fail(.missingFinalNewline)
        }
        var count: UInt64 = 0
        var treeSize: UInt64?
        var checkpoint: Checkpoint?
        var previous: UInt64?
        // As if complete: the tree over every row's leaf hash, and whether the rows run from 0 without gaps.
        var frontier = MerkleFrontier()
        var contiguous = true
        // As if filtered: whether every row's inclusion proof was checked (and held).
        var everyProofChecked = true
        var anyProof = false
        while true {
            let fields: [String]
            switch reader.next() {
            case .record(let read): fields = read
            case .malformed(let reason): return fail(.csvMalformed(reason))
            case .cut: return fail(.missingFinalNewline)
            case .end: return fail(.missingEnd, line: reader.recordLine + 1)
            }
            if fields.first == CSVExportLayout.endMarker {
                return finish(
                    fields, reader: &reader, count: count, treeSize: treeSize, checkpoints: checkpoints,
                    trustedCount: trustedCount, complete: contiguous && !anyProof && frontier.size == count,
                    frontier: frontier, everyProofChecked: everyProofChecked)
            }
            guard fields.count == CSVExportLayout.columns.count else {
                return fail(.csvFieldCount(expected: CSVExportLayout.columns.count, found: fields.count))
            }
            guard let sequence = UInt64(fields[CSVExportLayout.sequenceColumn]),
                let size = UInt64(fields[CSVExportLayout.treeSizeColumn]),
                let leafHash = SHA256Hash(hex: fields[CSVExportLayout.leafHashColumn])
            else { return fail(.csvMalformed("sequence, tree_size or leaf_hash is not what the exporter writes")) }
            if let treeSize, size != treeSize { return fail(.csvTreeSizeDiffers(found: size, expected: treeSize)) }
            if checkpoint == nil {
                guard let trusted = checkpoints.last(where: { $0.treeSize == size }) else {
                    return fail(.noTrustedCheckpoint(treeSize: size))
                }
                checkpoint = trusted
                treeSize = size
            }
            guard sequence < size else { return fail(.sequenceOutsideTree(sequence: sequence)) }
            if let previous, sequence <= previous {
                return fail(.sequenceNotIncreasing(sequence: sequence, previous: previous))
            }
            if sequence != count { contiguous = false }
            frontier.append(leafHash: leafHash)
            let proofText = fields[CSVExportLayout.proofColumn]
            let proof = proofText.isEmpty ? [] : proofText.split(separator: " ").map { SHA256Hash(hex: String($0)) }
            guard proof.allSatisfy({ $0 != nil }) else {
                return fail(.csvMalformed("inclusion_proof is not hex hashes"))
            }
            if !proof.isEmpty || size == 1 {
                anyProof = anyProof || !proof.isEmpty
                guard
                    MerkleProofVerifier.verifyInclusion(
                        leafHash: leafHash, index: sequence, treeSize: size, proof: proof.map { $0! },
                        rootHash: checkpoint!.rootHash)
                else { return fail(.inclusionProofInvalid(sequence: sequence)) }
            } else {
                everyProofChecked = false
            }
            previous = sequence
            count += 1
        }
    }

    /// The end record: its count, tree size, selection and checkpoint; then nothing may follow.
    private func finish(
        _ fields: [String], reader: inout CSVRecordReader<some IteratorProtocol<[UInt8]>>, count: UInt64,
        treeSize rowsTreeSize: UInt64?, checkpoints: [Checkpoint], trustedCount: Int, complete: Bool,
        frontier: MerkleFrontier, everyProofChecked: Bool
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        let line = reader.recordLine
        func fail(
            _ problem: ExportVerificationFailure.Problem
        ) -> Result<
            ExportVerificationSummary, ExportVerificationFailure
        > {
            .failure(ExportVerificationFailure(line: line, problem: problem))
        }
        guard fields.count == CSVExportLayout.endFieldCount, let stated = UInt64(fields[1]),
            let treeSize = UInt64(fields[2]), let selection = ExportSelection(rawValue: fields[3])
        else { return fail(.csvMalformed("the end record is not `end`, count, tree size, selection, checkpoint")) }
        guard stated == count else { return fail(.eventCountMismatch(stated: stated, found: count)) }
        if let rowsTreeSize, rowsTreeSize != treeSize {
            return fail(.csvTreeSizeDiffers(found: treeSize, expected: rowsTreeSize))
        }
        guard let trusted = checkpoints.last(where: { $0.treeSize == treeSize }) else {
            return fail(.noTrustedCheckpoint(treeSize: treeSize))
        }
        guard let note = try? SignedNote(parsing: fields[4]), key.verify(note) == .verified,
            let named = try? Checkpoint(noteText: note.text), named.origin == origin,
            named.treeSize == trusted.treeSize, named.rootHash == trusted.rootHash
        else { return fail(.embeddedCheckpointDiffers) }
        switch selection {
        case .complete:
            // Every event of the tree, in order: the leaf hashes must give the signed root.
            guard complete, count == treeSize else {
                return fail(.treeSizeMismatch(header: treeSize, events: count))
            }
            guard frontier.rootHash == trusted.rootHash else {
                return fail(.csvRootMismatch(treeSize: treeSize))
            }
        case .filtered:
            guard everyProofChecked else { return fail(.csvMalformed("a row of a filtered export has no proof")) }
        }
        switch reader.next() {
        case .end: break
        case .record, .malformed, .cut:
            return .failure(ExportVerificationFailure(line: reader.recordLine, problem: .contentAfterEnd))
        }
        return .success(
            ExportVerificationSummary(
                selection: selection, treeSize: treeSize, eventCount: count, checkpoint: trusted,
                checkpointCount: trustedCount, redactedEventCount: 0, kind: .csv))
    }
}

/// RFC 4180 records from lines that each keep their `\n` (a quoted cell may span lines): fields
/// separated by `separator`, a record ended by CRLF, quotes doubled inside quoted cells.
struct CSVRecordReader<Lines: IteratorProtocol<[UInt8]>> {
    let separator: UInt8
    private var pending: [UInt8]?
    private var lines: Lines
    private var lineNumber = 0
    /// The line the last record read started on (1-based).
    private(set) var recordLine = 0

    init(separator: UInt8, firstLine: [UInt8], rest: Lines) {
        self.separator = separator
        pending = firstLine
        lines = rest
    }

    enum Item {
        case record([String])
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
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var quoted = false
        var started = false
        while let line = nextLine() {
            if !started { recordLine = lineNumber }
            started = true
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
                    fields.append(String(decoding: field, as: UTF8.self))
                    field.removeAll(keepingCapacity: true)
                    quoted = false
                } else if byte == 0x0D, index + 2 == line.count, line[index + 1] == 0x0A {
                    fields.append(String(decoding: field, as: UTF8.self))
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
