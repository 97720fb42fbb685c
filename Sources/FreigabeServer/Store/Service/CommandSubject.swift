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

    static func load(
        id: UUID, deputy: String, now: Date, client: PostgresClient, logger: Logger
    ) async throws -> CommandSubject? {
        try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            try await load(id: id, deputy: deputy, now: now, on: connection, logger: logger)
        }
    }

    private static func load(
        id: UUID, deputy: String, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> CommandSubject? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: RequestRecord.columns), \(unescaped: DatasetRecord.columns),
                (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                            'principal', principal, 'from', extract(epoch FROM valid_from),
                            'until', extract(epoch FROM LEAST(valid_until, COALESCE(ended_at, valid_until))))
                        ORDER BY valid_from), '[]')::text
                 FROM deputyships
                 WHERE deputy = \(deputy)
                   AND LEAST(valid_until, COALESCE(ended_at, valid_until)) > \(CallerContext.relevanceCutoff(now)))
            FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
            WHERE r.id = \(id)
            """, logger: logger)
        for try await row in rows {
            var cells = RowCursor(row)
            let record = try RequestRecord.from(&cells)
            let dataset = try DatasetRecord.from(&cells)
            let periods = try StoredJSON.decode([DeputyshipPeriod].self, from: try cells.next(String.self))
            return CommandSubject(
                record: record, dataset: dataset,
                deputyships: periods.map {
                    Deputyship(
                        principal: $0.principal, deputy: deputy, validFrom: Date(timeIntervalSince1970: $0.from),
                        validUntil: Date(timeIntervalSince1970: $0.until))
                })
        }
        return nil
    }

    private struct DeputyshipPeriod: Decodable {
        var principal: String
        var from: Double
        var until: Double
    }
}
