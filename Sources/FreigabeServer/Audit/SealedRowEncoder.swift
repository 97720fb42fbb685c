import AuditLog
import Foundation
import PostgresNIO

/// `audit verify`'s fast path over one row of ``SealedEvent/columns``: the leaf recomputed from the
/// cells' bytes (``StoredEventEncoder``) instead of a `String` per column, a payload dictionary and the
/// payload hashed twice (``SealedEvent``, then ``LogVerification``).
///
/// It decodes the fixed-size cells (numbers, UUIDs, the time, the flag) exactly as ``SealedEvent`` does,
/// takes each text's bytes as PostgresNIO's `String` decoding would read them, and gives a leaf only when
/// it equals the recorded one. Any row it does not handle — an erased payload, an unknown event type,
/// another column type, ill-formed UTF-8, a hash that differs, a cell that does not decode — gets nil,
/// and the caller reads it the slow way, which finds and names the fault (or throws) exactly as before.
struct SealedRowEncoder {
    private var encoder = StoredEventEncoder()

    /// The row's place in the keyset of ``AuditVerification``.
    struct Key: Sendable, Hashable {
        var sequence: Int64
        var eventRow: Int64
    }

    /// The row's leaf, when it matches the recorded one, and its keyset position; nil: read it the slow way.
    mutating func leaf(of row: PostgresRow) -> (leaf: RecomputedLeaf, key: Key)? {
        try? read(row)
    }

    /// Not taken by the fast path: the slow path decides.
    private struct SlowPath: Error {}

    private mutating func read(_ row: PostgresRow) throws -> (leaf: RecomputedLeaf, key: Key)? {
        encoder.reset()
        var cells = RowCursor(row)
        // s.sequence, s.event_id, s.format_version, s.payload_salt, s.payload_hash, s.leaf_hash,
        // r.redacted_at, r.redacted_by: see SealedEvent.columns.
        let sequence: Int64 = try cells.next()
        guard sequence >= 0 else { throw SlowPath() }
        let eventID: UUID = try cells.next()
        let formatVersion: Int16 = try cells.next()
        // An erased payload (no salt) is counted per erasure by the slow path.
        guard let salt = try cells.nextCell().bytes else { throw SlowPath() }
        let saltRange = append(salt)
        _ = try cells.nextCell()
        let recordedBytes: ByteBuffer = try cells.next()
        guard let recorded = SHA256Hash(bytes: recordedBytes.readableBytesView) else { throw SlowPath() }
        // Not part of the leaf, but decoded as the slow path decodes them: a cell it cannot decode
        // (a column whose type an owner changed) must stop here as it stops there.
        let _: Date? = try cells.next()
        let _: String? = try cells.next()
        // AuditEventRow.columns: e.id, e.occurred_at, e.actor, e.acting_for, e.role, e.as_escalation,
        // e.request_id, e.dataset_id, e.event, e.decision, e.step, e.state, e.comment,
        // host(e.client_address), e.details::text.
        let eventRow: Int64 = try cells.next()
        let occurredAt: Date = try cells.next()
        let actor = try text(cells.nextCell())
        let actingFor = try text(cells.nextCell())
        let role = try text(cells.nextCell())
        let asEscalation: Bool = try cells.next()
        let requestID: UUID? = try cells.next()
        let datasetID = try text(cells.nextCell())
        // The type as the slow path encodes it: the known event's own name.
        let name: String = try cells.next()
        guard let event = AuditEvent(rawValue: name) else { throw SlowPath() }
        let type = encoder.append(event.rawValue)
        let decision = try text(cells.nextCell())
        let step = try text(cells.nextCell())
        let state = try text(cells.nextCell())
        let comment = try text(cells.nextCell())
        let clientAddress = try text(cells.nextCell())
        guard let details = try text(cells.nextCell()) else { throw SlowPath() }
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
            sequence: UInt64(sequence), id: eventID, occurredAt: AuditTimestamp(occurredAt), type: type,
            requestID: requestID, actor: actor, actingFor: actingFor, capacity: capacity, role: role, step: step,
            decision: decision, datasetID: datasetID, state: state, salt: saltRange)
        guard let leaf = encoder.recomputedLeaf(of: fields, formatVersion: Int(formatVersion), recorded: recorded)
        else { return nil }
        return (leaf, Key(sequence: sequence, eventRow: eventRow))
    }

    /// A text cell's bytes in the encoder's buffer; nil for NULL. Only the types whose `String` decoding
    /// is the bytes themselves (PostgresNIO's `String`: text, varchar, bpchar, name); any other goes the
    /// slow way.
    private mutating func text(_ cell: PostgresCell) throws -> Range<Int>? {
        switch cell.dataType {
        case .text, .varchar, .bpchar, .name: break
        default: throw SlowPath()
        }
        guard let bytes = cell.bytes else { return nil }
        return append(bytes)
    }

    private mutating func append(_ bytes: ByteBuffer) -> Range<Int> {
        let start = encoder.texts.count
        encoder.texts.append(contentsOf: bytes.readableBytesView)
        return start..<encoder.texts.count
    }
}
