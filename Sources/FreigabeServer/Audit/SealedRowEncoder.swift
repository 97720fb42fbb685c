import AuditLog
import Foundation
import PostgresNIO

/// `audit verify`'s fast path over one row of ``SealedEvent/columns``: the leaf recomputed from the
/// cells' bytes (``StoredEventEncoder``) instead of a `String` per column, a payload dictionary and the
/// payload hashed twice (``SealedEvent``, then ``LogVerification``).
///
/// The row comes either as its cells (a `PostgresRow` of ``SealedEvent/columns``) or as one cell, the
/// row's record (``SealedEvent/recordColumn``, PostgreSQL's binary `record` form: a column count, then each
/// column's type OID, length and the bytes its type's binary output gives, which are the bytes the cell
/// of that column would carry). One reader takes the columns from either: PostgresNIO makes a
/// `PostgresCell` per cell (a retained slice of the row and the column's name), 23 per event, and the
/// record saves all but one.
///
/// The reader takes each column only in the exact form the schema gives it (`bigint`, `uuid`,
/// `smallint`, `bytea`, `timestamptz`, `boolean`; the texts as `text`, `varchar`, `bpchar` or `name`,
/// whose `String` decoding is the bytes themselves), decodes the fixed-size ones exactly as PostgresNIO
/// does (big-endian integers, the time through the same `Date`), and gives a leaf only when it equals
/// the recorded one. Any row it does not handle — an erased payload, an erasure joined to a row that
/// has its salt, an unknown event type, another column type or length, ill-formed UTF-8, a hash that
/// differs — gets nil, and the caller reads it the slow way, which finds and names the fault (or
/// throws) exactly as before. Stricter than the slow path is safe; laxer is not.
struct SealedRowEncoder {
    private var encoder = StoredEventEncoder()

    /// The row's place in the keyset of ``AuditVerification``.
    struct Key: Sendable, Hashable {
        var sequence: Int64
        var eventRow: Int64
    }

    /// The row's leaf, when it matches the recorded one, and its keyset position; nil: read it the slow way.
    mutating func leaf(of row: PostgresRow) -> (leaf: RecomputedLeaf, key: Key)? {
        var cells = CellColumns(cells: RowCursor(row))
        return try? read(&cells)
    }

    /// The same from a row of one cell, the record of ``SealedEvent/columns``
    /// (``SealedEvent/recordColumn``); nil: read the row the slow way.
    mutating func leaf(ofRecord row: PostgresRow) -> (leaf: RecomputedLeaf, key: Key)? {
        var cells = row.makeIterator()
        guard let cell = cells.next(), cells.next() == nil, cell.dataType == .record, cell.format == .binary,
            let bytes = cell.bytes
        else { return nil }
        return bytes.withUnsafeReadableBytes { record in
            guard var columns = RecordColumns(record: record, expected: SealedEvent.columnCount),
                let leaf = try? read(&columns), columns.isAtEnd
            else { return nil }
            return leaf
        }
    }

    /// Not taken by the fast path: the slow path decides.
    struct SlowPath: Error {}

    private mutating func read(_ cells: inout some SealedColumns) throws -> (leaf: RecomputedLeaf, key: Key)? {
        encoder.reset()
        // s.sequence, s.event_id, s.format_version, s.payload_salt, s.payload_hash, s.leaf_hash,
        // r.redacted_at, r.redacted_by: see SealedEvent.columns.
        let sequence = try cells.next { try Self.int64($0, $1) }
        guard sequence >= 0 else { throw SlowPath() }
        let eventID = try cells.next { try Self.uuid($0, $1) }
        let formatVersion = try cells.next { type, bytes in
            guard type == .int2, let bytes, bytes.count == 2 else { throw SlowPath() }
            return Int16(bigEndian: bytes.loadUnaligned(as: Int16.self))
        }
        // An erased payload (no salt) is counted per erasure by the slow path.
        let saltRange = try cells.next { type, bytes in
            guard type == .bytea, let bytes else { throw SlowPath() }
            return append(bytes)
        }
        // The hash kept at erasure: the slow path, too, ignores it while the salt is there.
        try cells.skip()
        let recorded = try cells.next { type, bytes in
            guard type == .bytea, let bytes, let hash = SHA256Hash(bytes: bytes) else { throw SlowPath() }
            return hash
        }
        // An erasure joined to a row that still has its salt: the slow path decides.
        try cells.next { _, bytes in guard bytes == nil else { throw SlowPath() } }
        try cells.next { _, bytes in guard bytes == nil else { throw SlowPath() } }
        // AuditEventRow.columns: e.id, e.occurred_at, e.actor, e.acting_for, e.role, e.as_escalation,
        // e.request_id, e.dataset_id, e.event, e.decision, e.step, e.state, e.comment,
        // host(e.client_address), e.details::text.
        let eventRow = try cells.next { try Self.int64($0, $1) }
        let occurredAt = try cells.next { type, bytes in
            guard type == .timestamptz, let bytes, bytes.count == 8 else { throw SlowPath() }
            return AuditTimestamp(
                Self.date(microsecondsSince2000: Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))))
        }
        let actor = try cells.next { try text($0, $1) }
        let actingFor = try cells.next { try text($0, $1) }
        let role = try cells.next { try text($0, $1) }
        let asEscalation = try cells.next { type, bytes in
            guard type == .bool, let bytes, bytes.count == 1, bytes[0] <= 1 else { throw SlowPath() }
            return bytes[0] == 1
        }
        let requestID = try cells.next { type, bytes -> UUID? in
            guard bytes != nil else { return nil }
            return try Self.uuid(type, bytes)
        }
        let datasetID = try cells.next { try text($0, $1) }
        // The type as the slow path encodes it: the known event's own name.
        let type = try cells.next { type, bytes in
            guard Self.isText(type), let bytes, let event = AuditEvent(rawValue: String(decoding: bytes, as: UTF8.self))
            else { throw SlowPath() }
            return encoder.append(event.rawValue)
        }
        let decision = try cells.next { try text($0, $1) }
        let step = try cells.next { try text($0, $1) }
        let state = try cells.next { try text($0, $1) }
        let comment = try cells.next { try text($0, $1) }
        let clientAddress = try cells.next { try text($0, $1) }
        guard let details = try cells.next({ try text($0, $1) }) else { throw SlowPath() }
        let capacity = AuditEventRow.capacity(asEscalation: asEscalation, actingFor: actingFor != nil).map {
            encoder.append($0)
        }
        // The payload's fields as AuditEventRow.payloadFields has them, in the byte order of their keys
        // (StoredEventEncoder refuses any other order).
        for field in AuditEventRow.PayloadField.inKeyOrder {
            let value: Range<Int>? =
                switch field {
                case .clientAddress: clientAddress
                case .comment: comment
                case .details: details
                }
            guard let value else { continue }
            encoder.payloadFields.append((key: encoder.append(field.rawValue), value: value))
        }
        let fields = StoredEventFields(
            sequence: UInt64(sequence), id: eventID, occurredAt: occurredAt, type: type,
            requestID: requestID, actor: actor, actingFor: actingFor, capacity: capacity, role: role, step: step,
            decision: decision, datasetID: datasetID, state: state, salt: saltRange)
        guard let leaf = encoder.recomputedLeaf(of: fields, formatVersion: Int(formatVersion), recorded: recorded)
        else { return nil }
        return (leaf, Key(sequence: sequence, eventRow: eventRow))
    }

    /// A text cell's bytes in the encoder's buffer; nil for NULL. Only the types whose `String` decoding
    /// is the bytes themselves (PostgresNIO's `String`: text, varchar, bpchar, name); any other goes the
    /// slow way.
    private mutating func text(_ type: PostgresDataType, _ bytes: UnsafeRawBufferPointer?) throws -> Range<Int>? {
        guard Self.isText(type) else { throw SlowPath() }
        guard let bytes else { return nil }
        return append(bytes)
    }

    private static func isText(_ type: PostgresDataType) -> Bool {
        switch type {
        case .text, .varchar, .bpchar, .name: true
        default: false
        }
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) -> Range<Int> {
        let start = encoder.texts.count
        encoder.texts.append(contentsOf: bytes)
        return start..<encoder.texts.count
    }

    private static func int64(_ type: PostgresDataType, _ bytes: UnsafeRawBufferPointer?) throws -> Int64 {
        guard type == .int8, let bytes, bytes.count == 8 else { throw SlowPath() }
        return Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
    }

    private static func uuid(_ type: PostgresDataType, _ bytes: UnsafeRawBufferPointer?) throws -> UUID {
        guard type == .uuid, let bytes, bytes.count == 16 else { throw SlowPath() }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { $0.copyMemory(from: bytes) }
        return UUID(uuid: uuid)
    }

    /// The `Date` PostgresNIO decodes from a `timestamptz` (microseconds since 2000-01-01, through a
    /// `Double` of seconds, as its `Date._decodeRaw` computes it), so the microseconds
    /// ``AuditTimestamp`` rounds to are the slow path's.
    static func date(microsecondsSince2000 microseconds: Int64) -> Date {
        Date(timeInterval: Double(microseconds) / Double(1_000_000), since: postgresEpoch)
    }

    private static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)

}

/// The columns of a row, one after another, as the fast path reads them: each column's type and its
/// bytes (nil for NULL), valid only inside the closure.
protocol SealedColumns {
    mutating func next<Value>(_ body: (PostgresDataType, UnsafeRawBufferPointer?) throws -> Value) throws -> Value
}

extension SealedColumns {
    mutating func skip() throws { try next { _, _ in () } }
}

/// The columns as a `PostgresRow`'s cells.
private struct CellColumns: SealedColumns {
    var cells: RowCursor

    mutating func next<Value>(_ body: (PostgresDataType, UnsafeRawBufferPointer?) throws -> Value) throws -> Value {
        let cell = try cells.nextCell()
        guard cell.format == .binary else { throw SealedRowEncoder.SlowPath() }
        guard let bytes = cell.bytes else { return try body(cell.dataType, nil) }
        return try bytes.withUnsafeReadableBytes { try body(cell.dataType, $0) }
    }
}

/// The columns of one record in PostgreSQL's binary form (`record_send`): a 4-byte column count, then
/// per column a 4-byte type OID, a 4-byte length (-1: NULL) and that many bytes. Refuses (the slow
/// path decides) another column count, a length past the end, and, through ``isAtEnd``, trailing bytes.
struct RecordColumns: SealedColumns {
    private let record: UnsafeRawBufferPointer
    private var offset = 4
    private var remaining: Int

    init?(record: UnsafeRawBufferPointer, expected: Int) {
        guard record.count >= 4, Int(Int32(bigEndian: record.loadUnaligned(as: Int32.self))) == expected else {
            return nil
        }
        self.record = record
        remaining = expected
    }

    /// Every column read and nothing after the last.
    var isAtEnd: Bool { remaining == 0 && offset == record.count }

    mutating func next<Value>(_ body: (PostgresDataType, UnsafeRawBufferPointer?) throws -> Value) throws -> Value {
        guard remaining > 0, record.count - offset >= 8 else { throw SealedRowEncoder.SlowPath() }
        let type = PostgresDataType(UInt32(bigEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        let length = Int(Int32(bigEndian: record.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self)))
        offset += 8
        remaining -= 1
        if length == -1 { return try body(type, nil) }
        guard length >= 0, record.count - offset >= length else { throw SealedRowEncoder.SlowPath() }
        let bytes = UnsafeRawBufferPointer(rebasing: record[offset..<offset + length])
        offset += length
        return try body(type, bytes)
    }
}
