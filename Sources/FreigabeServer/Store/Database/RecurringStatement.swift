import Logging
import PostgresNIO

/// A statement the store sends on every command, built by ``StatementBuilder`` with a text that depends
/// only on its shape. Run as a prepared statement, PostgreSQL parses and plans it once per connection
/// instead of on every call (the command write is six data-modifying CTEs: planning it is most of its
/// cost).
///
/// `sql` is the builder's own output for a representative value, so the prepared text and the built
/// text cannot drift apart: ``PostgresConnection/rows(of:as:logger:)`` uses the prepared statement only
/// when the built text is exactly `sql`, and otherwise sends the query as it is.
///
/// PostgreSQL fixes a prepared statement's parameter types at the first execution on a connection, and
/// a NULL bound there carries no type: cast every bound value to its own type before any other cast
/// (`$3::text::jsonb`, not `$3::jsonb`, which would make a text parameter a `jsonb` one).
protocol RecurringStatement: PostgresPreparedStatement where Row == PostgresRow {
    init(bindings: PostgresBindings)
    var bindings: PostgresBindings { get }
}

extension RecurringStatement {
    static var bindingDataTypes: [PostgresDataType] { [] }
    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresConnection {
    /// The rows of `query`, prepared as `Statement` when its text is the statement's.
    func rows<Statement: RecurringStatement>(
        of query: PostgresQuery, as statement: Statement.Type, logger: Logger
    ) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        if query.sql == Statement.sql {
            for try await row in try await execute(Statement(bindings: query.binds), logger: logger) {
                rows.append(row)
            }
        } else {
            for try await row in try await self.query(query, logger: logger) { rows.append(row) }
        }
        return rows
    }
}
