import Foundation

/// Where a request stands.
public enum RequestState: Hashable, Sendable, Codable {
    case draft
    /// Waiting for the deciders of a step.
    case inReview(StepProgress)
    /// Sent back to the requester with a question; the step waits for the resubmission.
    case changesRequested(StepProgress, question: String)
    /// Shared Data access is live until `until`.
    case granted(end: String, until: Date)
    /// Open Data was published. Irreversible.
    case published(end: String)
    /// Nothing more happens (rejected, withdrawn, expired, revoked, ...).
    case closed(end: String)

    /// A stable name for errors, logs and the audit log, e.g. `in_review:owner_review`.
    public var name: String {
        switch self {
        case .draft: "draft"
        case .inReview(let progress): "in_review:\(progress.step)"
        case .changesRequested(let progress, _): "changes_requested:\(progress.step)"
        case .granted(let end, _): "granted:\(end)"
        case .published(let end): "published:\(end)"
        case .closed(let end): "closed:\(end)"
        }
    }

    /// The step the request stands at, waiting for its deciders or for the requester's answer; nil
    /// before submission and after the end. Its `enteredAt` tells one stay in a step from a later one
    /// (a resubmission enters the step anew).
    public var stepProgress: StepProgress? {
        switch self {
        case .inReview(let progress), .changesRequested(let progress, _): progress
        case .draft, .granted, .published, .closed: nil
        }
    }

    public var isFinal: Bool {
        switch self {
        case .published, .closed: true
        case .draft, .inReview, .changesRequested, .granted: false
        }
    }
}

/// A step in progress: which branches must decide, who approved so far, the deadline.
public struct StepProgress: Hashable, Sendable, Codable {
    public var step: String
    public var enteredAt: Date
    public var deadline: Date?
    public var escalated: Bool
    /// Branches whose condition held when the step was entered, in definition order.
    public var activeBranches: [String]
    /// Approvals per branch in this round.
    public var approvals: [String: [Decision]]

    public init(step: String, enteredAt: Date, deadline: Date?, activeBranches: [String]) {
        self.step = step
        self.enteredAt = enteredAt
        self.deadline = deadline
        self.escalated = false
        self.activeBranches = activeBranches
        self.approvals = [:]
    }
}

/// Everything about a request the engine needs, as stored by the server (JSON in the request row).
public struct RequestSnapshot: Hashable, Sendable, Codable {
    public var pin: WorkflowPin
    public var requester: String
    public var facts: RequestFacts
    /// End of the Shared Data access period.
    public var accessEnd: Date?
    public var state: RequestState
    /// Every decision, in order; the basis for separation of duties.
    public var decisions: [Decision]

    public init(
        pin: WorkflowPin, requester: String, facts: RequestFacts, accessEnd: Date?, state: RequestState = .draft,
        decisions: [Decision] = []
    ) {
        self.pin = pin
        self.requester = requester
        self.facts = facts
        self.accessEnd = accessEnd
        self.state = state
        self.decisions = decisions
    }
}
