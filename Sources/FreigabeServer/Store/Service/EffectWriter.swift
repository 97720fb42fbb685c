import AuditLog
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

/// One row of `audit_events`. `decision` and `state` are the text the log stores and hashes: written from
/// the engine's values (``AuditRecord/outcome``, ``RequestState/name``), read back as stored, so a
/// row changed behind the server's back is reported by `audit verify` rather than failing to decode.
struct AuditRow: Sendable {
    var occurredAt: Date
    var actor: String?
    var actingFor: String?
    var role: String?
    /// The actor decided as the escalation instance of an overdue step (`role` is the escalation role).
    var asEscalation = false
    var requestID: UUID?
    var datasetID: String?
    var event: AuditEvent
    var decision: String?
    var step: String?
    var state: String?
    var comment: String?
    var clientAddress: String?
    /// JSON object.
    var details: String = "{}"
}

extension AuditRow: Encodable {
    /// The address `inet` accepts, and the details that keep a malformed one: inet refuses anything that
    /// is not an address, and a malformed value (a misconfigured proxy header) must not lose the event.
    var storedAddressAndDetails: (address: String?, details: String) {
        guard let raw = clientAddress else { return (nil, details) }
        if InetAddress.isValid(raw) { return (raw, details) }
        var object = (try? StoredJSON.decode([String: JSONValue].self, from: details)) ?? [:]
        object["client_address_raw"] = .string(String(raw.prefix(200)))
        return (nil, (try? StoredJSON.encode(object)) ?? details)
    }

    private enum CodingKeys: String, CodingKey {
        case actor, role, event, decision, step, state, comment, details
        case occurredAt = "occurred_at"
        case actingFor = "acting_for"
        case asEscalation = "as_escalation"
        case datasetID = "dataset_id"
        case clientAddress = "client_address"
    }

    /// The row as ``CommandWrite`` sends it (the request id comes from the statement).
    func encode(to encoder: any Encoder) throws {
        let (address, details) = storedAddressAndDetails
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(occurredAt, forKey: .occurredAt)
        try container.encode(actor, forKey: .actor)
        try container.encode(actingFor, forKey: .actingFor)
        try container.encode(role, forKey: .role)
        try container.encode(asEscalation, forKey: .asEscalation)
        try container.encode(datasetID, forKey: .datasetID)
        try container.encode(event.rawValue, forKey: .event)
        try container.encode(decision, forKey: .decision)
        try container.encode(step, forKey: .step)
        try container.encode(state, forKey: .state)
        try container.encode(comment, forKey: .comment)
        try container.encode(address, forKey: .clientAddress)
        try container.encode(details, forKey: .details)
    }
}

enum AuditWriter {
    /// The columns of an event the application writes; the others are the database's (`id`,
    /// `recorded_at`) and the sealer's, which the application role may not write (``Privileges``).
    static let insertedColumns = [
        "occurred_at", "actor", "acting_for", "role", "as_escalation", "request_id", "dataset_id", "event", "decision",
        "step", "state", "comment", "client_address", "details",
    ]

    /// ``insertedColumns`` as an SQL column list (fixed identifiers).
    static let insertedColumnList = insertedColumns.joined(separator: ", ")

    static func insert(_ row: AuditRow, on connection: PostgresConnection, logger: Logger) async throws {
        let (address, details) = row.storedAddressAndDetails
        try await connection.query(
            """
            INSERT INTO audit_events (\(unescaped: insertedColumnList))
            VALUES (
                \(row.occurredAt), \(row.actor), \(row.actingFor), \(row.role), \(row.asEscalation), \(row.requestID),
                \(row.datasetID),
                \(row.event.rawValue), \(row.decision), \(row.step), \(row.state), \(row.comment), \(address)::inet,
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
    /// A domain's stewards: besides `group` (the catalogue's steward group), the groups `ldap.stewards`
    /// maps the domain to, whose members the directory makes stewards of it too.
    public var domain: String? = nil

    /// `role` of the person who filed the request.
    static let requesterRole = "requester"
}

/// The payload of a `mail` row in `outbox` (JSON, dates as seconds since 1970). `topic` names the
/// template: request_decision, reminder, escalated, withdrawn, submitted, changes_requested, granted,
/// published, rejected, revoked, expiring, expired, access_expiring, access_expired.
public struct OutboxMessage: Sendable, Hashable, Codable {
    public var topic: OutboxTopic
    public var requestID: UUID
    public var requestNumber: String
    public var datasetID: String
    public var datasetTitle: String
    public var kind: ReleaseKind
    public var recipients: [OutboxRecipient]
    public var step: String?
    public var branch: String?
    public var deadline: Date?
    /// Task, reminder and escalation: when the request entered `step` for the stay this mail is about. A
    /// later stay in the same step (after a question and the answer) is another task with a mail of its
    /// own, so a mail of this stay still waiting to be sent is dropped then (``RequestStanding``). Absent
    /// in rows written before 2026-12-03.
    public var stepEnteredAt: Date?
    /// Escalation: whether the escalation role may decide in place.
    public var mayDecide: Bool?
    /// Escalation: the branches the escalation role may decide in place (the engine's
    /// `escalationBranches`), each with links of its own. Absent in rows written before 2026-12-03,
    /// whose `branch` names the first of them.
    public var branches: [String]?
    public var overdueSince: Date?
    /// Question or reason, shown in the mail.
    public var text: String?
    /// Withdrawal rows written before 2026-12-05 only: told as the step's escalation instance, whose
    /// deputies then got no escalation mail and so get no withdrawal either (no longer written).
    public var toEscalation: Bool?
    /// Task after a question: the question the requester answered, and their comment with the answer
    /// (nil: resubmitted without one). Written into rows before 2026-12-05; the dispatcher now finds both
    /// when it sends (``RequestStanding/answeredQuestion(step:enteredAt:)``), also for a step taken up
    /// again only after a restart.
    public var question: String?
    public var answer: String?
    /// To the person a deputy decided for (``OutboxTopic/deputyDecided``), and to those whose overdue
    /// branch the escalation instance decided (``OutboxTopic/stepTakenOver``): who decided, what, and
    /// whether as the escalation instance.
    public var decidedBy: String?
    /// The member the deciding deputy acted for, who is told as principal (``OutboxTopic/deputyDecided``),
    /// not as one whose step was taken over. Nobody among `decidedBy` and `decidedFor` gets the mail.
    public var decidedFor: String?
    public var outcome: Decision.Outcome?
    public var asEscalation: Bool?
    public var grantedUntil: Date?
    /// A grant whose period of use starts later: its first day (the requester's `access_start`).
    public var grantedFrom: Date?
    public var licence: String?
    public var portalURL: String?
    /// Webhook rows only: the event, when it happened, the request's state after it and the role that
    /// acted or is asked (`WebhookPayload`).
    public var event: WebhookEventType?
    public var occurredAt: Date?
    public var state: String?
    public var role: String?

    /// Whether the mail shows everything the request states: the topic's rule, and a revocation in the
    /// reader's place, after which they answer for the deletion as after any revocation
    /// (``OutboxTopic/showsTheDetails``).
    var showsTheDetails: Bool { topic.showsTheDetails || (topic == .deputyDecided && outcome == .revoked) }

    /// Whether the principals' deputies get a copy: the topic's rule, except for an older withdrawal told
    /// to the escalation instance (``toEscalation``).
    var goesToDeputies: Bool { topic.goesToDeputies && toEscalation != true }

    /// The branches the mail's decision links decide: an escalation's `branches` (an older row's
    /// `branch`), a task's or reminder's branch (the step itself for a step of one role).
    var linkBranches: [String] {
        guard let step else { return [] }
        if topic == .escalated { return branches ?? branch.map { [$0] } ?? [] }
        return [branch ?? step]
    }

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
    /// The request's details after the command (the submission's and resubmission's events record them;
    /// a context that writes neither may leave them empty, and one that forgets them fails the facts check).
    var details = RequestDetails()
    /// The facts the engine routes on after the command (logged with a submission and a resubmission).
    var facts: RequestFacts?
    var clientAddress: String?
    /// The door the command came through (recorded with the audit events a person caused).
    var channel: Caller.Channel = .api
    var now: Date
    /// When the request entered the step it stands at after the command (``RequestState/stepProgress``):
    /// the stay that task, reminder and escalation mails belong to.
    var stepEnteredAt: Date?
    /// The webhook events to write; the others are left out (no subscription would receive them).
    var webhookEvents: WebhookEventSelection = .all
    /// The workflow the request runs on: which step a decided branch belongs to (a decision's record
    /// names the branch; a webhook names the step, and the branch where the step has several).
    var definition: WorkflowDefinition?

    /// The first day of use when the requested period starts after now (a grant's mails name it).
    var laterAccessStart: Date? { details.accessStart.flatMap { $0 > now ? $0 : nil } }
}

enum EffectWriter {
    /// Adds the rows for `effects` to `write`, in order: audit events, outbox messages, timers.
    static func collect(_ effects: [Effect], context: EffectContext, into write: inout CommandWrite) {
        func enqueue(_ message: OutboxMessage) {
            write.outbox.append(OutboxRow(topic: message.topic, payload: message))
        }
        let publication = effects.lazy.compactMap { effect -> (licence: String?, portalURL: String?)? in
            guard case .notifyRequester(.published(let licence, let portalURL)) = effect else { return nil }
            return (licence, portalURL)
        }.first
        for effect in effects {
            if let event = webhookEvent(effect, context) {
                write.outbox.append(OutboxRow(topic: .webhook, payload: event))
            }
            switch effect {
            case .audit(let record):
                write.audit.append(auditRow(record, context: context, publication: publication))
            case .requestDecision(let step, let branch, let role, let deadline):
                var message = message(
                    context, topic: .requestDecision, to: [recipient(role, context)], step: step, branch: branch,
                    deadline: deadline)
                message.stepEnteredAt = context.stepEnteredAt
                enqueue(message)
            case .remind(let step, let branch, let role, let deadline):
                var message = message(
                    context, topic: .reminder, to: [recipient(role, context)], step: step, branch: branch,
                    deadline: deadline)
                message.stepEnteredAt = context.stepEnteredAt
                // At the escalation: a branch nobody else may take over is reminded that it is overdue.
                if deadline <= context.now { message.overdueSince = deadline }
                enqueue(message)
            case .inform(let role, .escalated(let step, let overdueSince, let branches)):
                // One set of links per branch the instance may take over. The step's title names the branch
                // only when there is one; with several, each set of links is headed by its branch.
                var message = message(
                    context, topic: .escalated, to: [recipient(role, context)], step: step,
                    branch: branches.count == 1 ? branches.first : nil)
                message.mayDecide = !branches.isEmpty
                message.branches = branches
                message.overdueSince = overdueSince
                message.stepEnteredAt = context.stepEnteredAt
                enqueue(message)
            case .inform(let role, .withdrawn(let step, let comment, _)):
                // Why the requester withdrew, in their words (escaped in the HTML part, as every text).
                var message = message(context, topic: .withdrawn, to: [recipient(role, context)], step: step)
                message.text = comment
                enqueue(message)
            case .inform(let role, .questionUnanswered(let step, let question, _)):
                var message = message(context, topic: .questionUnanswered, to: [recipient(role, context)], step: step)
                message.text = question
                enqueue(message)
            case .inform(let role, .discontinued(let step, let reason)):
                var message = message(context, topic: .stepDiscontinued, to: [recipient(role, context)], step: step)
                message.text = reason
                enqueue(message)
            case .inform(let role, .takenOver(let decision)):
                var message = message(
                    context, topic: .stepTakenOver, to: [recipient(role, context)], step: decision.step,
                    branch: decision.branch)
                message.tell(decision, asEscalation: true)
                enqueue(message)
            case .inform(let role, .stepRejected(let decision, let asEscalation)):
                var message = message(
                    context, topic: .stepRejected, to: [recipient(role, context)], step: decision.step)
                message.tell(decision, asEscalation: asEscalation)
                enqueue(message)
            case .inform(let role, .accessGranted(let until)):
                var message = message(context, topic: .accessGranted, to: [recipient(role, context)])
                message.grantedUntil = until
                message.grantedFrom = context.laterAccessStart
                enqueue(message)
            case .inform(let role, .accessExpiring(let until)):
                var message = message(context, topic: .accessExpiring, to: [recipient(role, context)])
                message.grantedUntil = until
                enqueue(message)
            case .inform(let role, .accessExpired):
                enqueue(message(context, topic: .accessExpired, to: [recipient(role, context)]))
            case .inform(let role, .accessRevoked(let reason)):
                var message = message(context, topic: .accessRevoked, to: [recipient(role, context)])
                message.text = reason
                enqueue(message)
            case .notifyRequester(let notice):
                enqueue(requesterMessage(notice, context))
            case .informPrincipal(let decision):
                if let message = principalMessage(decision, context) { enqueue(message) }
            case .scheduleReminder(let step, let at):
                write.timers.append(TimerRow(kind: .reminder, step: step, dueAt: at))
            case .scheduleEscalation(let step, let at):
                write.timers.append(TimerRow(kind: .escalation, step: step, dueAt: at))
            case .scheduleQuestionEscalation(let step, let at):
                write.timers.append(TimerRow(kind: .questionEscalation, step: step, dueAt: at))
            case .scheduleExpiry(let at):
                write.timers.append(TimerRow(kind: .expiry, step: nil, dueAt: at))
            case .scheduleExpiryNotice(let at):
                write.timers.append(TimerRow(kind: .expiryNotice, step: nil, dueAt: at))
            case .cancelTimers(let step):
                write.cancelledSteps.append(step)
            case .cancelExpiry:
                write.cancelsExpiry = true
            }
        }
    }

    /// The step and branch a record's `step` stands for in a webhook: a decision's record names its
    /// branch, which a parallel step's other branches share the step with; a revocation's names the end
    /// the grant stood at, no step.
    private static func stepAndBranch(
        named id: String?, by type: WebhookEventType, in definition: WorkflowDefinition?
    ) -> (step: String?, branch: String?) {
        guard let id, type != .grantRevoked else { return (nil, nil) }
        guard let definition, definition.step(id) == nil,
            let step = definition.steps.first(where: { $0.branches.contains { $0.id == id } })
        else { return (id, nil) }
        return (step.id, id)
    }

    /// The webhook event an effect announces, if any: the engine's transitions (from their audit
    /// records, which name the new state), steps now waiting for a role, and the grant or publication.
    /// One row per event; the webhook dispatcher fans it out to the subscriptions.
    /// Nil also for a type no configured subscription wants (``EffectContext/webhookEvents``), decided
    /// before the message is built: with no subscriptions, every command's effects pass here.
    static func webhookEvent(_ effect: Effect, _ context: EffectContext) -> OutboxMessage? {
        func event(_ type: WebhookEventType, at: Date, step: String? = nil) -> OutboxMessage? {
            guard context.webhookEvents.contains(type) else { return nil }
            var result = message(context, topic: .webhook, to: [], step: step)
            result.event = type
            result.occurredAt = at
            return result
        }
        switch effect {
        case .audit(let record):
            guard let type = WebhookEventType(record.event), context.webhookEvents.contains(type) else { return nil }
            // A draft is announced to nobody (`request.submitted` comes with the submission): its
            // withdrawal, at no step, would name a request no receiver has heard of.
            if type == .requestWithdrawn, record.step == nil { return nil }
            let (step, branch) = stepAndBranch(named: record.step, by: type, in: context.definition)
            guard var result = event(type, at: record.at, step: step) else { return nil }
            result.branch = branch
            result.state = record.state
            result.role = record.role?.identifier
            return result
        case .requestDecision(let step, let branch, let role, let deadline):
            guard var result = event(.stepAssigned, at: context.now, step: step) else { return nil }
            result.branch = branch
            result.role = role.identifier
            result.deadline = deadline
            return result
        case .notifyRequester(.granted(let until)):
            guard var result = event(.requestGranted, at: context.now) else { return nil }
            result.grantedUntil = until
            return result
        case .notifyRequester(.published(let licence, let portalURL)):
            guard var result = event(.requestPublished, at: context.now) else { return nil }
            result.licence = licence
            result.portalURL = portalURL
            return result
        case .notifyRequester(.expiring(let until)):
            // From the notice rather than the audit record: receivers want the end of access.
            guard var result = event(.grantExpiring, at: context.now) else { return nil }
            result.grantedUntil = until
            return result
        case .notifyRequester, .remind, .inform, .informPrincipal, .scheduleReminder, .scheduleEscalation,
            .scheduleQuestionEscalation, .scheduleExpiry, .scheduleExpiryNotice, .cancelTimers, .cancelExpiry:
            return nil
        }
    }

    /// `publication`: the licence and portal address of a publication this command made; they go with the
    /// approval that made it.
    static func auditRow(
        _ record: AuditRecord, context: EffectContext, publication: (licence: String?, portalURL: String?)? = nil
    ) -> AuditRow {
        var details: [String: JSONValue] = ["request_number": .string(context.number)]
        // What was asked, for whom and on what grounds, as it was submitted: the log holds it, the row may change.
        if record.event == .submitted || record.event == .resubmitted {
            details["request"] = context.details.logged(kind: context.kind)
            details["routing"] = context.facts?.logged ?? .null
        }
        if record.event == .approved, let publication {
            details["licence"] = publication.licence.map(JSONValue.string) ?? .null
            details["portal_url"] = publication.portalURL.map(JSONValue.string) ?? .null
        }
        // When the step the request now waits at is due: the facts check holds the snapshot's deadline to it.
        if let deadline = record.deadline.flatMap({ AuditTimestamp($0).rfc3339 }) {
            details["deadline"] = .string(deadline)
        }
        if !record.covers.isEmpty { details["covers"] = .array(record.covers.map { .string($0) }) }
        // A person's decision says how it arrived (API, page, mail link); the system's own events do not.
        if record.actor != nil { details["via"] = .string(context.channel.rawValue) }
        return AuditRow(
            occurredAt: record.at, actor: record.actor, actingFor: record.actingFor, role: record.role?.identifier,
            asEscalation: record.asEscalation, requestID: context.requestID, datasetID: context.dataset.id,
            event: AuditEvent(record.event),
            decision: record.outcome?.rawValue, step: record.step, state: record.state, comment: record.comment,
            // The system's own events (timers) have no client.
            clientAddress: record.actor == nil ? nil : context.clientAddress,
            details: (try? StoredJSON.encode(details)) ?? "{}")
    }

    static func recipient(_ role: Role, _ context: EffectContext) -> OutboxRecipient {
        switch role {
        case .dataOwner:
            OutboxRecipient(role: role.identifier, uid: context.dataset.owner, group: context.dataset.ownerGroup)
        case .dataSteward:
            OutboxRecipient(
                role: role.identifier, uid: nil, group: context.dataset.stewardGroup, domain: context.dataset.domain)
        case .dsb, .isb, .openDataOfficer, .governance, .custom:
            OutboxRecipient(role: role.identifier, uid: nil, group: nil)
        }
    }

    static func message(
        _ context: EffectContext, topic: OutboxTopic, to recipients: [OutboxRecipient], step: String? = nil,
        branch: String? = nil, deadline: Date? = nil
    ) -> OutboxMessage {
        OutboxMessage(
            topic: topic, requestID: context.requestID, requestNumber: context.number, datasetID: context.dataset.id,
            datasetTitle: context.dataset.title, kind: context.kind, recipients: recipients, step: step, branch: branch,
            deadline: deadline)
    }

    /// To the person a deputy decided for: who decided what, in which step, with the deputy's words. A
    /// revocation names no step (its `step` is the granted end).
    static func principalMessage(_ decision: Decision, _ context: EffectContext) -> OutboxMessage? {
        guard let principal = decision.actingFor else { return nil }
        let revoked = decision.outcome == .revoked
        var result = message(
            context, topic: .deputyDecided,
            to: [OutboxRecipient(role: decision.role.identifier, uid: principal, group: nil)],
            step: revoked ? nil : decision.step, branch: revoked ? nil : decision.branch)
        result.tell(decision, asEscalation: decision.asEscalation)
        // The reader is whom it was decided for: not left out as such.
        result.decidedFor = nil
        return result
    }

    static func requesterMessage(_ notice: RequesterNotice, _ context: EffectContext) -> OutboxMessage {
        let requester = [OutboxRecipient(role: OutboxRecipient.requesterRole, uid: context.requester, group: nil)]
        switch notice {
        case .submitted:
            return message(context, topic: .submitted, to: requester)
        case .changesRequested(let step, let question, let answerBy):
            var result = message(context, topic: .changesRequested, to: requester, step: step, deadline: answerBy)
            result.text = question
            return result
        case .granted(let until):
            var result = message(context, topic: .granted, to: requester)
            result.grantedUntil = until
            result.grantedFrom = context.laterAccessStart
            return result
        case .published(let licence, let portalURL):
            var result = message(context, topic: .published, to: requester)
            result.licence = licence
            result.portalURL = portalURL
            return result
        case .rejected(let step, let reason):
            var result = message(context, topic: .rejected, to: requester, step: step)
            result.text = reason
            return result
        case .revoked(let reason):
            var result = message(context, topic: .revoked, to: requester)
            result.text = reason
            return result
        case .expiring(let until):
            var result = message(context, topic: .expiring, to: requester)
            result.grantedUntil = until
            return result
        case .expired:
            return message(context, topic: .expired, to: requester)
        case .discontinued(let reason):
            var result = message(context, topic: .discontinued, to: requester)
            result.text = reason
            return result
        }
    }
}

extension OutboxMessage {
    /// Names a decision taken without the reader (``OutboxTopic/stepTakenOver``,
    /// ``OutboxTopic/stepRejected``): who took it, for whom, how, in which capacity and why, and a
    /// publication's licence and portal address (the Open Data officer keeps the portal).
    fileprivate mutating func tell(_ decision: Decision, asEscalation: Bool) {
        decidedBy = decision.person
        decidedFor = decision.actingFor
        outcome = decision.outcome
        self.asEscalation = asEscalation
        text = decision.comment
        licence = decision.details?.licence
        portalURL = decision.details?.portalURL
    }
}
