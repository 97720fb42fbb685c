import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// What a command on a request reads before it asks the engine: the request, its dataset and the
/// caller's deputyships, in one round trip and without a lock. The command's write checks that the
/// request is still at the version read (``CommandWrite``), so a concurrent change is a conflict, never
/// a lost update.
struct CommandSubject: Sendable {
    var record: RequestRecord
    var dataset: DatasetRecord
    /// The caller's deputyships (as deputy) that can still matter.
    var deputyships: [Deputyship]
    /// `audit redact` erased the request's free texts (`requests.redaction_id`): its purpose is the
    /// erasure's dash, not one anybody stated.
    var textsErased: Bool

    static func load(
        id: UUID, deputy: String, now: Date, client: PostgresClient, logger: Logger
    ) async throws -> CommandSubject? {
        try await Database.read(client, logger: logger) { connection in
            try await load(id: id, deputy: deputy, now: now, on: connection, logger: logger)
        }
    }

    /// The read, prepared once per connection.
    struct Read: RecurringStatement {
        // Binding a UUID, a text and a date never fails; an empty text would only mean "never prepared".
        static let sql = (try? statement(id: UUID(), deputy: "", now: Date(timeIntervalSince1970: 0)).sql) ?? ""
        let bindings: PostgresBindings
    }

    private static func load(
        id: UUID, deputy: String, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> CommandSubject? {
        let query = try statement(id: id, deputy: deputy, now: now)
        for row in try await connection.rows(of: query, as: Read.self, logger: logger) {
            var cells = RowCursor(row)
            return CommandSubject(
                record: try RequestRecord.from(&cells, rememberSnapshot: false),
                dataset: try DatasetRecord.from(&cells),
                deputyships: try RelevantDeputyships.decode(try cells.next(String.self), deputy: deputy),
                textsErased: try cells.next())
        }
        return nil
    }

    static func statement(id: UUID, deputy: String, now: Date) throws -> PostgresQuery {
        var sql = StatementBuilder()
        let request = try sql.bind(id)
        let deputies = RelevantDeputyships.subquery(
            deputy: try sql.bind(deputy), cutoff: try sql.bind(RelevantDeputyships.cutoff(now)))
        sql.text = """
            SELECT \(RequestRecord.columns), \(DatasetRecord.columns), \(deputies), r.redaction_id IS NOT NULL
            FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
            WHERE r.id = \(request)
            """
        return sql.query
    }
}
