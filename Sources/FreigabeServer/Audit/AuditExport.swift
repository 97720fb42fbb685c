import AuditLog
import Foundation
import Logging
import PostgresNIO

/// The formats of `freigabe audit export`.
public enum AuditExportFormat: String, Sendable, CaseIterable {
    /// JSON Lines (`Sources/AuditLog/FORMAT.md` §7): verifiable offline.
    case jsonl
    /// For spreadsheets: one row per event, then the end record; the verifier checks that it is whole and
    /// its leaf hashes, not its cells' text (neutralised against formulas).
    case csv
}

/// CSV settings for German spreadsheets.
public struct CSVOptions: Sendable, Hashable {
    /// `,` (RFC 4180) or `;` (what German Excel expects).
    public var separator: UInt8
    /// Start with a UTF-8 byte order mark, so that Excel reads UTF-8.
    public var byteOrderMark: Bool

    public init(separator: UInt8 = UInt8(ascii: ","), byteOrderMark: Bool = false) {
        self.separator = separator
        self.byteOrderMark = byteOrderMark
    }
}

/// Writes the sealed events, streamed from the database, against the newest signed checkpoint: every
/// exported event lies in its tree, so that a complete JSON Lines export rebuilds its root and a
/// filtered one carries each event's inclusion proof.
struct AuditExporter: Sendable {
    let query: AuditQuery
    /// nil: one streamed statement (the command line, on its own connection without a statement
    /// timeout); otherwise keyset batches of short statements (the API, under the role's timeout).
    var batching: AuditQuery.Batching? = nil

    struct Result: Sendable, Equatable {
        var eventCount: UInt64
        var treeSize: UInt64
    }

    func export(
        _ filter: AuditFilter, format: AuditExportFormat, csv: CSVOptions = CSVOptions(),
        to output: ExportOutput, logger: Logger
    ) async throws -> Result {
        let result = try await export(filter, format: format, csv: csv, logger: logger) { try output.write($0) }
        try output.finish()
        return result
    }

    /// Writes the export through `emit`, a piece at a time (a line, or a row): the caller buffers.
    func export(
        _ filter: AuditFilter, format: AuditExportFormat, csv: CSVOptions = CSVOptions(), logger: Logger,
        emit: ([UInt8]) async throws -> Void
    ) async throws -> Result {
        guard let (treeSize, note) = try await query.latestSignedCheckpoint(logger: logger) else {
            throw AuditExportError.noSignedCheckpoint
        }
        let checkpoint = try Self.checkpoint(of: note)
        if try await Self.waitsForErasureRecord(
            filter, format: format, treeSize: treeSize, query: query, logger: logger)
        {
            throw AuditExportError.erasureNotSealed
        }
        // Proofs only where they are needed: a complete export rebuilds the tree instead.
        var proofs: ProofSource?
        if !filter.isEmpty {
            let tree = try await query.tiledTree(size: treeSize, logger: logger)
            guard tree.size == treeSize, try tree.rootHash == checkpoint.rootHash else {
                throw AuditExportError.treeDoesNotMatchCheckpoint(treeSize: treeSize)
            }
            proofs = ProofSource(tree: tree, query: query)
        }
        func events(_ body: (SealedEvent) async throws -> Void) async throws {
            if let batching {
                try await query.forEachInBatches(filter, below: treeSize, batching: batching, logger: logger, body)
            } else {
                try await query.forEach(filter, below: treeSize, logger: logger, body)
            }
        }
        var count: UInt64 = 0
        switch format {
        case .jsonl:
            let header = ExportHeader(
                origin: checkpoint.origin, treeSize: treeSize, selection: filter.isEmpty ? .complete : .filtered,
                filters: filter.described, checkpoint: note)
            var writer = ExportJSONWriter()
            try writer.writeLine(.header(header))
            try await emit(writer.bytes)
            try await events { event in
                var exported = event.exported
                exported.inclusionProof = try await proofs?.proof(for: event.sequence, logger: logger)
                writer.reset()
                try writer.writeLine(.event(exported))
                try await emit(writer.bytes)
                count += 1
            }
            writer.reset()
            try writer.writeLine(.end(ExportEnd(eventCount: count)))
            try await emit(writer.bytes)
        case .csv:
            let table = CSVTable(options: csv)
            if csv.byteOrderMark { try await emit([0xEF, 0xBB, 0xBF]) }
            try await emit(table.row(CSVTable.columns))
            var row: [UInt8] = []
            try await events { event in
                let proof = try await proofs?.proof(for: event.sequence, logger: logger)
                row.removeAll(keepingCapacity: true)
                table.appendRow(of: event, treeSize: treeSize, proof: proof, to: &row)
                try await emit(row)
                count += 1
            }
            try await emit(
                table.endRecord(
                    eventCount: count, treeSize: treeSize, selection: filter.isEmpty ? .complete : .filtered,
                    checkpoint: note))
        }
        return Result(eventCount: count, treeSize: treeSize)
    }

    /// A complete JSON Lines export shows erasure markers only with their signed record (FORMAT.md §3):
    /// the verifier refuses a marker whose `payloads_redacted` event is not in the export. In the seconds
    /// between `audit redact` and the next seal that event lies beyond the newest checkpoint, and such an
    /// export could never verify: refused, to be asked for again once it is sealed. A filtered export
    /// needs no record, a CSV's cells are not checked.
    static func waitsForErasureRecord(
        _ filter: AuditFilter, format: AuditExportFormat, treeSize: UInt64, query: AuditQuery, logger: Logger
    ) async throws -> Bool {
        guard filter.isEmpty, format == .jsonl else { return false }
        return try await query.erasureWithoutRecord(below: treeSize, logger: logger)
    }

    static func checkpoint(of note: String) throws -> Checkpoint {
        do {
            return try Checkpoint(noteText: try SignedNote(parsing: note).text)
        } catch {
            throw AuditExportError.unreadableCheckpoint("\(error)")
        }
    }
}

/// Inclusion proofs from the tiled tree, fetching each tile's leaf hashes once.
final class ProofSource {
    let tree: TiledMerkleTree
    let query: AuditQuery
    private var tile: MerkleTile?

    init(tree: TiledMerkleTree, query: AuditQuery) {
        self.tree = tree
        self.query = query
    }

    func proof(for sequence: UInt64, logger: Logger) async throws -> [SHA256Hash] {
        if tree.needsTile(for: sequence) {
            let start = tree.tileStart(of: sequence)
            if tile?.start != start {
                tile = MerkleTile(
                    start: start, leafHashes: try await query.leafHashes(start..<start + tree.tileSize, logger: logger))
            }
        }
        return try tree.inclusionProof(index: sequence, tile: tile)
    }
}

enum AuditExportError: Error, Sendable, Hashable, CustomStringConvertible {
    case noSignedCheckpoint
    case unreadableCheckpoint(String)
    case treeDoesNotMatchCheckpoint(treeSize: UInt64)
    case cannotWrite(String)
    /// A download ran longer than ``AuditExportDownload/deadline``.
    case deadlineExceeded
    /// An erasure's `payloads_redacted` event is not covered by the newest checkpoint yet
    /// (``AuditExporter/waitsForErasureRecord(_:format:treeSize:query:logger:)``).
    case erasureNotSealed

    var description: String {
        switch self {
        case .noSignedCheckpoint:
            "Es gibt noch keinen signierten Checkpoint (audit.key_file, freigabe audit seal); ohne ihn ist ein Export nicht prüfbar."
        case .unreadableCheckpoint(let reason): "Der neueste Checkpoint ist nicht lesbar: \(reason)"
        case .treeDoesNotMatchCheckpoint(let size):
            "Die gespeicherten Blatt-Hashes ergeben nicht die Wurzel des Checkpoints der Größe \(size): "
                + "das Protokoll ist beschädigt, freigabe audit verify zeigt wo."
        case .cannotWrite(let path): "„\(path)“ kann nicht geschrieben werden."
        case .deadlineExceeded: "Der Export dauerte länger als erlaubt und wurde abgebrochen."
        case .erasureNotSealed:
            "Eine Löschung ist noch nicht versiegelt; ein vollständiger Export wäre jetzt nicht prüfbar. "
                + "Nach dem nächsten Versiegeln (der Server versiegelt jede Sekunde; freigabe audit seal) erneut "
                + "exportieren."
        }
    }
}

/// The spreadsheet form: RFC 4180 quoting, and cells that a spreadsheet would run as a formula
/// neutralised as OWASP recommends (a leading `'`, see ``startsFormula(_:)``).
struct CSVTable {
    let options: CSVOptions

    /// The offline verifier reads the same list.
    static let columns = CSVExportLayout.columns

    /// The last record: without it a file cut at a line boundary would look whole (`FORMAT.md` §7).
    func endRecord(
        eventCount: UInt64, treeSize: UInt64, selection: ExportSelection, checkpoint note: String
    )
        -> [UInt8]
    {
        row([CSVExportLayout.endMarker, String(eventCount), String(treeSize), selection.rawValue, note])
    }

    /// The cells of one event, in ``columns`` order: the reference ``appendRow(of:treeSize:proof:to:)``
    /// writes without building them (the tests compare the two).
    static func cells(of event: SealedEvent, treeSize: UInt64, proof: [SHA256Hash]?) -> [String?] {
        let leaf = event.leaf
        let salt: String
        switch event.payload {
        case .present(let payload): salt = payload.salt.map { String(format: "%02x", $0) }.joined()
        case .redacted: salt = ""
        }
        let (comment, clientAddress, details) = event.shownTexts
        return [
            String(event.sequence), event.eventID.uuidString.lowercased(), leaf.occurredAt.rfc3339, leaf.type,
            leaf.requestID?.uuidString.lowercased(), leaf.actor, leaf.actingFor, leaf.capacity, leaf.role, leaf.step,
            leaf.decision, leaf.datasetID, leaf.state, comment, clientAddress, details, salt,
            leaf.payloadHash.hex, event.leafHash.hex, String(treeSize),
            proof.map { $0.map(\.hex).joined(separator: " ") },
            event.redaction?.redactedAt.rfc3339, event.redaction?.redactedBy,
        ]
    }

    /// One line, CRLF-terminated (RFC 4180).
    func row(_ cells: [String?]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, cell) in cells.enumerated() {
            if index > 0 { bytes.append(options.separator) }
            appendField(cell ?? "", to: &bytes)
        }
        bytes += [0x0D, 0x0A]
        return bytes
    }

    /// The row of ``cells(of:treeSize:proof:)`` appended to `bytes` without an intermediate `String`
    /// per cell: an export writes millions. The cells the log makes (numbers, UUIDs, times, hex) are
    /// ASCII that never needs quoting or neutralising, and are written as they are.
    func appendRow(of event: SealedEvent, treeSize: UInt64, proof: [SHA256Hash]?, to bytes: inout [UInt8]) {
        let leaf = event.leaf
        let separator = options.separator
        func text(_ value: String?) {
            bytes.append(separator)
            if let value { appendField(value, to: &bytes) }
        }
        bytes.append(contentsOf: String(event.sequence).utf8)
        bytes.append(separator)
        bytes.append(contentsOf: event.eventID.uuidString.lowercased().utf8)
        bytes.append(separator)
        _ = leaf.occurredAt.appendRFC3339(to: &bytes)
        text(leaf.type)
        bytes.append(separator)
        if let requestID = leaf.requestID { bytes.append(contentsOf: requestID.uuidString.lowercased().utf8) }
        text(leaf.actor)
        text(leaf.actingFor)
        text(leaf.capacity)
        text(leaf.role)
        text(leaf.step)
        text(leaf.decision)
        text(leaf.datasetID)
        text(leaf.state)
        let texts = event.shownTexts
        text(texts.comment)
        text(texts.clientAddress)
        text(texts.details)
        bytes.append(separator)
        if case .present(let payload) = event.payload { Self.appendHex(payload.salt, to: &bytes) }
        bytes.append(separator)
        leaf.payloadHash.appendHex(to: &bytes)
        bytes.append(separator)
        event.leafHash.appendHex(to: &bytes)
        bytes.append(separator)
        bytes.append(contentsOf: String(treeSize).utf8)
        bytes.append(separator)
        if let proof {
            for (index, hash) in proof.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: " ")) }
                hash.appendHex(to: &bytes)
            }
        }
        bytes.append(separator)
        if let redaction = event.redaction { _ = redaction.redactedAt.appendRFC3339(to: &bytes) }
        text(event.redaction?.redactedBy)
        bytes += [0x0D, 0x0A]
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendHex(_ data: [UInt8], to bytes: inout [UInt8]) {
        for byte in data {
            bytes.append(hexDigits[Int(byte >> 4)])
            bytes.append(hexDigits[Int(byte & 0x0f)])
        }
    }

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

    func field(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        appendField(text, to: &bytes)
        return bytes
    }

    /// RFC 4180: quoted when the cell holds the separator, a quote, CR or LF, or starts with `'` (which
    /// every neutralised cell does); quotes doubled.
    func appendField(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            let neutralised = Self.startsFormula(utf8)
            let needsQuotes =
                neutralised || utf8.first == UInt8(ascii: "'")
                || utf8.contains { $0 == options.separator || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
            guard needsQuotes else { return bytes.append(contentsOf: utf8) }
            bytes.append(0x22)
            if neutralised { bytes.append(UInt8(ascii: "'")) }
            for byte in utf8 {
                if byte == 0x22 { bytes.append(0x22) }
                bytes.append(byte)
            }
            bytes.append(0x22)
        }
    }
}

/// Where an export goes: a file that appears only when the export is complete (written beside it and
/// renamed at the end, so a failed export leaves nothing), or standard output. Buffered: one write per
/// 64 KiB.
final class ExportOutput {
    private let handle: FileHandle
    private let temporaryPath: String?
    private let finalPath: String?
    private var buffer: [UInt8] = []
    private static let flushSize = 64 * 1024

    private init(handle: FileHandle, temporaryPath: String?, finalPath: String?) {
        self.handle = handle
        self.temporaryPath = temporaryPath
        self.finalPath = finalPath
        buffer.reserveCapacity(Self.flushSize + 4096)
    }

    /// `-` is standard output.
    static func open(_ path: String) throws -> ExportOutput {
        if path == "-" { return ExportOutput(handle: .standardOutput, temporaryPath: nil, finalPath: nil) }
        // A folder is never the target: replacing it would delete what lies in it.
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw AuditExportError.cannotWrite(path)
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8)).partial").path
        guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600])
        else {
            throw AuditExportError.cannotWrite(path)
        }
        return ExportOutput(
            handle: try FileHandle(forWritingTo: URL(fileURLWithPath: temporary)), temporaryPath: temporary,
            finalPath: path)
    }

    func write(_ bytes: [UInt8]) throws {
        buffer += bytes
        if buffer.count >= Self.flushSize { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes the rest and puts the file in place.
    func finish() throws {
        try flush()
        guard let temporaryPath, let finalPath else { return }
        try handle.synchronize()
        try handle.close()
        // One rename(2): an earlier export of the same name is replaced in one step (never missing,
        // never half written); a folder put there meanwhile makes it fail (EISDIR), deleting nothing.
        guard rename(temporaryPath, finalPath) == 0 else {
            abandon()
            throw AuditExportError.cannotWrite(finalPath)
        }
    }

    /// Removes the partial file after a failure.
    func abandon() {
        guard let temporaryPath else { return }
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }
}
