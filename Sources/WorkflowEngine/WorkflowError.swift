import Foundation

/// An event the state machine refused, naming the state and the event. Nothing changed.
///
/// Modelled on PostgresNIO's `PSQLError`: a stable `code` for programs, a `description` safe to show,
/// and `details` for logs.
public struct WorkflowError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// The event is not possible in this state at all.
        case invalidTransition = "invalid_transition"
        /// The person holds no role that may do this here.
        case notAuthorised = "not_authorised"
        /// The requester may not decide on their own request.
        case requesterCannotDecide = "requester_cannot_decide"
        /// Only the requester may do this.
        case notRequester = "not_requester"
        /// The person (or their principal) already decided another step of this request.
        case alreadyDecidedAnotherStep = "already_decided_another_step"
        /// The person (or their principal) already approved this step (quorum needs distinct people).
        case alreadyApproved = "already_approved"
        /// The person could act only as a deputy, and the deputyship is not in force at this time.
        case deputyshipNotActive = "deputyship_not_active"
        case reasonRequired = "reason_required"
        case approvalDetailsMissing = "approval_details_missing"
        /// An approval carried details (licence, portal URL) its step does not ask for.
        case approvalDetailsNotAsked = "approval_details_not_asked"
        case submissionIncomplete = "submission_incomplete"
        /// The Shared Data access period ends before the submission, or (at the approval that would grant
        /// it) ended during the review.
        case invalidAccessPeriod = "invalid_access_period"
        case requestChangesNotAllowed = "request_changes_not_allowed"
        /// A timer event came before its time.
        case tooEarly = "too_early"
        case kindNotServed = "kind_not_served"
        case definitionMismatch = "definition_mismatch"
        case unknownBranch = "unknown_branch"
    }

    public var code: Code
    public var state: String
    public var event: RequestEvent
    /// Extra facts for logs and for the form (e.g. the missing fields).
    public var details: [String]
    /// For ``Code/tooEarly``: the moment from which the event is accepted (the engine's calendar).
    public var notBefore: Date?

    public init(_ code: Code, state: String, event: RequestEvent, details: [String] = []) {
        self.code = code
        self.state = state
        self.event = event
        self.details = details
    }

    public var description: String {
        let suffix = details.isEmpty ? "" : " (\(details.joined(separator: "; ")))"
        return "\(code.rawValue): event '\(event.rawValue)' in state '\(state)'\(suffix)"
    }
}

/// Every event a request can receive.
public enum RequestEvent: String, Hashable, Sendable, CaseIterable, Codable {
    case submit, approve, reject, resubmit, withdraw, escalate, remind, expire, revoke
    case requestChanges = "request_changes"
    case announceExpiry = "announce_expiry"
    /// The escalation instance closes a request nobody moves on (``RequestMachine/discontinue(by:at:reason:)``).
    case discontinue
}
