import Foundation

/// Whether a step, and which of its branches, apply to a request's facts. The one place routing reads
/// conditions: entering a step, the planned path and the roles a request concerns all ask it.
struct StepApplicability {
    var step: Step
    var facts: RequestFacts
    /// Branches of this step that asked the requester a question in this request
    /// (``RequestSnapshot/questioningBranches``): they apply whatever the facts say now.
    var questioning: Set<String> = []

    init(step: Step, facts: RequestFacts, questioning: Set<String> = []) {
        self.step = step
        self.facts = facts
        self.questioning = questioning
    }

    /// What routing asks for `step` of the request `snapshot`.
    init(step: Step, of snapshot: RequestSnapshot) {
        self.init(step: step, facts: snapshot.facts, questioning: snapshot.questioningBranches(of: step.id))
    }

    /// Why the step as a whole is skipped; nil when it applies.
    var notApplying: PathEntry.NotApplying? {
        if let condition = step.condition, !condition.holds(for: facts),
            !step.branches.contains(where: { questioning.contains($0.id) })
        {
            return .conditionNotMet(condition.explain(for: facts))
        }
        return activeBranches.isEmpty ? .noBranchApplies : nil
    }

    /// Why the step as a whole applies; nil when it is skipped.
    var applying: PathEntry.Applying? {
        guard notApplying == nil else { return nil }
        return Self.applying(step.condition, facts: facts)
    }

    var applies: Bool { notApplying == nil }

    /// The branches whose own condition holds, in definition order (regardless of the step's condition).
    var activeBranches: [Branch] { step.branches.filter { notApplying($0) == nil } }

    /// Why `branch` is skipped on its own condition; nil when it holds.
    func notApplying(_ branch: Branch) -> PathEntry.NotApplying? {
        guard let condition = branch.condition, !condition.holds(for: facts), !questioning.contains(branch.id) else {
            return nil
        }
        return .conditionNotMet(condition.explain(for: facts))
    }

    /// Why `branch` applies on its own condition; nil when it is skipped on it.
    func applying(_ branch: Branch) -> PathEntry.Applying? {
        guard notApplying(branch) == nil else { return nil }
        return Self.applying(branch.condition, facts: facts)
    }

    /// For a step or branch that applies: it has no condition, its condition holds, or else it applies
    /// only because it asked a question.
    private static func applying(_ condition: Condition?, facts: RequestFacts) -> PathEntry.Applying {
        guard let condition else { return .always }
        let explanation = condition.explain(for: facts)
        return explanation.holds ? .conditionHolds(explanation) : .askedQuestion
    }
}

extension WorkflowDefinition {
    /// The branches of step `id` that `request` waits for when it enters the step, in definition order
    /// (what ``StepProgress/activeBranches`` holds); nil when there is no such step.
    public func activeBranches(ofStep id: String, of request: RequestSnapshot) -> [String]? {
        step(id).map { StepApplicability(step: $0, of: request).activeBranches.map(\.id) }
    }
}

extension RequestSnapshot {
    /// The branches of step `id` that asked the requester a question in this request. Routing keeps them
    /// on the path whatever the facts say afterwards: an answer that changes the facts (no personal
    /// reference after all, no security concern) must not take out the very check that raised the
    /// concern and leave it untold. Its own approval is what lets it go.
    public func questioningBranches(of id: String) -> Set<String> {
        Set(decisions.lazy.filter { $0.step == id && $0.outcome == .changesRequested }.map(\.branch))
    }
}

/// Where entering a node leads: the steps and branches skipped on the way, then the step or end reached.
struct Route {
    enum Stop {
        case step(Step, active: [Branch])
        case end(EndState)
    }

    /// Ids of skipped steps and branches, in the order they were passed.
    var skipped: [String]
    var stop: Stop
}

extension RequestMachine {
    /// Follows the definition from `node`: a step that does not apply is passed along `on.approve`.
    func route(from node: String, facts: RequestFacts) -> Route {
        var request = snapshot
        request.facts = facts
        var skipped: [String] = []
        var current = node
        // The validator guarantees every step can reach an end, and a skipped step always moves forward
        // along `on.approve`; the bound only protects against a definition that slipped past it.
        for _ in 0...definition.steps.count {
            if let step = definition.step(current) {
                let applicability = StepApplicability(step: step, of: request)
                guard applicability.applies else {
                    skipped.append(step.id)
                    current = step.onApprove
                    continue
                }
                let active = applicability.activeBranches
                skipped += step.branches.filter { !active.contains($0) }.map(\.id)
                return Route(skipped: skipped, stop: .step(step, active: active))
            }
            guard let end = definition.end(current) else {
                preconditionFailure("validated definition names unknown node \(current)")
            }
            return Route(skipped: skipped, stop: .end(end))
        }
        preconditionFailure("definition \(definition.pin) loops through skipped steps")
    }

    /// The state a route leads to when it is taken at `now`.
    func state(reachedBy route: Route, at now: Date) -> RequestState {
        switch route.stop {
        case .step(let step, let active):
            return .inReview(
                StepProgress(
                    step: step.id, enteredAt: now, deadline: deadline(of: step, enteredAt: now),
                    activeBranches: active.map(\.id)))
        case .end(let end):
            switch end.type {
            case .granted: return .granted(end: end.id, until: accessUntil(now))
            case .published: return .published(end: end.id)
            case .final: return .closed(end: end.id)
            }
        }
    }

    /// What arriving along `route` sets off. Called once the machine is in the state the route reached,
    /// so the audit records name it.
    func arrivalEffects(_ route: Route, at now: Date) -> [Effect] {
        var effects = route.skipped.map {
            audit(.stepSkipped, step: $0, comment: SkipReason.conditionNotMet.rawValue, at: now)
        }
        switch route.stop {
        case .step(let step, let active):
            let deadline = deadline(of: step, enteredAt: now)
            for branch in active {
                effects.append(
                    .requestDecision(step: step.id, branch: branch.id, role: branch.role, deadline: deadline))
            }
            if let deadline, let rule = step.deadline {
                if let before = rule.remindBefore {
                    effects.append(
                        .scheduleReminder(
                            step: step.id, at: calendar.reminderDate(deadline: deadline, workingDaysBefore: before)))
                }
                if rule.escalateTo != nil { effects.append(.scheduleEscalation(step: step.id, at: deadline)) }
            }
        case .end(let end):
            switch end.type {
            case .granted:
                let until = accessUntil(now)
                effects += [
                    .scheduleExpiryNotice(at: expiryNoticeDate(until: until, grantedAt: now)),
                    .scheduleExpiry(at: until), .notifyRequester(.granted(until: until)),
                    // The Data Owner answers for the dataset: told what now runs on it, as at its end.
                    .inform(role: .dataOwner, .accessGranted(until: until)),
                ]
            case .published:
                let details = snapshot.decisions.last(where: { $0.outcome == .approved })?.details
                effects.append(.notifyRequester(.published(licence: details?.licence, portalURL: details?.portalURL)))
            case .final:
                break
            }
            effects.append(audit(.ended, step: end.id, at: now))
        }
        return effects
    }

    private func deadline(of step: Step, enteredAt now: Date) -> Date? {
        step.deadline.map { calendar.deadline(addingWorkingDays: $0.workingDays, to: now) }
    }

    /// `checkSubmission` guarantees an access end for workflows that can grant.
    private func accessUntil(_ now: Date) -> Date { snapshot.accessEnd ?? now }
}
