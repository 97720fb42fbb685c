import Foundation
import WorkflowEngine

/// Turns stored requests into the views the API and pages show.
struct ViewBuilder {
    var calendar: WorkingDayCalendar

    func status(_ machine: RequestMachine, record: RequestRecord, now: Date) -> RequestStatus {
        let definition = machine.definition
        var status = RequestStatus(
            phase: RequestRecord.derived(from: machine).phase, state: machine.state.name, waitingFor: [],
            overdue: false, escalated: false)
        switch machine.state {
        case .draft:
            status.since = record.createdAt
        case .inReview(let progress):
            status.step = progress.step
            status.stepTitle = definition.step(progress.step)?.title
            let waiting = machine.openBranches(of: progress).map(\.role)
            status.waitingFor = waiting.map(\.identifier)
            status.keptFromDeciding = Dictionary(
                waiting.map { ($0.identifier, machine.keptFromDeciding($0).sorted()) }, uniquingKeysWith: { a, _ in a })
            status.since = progress.enteredAt
            status.deadline = progress.deadline
            status.workingDaysWaited = calendar.workingDaysElapsed(from: progress.enteredAt, to: now)
            status.overdue = progress.deadline.map { $0 <= now } ?? false
            status.escalated = progress.escalated
        case .changesRequested(let progress, let question):
            status.step = progress.step
            status.stepTitle = definition.step(progress.step)?.title
            status.question = question
            let asked = machine.questionAskedAt(progress)
            status.since = asked
            // Until when the requester should answer: then the question escalates, and the request may be
            // discontinued.
            status.deadline = machine.escalationDue
            status.overdue = status.deadline.map { $0 <= now } ?? false
            status.workingDaysWaited = calendar.workingDaysElapsed(from: asked, to: now)
        case .granted(let end, let until):
            status.end = end
            status.endTitle = definition.end(end)?.title
            status.grantedUntil = until
            status.since = machine.decisions.last?.at
        case .published(let end), .closed(let end):
            status.end = end
            status.endTitle = definition.end(end)?.title
            status.since = record.updatedAt
        }
        // Where the days waited are counted, whether they began today (a Friday arrival is no „heute“ on Sunday).
        if status.workingDaysWaited != nil, let since = status.since {
            status.sinceToday = calendar.civilDate(of: since) == calendar.civilDate(of: now)
        }
        return status
    }

    /// The steps along the approval path, with where the request stands on each: the engine's planned
    /// path (which steps apply, which are done, current, ahead or skipped), with the decisions made.
    func timeline(_ machine: RequestMachine) -> [TimelineStep] {
        let definition = machine.definition
        let path = machine.plannedPath()
        var progress: StepProgress?
        switch machine.state {
        case .inReview(let current), .changesRequested(let current, _): progress = current
        case .draft, .granted, .published, .closed: progress = nil
        }
        // A step a closing decision was taken at says how, not "approved" (a rejection may route on to a
        // step that is closed later).
        var closedAt: [String: TimelineStep.Status] = [:]
        if case .closed = machine.state {
            for decision in machine.decisions {
                switch decision.outcome {
                case .rejected: closedAt[decision.step] = .rejected
                case .discontinued: closedAt[decision.step] = .discontinued
                case .approved: closedAt[decision.step] = nil
                case .changesRequested, .revoked: break
                }
            }
        }

        return path.compactMap { entry -> TimelineStep? in
            guard case .step(let id) = entry.node, let step = definition.step(id) else { return nil }
            let branches = step.branches.map { branch in
                let branchEntry = step.isParallel ? path.first { $0.node == .branch(branch.id, step: id) } : entry
                let applies = branchEntry?.applies ?? false
                let approvals: [Decision] =
                    progress?.step == id
                    ? progress?.approvals[branch.id] ?? []
                    : machine.decisions.filter {
                        $0.outcome == .approved && ($0.branch == branch.id || $0.covers.contains(branch.id))
                    }
                var view = TimelineStep.BranchView(
                    id: branch.id, title: branch.title, role: branch.role.identifier, quorum: branch.quorum,
                    applies: applies, approvedBy: approvals.map(\.person))
                if let branchEntry {
                    (view.applyReason, view.appliesBecause) = Self.applyReason(branchEntry.applying)
                    (view.skipReason, view.skippedBecause) = Self.skipReason(branchEntry.notApplying)
                }
                return view
            }
            var view = TimelineStep(
                id: id, title: step.title, status: .pending, roles: step.roles.map(\.identifier), branches: branches,
                waitingFor: [])
            (view.applyReason, view.appliesBecause) = Self.applyReason(entry.applying)
            let skip = Self.skipReason(entry.notApplying)
            view.skippedBecause = skip.because
            let coveredByUnion = machine.decisions.contains {
                $0.outcome == .approved && $0.step != id && $0.covers.contains(id)
            }
            switch entry.status {
            case _ where closedAt[id] != nil:
                view.status = closedAt[id] ?? .rejected
            case .skipped:
                view.status = .skipped
                view.skipReason = skip.reason
            case _ where coveredByUnion:
                view.status = .skipped
                view.skipReason = .personalUnion
            case .current:
                view.status = .current
                // While a question is open, the date the status names too: until when to answer.
                if case .changesRequested = machine.state {
                    view.deadline = machine.escalationDue
                } else {
                    view.deadline = progress?.deadline
                }
                view.waitingFor = machine.pendingRoles.map(\.identifier)
            case .done: view.status = .done
            case .ahead: view.status = .pending
            case .notReached: view.status = .notReached
            }
            return view
        }
    }

    /// The engine's reason an entry applies, as the view's code and the parts of the condition that held.
    private static func applyReason(_ applying: PathEntry.Applying?) -> (ApplyReason?, [ConditionAtomView]?) {
        switch applying {
        case nil: (nil, nil)
        case .always: (.always, nil)
        case .conditionHolds(let explanation): (.conditionHolds, explanation.atoms.map(ConditionAtomView.init))
        case .askedQuestion: (.askedQuestion, nil)
        }
    }

    /// The engine's reason an entry is skipped, as the view's code and the parts of the condition that
    /// failed (none for a parallel step without an applying branch: its branches say why).
    private static func skipReason(
        _ notApplying: PathEntry.NotApplying?
    ) -> (reason: SkipReason?, because: [ConditionAtomView]?) {
        switch notApplying {
        case nil: (nil, nil)
        case .conditionNotMet(let explanation): (.conditionNotMet, explanation.atoms.map(ConditionAtomView.init))
        case .noBranchApplies: (.noBranchApplies, nil)
        case .stepDoesNotApply: (.stepDoesNotApply, nil)
        }
    }

    func decisions(_ machine: RequestMachine) -> [DecisionView] {
        machine.decisions.map {
            DecisionView(
                person: $0.person, actingFor: $0.actingFor, role: $0.role.identifier, asEscalation: $0.asEscalation,
                step: $0.step, branch: $0.branch, outcome: $0.outcome, at: $0.at, comment: $0.comment,
                covers: $0.covers, licence: $0.details?.licence, portalURL: $0.details?.portalURL)
        }
    }

    /// - Parameters:
    ///   - authority: the engine's answer to "may the caller decide now", asked once per view.
    ///   - closing: the engine's answer to "may the caller close it now", asked once per view.
    func allowedActions(
        _ machine: RequestMachine, dataset: DatasetRecord, context: CallerContext, authority: DecisionAuthority?,
        closing: DecisionAuthority?, now: Date
    ) -> [RequestAction] {
        var actions: [RequestAction] = []
        let isRequester = machine.snapshot.requester == context.caller.uid
        switch machine.state {
        case .draft:
            if isRequester { actions += [.submit, .edit, .withdraw] }
        case .inReview:
            if isRequester { actions.append(.withdraw) }
            if authority != nil { actions.append(.decide) }
        case .changesRequested:
            if isRequester { actions += [.resubmit, .withdraw] }
        case .granted:
            if context.mayRevoke(machine, dataset: dataset, now: now) { actions.append(.revoke) }
        case .published, .closed:
            break
        }
        // Whatever waits, in review or for an answer, the escalation instance may close once its time is up.
        if closing != nil { actions.append(.discontinue) }
        return actions
    }

    /// - Parameter branch: the decision options for this branch of the current step (a decision link's);
    ///   nil: for the first branch the caller may decide.
    func view(
        _ record: RequestRecord, machine: RequestMachine, dataset: DatasetRecord, context: CallerContext, now: Date,
        branch: String? = nil
    ) -> RequestView {
        let definition = machine.definition
        var authority: DecisionAuthority? = nil
        if case .inReview = machine.state {
            authority = context.authority(machine, dataset: dataset, now: now, branch: branch)
        }
        let closing = context.discontinueAuthority(machine, dataset: dataset, now: now)
        return RequestView(
            id: record.id, number: record.number, kind: record.kind, dataset: dataset.view,
            routedOn: record.submittedAt == nil ? nil : RoutedDatasetFacts(machine.snapshot.facts),
            requester: record.requester, details: record.details,
            workflow: WorkflowRef(
                id: definition.id, version: definition.version, contentHash: definition.contentHash,
                title: definition.title),
            status: status(machine, record: record, now: now), timeline: timeline(machine),
            decisions: decisions(machine),
            allowedActions: allowedActions(
                machine, dataset: dataset, context: context, authority: authority, closing: closing, now: now),
            decisionOptions: authority.map { decisionOptions($0, definition: definition) },
            discontinueOptions: closing.map {
                DiscontinueOptions(
                    role: $0.role.identifier, capacity: DecisionCapacity($0.capacity), actingFor: $0.principal)
            },
            version: record.version, createdAt: record.createdAt, updatedAt: record.updatedAt,
            submittedAt: record.submittedAt)
    }

    /// The engine's authority as the decision form needs it.
    func decisionOptions(_ authority: DecisionAuthority, definition: WorkflowDefinition) -> DecisionOptions {
        let step = definition.step(authority.step)
        return DecisionOptions(
            step: authority.step, branch: authority.branch, role: authority.role.identifier,
            capacity: DecisionCapacity(authority.capacity), actingFor: authority.principal,
            coversStep: authority.coversPersonalUnionStep,
            approvalRequires: step?.approvalRequires ?? [], mayApprove: authority.mayApprove,
            mayRequestChanges: step?.allowsRequestChanges ?? false)
    }

    func summary(_ record: RequestRecord, machine: RequestMachine, dataset: DatasetRecord, now: Date) -> RequestSummary
    {
        RequestSummary(
            id: record.id, number: record.number, kind: record.kind, datasetID: dataset.id, datasetTitle: dataset.title,
            requester: record.requester, purpose: record.details.purpose,
            status: status(machine, record: record, now: now),
            createdAt: record.createdAt, updatedAt: record.updatedAt, submittedAt: record.submittedAt)
    }
}
