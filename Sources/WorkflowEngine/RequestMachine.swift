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
        switch state {
        case .draft:
            guard person == snapshot.requester else { throw error(.notRequester, .submit) }
            try checkSubmission(snapshot.facts, accessEnd: snapshot.accessEnd, at: now, event: .submit)
            let route = route(from: definition.start, facts: snapshot.facts)
            snapshot.state = state(reachedBy: route, at: now)
            return [audit(.submitted, actor: person, at: now), .notifyRequester(.submitted)]
                + arrivalEffects(route, at: now)
        case .inReview, .changesRequested, .granted, .published, .closed:
            throw error(.invalidTransition, .submit)
        }
    }

    /// The requester answers a `request_changes`, possibly with changed facts or details. If the facts
    /// changed, routing may change (a DSB step may now be required); if anything the requester stated
    /// changed (the access end, or `detailsChanged`: purpose, recipient, legal basis, ...), the earlier
    /// approvals were given to another request. Either way it starts again from the first step; an answer
    /// that changes nothing goes where the definition's `resubmission` rule says.
    public mutating func resubmit(
        by person: String, at now: Date, facts: RequestFacts? = nil, accessEnd: Date?? = nil,
        detailsChanged: Bool = false, comment: String? = nil
    ) throws(WorkflowError) -> [Effect] {
        switch state {
        case .changesRequested(let progress, _):
            guard person == snapshot.requester else { throw error(.notRequester, .resubmit) }
            let newFacts = facts ?? snapshot.facts
            let newAccessEnd = accessEnd ?? snapshot.accessEnd
            guard newFacts.kind == snapshot.facts.kind else {
                throw error(.kindNotServed, .resubmit, ["the kind of release cannot change"])
            }
            try checkSubmission(newFacts, accessEnd: newAccessEnd, at: now, event: .resubmit)
            let changed = newFacts != snapshot.facts || newAccessEnd != snapshot.accessEnd || detailsChanged
            snapshot.facts = newFacts
            snapshot.accessEnd = newAccessEnd
            let target = changed || definition.resubmission == .restart ? definition.start : progress.step
            let route = route(from: target, facts: newFacts)
            snapshot.state = state(reachedBy: route, at: now)
            // The question's escalation is moot; the step entered now schedules its own.
            return [
                audit(.resubmitted, actor: person, step: progress.step, comment: comment, at: now),
                .cancelTimers(step: progress.step),
            ] + arrivalEffects(route, at: now)
        case .draft, .inReview, .granted, .published, .closed:
            throw error(.invalidTransition, .resubmit)
        }
    }

    public mutating func withdraw(
        by person: String, at now: Date, comment: String? = nil
    ) throws(WorkflowError)
        -> [Effect]
    {
        // Whether the escalation instance was told of the waiting step: the step passed its deadline ("you
        // may decide"), or its question went unanswered as long as the deadline gives ("you may close the
        // request").
        let waitingStep: StepProgress?
        let handedToEscalation: Bool
        switch state {
        case .draft:
            (waitingStep, handedToEscalation) = (nil, false)
        case .inReview(let progress):
            (waitingStep, handedToEscalation) = (progress, progress.escalated)
        case .changesRequested(let progress, _):
            // The step escalated before its question was asked, or the question escalated since.
            (waitingStep, handedToEscalation) = (
                progress, progress.escalated || escalationDue.map { now >= $0 } == true
            )
        case .granted, .published, .closed: throw error(.invalidTransition, .withdraw)
        }
        guard person == snapshot.requester else { throw error(.notRequester, .withdraw) }
        snapshot.state = .closed(end: definition.withdrawTo)
        var effects = [audit(.withdrawn, actor: person, step: waitingStep?.step, comment: comment, at: now)]
        if let waitingStep {
            effects.append(.cancelTimers(step: waitingStep.step))
            var told: [Role] = []
            for branch in openBranches(of: waitingStep) {
                effects.append(.inform(role: branch.role, .withdrawn(step: waitingStep.step, comment: comment)))
                told.append(branch.role)
            }
            // The escalation instance learns that nothing is left to decide or close.
            if handedToEscalation, let role = definition.escalationRole(of: waitingStep.step), !told.contains(role) {
                effects.append(
                    .inform(role: role, .withdrawn(step: waitingStep.step, comment: comment, asEscalation: true)))
            }
        }
        return effects
    }

    // MARK: Decider events

    /// Approve the current step (or one branch of it). `branch` picks a branch when the person could
    /// decide several; otherwise the first open branch they may decide is taken.
    public mutating func approve(
        by decider: Decider, at now: Date, comment: String? = nil, details: ApprovalDetails = ApprovalDetails(),
        branch: String? = nil
    ) throws(WorkflowError) -> [Effect] {
        switch state {
        case .inReview(let progress):
            return try approveStep(progress, by: decider, at: now, comment: comment, details: details, branch: branch)
        case .draft, .changesRequested, .granted, .published, .closed:
            throw error(.invalidTransition, .approve)
        }
    }

    private mutating func approveStep(
        _ progress: StepProgress, by decider: Decider, at now: Date, comment: String?, details: ApprovalDetails,
        branch: String?
    ) throws(WorkflowError) -> [Effect] {
        let authority = try authority(of: decider, at: now, branch: branch, for: .approve).get()
        if !authority.mayApprove, let accessEnd = snapshot.accessEnd {
            throw error(.invalidAccessPeriod, .approve, ["access_end \(accessEnd) passed before the grant at \(now)"])
        }
        let step = try currentStep(progress, .approve)
        let missing = step.approvalRequires.filter { !details.provides($0) }
        guard missing.isEmpty else { throw error(.approvalDetailsMissing, .approve, missing.map(\.rawValue)) }
        // A licence or portal URL given where the step does not ask for it would be recorded as if the
        // data had been published under it.
        let notAsked = ApprovalField.allCases.filter { !step.approvalRequires.contains($0) && details.gives($0) }
        guard notAsked.isEmpty else { throw error(.approvalDetailsNotAsked, .approve, notAsked.map(\.rawValue)) }

        var progress = progress
        var decision = authority.decision(.approved, at: now, comment: comment, details: details)
        decision.stepEscalated = progress.escalated ? true : nil
        progress.approvals[authority.branch, default: []].append(decision)
        guard authority.completesStep else {
            snapshot.decisions.append(decision)
            snapshot.state = .inReview(progress)
            return recorded(.approved, decision)
        }
        // The step is complete; with a Personalunion the one decision also covers the next step, is recorded
        // once saying so, and the request goes on from there.
        var next = step.onApprove
        if let covered = authority.coversPersonalUnionStep, let coveredStep = definition.step(covered) {
            decision.covers = [step.id, covered]
            next = coveredStep.onApprove
        }
        let route = route(from: next, facts: snapshot.facts)
        snapshot.decisions.append(decision)
        snapshot.state = state(reachedBy: route, at: now)
        var effects = recorded(.approved, decision) + [.cancelTimers(step: step.id)]
        if let covered = authority.coversPersonalUnionStep {
            effects.append(audit(.stepSkipped, step: covered, comment: SkipReason.personalUnion.rawValue, at: now))
        }
        return effects + arrivalEffects(route, at: now)
    }

    public mutating func reject(
        by decider: Decider, at now: Date, reason: String, branch: String? = nil
    )
        throws(WorkflowError) -> [Effect]
    {
        switch state {
        case .inReview(let progress):
            let authority = try authority(of: decider, at: now, branch: branch, for: .reject).get()
            let step = try currentStep(progress, .reject)
            guard let reason = reason.trimmedNonEmpty else { throw error(.reasonRequired, .reject) }
            var decision = authority.decision(.rejected, at: now, comment: reason, details: nil)
            decision.stepEscalated = progress.escalated ? true : nil
            let stillOpen = openBranches(of: progress)
            snapshot.decisions.append(decision)
            let route = route(from: step.onReject, facts: snapshot.facts)
            snapshot.state = state(reachedBy: route, at: now)
            // Where the rejection leads to another step, that step's own tasks ask whom it asks.
            let ended = if case .closed = snapshot.state { true } else { false }
            return recorded(.rejected, decision) + [
                .cancelTimers(step: step.id), .notifyRequester(.rejected(step: step.id, reason: reason)),
            ] + (ended ? othersTold(of: decision, stillOpen: stillOpen, escalated: progress.escalated) : [])
                + arrivalEffects(route, at: now)
        case .draft, .changesRequested, .granted, .published, .closed:
            throw error(.invalidTransition, .reject)
        }
    }

    public mutating func requestChanges(
        by decider: Decider, at now: Date, question: String, branch: String? = nil
    )
        throws(WorkflowError) -> [Effect]
    {
        switch state {
        case .inReview(let progress):
            let authority = try authority(of: decider, at: now, branch: branch, for: .requestChanges).get()
            let step = try currentStep(progress, .requestChanges)
            guard step.allowsRequestChanges else { throw error(.requestChangesNotAllowed, .requestChanges) }
            guard let question = question.trimmedNonEmpty else { throw error(.reasonRequired, .requestChanges) }
            var decision = authority.decision(.changesRequested, at: now, comment: question, details: nil)
            decision.stepEscalated = progress.escalated ? true : nil
            snapshot.decisions.append(decision)
            snapshot.state = .changesRequested(progress, question: question)
            // An answer that never comes is the escalation instance's to see to, as an overdue decision is;
            // the requester is told until when.
            let due = escalationDue
            var effects =
                recorded(.changesRequested, decision) + [
                    .cancelTimers(step: step.id),
                    .notifyRequester(.changesRequested(step: step.id, question: question, answerBy: due)),
                ]
            if let due { effects.append(.scheduleQuestionEscalation(step: step.id, at: due)) }
            return effects
        case .draft, .changesRequested, .granted, .published, .closed:
            throw error(.invalidTransition, .requestChanges)
        }
    }

    /// Revoke granted Shared Data access.
    public mutating func revoke(by decider: Decider, at now: Date, reason: String) throws(WorkflowError) -> [Effect] {
        switch state {
        case .granted(let endID, _):
            let authority = try revokeAuthority(of: decider, at: now).get()
            guard let target = definition.end(endID)?.onRevoke else { throw error(.invalidTransition, .revoke) }
            guard let reason = reason.trimmedNonEmpty else { throw error(.reasonRequired, .revoke) }
            let decision = authority.decision(.revoked, at: now, comment: reason, details: nil)
            snapshot.decisions.append(decision)
            snapshot.state = .closed(end: target)
            var effects = recorded(.revoked, decision) + [.cancelExpiry, .notifyRequester(.revoked(reason: reason))]
            // The Data Owner answers for the dataset and follows up on the deletion, as at an expiry: told,
            // unless the revocation was theirs (in their own right or through their deputy).
            if authority.role != .dataOwner {
                effects.append(.inform(role: .dataOwner, .accessRevoked(reason: reason)))
            }
            return effects
        case .draft, .inReview, .changesRequested, .published, .closed:
            throw error(.invalidTransition, .revoke)
        }
    }

    /// The escalation instance closes a request nobody moves on as withdrawn
    /// (``discontinueAuthority(of:at:)`` says who and from when), with its reason: the requester and
    /// those the step waited for are told.
    public mutating func discontinue(
        by decider: Decider, at now: Date, reason: String
    ) throws(WorkflowError)
        -> [Effect]
    {
        switch state {
        case .inReview(let progress), .changesRequested(let progress, _):
            let authority = try discontinueAuthority(of: decider, at: now).get()
            guard let reason = reason.trimmedNonEmpty else { throw error(.reasonRequired, .discontinue) }
            var waiting: [Role] = []
            for branch in openBranches(of: progress) where !waiting.contains(branch.role) {
                waiting.append(branch.role)
            }
            // Always as the escalation instance (its deputy too, named as acting for the member): the
            // auditors' "as escalation" finds every discontinuation.
            let decision = authority.decision(.discontinued, at: now, comment: reason, details: nil)
            snapshot.decisions.append(decision)
            snapshot.state = .closed(end: definition.withdrawTo)
            var effects =
                recorded(.discontinued, decision) + [
                    .cancelTimers(step: progress.step), .notifyRequester(.discontinued(reason: reason)),
                ]
            // Those asked to decide (or waiting for the answer to a question) learn that nothing is left to
            // decide; not the escalation instance, which decided this.
            for role in waiting where role != authority.role {
                effects.append(.inform(role: role, .discontinued(step: progress.step, reason: reason)))
            }
            return effects
        case .draft, .granted, .published, .closed:
            throw error(.invalidTransition, .discontinue)
        }
    }

    // MARK: System events (timers)

    /// The step's deadline passed: tell the escalation instance, which may then decide the open branches
    /// that do not belong to an independent controller (DSB, ISB): ``escalationBranches(of:)``. For an open
    /// question, its time to be answered passed (``escalationDue``): the escalation instance is told.
    public mutating func escalate(at now: Date) throws(WorkflowError) -> [Effect] {
        switch state {
        case .inReview(var progress):
            guard let step = definition.step(progress.step), let target = step.escalationRole,
                let deadline = progress.deadline, !progress.escalated
            else { throw error(.invalidTransition, .escalate) }
            guard now >= deadline else { throw tooEarly(.escalate, until: deadline, ["deadline \(deadline)"]) }
            progress.escalated = true
            snapshot.state = .inReview(progress)
            let escalation = audit(.escalated, role: target, step: step.id, at: now)
            // Only its own branch still waits (a parallel step's Governance Office branch, escalating to the
            // Governance Office): its task and reminder told it; "overdue, please see to it" would be
            // addressed to itself.
            guard openBranches(of: progress).contains(where: { $0.role != target }) else { return [escalation] }
            // A branch of an independent controller (DSB, ISB) is not handed over: nobody else may decide
            // it, so its holders are reminded that it is overdue; the escalation instance only learns of it.
            let takenOver = escalationBranches(of: progress).map(\.id)
            let overdue: [Effect] = openBranches(of: progress).filter { !takenOver.contains($0.id) }.map { branch in
                .remind(step: step.id, branch: branch.id, role: branch.role, deadline: deadline)
            }
            return [
                escalation,
                .inform(role: target, .escalated(step: step.id, overdueSince: deadline, branches: takenOver)),
            ] + overdue
        case .changesRequested(let progress, let question):
            // The question went unanswered as long as the step's deadline gives: the escalation instance
            // learns of it, and may close the request (``discontinue(by:at:reason:)``). Nothing about the
            // request changes (its version neither, so a late answer typed meanwhile is not refused); the
            // one timer `request_changes` scheduled is the only caller.
            guard let target = definition.escalationRole(of: progress.step), let due = escalationDue else {
                throw error(.invalidTransition, .escalate)
            }
            guard now >= due else { throw tooEarly(.escalate, until: due, ["question open until \(due)"]) }
            return [
                audit(.questionUnanswered, role: target, step: progress.step, at: now),
                .inform(
                    role: target,
                    .questionUnanswered(step: progress.step, question: question, askedAt: questionAskedAt(progress))),
            ]
        case .draft, .granted, .published, .closed:
            throw error(.invalidTransition, .escalate)
        }
    }

    /// The reminder time of the step came: remind every branch that still waits.
    public mutating func remind(at now: Date) throws(WorkflowError) -> [Effect] {
        switch state {
        case .inReview(let progress):
            guard let step = definition.step(progress.step), let deadline = progress.deadline,
                let before = step.deadline?.remindBefore
            else { throw error(.invalidTransition, .remind) }
            let due = calendar.reminderDate(deadline: deadline, workingDaysBefore: before)
            guard now >= due else { throw tooEarly(.remind, until: due, ["reminder due \(due)"]) }
            // "The deadline runs out soon" is no longer true once it has (a server down over the reminder
            // fires both timers at once): the escalation speaks then, the reminder is moot. A step that
            // escalates to nobody is still reminded late, or nobody would hear of it.
            guard !progress.escalated, now < deadline || step.escalationRole == nil else {
                throw error(.invalidTransition, .remind, ["the deadline \(deadline) passed"])
            }
            return [audit(.reminded, step: step.id, at: now)]
                + openBranches(of: progress).map { branch in
                    .remind(step: step.id, branch: branch.id, role: branch.role, deadline: deadline)
                }
        case .draft, .changesRequested, .granted, .published, .closed:
            throw error(.invalidTransition, .remind)
        }
    }

    /// The task of every open branch of the current step that `role` holds, as entering the step asked
    /// for it: after the catalogue gave the role to other people (a new Data Owner, another steward
    /// group), they learn of the waiting step at once, not from the next reminder. Empty when the request
    /// waits for no decision of `role`. A question, not an event: nothing changes and nothing is recorded
    /// (the server logs the change of holders itself).
    public func tasks(heldBy role: Role) -> [Effect] {
        switch state {
        case .inReview(let progress):
            openBranches(of: progress).filter { $0.role == role }.map { branch in
                .requestDecision(step: progress.step, branch: branch.id, role: role, deadline: progress.deadline)
            }
        case .draft, .changesRequested, .granted, .published, .closed:
            []
        }
    }

    /// The end of the Shared Data access period came: the requester and the Data Owner are told.
    public mutating func expire(at now: Date) throws(WorkflowError) -> [Effect] {
        switch state {
        case .granted(let endID, let until):
            guard let target = definition.end(endID)?.onExpire else { throw error(.invalidTransition, .expire) }
            guard now >= until else { throw tooEarly(.expire, until: until, ["access ends \(until)"]) }
            snapshot.state = .closed(end: target)
            return [audit(.expired, at: now), .notifyRequester(.expired), .inform(role: .dataOwner, .accessExpired)]
        case .draft, .inReview, .changesRequested, .published, .closed:
            throw error(.invalidTransition, .expire)
        }
    }

    /// How many working days before granted access ends the requester and the Data Owner are told.
    public static let expiryNoticeWorkingDays = 10

    /// When the notice of an access period that ends at `until` is due, for access granted at
    /// `grantedAt`: the end of the working day ``expiryNoticeWorkingDays`` working days before the
    /// last day of access, or at once when that has already passed (a short access period).
    public func expiryNoticeDate(until: Date, grantedAt: Date) -> Date {
        max(calendar.reminderDate(deadline: until, workingDaysBefore: Self.expiryNoticeWorkingDays), grantedAt)
    }

    /// The notice time of granted access came: the requester and the Data Owner learn when it ends.
    /// The state does not change; after a revocation the request is closed and the notice is refused.
    public mutating func announceExpiry(at now: Date) throws(WorkflowError) -> [Effect] {
        switch state {
        case .granted(_, let until):
            let due = calendar.reminderDate(deadline: until, workingDaysBefore: Self.expiryNoticeWorkingDays)
            // A notice scheduled at the grant itself (short period) fires after `due` as well.
            guard now >= due else {
                throw tooEarly(.announceExpiry, until: due, ["notice due \(due)"])
            }
            // "Access ends on …" is no longer news once it has (a server down over both timers fires them
            // together): the expiry speaks then, the notice is moot, as a late reminder is.
            guard now < until else {
                throw error(.invalidTransition, .announceExpiry, ["access ended \(until)"])
            }
            return [
                audit(.expiryAnnounced, at: now), .notifyRequester(.expiring(until: until)),
                .inform(role: .dataOwner, .accessExpiring(until: until)),
            ]
        case .draft, .inReview, .changesRequested, .published, .closed:
            throw error(.invalidTransition, .announceExpiry)
        }
    }

    // MARK: Submission

    /// What the stored request lacks to be submitted at `now` (see `WorkflowDefinition.missingRequirements`).
    public func missingRequirements(at now: Date) -> [MissingRequirement] {
        definition.missingRequirements(facts: snapshot.facts, accessEnd: snapshot.accessEnd, at: now)
    }

    /// What a request with other facts or another access end would lack; the answer `resubmit` gives.
    public func missingRequirements(facts: RequestFacts, accessEnd: Date?, at now: Date) -> [MissingRequirement] {
        definition.missingRequirements(facts: facts, accessEnd: accessEnd, at: now)
    }

    private func checkSubmission(
        _ facts: RequestFacts, accessEnd: Date?, at now: Date, event: RequestEvent
    )
        throws(WorkflowError)
    {
        let missing = definition.missingRequirements(facts: facts, accessEnd: accessEnd, at: now)
        if let accessEnd, missing.contains(where: { $0.problem == .accessEndNotAfterSubmission }) {
            throw error(.invalidAccessPeriod, event, ["access_end \(accessEnd) is not after \(now)"])
        }
        guard missing.isEmpty else { throw error(.submissionIncomplete, event, missing.map(\.field.rawValue)) }
    }

    // MARK: Audit records

    /// A record of this request's workflow. Built once the event has reached its next state, so it names
    /// that state: every record of one event says the same "state after".
    func audit(
        _ event: AuditRecord.Event, actor: String? = nil, role: Role? = nil, step: String? = nil,
        comment: String? = nil, at now: Date
    ) -> Effect {
        .audit(
            AuditRecord(
                event: event, actor: actor, role: role, step: step, comment: comment, at: now, state: state.name,
                deadline: stepDeadline, workflowID: definition.id, workflowVersion: definition.version))
    }

    /// The record of a decision, in the capacity it was taken, and for a deputy's decision the notice to
    /// the person it was taken for.
    private func recorded(_ event: AuditRecord.Event, _ decision: Decision) -> [Effect] {
        var effects = [audit(event, decision)]
        if decision.actingFor != nil { effects.append(.informPrincipal(decision)) }
        // The escalation instance decided an overdue branch in its holders' stead: they learn that it is
        // decided, by whom and how. Only when nothing is left for them there: not after a question (the
        // answer brings the step back to them), nor an approval the branch's quorum still needs more of;
        // a discontinuation tells those it waited for in its own words.
        if decision.asEscalation, decision.outcome == .approved || decision.outcome == .rejected,
            !isOpen(branch: decision.branch, of: decision.step),
            let role = definition.step(decision.step)?.branches.first(where: { $0.id == decision.branch })?.role,
            role != decision.role
        {
            effects.append(.inform(role: role, .takenOver(decision)))
        }
        return effects
    }

    /// A rejection that ends the request ends the step for all its parts: the roles of the other branches
    /// still open (a parallel step's other reviews) learn that nothing is left for them to decide, and so
    /// does the escalation instance an overdue step was handed to, unless it rejected itself. The decided
    /// branch's own role is told by ``recorded(_:_:)`` when the escalation instance decided in its stead.
    private func othersTold(of rejection: Decision, stillOpen: [Branch], escalated: Bool) -> [Effect] {
        var told: [Role] = [rejection.role]
        var effects: [Effect] = []
        for branch in stillOpen where branch.id != rejection.branch && !told.contains(branch.role) {
            effects.append(.inform(role: branch.role, .stepRejected(rejection)))
            told.append(branch.role)
        }
        if escalated, !rejection.asEscalation, let role = definition.escalationRole(of: rejection.step),
            !told.contains(role)
        {
            effects.append(.inform(role: role, .stepRejected(rejection, asEscalation: true)))
        }
        return effects
    }

    /// Whether the request still waits for `branch` of `step` (in review there, the branch's quorum not
    /// reached).
    private func isOpen(branch: String, of step: String) -> Bool {
        guard case .inReview(let progress) = state, progress.step == step else { return false }
        return openBranches(of: progress).contains { $0.id == branch }
    }

    /// The record of a decision, in the capacity it was taken.
    private func audit(_ event: AuditRecord.Event, _ decision: Decision) -> Effect {
        .audit(
            AuditRecord(
                event: event, actor: decision.person, actingFor: decision.actingFor, role: decision.role,
                asEscalation: decision.asEscalation, step: decision.branch, comment: decision.comment,
                covers: decision.covers.count > 1 ? decision.covers : [], at: decision.at, state: state.name,
                deadline: stepDeadline, workflowID: definition.id, workflowVersion: definition.version))
    }

    /// The deadline of the step the request waits at now, which every audit record of the event names.
    var stepDeadline: Date? {
        switch state {
        case .inReview(let progress), .changesRequested(let progress, _): progress.deadline
        case .draft, .granted, .published, .closed: nil
        }
    }

    // MARK: Helpers

    /// The definition's step a progress is at. A validated definition always has it; the error only
    /// protects against a snapshot stored for another text (which the pin check already refuses).
    private func currentStep(_ progress: StepProgress, _ event: RequestEvent) throws(WorkflowError) -> Step {
        guard let step = definition.step(progress.step) else { throw error(.invalidTransition, event) }
        return step
    }

    /// Active branches of the step that have not reached their quorum yet.
    public func openBranches(of progress: StepProgress) -> [Branch] {
        definition.openBranches(of: progress)
    }

    /// The open branches an escalation instance may decide in place once the step is escalated: all but
    /// those of an independent controller (DSB, ISB), whom nobody overrules. The one rule for the
    /// escalation's authority, its mail and the inbox.
    public func escalationBranches(of progress: StepProgress) -> [Branch] {
        openBranches(of: progress).filter { !$0.role.isIndependentController }
    }

    func error(_ code: WorkflowError.Code, _ event: RequestEvent, _ details: [String] = []) -> WorkflowError {
        WorkflowError(code, state: state.name, event: event, details: details)
    }

    /// A timed event asked for before its time, which the refusal names.
    func tooEarly(_ event: RequestEvent, until due: Date, _ details: [String]) -> WorkflowError {
        var refusal = error(.tooEarly, event, details)
        refusal.notBefore = due
        return refusal
    }
}

extension ApprovalDetails {
    /// Whether the approval gives `field` in a form that can be published: one of the open licences; an
    /// `https` address on a public host, without credentials (it goes into mails, pages and the public
    /// DCAT catalogue).
    func provides(_ field: ApprovalField) -> Bool {
        switch field {
        case .licence:
            return licence.flatMap(OpenLicence.init(named:)) != nil
        case .portalURL:
            return portalURL.map(Self.isPublicPortalAddress) ?? false
        }
    }

    /// An `https` address on a public host name, without credentials: what a portal URL must be at
    /// publication, and what the public DCAT catalogue lists (one rule for both).
    public static func isPublicPortalAddress(_ address: String) -> Bool {
        guard let text = address.trimmedNonEmpty, text.isIRIText, let parts = URLComponents(string: text),
            parts.scheme?.lowercased() == "https", parts.user == nil, parts.password == nil,
            let host = parts.host?.lowercased(), isPublicHostName(host)
        else { return false }
        return true
    }

    /// Whether the approval carries `field` at all.
    func gives(_ field: ApprovalField) -> Bool {
        switch field {
        case .licence: licence?.trimmedNonEmpty != nil
        case .portalURL: portalURL?.trimmedNonEmpty != nil
        }
    }

    /// A name with a dot that is not a local name, and no IP address (a portal is reached by its name).
    static func isPublicHostName(_ host: String) -> Bool {
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        guard name.contains("."), !name.hasPrefix("["), !name.contains(":") else { return false }
        // A host whose last label is a number (decimal, or hex after `0x`) is an IPv4 address to a browser
        // (WHATWG URL, "ends in a number"): `0x7f.0.0.1` and `127.1` are loopback, not names.
        if let last = name.split(separator: ".", omittingEmptySubsequences: false).last {
            let hex = last.hasPrefix("0x") ? last.dropFirst(2) : nil
            if !last.isEmpty && last.allSatisfy({ $0.isASCII && $0.isNumber }) { return false }
            if let hex, hex.allSatisfy(\.isHexDigit) { return false }
        }
        // Names that never leave a local network (RFC 6761, RFC 6762, RFC 8375, ICANN's `.internal`).
        for local in ["localhost", "local", "internal", "lan", "home.arpa", "invalid"]
        where name == local || name.hasSuffix("." + local) {
            return false
        }
        return true
    }
}

extension String {
    /// Only the characters an IRI allows (RFC 3987: RFC 3986's unreserved and reserved characters, `%` before
    /// two hex digits, and non-ASCII letters such as the umlauts of a German path). Foundation's parser is
    /// lenient (it percent-encodes a space, `"` or `>` on its own); a portal URL is published in mails, pages
    /// and the DCAT catalogue, so what the approver typed must already be an IRI.
    var isIRIText: Bool {
        let scalars = Array(unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "%" {
                guard index + 2 < scalars.count, scalars[index + 1].isHexDigit, scalars[index + 2].isHexDigit else {
                    return false
                }
                index += 3
                continue
            }
            guard scalar.isIRICharacter else { return false }
            index += 1
        }
        return true
    }
}

extension Unicode.Scalar {
    fileprivate var isHexDigit: Bool { isASCII && properties.isASCIIHexDigit }

    fileprivate var isIRICharacter: Bool {
        if isASCII {
            // RFC 3986 sections 2.2 and 2.3.
            return properties.isAlphabetic || ("0"..."9").contains(self)
                || "-._~:/?#[]@!$&'()*+,;=".unicodeScalars.contains(self)
        }
        // RFC 3987 `ucschar`, without controls, spaces, separators and the bidi formatting characters.
        return value >= 0xA0 && !properties.isWhitespace && properties.generalCategory != .format
            && properties.generalCategory != .control && properties.generalCategory != .privateUse
            && properties.generalCategory != .unassigned && properties.generalCategory != .surrogate
    }
}

extension String {
    var trimmedNonEmpty: String? {
        let trimmed = trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
