import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Lists of many requests (the inbox, what the escalation instance may close, what deputies decided for
/// someone) leave out a request this release cannot read — a newer release's shape after a rollback,
/// a workflow version stored nowhere, a hand-made change — instead of failing for everyone it would be
/// listed for. Each time it is logged as an error with its id, so the operator finds it; its own page
/// still answers 500 with a reference.
extension RequestService {
    /// The request's id and, unless they cannot be read (logged), the request and its dataset from a
    /// row's cells (`RequestRecord.columns`, then `DatasetRecord.columns`): the id also of a row that
    /// cannot be read, for the list to page on past it.
    static func readableRow(
        _ cells: inout RowCursor, list: String, logger: Logger
    ) throws -> (id: UUID, readable: (record: RequestRecord, dataset: DatasetRecord)?) {
        var idCell = cells
        let id: UUID = try idCell.next()
        do {
            return (id, (try RequestRecord.from(&cells), try DatasetRecord.from(&cells)))
        } catch {
            leftOut(id, from: list, because: error, logger: logger)
            return (id, nil)
        }
    }

    /// The engine's machine for `record`, or nil when the engine cannot take up its snapshot (logged).
    /// Other failures (the database) are thrown: they are no request's fault.
    func readableMachine(
        for record: RequestRecord, list: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> RequestMachine? {
        do {
            return try await machine(for: record, on: connection, logger: logger)
        } catch let error as ServiceError where error.code == .internal {
            Self.leftOut(record.id, from: list, because: error, logger: logger)
            return nil
        }
    }

    static func leftOut(_ id: UUID, from list: String, because error: any Error, logger: Logger) {
        logger.error(
            "A request left out of a list: it cannot be read",
            metadata: [
                "request_id": "\(id.uuidString.lowercased())", "list": "\(list)",
                "error": "\(String(reflecting: error))",
            ])
    }
}
