import WorkflowEngine

// The closed sets of words the store writes into `text` columns. Each is an enum, so a typo does not
// compile, and each raw value is what the column holds (its CHECK constraint or readers depend on it).

/// `timers.kind`.
enum TimerKind: String, Sendable, Hashable, Codable, CaseIterable {
    case reminder, escalation, expiry
    /// The notice to the requester and the Data Owner that granted access ends soon (migration 11).
    case expiryNotice = "expiry_notice"
    /// The catalogue gave a dataset another Data Owner (owner, owner group) or its domain other Data
    /// Stewards while a request waited for them: the new holders get the step's task mail (migration 16).
    case newOwner = "new_owner"
    case newStewards = "new_stewards"
    /// A question of the step left unanswered as long as the step's deadline gives: the escalation
    /// instance is told (migration 26).
    case questionEscalation = "question_escalation"

    /// The kinds this release fires; the timer round claims only these. A timer of a kind a newer
    /// release added (a rolling update runs both) is left to an instance that knows it, its attempts
    /// and back-off untouched, instead of failing here with a back-off of up to an hour.
    static let known: [String] = allCases.map(\.rawValue)

    /// The role whose new holders a `new_owner` or `new_stewards` timer tells of the waiting step.
    var handedOverRole: Role? {
        switch self {
        case .newOwner: .dataOwner
        case .newStewards: .dataSteward
        case .reminder, .escalation, .expiry, .expiryNotice, .questionEscalation: nil
        }
    }
}

/// `outbox.topic`: the notification's template; `webhook` for the rows of kind `webhook`, whose event
/// type is in the payload.
public enum OutboxTopic: String, Sendable, Hashable, Codable, CaseIterable {
    case requestDecision = "request_decision"
    case reminder, escalated, withdrawn, submitted
    case changesRequested = "changes_requested"
    case granted, published, rejected, revoked, expired
    /// To the requester: granted access ends soon.
    case expiring
    /// To the Data Owner: access to their dataset was granted, ends soon, has ended, or was revoked.
    case accessGranted = "access_granted"
    case accessExpiring = "access_expiring"
    case accessExpired = "access_expired"
    case accessRevoked = "access_revoked"
    /// To the requester: the escalation instance closed the request as withdrawn, with its reason.
    case discontinued
    /// To those the step waited for: the request was discontinued, nothing is left to decide.
    case stepDiscontinued = "step_discontinued"
    /// To the escalation instance: a question went unanswered as long as the step's deadline gives.
    case questionUnanswered = "question_unanswered"
    /// To the person a deputy decided for: what was decided in their place.
    case deputyDecided = "deputy_decided"
    /// To those an overdue branch waited for: the escalation instance decided it in their stead.
    case stepTakenOver = "step_taken_over"
    /// To those a parallel step's other parts waited for (and its escalation instance): another part was
    /// rejected, which ended the step; nothing is left to decide.
    case stepRejected = "step_rejected"
    case webhook

    /// The topics of `mail` rows this release can word; the dispatcher claims only these. A row of a
    /// topic a newer release added (a rolling update runs both) waits, unattempted and due, for an
    /// instance that knows it, instead of being failed here as unreadable.
    static let mailTopics: [String] = allCases.filter { $0 != .webhook }.map(\.rawValue)
}

/// `audit_events.event`: the engine's transition records and the server's own events.
public enum AuditEvent: String, Sendable, Hashable, Codable, CaseIterable {
    // The engine's (`AuditRecord.Event`).
    case submitted, approved, rejected, resubmitted, withdrawn, escalated, reminded, expired, revoked
    case discontinued
    case changesRequested = "changes_requested"
    case expiryAnnounced = "expiry_announced"
    case stepSkipped = "step_skipped"
    case stepCompleted = "step_completed"
    case ended
    case questionUnanswered = "question_unanswered"
    // The server's.
    /// A request was filed (as a draft or submitted at once).
    case created
    /// Someone tried a command they may not perform.
    case forbidden
    /// Someone asked for a request they may not see.
    case readDenied = "read_denied"
    case loginFailed = "login_failed"
    case deputyshipCreated = "deputyship_created"
    case deputyshipEnded = "deputyship_ended"
    case catalogImported = "catalog_imported"
    case datasetCreated = "dataset_created"
    case datasetUpdated = "dataset_updated"
    /// A catalogue change moved who holds a dataset's owner or steward step (owner, owner group,
    /// domain, steward group), with the open requests it touches.
    case holdersChanged = "holders_changed"
    /// Personal payloads were erased after the retention period (`freigabe audit redact`; written by the
    /// database function `audit_redact`, which is why the store never inserts it).
    case payloadsRedacted = "payloads_redacted"
    /// An auditor read part of the decision log: the API's events, the log page, a request's
    /// Verfahrensakte (with the selection in the details).
    case auditRead = "audit_read"
    /// An administrator sent a failed or waiting mail or webhook delivery again (the admin page or
    /// `freigabe outbox retry`), with the row's key in the details.
    case outboxRetried = "outbox_retried"

    init(_ event: AuditRecord.Event) {
        // Exhaustive on purpose: a new engine event must be named here before the build passes.
        switch event {
        case .submitted: self = .submitted
        case .approved: self = .approved
        case .rejected: self = .rejected
        case .resubmitted: self = .resubmitted
        case .withdrawn: self = .withdrawn
        case .escalated: self = .escalated
        case .reminded: self = .reminded
        case .expired: self = .expired
        case .revoked: self = .revoked
        case .discontinued: self = .discontinued
        case .changesRequested: self = .changesRequested
        case .expiryAnnounced: self = .expiryAnnounced
        case .stepSkipped: self = .stepSkipped
        case .stepCompleted: self = .stepCompleted
        case .ended: self = .ended
        case .questionUnanswered: self = .questionUnanswered
        }
    }
}
