import AuditLog
import Foundation
import PostgresNIO

/// An `audit_events` row as the decision log commits to it: what an auditor filters on goes into the
/// leaf in the clear, what is personal beyond the acting uids (comment, details, client address) into
/// the payload, committed by its salted hash.
struct AuditEventRow: Sendable {
    var id: Int64
    var occurredAt: Date
    var actor: String?
    var actingFor: String?
    var role: String?
    var requestID: UUID?
    var datasetID: String?
    var event: String
    var decision: String?
    var step: String?
    var state: String?
    var comment: String?
    var clientAddress: String?
    /// JSON text as stored (`jsonb`'s normalised form, so the same value always reads back the same).
    var details: String

    static let columns = """
        e.id, e.occurred_at, e.actor, e.acting_for, e.role, e.request_id, e.dataset_id, e.event, e.decision, e.step,
        e.state, e.comment, host(e.client_address), e.details::text
        """

    /// The cells of `columns`, in their order.
    init(_ cells: inout RowCursor) throws {
        id = try cells.next()
        occurredAt = try cells.next()
        actor = try cells.next()
        actingFor = try cells.next()
        role = try cells.next()
        requestID = try cells.next()
        datasetID = try cells.next()
        event = try cells.next()
        decision = try cells.next()
        step = try cells.next()
        state = try cells.next()
        comment = try cells.next()
        clientAddress = try cells.next()
        details = try cells.next()
    }

    /// The payload's texts: only those the row has.
    var payloadFields: [String: String] {
        var fields = ["details": details]
        if let comment { fields["comment"] = comment }
        if let clientAddress { fields["client_address"] = clientAddress }
        return fields
    }

    /// The leaf at `sequence`. The capacity follows from the row: a deputy acts for someone.
    func leaf(sequence: UInt64, id: UUID, payloadHash: SHA256Hash) -> AuditLog.AuditEvent {
        AuditLog.AuditEvent(
            sequence: sequence, id: id, occurredAt: AuditTimestamp(occurredAt), type: event, requestID: requestID,
            actor: actor, actingFor: actingFor, capacity: actingFor == nil ? nil : "deputy", role: role, step: step,
            decision: decision, datasetID: datasetID, state: state, payloadHash: payloadHash)
    }
}
