import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One row of `audit_events`.
struct AuditRow: Sendable {
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
    /// JSON object.
    var details: String = "{}"
}

enum AuditWriter {
    static func insert(_ row: AuditRow, on connection: PostgresConnection, logger: Logger) async throws {
        // inet refuses anything that is not an address; a malformed value (a misconfigured proxy header)
        // must not lose the event, so it goes to details instead.
        var details = row.details
        var address: String? = nil
        if let raw = row.clientAddress {
            if InetAddress.isValid(raw) {
                address = raw
            } else {
                var object = (try? StoredJSON.decode([String: JSONValue].self, from: details)) ?? [:]
                object["client_address_raw"] = .string(String(raw.prefix(200)))
                details = (try? StoredJSON.encode(object)) ?? details
            }
        }
        try await connection.query(
            """
            INSERT INTO audit_events (
                occurred_at, actor, acting_for, role, request_id, dataset_id, event, decision, step, state, comment,
                client_address, details)
            VALUES (
                \(row.occurredAt), \(row.actor), \(row.actingFor), \(row.role), \(row.requestID), \(row.datasetID),
                \(row.event), \(row.decision), \(row.step), \(row.state), \(row.comment), \(address)::inet,
                \(details)::jsonb)
            """, logger: logger)
    }
}

enum InetAddress {
    /// Whether `text` is an IPv4 or IPv6 address PostgreSQL's `inet` accepts (no CIDR suffix, no port).
    static func isValid(_ text: String) -> Bool {
        guard text.count <= 64 else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        return text.withCString { pointer in
            inet_pton(AF_INET, pointer, &buffer) == 1 || inet_pton(AF_INET6, pointer, &buffer) == 1
        }
    }
}

/// Who should receive a notification, as far as the store knows: a role, and for Owner and Steward the
/// person or group from the catalogue. The dispatcher resolves roles and groups to addresses via LDAP
/// (and adds active deputies).
public struct OutboxRecipient: Sendable, Hashable, Codable {
    /// Engine role identifier, or `requester`.
    public var role: String
    public var uid: String?
    /// Group DN (owner group, steward group).
    public var group: String?
}

/// The payload of a `mail` row in `outbox` (JSON, dates as seconds since 1970). `topic` names the
/// template: request_decision, reminder, escalated, withdrawn, submitted, changes_requested, granted,
/// published, rejected, revoked, expired.
public struct OutboxMessage: Sendable, Hashable, Codable {
    public var topic: String
    public var requestID: UUID
    public var requestNumber: String
    public var datasetID: String
    public var datasetTitle: String
    public var kind: ReleaseKind
    public var recipients: [OutboxRecipient]
    public var step: String?
    public var branch: String?
    public var deadline: Date?
    /// Escalation: whether the escalation role may decide in place.
    public var mayDecide: Bool?
    public var overdueSince: Date?
    /// Question or reason, shown in the mail.
    public var text: String?
    public var grantedUntil: Date?
    public var licence: String?
    public var portalURL: String?

    /// Decodes a payload as stored.
    public static func decode(fromStoredJSON text: String) throws -> OutboxMessage {
        try StoredJSON.decode(OutboxMessage.self, from: text)
    }
}

/// Everything about a request that effects need to become rows.
struct EffectContext: Sendable {
    var requestID: UUID
    var number: String
    var kind: ReleaseKind
    var dataset: DatasetRecord
    var requester: String
    var clientAddress: String?
    var now: Date
}

enum EffectWriter {
    /// Writes the rows for `effects`, in order: audit events, outbox messages, timers.
    static func apply(
        _ effects: [Effect], context: EffectContext, on connection: PostgresConnection, logger: Logger
    ) async throws {
        for effect in effects {
            switch effect {
            case .audit(let record):
                try await AuditWriter.insert(auditRow(record, context: context), on: connection, logger: logger)
            case .requestDecision(let step, let branch, let role, let deadline):
                try await enqueue(
                    message(
                        context, topic: "request_decision", to: [recipient(role, context)], step: step,
                        branch: branch, deadline: deadline), at: context.now, on: connection, logger: logger)
            case .remind(let step, let branch, let role, let deadline):
                try await enqueue(
                    message(
                        context, topic: "reminder", to: [recipient(role, context)], step: step, branch: branch,
                        deadline: deadline), at: context.now, on: connection, logger: logger)
            case .inform(let role, .escalated(let step, let overdueSince, let mayDecide)):
                var message = message(context, topic: "escalated", to: [recipient(role, context)], step: step)
                message.mayDecide = mayDecide
                message.overdueSince = overdueSince
                try await enqueue(message, at: context.now, on: connection, logger: logger)
            case .inform(let role, .withdrawn(let step)):
                try await enqueue(
                    message(context, topic: "withdrawn", to: [recipient(role, context)], step: step), at: context.now,
                    on: connection, logger: logger)
            case .notifyRequester(let notice):
                try await enqueue(requesterMessage(notice, context), at: context.now, on: connection, logger: logger)
            case .scheduleReminder(let step, let at):
                try await schedule(
                    kind: "reminder", step: step, at: at, context: context, on: connection, logger: logger)
            case .scheduleEscalation(let step, let at):
                try await schedule(
                    kind: "escalation", step: step, at: at, context: context, on: connection, logger: logger)
            case .scheduleExpiry(let at):
                try await schedule(kind: "expiry", step: nil, at: at, context: context, on: connection, logger: logger)
            case .cancelTimers(let step):
                try await connection.query(
                    """
                    UPDATE timers SET cancelled_at = \(context.now)
                    WHERE request_id = \(context.requestID) AND step = \(step) AND kind IN ('reminder', 'escalation')
                      AND fired_at IS NULL AND cancelled_at IS NULL
                    """, logger: logger)
            case .cancelExpiry:
                try await connection.query(
                    """
                    UPDATE timers SET cancelled_at = \(context.now)
                    WHERE request_id = \(context.requestID) AND kind = 'expiry'
                      AND fired_at IS NULL AND cancelled_at IS NULL
                    """, logger: logger)
            }
        }
    }

    static func auditRow(_ record: AuditRecord, context: EffectContext) -> AuditRow {
        let decision: String? =
            switch record.event {
            case .approved: "approved"
            case .rejected: "rejected"
            case .changesRequested: "changes_requested"
            case .revoked: "revoked"
            case .submitted, .resubmitted, .withdrawn, .escalated, .reminded, .expired, .stepSkipped, .stepCompleted,
                .ended:
                nil
            }
        var details: [String: JSONValue] = ["request_number": .string(context.number)]
        if !record.covers.isEmpty { details["covers"] = .array(record.covers.map { .string($0) }) }
        return AuditRow(
            occurredAt: record.at, actor: record.actor, actingFor: record.actingFor, role: record.role?.identifier,
            requestID: context.requestID, datasetID: context.dataset.id, event: record.event.rawValue,
            decision: decision, step: record.step, state: record.state, comment: record.comment,
            // The system's own events (timers) have no client.
            clientAddress: record.actor == nil ? nil : context.clientAddress,
            details: (try? StoredJSON.encode(details)) ?? "{}")
    }

    static func recipient(_ role: Role, _ context: EffectContext) -> OutboxRecipient {
        switch role {
        case .dataOwner:
            OutboxRecipient(role: role.identifier, uid: context.dataset.owner, group: context.dataset.ownerGroup)
        case .dataSteward:
            OutboxRecipient(role: role.identifier, uid: nil, group: context.dataset.stewardGroup)
        case .dsb, .isb, .openDataOfficer, .governance, .custom:
            OutboxRecipient(role: role.identifier, uid: nil, group: nil)
        }
    }

    static func message(
        _ context: EffectContext, topic: String, to recipients: [OutboxRecipient], step: String? = nil,
        branch: String? = nil, deadline: Date? = nil
    ) -> OutboxMessage {
        OutboxMessage(
            topic: topic, requestID: context.requestID, requestNumber: context.number, datasetID: context.dataset.id,
            datasetTitle: context.dataset.title, kind: context.kind, recipients: recipients, step: step, branch: branch,
            deadline: deadline)
    }

    static func requesterMessage(_ notice: RequesterNotice, _ context: EffectContext) -> OutboxMessage {
        let requester = [OutboxRecipient(role: "requester", uid: context.requester, group: nil)]
        switch notice {
        case .submitted:
            return message(context, topic: "submitted", to: requester)
        case .changesRequested(let step, let question):
            var result = message(context, topic: "changes_requested", to: requester, step: step)
            result.text = question
            return result
        case .granted(let until):
            var result = message(context, topic: "granted", to: requester)
            result.grantedUntil = until
            return result
        case .published(let licence, let portalURL):
            var result = message(context, topic: "published", to: requester)
            result.licence = licence
            result.portalURL = portalURL
            return result
        case .rejected(let step, let reason):
            var result = message(context, topic: "rejected", to: requester, step: step)
            result.text = reason
            return result
        case .revoked(let reason):
            var result = message(context, topic: "revoked", to: requester)
            result.text = reason
            return result
        case .expired:
            return message(context, topic: "expired", to: requester)
        }
    }

    static func enqueue(
        _ message: OutboxMessage, at now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO outbox (kind, topic, request_id, payload, created_at, available_at)
            VALUES ('mail', \(message.topic), \(message.requestID), \(try StoredJSON.encode(message))::jsonb,
                    \(now), \(now))
            """, logger: logger)
    }

    static func schedule(
        kind: String, step: String?, at: Date, context: EffectContext, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO timers (request_id, kind, step, due_at, created_at)
            VALUES (\(context.requestID), \(kind), \(step), \(at), \(context.now))
            """, logger: logger)
    }
}
