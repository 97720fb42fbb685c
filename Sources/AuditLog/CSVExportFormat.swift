import Foundation

/// The CSV export's shape (`FORMAT.md` §7, "CSV"): the columns of its first record, and the end record
/// that makes a cut-off file visible.
public enum CSVExportLayout {
    /// The first record: the fields of `FORMAT.md` §2 in its order, the payload's three texts and salt,
    /// the hashes, the tree size, the proof, the erasure marker. ``CSVExportWriter`` writes exactly these,
    /// in this order.
    public static let columns = [
        "sequence", "event_id", "occurred_at", "type", "request_id", "actor", "acting_for", "capacity", "role",
        "step", "decision", "dataset_id", "workflow_id", "workflow_version", "state", "comment", "client_address",
        "details", "payload_salt", "payload_hash", "leaf_hash", "tree_size", "inclusion_proof", "redacted_at",
        "redacted_by",
    ]

    /// The payload's texts the CSV has a column for, under their payload keys (the server writes no
    /// others; a payload with another key cannot be shown in CSV and would not verify).
    public static let payloadKeys = ["comment", "client_address", "details"]

    /// The first cell of the last record: `end`, the event count, the tree size, `complete` or
    /// `filtered`, and the signed note of the checkpoint the export was made against.
    public static let endMarker = "end"
    static let endFieldCount = 5

    /// Whether a file that starts with `line` is a CSV export (with or without its byte order mark),
    /// rather than JSON Lines, whose first byte is `{`.
    public static func isCSV(firstLine line: [UInt8]) -> Bool {
        let text = line.starts(with: byteOrderMark) ? Array(line.dropFirst(3)) : line
        return text.starts(with: Array("sequence,".utf8)) || text.starts(with: Array("sequence;".utf8))
    }

    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
}

/// Writes the CSV export: RFC 4180 quoting, CRLF, formula cells neutralised (OWASP "CSV Injection"),
/// and every text written so that it reads back to exactly itself. The server's exporter writes with
/// it, and ``CSVExportVerifier`` writes each row it read once more and compares the bytes: a row has one
/// form, and its cells re-encode to the leaf the signed tree holds.
///
/// A text cell is quoted when it holds the separator, a quote, CR or LF, when it is empty (so that an
/// empty text differs from an absent one, which is written as nothing), and when it starts with `'`.
/// A `'` is put in front of a text a spreadsheet would run as a formula (``startsFormula(_:)``) and of
/// a text that itself starts with `'`: reading drops exactly one leading `'`, so a neutralised `=1+2`
/// and a text that was `'=1+2` stay apart.
public struct CSVExportWriter: Sendable {
    public let separator: UInt8

    public init(separator: UInt8 = UInt8(ascii: ",")) {
        self.separator = separator
    }

    /// The column names, CRLF-terminated.
    public var header: [UInt8] {
        record(CSVExportLayout.columns)
    }

    /// The last record: without it a file cut at a line boundary would look whole.
    public func endRecord(
        eventCount: UInt64, treeSize: UInt64, selection: ExportSelection, checkpoint note: String
    ) -> [UInt8] {
        record([CSVExportLayout.endMarker, String(eventCount), String(treeSize), selection.rawValue, note])
    }

    /// One record of texts, CRLF-terminated (RFC 4180).
    func record(_ cells: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, cell) in cells.enumerated() {
            if index > 0 { bytes.append(separator) }
            appendText(cell, to: &bytes)
        }
        bytes += [0x0D, 0x0A]
        return bytes
    }

    /// The row of one event, in ``CSVExportLayout/columns`` order, appended to `bytes` without an
    /// intermediate `String` per cell: an export writes millions. The cells the log makes (numbers,
    /// UUIDs, times, hex) are ASCII that never needs quoting or neutralising, and are written as they are.
    public func appendRow(of exported: ExportedEvent, treeSize: UInt64, to bytes: inout [UInt8]) {
        let event = exported.event
        func text(_ value: String?) {
            bytes.append(separator)
            appendText(value, to: &bytes)
        }
        bytes.append(contentsOf: String(event.sequence).utf8)
        bytes.append(separator)
        bytes.append(contentsOf: event.id.uuidString.lowercased().utf8)
        bytes.append(separator)
        _ = event.occurredAt.appendRFC3339(to: &bytes)
        text(event.type)
        bytes.append(separator)
        if let requestID = event.requestID { bytes.append(contentsOf: requestID.uuidString.lowercased().utf8) }
        text(event.actor)
        text(event.actingFor)
        text(event.capacity)
        text(event.role)
        text(event.step)
        text(event.decision)
        text(event.datasetID)
        text(event.workflow?.id)
        bytes.append(separator)
        if let workflow = event.workflow { bytes.append(contentsOf: String(workflow.version).utf8) }
        text(event.state)
        switch exported.payload {
        case .present(let payload):
            for key in CSVExportLayout.payloadKeys { text(payload.fields[key]) }
            bytes.append(separator)
            Self.appendHex(payload.salt, to: &bytes)
        case .redacted:
            for _ in 0...CSVExportLayout.payloadKeys.count { bytes.append(separator) }
        }
        bytes.append(separator)
        event.payloadHash.appendHex(to: &bytes)
        bytes.append(separator)
        exported.leafHash.appendHex(to: &bytes)
        bytes.append(separator)
        bytes.append(contentsOf: String(treeSize).utf8)
        bytes.append(separator)
        for (index, hash) in (exported.inclusionProof ?? []).enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: " ")) }
            hash.appendHex(to: &bytes)
        }
        bytes.append(separator)
        if case .redacted(let redaction) = exported.payload {
            _ = redaction.redactedAt.appendRFC3339(to: &bytes)
            text(redaction.redactedBy)
        } else {
            bytes.append(separator)
        }
        bytes += [0x0D, 0x0A]
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendHex(_ data: [UInt8], to bytes: inout [UInt8]) {
        for byte in data {
            bytes.append(hexDigits[Int(byte >> 4)])
            bytes.append(hexDigits[Int(byte & 0x0f)])
        }
    }

    /// One text cell (see the type's comment); nothing for an absent one.
    public func appendText(_ text: String?, to bytes: inout [UInt8]) {
        guard var text else { return }
        text.withUTF8 { utf8 in
            let prefixed = Self.startsFormula(utf8) || utf8.first == Self.escape
            let needsQuotes =
                prefixed || utf8.isEmpty
                || utf8.contains { $0 == separator || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
            guard needsQuotes else { return bytes.append(contentsOf: utf8) }
            bytes.append(0x22)
            if prefixed { bytes.append(Self.escape) }
            for byte in utf8 {
                if byte == 0x22 { bytes.append(0x22) }
                bytes.append(byte)
            }
            bytes.append(0x22)
        }
    }

    /// What neutralises a cell, and what reading drops once from a cell that starts with it.
    static let escape = UInt8(ascii: "'")

    /// Bytes that start a formula in Excel, LibreOffice and Google Sheets (OWASP "CSV Injection"):
    /// `=`, `+`, `-`, `@`, tab and carriage return. Checked on bytes, not on `Character`s:
    /// `"=\u{301}…"` or `"\r\n…"` are one grapheme cluster that is not `=` or `\r`, yet a
    /// spreadsheet still sees the `=` or the carriage return.
    static let formulaStarts: Set<UInt8> = [
        UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D,
    ]

    /// The full-width forms ＝ ＋ － ＠ (U+FF1D, U+FF0B, U+FF0D, U+FF20: `EF BC xx` in UTF-8), which
    /// Excel with an East Asian input language turns into their ASCII twins and then runs.
    static let fullWidthFormulaStarts: Set<UInt8> = [0x9D, 0x8B, 0x8D, 0xA0]

    /// Whether a spreadsheet would run the cell: its first byte after any leading blanks (LibreOffice
    /// and Excel skip them before a formula) starts one, in ASCII or full width.
    static func startsFormula(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let start = utf8.firstIndex(where: { $0 != UInt8(ascii: " ") }) else { return false }
        if formulaStarts.contains(utf8[start]) { return true }
        return utf8.count - start >= 3 && utf8[start] == 0xEF && utf8[start + 1] == 0xBC
            && fullWidthFormulaStarts.contains(utf8[start + 2])
    }
}

/// Reading a row back into the event it shows: the inverse of ``CSVExportWriter/appendRow(of:treeSize:to:)``
/// for every row that writer makes (the verifier writes the result again and compares, so anything
/// else is refused there).
enum CSVExportRow {
    /// The event of `cells` (an absent cell is nil, a quoted empty one `""`) and the tree size it names.
    static func read(_ cells: [String?]) throws(CSVRowError) -> (event: ExportedEvent, treeSize: UInt64) {
        var reader = Cells(cells: cells)
        let sequence = try reader.number("sequence", UInt64.self)
        let id = try reader.required("event_id") { UUID(uuidString: $0) }
        let occurredAt = try reader.required("occurred_at") { AuditTimestamp(rfc3339: $0) }
        guard let type = reader.text() else { throw CSVRowError("type is empty") }
        let requestID = try reader.optional("request_id") { UUID(uuidString: $0) }
        let actor = reader.text()
        let actingFor = reader.text()
        let capacity = reader.text()
        let role = reader.text()
        let step = reader.text()
        let decision = reader.text()
        let datasetID = reader.text()
        let workflowID = reader.text()
        let workflowVersion = try reader.optional("workflow_version") { UInt32($0) }
        let workflow: WorkflowReference?
        switch (workflowID, workflowVersion) {
        case (let id?, let version?): workflow = WorkflowReference(id: id, version: version)
        case (nil, nil): workflow = nil
        default: throw CSVRowError("workflow_id and workflow_version are given together or not at all")
        }
        let state = reader.text()
        var fields: [String: String] = [:]
        for key in CSVExportLayout.payloadKeys {
            if let value = reader.text() { fields[key] = value }
        }
        // An erased payload has no salt, and a payload may have one of no bytes.
        let salt = try reader.optional("payload_salt") { Hex.decode($0).flatMap { $0.count <= 255 ? $0 : nil } } ?? []
        let payloadHash = try reader.required("payload_hash") { SHA256Hash(hex: $0) }
        let leafHash = try reader.required("leaf_hash") { SHA256Hash(hex: $0) }
        let treeSize = try reader.number("tree_size", UInt64.self)
        let proof = try reader.optional("inclusion_proof") { cell in
            let hashes = cell.split(separator: " ", omittingEmptySubsequences: false).map {
                SHA256Hash(hex: String($0))
            }
            return hashes.allSatisfy { $0 != nil } ? hashes.map { $0! } : nil
        }
        let redactedAt = try reader.optional("redacted_at") { AuditTimestamp(rfc3339: $0) }
        let redactedBy = reader.text()
        let payload: PayloadEvidence
        switch (redactedAt, redactedBy) {
        case (let at?, let by?): payload = .redacted(Redaction(redactedAt: at, redactedBy: by))
        case (nil, nil): payload = .present(AuditPayload(salt: salt, fields: fields))
        default: throw CSVRowError("redacted_at and redacted_by are given together or not at all")
        }
        let event = AuditEvent(
            sequence: sequence, id: id, occurredAt: occurredAt, type: type, requestID: requestID, actor: actor,
            actingFor: actingFor, capacity: capacity, role: role, step: step, decision: decision,
            datasetID: datasetID, workflow: workflow, state: state, payloadHash: payloadHash)
        return (ExportedEvent(event: event, payload: payload, leafHash: leafHash, inclusionProof: proof), treeSize)
    }

    /// The cells in column order.
    private struct Cells {
        let cells: [String?]
        var index = 0

        mutating func next() -> String? {
            defer { index += 1 }
            return cells[index]
        }

        /// A text cell: one leading `'` is the writer's, not the text's.
        mutating func text() -> String? {
            guard let cell = next() else { return nil }
            return cell.utf8.first == CSVExportWriter.escape ? String(cell.dropFirst()) : cell
        }

        mutating func optional<Value>(
            _ column: String, _ parse: (String) -> Value?
        ) throws(CSVRowError) -> Value? {
            guard let cell = next() else { return nil }
            guard let value = parse(cell) else { throw CSVRowError("\(column) is not what the exporter writes") }
            return value
        }

        mutating func required<Value>(
            _ column: String, _ parse: (String) -> Value?
        ) throws(CSVRowError) -> Value {
            guard let value = try optional(column, parse) else { throw CSVRowError("\(column) is empty") }
            return value
        }

        mutating func number<Number: FixedWidthInteger>(_ column: String, _: Number.Type) throws(CSVRowError) -> Number
        {
            try required(column) { Number($0) }
        }
    }
}

/// Why a CSV row is not one the exporter writes.
struct CSVRowError: Error {
    let reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}
