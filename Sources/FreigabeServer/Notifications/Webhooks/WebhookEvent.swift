import Foundation
import WorkflowEngine

/// The event types a webhook subscription can ask for; the raw value is the payload's `type`.
public enum WebhookEventType: String, Sendable, Hashable, Codable, CaseIterable {
    case requestSubmitted = "request.submitted"
    case requestResubmitted = "request.resubmitted"
    /// A step (or one branch of it) now waits for a role.
    case stepAssigned = "request.step_assigned"
    /// A step was approved; rejections and questions have their own types.
    case requestDecided = "request.decided"
    case changesRequested = "request.changes_requested"
    case requestEscalated = "request.escalated"
    case requestGranted = "request.granted"
    case requestPublished = "request.published"
    case requestRejected = "request.rejected"
    case requestWithdrawn = "request.withdrawn"
    /// The escalation instance closed a request nobody moved on (its state: closed as withdrawn).
    case requestDiscontinued = "request.discontinued"
    /// Granted access ends in ``RequestMachine/expiryNoticeWorkingDays`` working days (`granted_until`).
    case grantExpiring = "grant.expiring"
    case grantExpired = "grant.expired"
    case grantRevoked = "grant.revoked"

    /// The event an engine transition is announced as, nil for those no receiver needs (reminders,
    /// skipped or completed steps, the end of a request: the state in the other events says it).
    init?(_ event: AuditRecord.Event) {
        // Exhaustive on purpose: a new engine event must be decided on here.
        switch event {
        case .submitted: self = .requestSubmitted
        case .resubmitted: self = .requestResubmitted
        case .approved: self = .requestDecided
        case .changesRequested: self = .changesRequested
        case .escalated: self = .requestEscalated
        case .rejected: self = .requestRejected
        case .withdrawn: self = .requestWithdrawn
        case .discontinued: self = .requestDiscontinued
        case .expired: self = .grantExpired
        case .revoked: self = .grantRevoked
        // The expiry notice is announced from the requester's notice, which carries the end of access.
        // An unanswered question changes nothing of the request (the Governance Office is told by mail).
        case .reminded, .expiryAnnounced, .stepSkipped, .stepCompleted, .ended, .questionUnanswered: return nil
        }
    }
}

/// The JSON body of one webhook, version 1 (`openapi.yaml`, `webhooks:`), in the shape the Standard
/// Webhooks specification recommends: `type`, `timestamp`, `data`.
///
/// It carries what a portal or ticket system needs to act (which request, which dataset, what state)
/// and no personal data: no uids or names of requesters and deciders, no purpose, no comments, reasons
/// or questions (free text people wrote). A receiver that needs more asks the API with its own account,
/// where the usual read rules apply.
struct WebhookPayload: Encodable, Sendable, Hashable {
    static let version = 1

    var type: WebhookEventType
    var timestamp: Date
    var data: DataPart

    struct DataPart: Encodable, Sendable, Hashable {
        /// The event's place among all events Freigabe wrote (its outbox row): deliveries run concurrently
        /// and retries come later, so this, not the arrival, orders the events of one request.
        var sequence: Int64
        /// Lower case (the API writes ids in upper case; UUIDs compare case-insensitively, as
        /// `openapi.yaml` tells receivers).
        var requestID: String
        var requestNumber: String
        var kind: ReleaseKind
        var datasetID: String
        var datasetTitle: String
        /// The request's state after the event, when the event names it.
        var state: String?
        var step: String?
        var branch: String?
        /// The role asked (step assigned, escalated) or that decided.
        var role: String?
        var deadline: Date?
        var grantedUntil: Date?
        var licence: String?
        var portalURL: String?

        enum CodingKeys: String, CodingKey {
            case sequence, kind, state, step, branch, role, deadline, licence
            case requestID = "request_id"
            case requestNumber = "request_number"
            case datasetID = "dataset_id"
            case datasetTitle = "dataset_title"
            case grantedUntil = "granted_until"
            case portalURL = "portal_url"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, timestamp, data, version
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(timestamp, forKey: .timestamp)
        try container.encode(Self.version, forKey: .version)
        try container.encode(data, forKey: .data)
    }

    /// The payload of the `webhook` outbox row `sequence`; nil when the row names no event (it cannot be
    /// sent).
    init?(_ message: OutboxMessage, sequence: Int64, createdAt: Date) {
        guard let event = message.event else { return nil }
        type = event
        timestamp = message.occurredAt ?? createdAt
        data = DataPart(
            sequence: sequence, requestID: message.requestID.uuidString.lowercased(),
            requestNumber: message.requestNumber,
            kind: message.kind,
            datasetID: message.datasetID, datasetTitle: message.datasetTitle, state: message.state, step: message.step,
            branch: message.branch, role: message.role, deadline: message.deadline, grantedUntil: message.grantedUntil,
            licence: message.licence, portalURL: message.portalURL)
    }

    /// The bytes sent and signed: keys sorted, no spaces, dates in UTC with seconds (RFC 3339), so every
    /// attempt sends exactly the same body.
    func body() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(self)
    }
}
