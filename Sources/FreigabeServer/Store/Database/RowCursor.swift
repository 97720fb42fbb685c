import PostgresNIO

/// Reads a row's cells one after the other, in the order the SELECT names its columns, so that a row
/// made of several tables' columns (a request with its dataset) is decoded by each table's own reader.
struct RowCursor {
    private let cells: PostgresRandomAccessRow
    private var index = 0

    init(_ row: PostgresRow) { cells = PostgresRandomAccessRow(row) }

    mutating func next<Value: PostgresDecodable>(_ type: Value.Type = Value.self) throws -> Value {
        defer { index += 1 }
        return try cells[index].decode(Value.self)
    }
}
