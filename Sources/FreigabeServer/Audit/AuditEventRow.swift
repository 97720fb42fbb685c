import AuditLog
import Foundation
import PostgresNIO

/// A stored `audit_events` row (``AuditRow`` with its id) as the decision log commits to it: what an
/// auditor filters on goes into the leaf in the clear, what is personal beyond the acting uids (comment,
/// details, client address) into the payload, committed by its salted hash.
struct AuditEventRow: Sendable {
    var id: Int64
    var row: AuditRow

    static let columns = """
        e.id, e.occurred_at, e.actor, e.acting_for, e.role, e.as_escalation, e.request_id, e.dataset_id, e.event,
        e.decision, e.step, e.state, e.comment, host(e.client_address), e.details::text
        """

    /// The cells of `columns`, in their order. `details` is `jsonb`'s normalised text, so the same value
    /// always reads back the same.
    init(_ cells: inout RowCursor) throws {
        id = try cells.next()
        let occurredAt: Date = try cells.next()
        let actor: String? = try cells.next()
        let actingFor: String? = try cells.next()
        let role: String? = try cells.next()
        let asEscalation: Bool = try cells.next()
        let requestID: UUID? = try cells.next()
        let datasetID: String? = try cells.next()
        let name: String = try cells.next()
        guard let event = AuditEvent(rawValue: name) else {
            throw ServiceError.internal("audit event \(id) has the unknown type \(name)")
        }
        row = AuditRow(
            occurredAt: occurredAt, actor: actor, actingFor: actingFor, role: role, asEscalation: asEscalation,
            requestID: requestID,
            datasetID: datasetID, event: event, decision: try cells.next(), step: try cells.next(),
            state: try cells.next(), comment: try cells.next(), clientAddress: try cells.next(),
            details: try cells.next())
    }

    /// The keys of the payload's texts.
    enum PayloadField: String, CaseIterable {
        case clientAddress = "client_address"
        case comment
        case details

        /// In ascending byte order of their keys, the order of the canonical encoding.
        static let inKeyOrder: [PayloadField] = [.clientAddress, .comment, .details]
    }

    /// The payload's texts: only those the row has.
    var payloadFields: [String: String] {
        var fields = [PayloadField.details.rawValue: row.details]
        if let comment = row.comment { fields[PayloadField.comment.rawValue] = comment }
        if let clientAddress = row.clientAddress { fields[PayloadField.clientAddress.rawValue] = clientAddress }
        return fields
    }

    /// The leaf at `sequence`, with the capacity in which the actor acted, when it was not their own role.
    func leaf(sequence: UInt64, id: UUID, payloadHash: SHA256Hash) -> AuditLog.AuditEvent {
        AuditLog.AuditEvent(
            sequence: sequence, id: id, occurredAt: AuditTimestamp(row.occurredAt), type: row.event.rawValue,
            requestID: row.requestID, actor: row.actor, actingFor: row.actingFor, capacity: capacity,
            role: row.role, step: row.step, decision: row.decision, datasetID: row.datasetID, state: row.state,
            payloadHash: payloadHash)
    }

    /// `escalation` for the escalation instance of an overdue step (it may also act for someone, and is
    /// then named with `acting_for`), `deputy` for a deputy, none for one's own role. Rows written before
    /// migration 13 have no escalation flag and were sealed with at most `deputy`, which this still gives.
    var capacity: String? {
        Self.capacity(asEscalation: row.asEscalation, actingFor: row.actingFor != nil)
    }

    /// ``capacity`` from the two columns it depends on (also for ``SealedRowEncoder``, which has no row).
    static func capacity(asEscalation: Bool, actingFor: Bool) -> String? {
        if asEscalation { return AuditFilter.Capacity.escalation.rawValue }
        return actingFor ? AuditFilter.Capacity.deputy.rawValue : nil
    }
}
