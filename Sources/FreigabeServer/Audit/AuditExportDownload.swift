import AuditLog
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO

/// The export of `freigabe audit export` as an HTTP download, for the API (`GET /api/v1/audit/export`)
/// and the Prüfung page's link alike: the same ``AuditExporter``, the same lines, the covering signed
/// checkpoint in the header line, so the download verifies offline like a file from the command line.
///
/// Streamed: the events are read in keyset batches of short statements (``AuditQuery/Batching``), each
/// with the store's deadlines, since the application role's statement timeout is seconds while an
/// export of millions of events takes minutes; and written on in pieces of 64 KiB. Memory holds one
/// batch and one piece, whatever the export's size.
struct AuditExportDownload: Sendable {
    let client: PostgresClient
    var batching = AuditQuery.Batching()

    /// The whole download at most: a stalled reader does not hold a connection's worth of work for
    /// ever. Checked at every piece written.
    static let deadline: Duration = .seconds(3600)
    static let pieceSize = 64 * 1024

    /// Downloads of this instance at once: each reads its batches through the pool the commands need,
    /// and a few dozen auditors' exports would starve them. Beyond, 503 with `Retry-After`.
    static let slots = Slots(capacity: 3)

    /// A slot for one download, taken before it is recorded or read (``Slots/Lease``).
    static func slot() throws -> Slots.Lease {
        guard let lease = slots.lease() else {
            throw APIProblem(
                .unavailable, status: .serviceUnavailable,
                detail: UserText("query.export_busy", ["limit": .number(slots.capacity)]),
                headers: [.retryAfter: "60"])
        }
        return lease
    }

    /// What the query string asks for beside the filters.
    struct Options: Sendable, Hashable {
        var format: AuditExportFormat
        var csv: CSVOptions
    }

    /// `format` (`jsonl`, the default, or `csv`), and for CSV `separator` (`comma`, `semicolon`) and `bom`
    /// (`true`, `false`); a wrong value is named in `errors`.
    static func options(_ value: (String) -> String?, errors: inout [String: UserText]) -> Options {
        var options = Options(format: .jsonl, csv: CSVOptions())
        if let text = value("format") {
            if let format = AuditExportFormat(rawValue: text) {
                options.format = format
            } else {
                errors["format"] = UserText("query.export_format")
            }
        }
        if let text = value("separator") {
            switch text {
            case "comma": options.csv.separator = UInt8(ascii: ",")
            case "semicolon": options.csv.separator = UInt8(ascii: ";")
            default: errors["separator"] = UserText("query.export_separator")
            }
        }
        if let text = value("bom") {
            switch text {
            case "true": options.csv.byteOrderMark = true
            case "false": options.csv.byteOrderMark = false
            default: errors["bom"] = UserText("query.boolean")
            }
        }
        return options
    }

    /// The download. Without a signed checkpoint there is nothing an export could be verified against:
    /// 409 before the first byte. A failure after it (the database gone) cuts the stream, which the
    /// verifier reports as a missing end line.
    ///
    /// `slot` is held until the body is written or the response dropped (a lease given back when it goes).
    func response(
        _ filter: AuditFilter, options: Options, slot: Slots.Lease, logger: Logger
    ) async throws -> Response {
        let query = AuditQuery(client: client)
        guard let (treeSize, _) = try await query.latestSignedCheckpoint(logger: logger) else {
            throw APIProblem(.conflict, status: .conflict, detail: UserText("web.audit_export_no_checkpoint"))
        }
        if try await AuditExporter.waitsForErasureRecord(
            filter, treeSize: treeSize, query: query, logger: logger)
        {
            throw APIProblem(.conflict, status: .conflict, detail: UserText("web.audit_export_erasure_unsealed"))
        }
        let exporter = AuditExporter(query: query, batching: batching)
        var headers = HTTPFields()
        let name = "pruefung-\(treeSize)\(filter.isEmpty ? "" : "-auswahl")"
        switch options.format {
        case .jsonl:
            headers[.contentType] = "application/jsonl; charset=utf-8"
            headers[.contentDisposition] = "attachment; filename=\"\(name).jsonl\""
        case .csv:
            headers[.contentType] = "text/csv; charset=utf-8; header=present"
            headers[.contentDisposition] = "attachment; filename=\"\(name).csv\""
        }
        headers[.cacheControl] = "no-store"
        let body = ResponseBody { writer in
            withExtendedLifetime(slot) {}
            let clock = ContinuousClock()
            let deadline = clock.now + Self.deadline
            var piece = ByteBuffer()
            piece.reserveCapacity(Self.pieceSize + 4096)
            _ = try await exporter.export(filter, format: options.format, csv: options.csv, logger: logger) { bytes in
                piece.writeBytes(bytes)
                guard piece.readableBytes >= Self.pieceSize else { return }
                guard clock.now < deadline else { throw AuditExportError.deadlineExceeded }
                try await writer.write(piece)
                piece.clear()
            }
            if piece.readableBytes > 0 { try await writer.write(piece) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
