import Foundation

/// What the caller must do after an event: plain values, performed by the server in the same
/// transaction (audit, outbox rows, timers) that stores the new state.
public enum Effect: Hashable, Sendable {
    /// Ask the holders of `role` to decide `branch` of `step`.
    case requestDecision(step: String, branch: String, role: Role, deadline: Date?)
    /// Remind the holders of `role` that `branch` of `step` still waits for them.
    case remind(step: String, branch: String, role: Role, deadline: Date)
    /// Tell the holders of `role` about something they must know but not decide.
    case inform(role: Role, RoleNotice)
    case notifyRequester(RequesterNotice)
    /// Tell the person a deputy decided for (`decision.actingFor`) what was decided in their place: the
    /// decision counts as theirs, and they learn of it even when they were away while it was taken.
    case informPrincipal(Decision)
    case scheduleReminder(step: String, at: Date)
    case scheduleEscalation(step: String, at: Date)
    /// The question of `step` is the escalation instance's to see to at `at`, unanswered
    /// (``RequestMachine/escalate(at:)`` while changes are requested); an answer makes it moot.
    case scheduleQuestionEscalation(step: String, at: Date)
    /// Reminders and escalation of `step` are moot.
    case cancelTimers(step: String)
    case scheduleExpiry(at: Date)
    /// Tell the requester and the Data Owner at `at` that the access period ends soon
    /// (``RequestMachine/announceExpiry(at:)``).
    case scheduleExpiryNotice(at: Date)
    /// The access period ends otherwise (revoked): the expiry and its notice are moot.
    case cancelExpiry
    case audit(AuditRecord)
}

public enum RoleNotice: Hashable, Sendable {
    /// The step passed its deadline; the escalation instance is told, and may decide `branches` in place
    /// (``RequestMachine/escalationBranches(of:)``; none when only independent controllers wait).
    case escalated(step: String, overdueSince: Date, branches: [String])
    /// The requester withdrew while `step` waited for this role, with the comment they gave (if any).
    /// `asEscalation`: the role is told as the step's escalation instance, not as one it waited for (its
    /// deputies were never asked, so they need not be told).
    case withdrawn(step: String, comment: String?, asEscalation: Bool = false)
    /// The requester left the question of `step`, asked at `askedAt`, unanswered as long as the step's deadline
    /// gives: the escalation instance is told, and may close the request.
    case questionUnanswered(step: String, question: String, askedAt: Date)
    /// The escalation instance discontinued the request while `step` waited for this role (or for the
    /// requester's answer to its question), with its reason.
    case discontinued(step: String, reason: String)
    /// The escalation instance decided the role's overdue branch in its stead (`decision.role` is the
    /// escalation role): nothing is left for the role to decide there.
    case takenOver(Decision)
    /// Another part of the step was rejected (`decision`), which ended the step: nothing is left for the
    /// role to decide there. `asEscalation`: told as the overdue step's escalation instance.
    case stepRejected(Decision, asEscalation: Bool = false)
    /// Access to the role's dataset was granted until `until`: the Data Owner learns what runs on their
    /// dataset, and may revoke it.
    case accessGranted(until: Date)
    /// Granted access to the role's dataset ends at `until` (told ``RequestMachine/expiryNoticeWorkingDays``
    /// working days before).
    case accessExpiring(until: Date)
    /// Granted access to the role's dataset has ended.
    case accessExpired
    /// Granted access to the role's dataset was revoked, with the revoker's reason.
    case accessRevoked(reason: String)
}

public enum RequesterNotice: Hashable, Sendable {
    case submitted
    /// A question; `answerBy`: when it escalates unanswered and the request may be discontinued (nil at a
    /// step without escalation).
    case changesRequested(step: String, question: String, answerBy: Date?)
    case granted(until: Date)
    case published(licence: String?, portalURL: String?)
    case rejected(step: String, reason: String)
    case revoked(reason: String)
    /// The escalation instance closed the request as withdrawn, nobody having moved it on.
    case discontinued(reason: String)
    /// The access period ends at `until`.
    case expiring(until: Date)
    case expired
}

/// Why a step or branch is skipped. `conditionNotMet` and `personalUnion` are also the comment of a
/// `step_skipped` audit record, so their raw values are stored codes (and the API's `skip_reason`) and
/// must never change; the two others only describe the planned path.
public enum SkipReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// Its own condition does not hold.
    case conditionNotMet = "condition_not_met"
    /// A parallel step none of whose branches applies (each branch says why).
    case noBranchApplies = "no_branch_applies"
    /// A branch of a parallel step whose own condition does not hold.
    case stepDoesNotApply = "step_does_not_apply"
    /// The step was decided together with the step before it, by the same person.
    case personalUnion = "personal_union"
}

/// The engine's account of a transition; the server appends it to `audit_events`.
///
/// A record is complete as it leaves the engine: it names the state the event led to, the capacity the
/// actor acted in and the workflow version the request runs on, so the audit log needs nothing else to
/// be read.
public struct AuditRecord: Hashable, Sendable {
    public enum Event: String, Hashable, Sendable, CaseIterable {
        case submitted, approved, rejected, resubmitted, withdrawn, escalated, reminded, expired, revoked
        /// The escalation instance closed a request nobody moved on (``Decision/Outcome/discontinued``).
        case discontinued
        case changesRequested = "changes_requested"
        /// The requester and the Data Owner were told that the access period ends soon.
        case expiryAnnounced = "expiry_announced"
        case stepSkipped = "step_skipped"
        case stepCompleted = "step_completed"
        case ended
        /// A question went unanswered as long as its step's deadline gives; the escalation instance was told.
        case questionUnanswered = "question_unanswered"
    }

    public var event: Event
    /// nil for the system (timers).
    public var actor: String?
    /// Set when the actor acted as deputy (Vertretung) of this person.
    public var actingFor: String?
    public var role: Role?
    /// Set when the actor decided as the escalation instance of an overdue step (`role` is then the
    /// escalation role).
    public var asEscalation: Bool
    public var step: String?
    public var comment: String?
    /// Steps one decision covers (Personalunion), otherwise empty.
    public var covers: [String]
    public var at: Date
    /// The name of the state the event led to (the same for every record of one event).
    public var state: String
    /// The deadline of the step that state waits at (in review or sent back with a question), nil
    /// elsewhere or without one: the log says when each decision was due, in the calendar of its day.
    public var deadline: Date?
    /// The workflow definition the request runs on (`WorkflowPin.id`, `.version`); nil only in records
    /// the server writes itself, outside the engine.
    public var workflowID: String?
    public var workflowVersion: Int?

    /// The decision the event records (the log's `decision`), nil for events that decide nothing.
    public var outcome: Decision.Outcome? {
        switch event {
        case .approved: .approved
        case .rejected: .rejected
        case .changesRequested: .changesRequested
        case .revoked: .revoked
        case .discontinued: .discontinued
        case .submitted, .resubmitted, .withdrawn, .escalated, .reminded, .expired, .expiryAnnounced, .stepSkipped,
            .stepCompleted, .ended, .questionUnanswered:
            nil
        }
    }

    public init(
        event: Event, actor: String? = nil, actingFor: String? = nil, role: Role? = nil, asEscalation: Bool = false,
        step: String? = nil, comment: String? = nil, covers: [String] = [], at: Date, state: String,
        deadline: Date? = nil, workflowID: String? = nil, workflowVersion: Int? = nil
    ) {
        self.event = event
        self.actor = actor
        self.actingFor = actingFor
        self.role = role
        self.asEscalation = asEscalation
        self.step = step
        self.comment = comment
        self.covers = covers
        self.at = at
        self.state = state
        self.deadline = deadline
        self.workflowID = workflowID
        self.workflowVersion = workflowVersion
    }
}
