import AuditLog
import Foundation
import Logging
import PostgresNIO

/// The formats of `freigabe audit export`.
public enum AuditExportFormat: String, Sendable, CaseIterable {
    /// JSON Lines (`Sources/AuditLog/FORMAT.md` §7): verifiable offline.
    case jsonl
    /// For spreadsheets: one row per event, then the end record (formula cells neutralised by a leading
    /// `'`); verifiable offline as JSON Lines is, its rows read back into their events.
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
    /// Keyset batches of short statements, each under the store's deadlines, for the command line as
    /// for the API: a database that stops answering fails the export within seconds, not never.
    var batching = AuditQuery.Batching()

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
            filter, treeSize: treeSize, query: query, logger: logger)
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
            try await query.forEachInBatches(filter, below: treeSize, batching: batching, logger: logger, body)
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
            let writer = CSVExportWriter(separator: csv.separator)
            if csv.byteOrderMark { try await emit([0xEF, 0xBB, 0xBF]) }
            try await emit(writer.header)
            var row: [UInt8] = []
            try await events { event in
                var exported = event.exported
                exported.inclusionProof = try await proofs?.proof(for: event.sequence, logger: logger)
                row.removeAll(keepingCapacity: true)
                writer.appendRow(of: exported, treeSize: treeSize, to: &row)
                try await emit(row)
                count += 1
            }
            try await emit(
                writer.endRecord(
                    eventCount: count, treeSize: treeSize, selection: filter.isEmpty ? .complete : .filtered,
                    checkpoint: note))
        }
        return Result(eventCount: count, treeSize: treeSize)
    }

    /// A complete export shows erasure markers only with their signed record (FORMAT.md §3): the
    /// verifier refuses a marker whose `payloads_redacted` event is not in the export. In the seconds
    /// between `audit redact` and the next seal that event lies beyond the newest checkpoint, and such an
    /// export could never verify: refused, to be asked for again once it is sealed. A filtered export
    /// needs no record.
    static func waitsForErasureRecord(
        _ filter: AuditFilter, treeSize: UInt64, query: AuditQuery, logger: Logger
    ) async throws -> Bool {
        guard filter.isEmpty else { return false }
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
    /// (``AuditExporter/waitsForErasureRecord(_:treeSize:query:logger:)``).
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
