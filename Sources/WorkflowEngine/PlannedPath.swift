import Foundation

/// One line of a request's timeline: a step, a branch of a parallel step, or the end an approval of
/// every step reaches.
public struct PathEntry: Hashable, Sendable {
    public enum Node: Hashable, Sendable {
        case step(String)
        /// A branch of a parallel step (a plain step has no separate branch line).
        case branch(String, step: String)
        case end(String)
    }

    /// Why a step or branch applies to the request's facts.
    public enum Applying: Hashable, Sendable {
        /// It has no `when:` (a parallel step's branches say for themselves).
        case always
        /// Its `when:` holds: the atoms that decided it.
        case conditionHolds(ConditionExplanation)
        /// Its `when:` no longer holds, but it (a branch of it) asked the requester a question in this
        /// request, and a check that asked stays on the path until it decides
        /// (``RequestSnapshot/questioningBranches(of:)``).
        case askedQuestion
    }

    /// Why a step or branch does not apply to the request's facts.
    public enum NotApplying: Hashable, Sendable {
        /// Its `when:` does not hold: the atoms that decided it.
        case conditionNotMet(ConditionExplanation)
        /// A parallel step none of whose branches applies.
        case noBranchApplies
        /// A branch of a step whose own `when:` does not hold.
        case stepDoesNotApply
    }

    public enum Status: String, Hashable, Sendable {
        /// Passed by approval (or covered by a Personalunion); once the request ended off the path, decided
        /// (approved, rejected or discontinued there; the decisions say how; a question is no decision). For the end: reached and left (expired, revoked).
        case done
        /// Waiting now (also while a question of this step is open), or the end the request is in.
        case current
        /// Still to come if the request is approved on.
        case ahead
        /// Does not apply to the facts; passed over.
        case skipped
        /// The request ended (rejected, withdrawn) before it came here.
        case notReached = "not_reached"
    }

    public var node: Node
    /// Who decides; nil for a parallel step (its branches say) and for the end.
    public var role: Role?
    /// Why the entry applies; nil when it does not (then `notApplying` says why), and for the end.
    public var applying: Applying?
    /// nil when the entry applies to the request's facts.
    public var notApplying: NotApplying?
    public var status: Status

    public var applies: Bool { notApplying == nil }

    public init(
        node: Node, role: Role?, applying: Applying? = nil, notApplying: NotApplying? = nil, status: Status
    ) {
        self.node = node
        self.role = role
        self.applying = applying
        self.notApplying = notApplying
        self.status = status
    }
}

extension RequestMachine {
    /// The request's way through its definition for the timeline: from `start` along `on.approve`, every
    /// step (and each branch of a parallel step) in routing order, whether it applies to the current facts
    /// and why (or why not), where the request stands on it, and last the end an approval of every step reaches.
    /// Steps reached only by a rejection are not on this path.
    public func plannedPath() -> [PathEntry] {
        let (steps, end) = approvalPath()
        let position = pathPosition(steps: steps, end: end)
        var entries: [PathEntry] = []
        for (index, step) in steps.enumerated() {
            let applicability = StepApplicability(step: step, of: snapshot)
            let stepStatus = applicability.applies ? position.status(of: step.id, at: index) : .skipped
            entries.append(
                PathEntry(
                    node: .step(step.id), role: step.isParallel ? nil : step.branches.first?.role,
                    applying: applicability.applying, notApplying: applicability.notApplying, status: stepStatus))
            guard step.isParallel else { continue }
            for branch in step.branches {
                // A step none of whose branches applies leaves each branch with its own reason.
                let notApplying: PathEntry.NotApplying? =
                    switch applicability.notApplying {
                    case nil, .noBranchApplies: applicability.notApplying(branch)
                    case .conditionNotMet, .stepDoesNotApply: .stepDoesNotApply
                    }
                entries.append(
                    PathEntry(
                        node: .branch(branch.id, step: step.id), role: branch.role,
                        applying: notApplying == nil ? applicability.applying(branch) : nil, notApplying: notApplying,
                        status: notApplying != nil ? .skipped : branchStatus(branch, stepStatus: stepStatus)))
            }
        }
        entries.append(PathEntry(node: .end(end.id), role: nil, status: position.endStatus))
        return entries
    }

    /// The roles of the steps and branches that apply to the request, and of those who decided it in their
    /// own right or as deputy: whom the request concerns. Escalation roles and the roles that may revoke are
    /// not among them (see `escalationRoles()` and `EndState.revocableBy`): a DSB or ISB sees a request
    /// only where their step applies or applied.
    public func applyingRoles() -> Set<Role> {
        var roles = Set(plannedPath().filter { $0.applies }.compactMap(\.role))
        for decision in snapshot.decisions where !decision.asEscalation && decision.outcome != .revoked {
            roles.insert(decision.role)
        }
        return roles
    }

    /// The escalation roles of the steps that apply to the request.
    public func escalationRoles() -> Set<Role> {
        Set(
            approvalPath().steps.filter { StepApplicability(step: $0, of: snapshot).applies }
                .compactMap(\.escalationRole))
    }

    /// The roles whose open branches the current step waits for; empty when no step is in review.
    public var pendingRoles: [Role] {
        switch state {
        case .inReview(let progress): openBranches(of: progress).map(\.role)
        case .draft, .changesRequested, .granted, .published, .closed: []
        }
    }

    /// The escalation role of the step in review; nil when no step is in review or it has none.
    public var escalationRole: Role? {
        switch state {
        case .inReview(let progress): definition.escalationRole(of: progress.step)
        case .draft, .changesRequested, .granted, .published, .closed: nil
        }
    }

    /// The escalation role when it may decide now: the step in review is escalated and one of its open
    /// branches is not an independent controller (nobody decides in place of a DSB or ISB).
    public var decidingEscalationRole: Role? {
        guard case .inReview(let progress) = state, progress.escalated,
            !escalationBranches(of: progress).isEmpty
        else { return nil }
        return escalationRole
    }

    // MARK: Path helpers

    /// The steps from `start` along `on.approve`, and the end reached.
    private func approvalPath() -> (steps: [Step], end: EndState) {
        var steps: [Step] = []
        var current = definition.start
        for _ in 0...definition.steps.count {
            guard let step = definition.step(current) else { break }
            steps.append(step)
            current = step.onApprove
        }
        guard let end = definition.end(current) else {
            preconditionFailure("definition \(definition.pin) has no end along on.approve from \(definition.start)")
        }
        return (steps, end)
    }

    /// Where the request stands on the approval path.
    private struct PathPosition {
        enum Place {
            case before
            /// At the step with this index on the path.
            case at(Int)
            /// At, or past, the path's end.
            case end(PathEntry.Status)
            /// Ended off the path (rejected, withdrawn); the steps a decision covers were decided.
            case stopped(decided: Set<String>)
        }

        var place: Place

        func status(of step: String, at index: Int) -> PathEntry.Status {
            switch place {
            case .before: .ahead
            case .at(let current): index < current ? .done : index == current ? .current : .ahead
            case .end: .done
            case .stopped(let decided): decided.contains(step) ? .done : .notReached
            }
        }

        var endStatus: PathEntry.Status {
            switch place {
            case .before, .at: .ahead
            case .end(let status): status
            case .stopped: .notReached
            }
        }
    }

    private func pathPosition(steps: [Step], end: EndState) -> PathPosition {
        switch state {
        case .draft:
            return PathPosition(place: .before)
        case .inReview(let progress), .changesRequested(let progress, _):
            // A step off the path (reached by a rejection) leaves the whole path ahead.
            return PathPosition(place: steps.firstIndex { $0.id == progress.step }.map { .at($0) } ?? .before)
        case .granted(let endID, _), .published(let endID):
            return PathPosition(place: .end(endID == end.id ? .current : .done))
        case .closed(let endID):
            if endID == end.onExpire || endID == end.onRevoke { return PathPosition(place: .end(.done)) }
            // A question decides nothing on its step, a revocation came at the end.
            let decided = snapshot.decisions.filter { $0.outcome != .revoked && $0.outcome != .changesRequested }
                .flatMap(\.covers)
            return PathPosition(place: .stopped(decided: Set(decided)))
        }
    }

    /// A branch of the step in review is done once it has its quorum; otherwise it shares the step's status.
    private func branchStatus(_ branch: Branch, stepStatus: PathEntry.Status) -> PathEntry.Status {
        guard stepStatus == .current, case .inReview(let progress) = state else { return stepStatus }
        return openBranches(of: progress).contains(branch) ? .current : .done
    }
}
