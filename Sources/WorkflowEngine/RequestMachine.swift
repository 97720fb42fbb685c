import Foundation

/// The state machine of one request, in the style of PostgresNIO's `ConnectionStateMachine`: each event
/// is a `mutating` method that either returns the effects the caller must perform, or throws a
/// `WorkflowError` and leaves the machine unchanged. Time is always a parameter.
public struct RequestMachine: Hashable, Sendable {
    public let definition: WorkflowDefinition
    public let calendar: WorkingDayCalendar
    public private(set) var snapshot: RequestSnapshot

    public var state: RequestState { snapshot.state }
    public var decisions: [Decision] { snapshot.decisions }

    /// A new draft.
    public init(
        definition: WorkflowDefinition, calendar: WorkingDayCalendar, requester: String, facts: RequestFacts,
        accessEnd: Date? = nil
    ) throws(WorkflowError) {
        try self.init(
            definition: definition, calendar: calendar,
            snapshot: RequestSnapshot(pin: definition.pin, requester: requester, facts: facts, accessEnd: accessEnd))
    }

    /// A stored request. The definition must be exactly the one the request is pinned to.
    public init(
        definition: WorkflowDefinition, calendar: WorkingDayCalendar, snapshot: RequestSnapshot
    )
        throws(WorkflowError)
    {
        guard definition.pin == snapshot.pin else {
            throw WorkflowError(
                .definitionMismatch, state: snapshot.state.name, event: .submit,
                details: ["request is pinned to \(snapshot.pin), got \(definition.pin)"])
        }
        guard definition.kinds.contains(snapshot.facts.kind) else {
            throw WorkflowError(
                .kindNotServed, state: snapshot.state.name, event: .submit,
                details: ["\(definition.id) does not serve \(snapshot.facts.kind.rawValue)"])
        }
        self.definition = definition
        self.calendar = calendar
        self.snapshot = snapshot
    }

    // MARK: Requester events

    public mutating func submit(by person: String, at now: Date) throws(WorkflowError) -> [Effect] {
        guard case .draft = state else { throw error(.invalidTransition, .submit) }
        guard person == snapshot.requester else { throw error(.notRequester, .submit) }
        try checkSubmission(snapshot.facts, accessEnd: snapshot.accessEnd, at: now, event: .submit)
        var effects: [Effect] = [.notifyRequester(.submitted)]
        enter(definition.start, at: now, effects: &effects)
        effects.insert(.audit(AuditRecord(event: .submitted, actor: person, at: now, state: state.name)), at: 0)
        return stampedWithFinalState(effects)
    }

    /// The requester answers a `request_changes`, possibly with changed facts. If the facts changed,
    /// routing may change (a DSB step may now be required), so the request starts again from the first
    /// step; otherwise it goes where the definition's `resubmission` rule says.
    public mutating func resubmit(
        by person: String, at now: Date, facts: RequestFacts? = nil, accessEnd: Date?? = nil, comment: String? = nil
    ) throws(WorkflowError) -> [Effect] {
        guard case .changesRequested(let progress, _) = state else { throw error(.invalidTransition, .resubmit) }
        guard person == snapshot.requester else { throw error(.notRequester, .resubmit) }
        let newFacts = facts ?? snapshot.facts
        let newAccessEnd = accessEnd ?? snapshot.accessEnd
        guard newFacts.kind == snapshot.facts.kind else {
            throw error(.kindNotServed, .resubmit, ["the kind of release cannot change"])
        }
        try checkSubmission(newFacts, accessEnd: newAccessEnd, at: now, event: .resubmit)
        let factsChanged = newFacts != snapshot.facts
        snapshot.facts = newFacts
        snapshot.accessEnd = newAccessEnd
        let target = factsChanged || definition.resubmission == .restart ? definition.start : progress.step
        var effects: [Effect] = []
        enter(target, at: now, effects: &effects)
        effects.insert(
            .audit(
                AuditRecord(
                    event: .resubmitted, actor: person, step: progress.step, comment: comment, at: now,
                    state: state.name)),
            at: 0)
        return stampedWithFinalState(effects)
    }

    public mutating func withdraw(
        by person: String, at now: Date, comment: String? = nil
    ) throws(WorkflowError)
        -> [Effect]
    {
        let waitingStep: StepProgress?
        switch state {
        case .draft: waitingStep = nil
        case .inReview(let progress), .changesRequested(let progress, _): waitingStep = progress
        case .granted, .published, .closed: throw error(.invalidTransition, .withdraw)
        }
        guard person == snapshot.requester else { throw error(.notRequester, .withdraw) }
        var effects: [Effect] = []
        if let waitingStep {
            effects.append(.cancelTimers(step: waitingStep.step))
            for role in pendingRoles(of: waitingStep) {
                effects.append(.inform(role: role, .withdrawn(step: waitingStep.step)))
            }
        }
        snapshot.state = .closed(end: definition.withdrawTo)
        effects.insert(
            .audit(
                AuditRecord(
                    event: .withdrawn, actor: person, step: waitingStep?.step, comment: comment, at: now,
                    state: state.name)),
            at: 0)
        return stampedWithFinalState(effects)
    }

    // MARK: Decider events

    /// Approve the current step (or one branch of it). `branch` picks a branch when the person could
    /// decide several; otherwise the first open branch they may decide is taken.
    public mutating func approve(
        by decider: Decider, at now: Date, comment: String? = nil, details: ApprovalDetails = ApprovalDetails(),
        branch: String? = nil
    ) throws(WorkflowError) -> [Effect] {
        guard case .inReview(var progress) = state, let step = definition.step(progress.step) else {
            throw error(.invalidTransition, .approve)
        }
        let authority = try authorise(decider, on: progress, branch: branch, at: now, event: .approve)
        let missing = step.approvalRequires.filter { !details.provides($0) }
        guard missing.isEmpty else { throw error(.approvalDetailsMissing, .approve, missing.map(\.rawValue)) }

        let decision = authority.decision(.approved, step: step.id, at: now, comment: comment, details: details)
        progress.approvals[authority.branch.id, default: []].append(decision)
        snapshot.decisions.append(decision)
        snapshot.state = .inReview(progress)
        let complete = progress.activeBranches.allSatisfy { branchID in
            let quorum = step.branches.first { $0.id == branchID }?.quorum ?? 1
            return progress.approvals[branchID, default: []].count >= quorum
        }
        guard complete else { return [.audit(record(.approved, decision))] }

        var effects: [Effect] = [.cancelTimers(step: step.id)]
        var recorded = decision
        if let combined = personalUnionStep(after: step, decision: decision, decider: decider, at: now) {
            // One decision covers the owner step and the steward step; it is recorded once, saying so.
            recorded.covers = [step.id, combined.id]
            snapshot.decisions[snapshot.decisions.count - 1] = recorded
            effects.append(
                .audit(
                    AuditRecord(
                        event: .stepSkipped, step: combined.id, comment: "personal_union", at: now,
                        state: state.name)))
            enter(combined.onApprove, at: now, effects: &effects)
        } else {
            enter(step.onApprove, at: now, effects: &effects)
        }
        // Recorded last so that it names the state the approval led to.
        effects.insert(.audit(record(.approved, recorded)), at: 0)
        return stampedWithFinalState(effects)
    }

    public mutating func reject(
        by decider: Decider, at now: Date, reason: String, branch: String? = nil
    )
        throws(WorkflowError) -> [Effect]
    {
        guard case .inReview(let progress) = state, let step = definition.step(progress.step) else {
            throw error(.invalidTransition, .reject)
        }
        let authority = try authorise(decider, on: progress, branch: branch, at: now, event: .reject)
        guard let reason = reason.trimmedNonEmpty else { throw error(.reasonRequired, .reject) }
        let decision = authority.decision(.rejected, step: step.id, at: now, comment: reason, details: nil)
        snapshot.decisions.append(decision)
        var effects: [Effect] = [
            .cancelTimers(step: step.id), .notifyRequester(.rejected(step: step.id, reason: reason)),
        ]
        enter(step.onReject, at: now, effects: &effects)
        effects.insert(.audit(record(.rejected, decision)), at: 0)
        return stampedWithFinalState(effects)
    }

    public mutating func requestChanges(
        by decider: Decider, at now: Date, question: String, branch: String? = nil
    )
        throws(WorkflowError) -> [Effect]
    {
        guard case .inReview(let progress) = state, let step = definition.step(progress.step) else {
            throw error(.invalidTransition, .requestChanges)
        }
        let authority = try authorise(decider, on: progress, branch: branch, at: now, event: .requestChanges)
        guard step.allowsRequestChanges else { throw error(.requestChangesNotAllowed, .requestChanges) }
        guard let question = question.trimmedNonEmpty else { throw error(.reasonRequired, .requestChanges) }
        let decision = authority.decision(.changesRequested, step: step.id, at: now, comment: question, details: nil)
        snapshot.decisions.append(decision)
        snapshot.state = .changesRequested(progress, question: question)
        return [
            .audit(record(.changesRequested, decision)), .cancelTimers(step: step.id),
            .notifyRequester(.changesRequested(step: step.id, question: question)),
        ]
    }

    /// Revoke granted Shared Data access.
    public mutating func revoke(by decider: Decider, at now: Date, reason: String) throws(WorkflowError) -> [Effect] {
        guard case .granted(let endID, _) = state, let end = definition.end(endID), let target = end.onRevoke else {
            throw error(.invalidTransition, .revoke)
        }
        let direct = end.revocableBy.first { decider.roles.contains($0) }
        let deputy = direct == nil ? activeDeputy(decider, at: now, roles: end.revocableBy) : nil
        // Holding a revoking role does not let the requester decide on their own request.
        guard decider.person != snapshot.requester || (direct == nil && deputy == nil) else {
            throw error(.requesterCannotDecide, .revoke)
        }
        guard let role = direct ?? deputy?.role else {
            let couldAsDeputy = decider.deputising.contains { !$0.principalRoles.isDisjoint(with: end.revocableBy) }
            throw error(couldAsDeputy ? .deputyshipNotActive : .notAuthorised, .revoke)
        }
        guard let reason = reason.trimmedNonEmpty else { throw error(.reasonRequired, .revoke) }
        let decision = Decision(
            person: decider.person, actingFor: deputy?.principal, role: role, asEscalation: false, step: endID,
            branch: endID, outcome: .revoked, at: now, comment: reason, covers: [endID], details: nil)
        snapshot.decisions.append(decision)
        snapshot.state = .closed(end: target)
        return [.audit(record(.revoked, decision)), .cancelExpiry, .notifyRequester(.revoked(reason: reason))]
    }

    // MARK: System events (timers)

    /// The step's deadline passed: tell the escalation instance, which may then decide unless the step
    /// belongs to an independent controller (DSB, ISB).
    public mutating func escalate(at now: Date) throws(WorkflowError) -> [Effect] {
        guard case .inReview(var progress) = state, let step = definition.step(progress.step),
            let target = step.deadline?.escalateTo, let deadline = progress.deadline, !progress.escalated
        else { throw error(.invalidTransition, .escalate) }
        guard now >= deadline else { throw error(.tooEarly, .escalate, ["deadline \(deadline)"]) }
        progress.escalated = true
        snapshot.state = .inReview(progress)
        let mayDecide = !pendingRoles(of: progress).contains(where: \.isIndependentController)
        return [
            .audit(AuditRecord(event: .escalated, role: target, step: step.id, at: now, state: state.name)),
            .inform(role: target, .escalated(step: step.id, overdueSince: deadline, mayDecide: mayDecide)),
        ]
    }

    /// The reminder time of the step came: remind every branch that still waits.
    public mutating func remind(at now: Date) throws(WorkflowError) -> [Effect] {
        guard case .inReview(let progress) = state, let step = definition.step(progress.step),
            let deadline = progress.deadline, let before = step.deadline?.remindBefore
        else { throw error(.invalidTransition, .remind) }
        let due = calendar.reminderDate(deadline: deadline, workingDaysBefore: before)
        guard now >= due else { throw error(.tooEarly, .remind, ["reminder due \(due)"]) }
        var effects: [Effect] = [.audit(AuditRecord(event: .reminded, step: step.id, at: now, state: state.name))]
        for branch in openBranches(of: progress) {
            effects.append(.remind(step: step.id, branch: branch.id, role: branch.role, deadline: deadline))
        }
        return effects
    }

    /// The end of the Shared Data access period came.
    public mutating func expire(at now: Date) throws(WorkflowError) -> [Effect] {
        guard case .granted(let endID, let until) = state, let target = definition.end(endID)?.onExpire else {
            throw error(.invalidTransition, .expire)
        }
        guard now >= until else { throw error(.tooEarly, .expire, ["access ends \(until)"]) }
        snapshot.state = .closed(end: target)
        return [.audit(AuditRecord(event: .expired, at: now, state: state.name)), .notifyRequester(.expired)]
    }

    // MARK: Routing

    /// Moves into `node`, skipping steps whose condition does not hold, and collects the effects.
    private mutating func enter(_ node: String, at now: Date, effects: inout [Effect]) {
        var current = node
        // The validator guarantees every step can reach an end, and a skipped step always moves forward
        // along `on.approve`; the bound only protects against a definition that slipped past it.
        for _ in 0...definition.steps.count {
            if let step = definition.step(current) {
                let active = step.branches.filter { $0.condition?.holds(for: snapshot.facts) ?? true }
                let stepApplies = step.condition?.holds(for: snapshot.facts) ?? true
                guard stepApplies, !active.isEmpty else {
                    effects.append(
                        .audit(
                            AuditRecord(
                                event: .stepSkipped, step: step.id, comment: "condition_not_met", at: now,
                                state: state.name)))
                    current = step.onApprove
                    continue
                }
                for branch in step.branches where !active.contains(branch) {
                    effects.append(
                        .audit(
                            AuditRecord(
                                event: .stepSkipped, step: branch.id, comment: "condition_not_met", at: now,
                                state: state.name)))
                }
                let deadline = step.deadline.map { calendar.deadline(addingWorkingDays: $0.workingDays, to: now) }
                snapshot.state = .inReview(
                    StepProgress(step: step.id, enteredAt: now, deadline: deadline, activeBranches: active.map(\.id)))
                for branch in active {
                    effects.append(
                        .requestDecision(step: step.id, branch: branch.id, role: branch.role, deadline: deadline))
                }
                if let deadline, let rule = step.deadline {
                    if let before = rule.remindBefore {
                        effects.append(
                            .scheduleReminder(
                                step: step.id, at: calendar.reminderDate(deadline: deadline, workingDaysBefore: before))
                        )
                    }
                    if rule.escalateTo != nil { effects.append(.scheduleEscalation(step: step.id, at: deadline)) }
                }
                return
            }
            guard let end = definition.end(current) else {
                preconditionFailure("validated definition names unknown node \(current)")
            }
            switch end.type {
            case .granted:
                // `checkSubmission` guarantees an access end for workflows that can grant.
                let until = snapshot.accessEnd ?? now
                snapshot.state = .granted(end: end.id, until: until)
                effects.append(.scheduleExpiry(at: until))
                effects.append(.notifyRequester(.granted(until: until)))
            case .published:
                snapshot.state = .published(end: end.id)
                let details = snapshot.decisions.last(where: { $0.outcome == .approved })?.details
                effects.append(.notifyRequester(.published(licence: details?.licence, portalURL: details?.portalURL)))
            case .final:
                snapshot.state = .closed(end: end.id)
            }
            effects.append(.audit(AuditRecord(event: .ended, step: end.id, at: now, state: state.name)))
            return
        }
        preconditionFailure("definition \(definition.pin) loops through skipped steps")
    }

    /// The steward step right after an owner step, when one person holds both roles and the definition
    /// combines them.
    private func personalUnionStep(after step: Step, decision: Decision, decider: Decider, at now: Date) -> Step? {
        guard definition.personalUnion == .combine, !step.isParallel, decision.role == .dataOwner,
            decision.actingFor == nil, !decision.asEscalation, decider.roles.contains(.dataSteward),
            let next = definition.step(step.onApprove), !next.isParallel,
            let branch = next.branches.first, branch.role == .dataSteward, branch.quorum == 1,
            next.condition?.holds(for: snapshot.facts) ?? true
        else { return nil }
        return next
    }

    private func checkSubmission(
        _ facts: RequestFacts, accessEnd: Date?, at now: Date, event: RequestEvent
    )
        throws(WorkflowError)
    {
        // Access that would end before anyone could decide is a mistake in the form, not a request.
        if let accessEnd, accessEnd <= now {
            throw error(.invalidAccessPeriod, event, ["access_end \(accessEnd) is not after \(now)"])
        }
        var missing = definition.submitRequirements.filter { requirement in
            guard requirement.condition?.holds(for: facts) ?? true else { return false }
            switch requirement.field {
            case .anonymisationStatement: return !facts.hasAnonymisationStatement
            case .legalBasis: return !facts.hasLegalBasis
            case .accessEnd: return accessEnd == nil
            case .recipient: return facts.recipient == nil
            }
        }.map(\.field)
        if definition.ends.contains(where: { $0.type == .granted }), accessEnd == nil, !missing.contains(.accessEnd) {
            missing.append(.accessEnd)
        }
        guard missing.isEmpty else { throw error(.submissionIncomplete, event, missing.map(\.rawValue)) }
    }

    // MARK: Authority and separation of duties

    /// In what capacity a person decides a branch.
    private struct Authority {
        var person: String
        var branch: Branch
        var role: Role
        var principal: String?
        var asEscalation: Bool

        var identities: Set<String> { Set([person] + (principal.map { [$0] } ?? [])) }

        func decision(
            _ outcome: Decision.Outcome, step: String, at: Date, comment: String?, details: ApprovalDetails?
        )
            -> Decision
        {
            Decision(
                person: person, actingFor: principal, role: role, asEscalation: asEscalation, step: step,
                branch: branch.id, outcome: outcome, at: at, comment: comment, covers: [step], details: details)
        }
    }

    private func authorise(
        _ decider: Decider, on progress: StepProgress, branch wanted: String?, at now: Date, event: RequestEvent
    )
        throws(WorkflowError) -> Authority
    {
        guard decider.person != snapshot.requester else { throw error(.requesterCannotDecide, event) }
        var candidates = openBranches(of: progress)
        if let wanted {
            guard let chosen = candidates.first(where: { $0.id == wanted }) else {
                throw error(.unknownBranch, event, [wanted])
            }
            candidates = [chosen]
        }
        let escalationRole = progress.escalated ? definition.step(progress.step)?.deadline?.escalateTo : nil

        var authorities: [Authority] = []
        for branch in candidates {
            if decider.roles.contains(branch.role) {
                authorities.append(
                    Authority(
                        person: decider.person, branch: branch, role: branch.role, principal: nil, asEscalation: false))
            }
            for deputy in decider.deputising
            where deputy.deputyship.deputy == decider.person && deputy.deputyship.isActive(at: now)
                && deputy.principalRoles.contains(branch.role)
            {
                authorities.append(
                    Authority(
                        person: decider.person, branch: branch, role: branch.role,
                        principal: deputy.deputyship.principal, asEscalation: false))
            }
            if let escalationRole, !branch.role.isIndependentController, decider.roles.contains(escalationRole) {
                authorities.append(
                    Authority(
                        person: decider.person, branch: branch, role: escalationRole, principal: nil, asEscalation: true
                    ))
            }
        }
        guard !authorities.isEmpty else {
            let couldAsDeputy = candidates.contains { branch in
                decider.deputising.contains {
                    $0.deputyship.deputy == decider.person && $0.principalRoles.contains(branch.role)
                }
            }
            throw error(couldAsDeputy ? .deputyshipNotActive : .notAuthorised, event)
        }
        // The first capacity that separation of duties allows wins: own role before deputy before escalation.
        var firstRefusal: WorkflowError?
        for authority in authorities {
            if authority.principal == snapshot.requester {
                firstRefusal = firstRefusal ?? error(.requesterCannotDecide, event)
                continue
            }
            let earlier = snapshot.decisions.filter { !$0.identities.isDisjoint(with: authority.identities) }
            if earlier.contains(where: {
                $0.branch != authority.branch.id && !$0.covers.contains(authority.branch.id) && $0.outcome != .revoked
            }) {
                firstRefusal = firstRefusal ?? error(.alreadyDecidedAnotherStep, event)
                continue
            }
            let approvedHere = progress.approvals[authority.branch.id, default: []].contains {
                !$0.identities.isDisjoint(with: authority.identities)
            }
            if approvedHere {
                firstRefusal = firstRefusal ?? error(.alreadyApproved, event)
                continue
            }
            return authority
        }
        throw firstRefusal ?? error(.notAuthorised, event)
    }

    private func activeDeputy(_ decider: Decider, at now: Date, roles: [Role]) -> (principal: String, role: Role)? {
        for deputy in decider.deputising
        where deputy.deputyship.deputy == decider.person && deputy.deputyship.isActive(at: now)
            && deputy.deputyship.principal != snapshot.requester
        {
            if let role = roles.first(where: deputy.principalRoles.contains) {
                return (deputy.deputyship.principal, role)
            }
        }
        return nil
    }

    /// Active branches of the step that have not reached their quorum yet.
    public func openBranches(of progress: StepProgress) -> [Branch] {
        guard let step = definition.step(progress.step) else { return [] }
        return step.branches.filter { branch in
            progress.activeBranches.contains(branch.id)
                && progress.approvals[branch.id, default: []].count < branch.quorum
        }
    }

    private func pendingRoles(of progress: StepProgress) -> [Role] { openBranches(of: progress).map(\.role) }

    private func record(_ event: AuditRecord.Event, _ decision: Decision) -> AuditRecord {
        AuditRecord(
            event: event, actor: decision.person, actingFor: decision.actingFor, role: decision.role,
            step: decision.branch,
            comment: decision.comment, covers: decision.covers.count > 1 ? decision.covers : [], at: decision.at,
            state: state.name)
    }

    /// Every audit record of one event names the state the event led to, also records made on the way
    /// (a skipped step, a Personalunion), so an auditor reads one consistent "state after" per event.
    private func stampedWithFinalState(_ effects: [Effect]) -> [Effect] {
        effects.map { effect in
            guard case .audit(var record) = effect else { return effect }
            record.state = state.name
            return .audit(record)
        }
    }

    private func error(_ code: WorkflowError.Code, _ event: RequestEvent, _ details: [String] = []) -> WorkflowError {
        WorkflowError(code, state: state.name, event: event, details: details)
    }
}

extension ApprovalDetails {
    func provides(_ field: ApprovalField) -> Bool {
        switch field {
        case .licence: return licence?.trimmedNonEmpty != nil
        case .portalURL:
            guard let text = portalURL?.trimmedNonEmpty, let url = URL(string: text), let host = url.host, !host.isEmpty
            else { return false }
            return url.scheme == "https" || url.scheme == "http"
        }
    }
}

extension String {
    var trimmedNonEmpty: String? {
        let trimmed = trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
