import PostgresNIO

/// Reads a row's cells one after the other, in the order the SELECT names its columns, so that a row
/// made of several tables' columns (a request with its dataset) is decoded by each table's own reader.
///
/// It walks the row's own iterator: `PostgresRandomAccessRow` would first copy every cell into an array,
/// which was a quarter of the time `audit verify` spent per event (perf, debug build).
struct RowCursor {
    private var cells: PostgresRow.Iterator

    init(_ row: PostgresRow) { cells = row.makeIterator() }

    mutating func next<Value: PostgresDecodable>(_ type: Value.Type = Value.self) throws -> Value {
        guard let cell = cells.next() else { throw RowCursorError.noMoreColumns(Value.self) }
        return try cell.decode(Value.self)
    }

    /// The next cell as it came: for a reader that takes its bytes without decoding (`audit verify`'s
    /// ``SealedRowEncoder``) or skips it.
    mutating func nextCell() throws -> PostgresCell {
        guard let cell = cells.next() else { throw RowCursorError.noMoreColumns(PostgresCell.self) }
        return cell
    }
}

/// A reader asked for more cells than the SELECT named: a programming error, reported instead of trapping.
enum RowCursorError: Error, CustomStringConvertible {
    case noMoreColumns(Any.Type)

    var description: String {
        switch self {
        case .noMoreColumns(let type): "the row has no further column to decode as \(type)"
        }
    }
}
