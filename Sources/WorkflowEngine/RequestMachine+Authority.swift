import Foundation

// MARK: Authority and separation of duties

extension RequestMachine {
    /// Whether `decider` may decide the current step now (or branch `branch` of it), and in which capacity.
    /// `approve`, `reject` and `requestChanges` act on exactly this answer; `event` only names the event in
    /// a refusal. Read-only: nothing changes, whatever the answer.
    ///
    /// When a person could act in several capacities, the first that separation of duties allows wins:
    /// own role before deputy before escalation.
    public func authority(
        of decider: Decider, at now: Date, branch wanted: String? = nil, for event: RequestEvent = .approve
    ) -> Result<DecisionAuthority, WorkflowError> {
        switch state {
        case .inReview(let progress):
            return authority(of: decider, on: progress, at: now, branch: wanted, for: event)
        case .draft, .changesRequested, .granted, .published, .closed:
            return .failure(error(.invalidTransition, event))
        }
    }

    /// Whether an approval in `authority` would grant access whose period is already over at `now`: it
    /// completes the step and the route ends granted. It would grant nothing but a notice and an expiry;
    /// the approver asks for a new end (a question) or rejects.
    private func approvalGrantsEndedAccess(_ authority: DecisionAuthority, at now: Date) -> Bool {
        guard authority.completesStep, let accessEnd = snapshot.accessEnd, accessEnd <= now,
            let step = definition.step(authority.step)
        else { return false }
        let next = authority.coversPersonalUnionStep.flatMap { definition.step($0)?.onApprove } ?? step.onApprove
        guard case .end(let end) = route(from: next, facts: snapshot.facts).stop else { return false }
        return end.type == .granted
    }

    private func authority(
        of decider: Decider, on progress: StepProgress, at now: Date, branch wanted: String?, for event: RequestEvent
    ) -> Result<DecisionAuthority, WorkflowError> {
        guard decider.person != snapshot.requester else { return .failure(error(.requesterCannotDecide, event)) }
        var candidates = openBranches(of: progress)
        if let wanted {
            guard let chosen = candidates.first(where: { $0.id == wanted }) else {
                return .failure(error(.unknownBranch, event, [wanted]))
            }
            candidates = [chosen]
        }
        let escalationRole = progress.escalated ? definition.escalationRole(of: progress.step) : nil
        let escalationBranches = Set(escalationBranches(of: progress).map(\.id))

        var capacities: [(branch: Branch, capacity: DecisionAuthority.Capacity)] = []
        for branch in candidates {
            if decider.roles.contains(branch.role) { capacities.append((branch, .ownRole(branch.role))) }
            for deputy in decider.deputising
            where deputy.deputyship.deputy == decider.person && deputy.deputyship.isActive(at: now)
                && deputy.principalRoles.contains(branch.role)
            {
                capacities.append((branch, .deputy(of: deputy.deputyship.principal, role: branch.role)))
            }
            if let escalationRole, escalationBranches.contains(branch.id) {
                if decider.roles.contains(escalationRole) { capacities.append((branch, .escalation(escalationRole))) }
                for deputy in decider.deputising
                where deputy.deputyship.deputy == decider.person && deputy.deputyship.isActive(at: now)
                    && deputy.principalRoles.contains(escalationRole)
                {
                    capacities.append(
                        (branch, .escalationDeputy(of: deputy.deputyship.principal, role: escalationRole)))
                }
            }
        }
        guard !capacities.isEmpty else {
            let couldAsDeputy = candidates.contains { branch in
                decider.deputising.contains {
                    $0.deputyship.deputy == decider.person
                        && ($0.principalRoles.contains(branch.role)
                            || (escalationRole.map($0.principalRoles.contains) == true
                                && escalationBranches.contains(branch.id)))
                }
            }
            return .failure(error(couldAsDeputy ? .deputyshipNotActive : .notAuthorised, event))
        }
        // Own role before deputy before escalation across all open branches, not only within one: an ISB
        // who deputises for the DSB decides the security branch as ISB, not the privacy branch as deputy
        // (which separation of duties would then keep from the security branch). Stable: within one
        // capacity the branches keep the workflow's order.
        var ranked = Array(capacities.enumerated())
        ranked.sort { ($0.element.capacity.precedence, $0.offset) < ($1.element.capacity.precedence, $1.offset) }
        var firstRefusal: WorkflowError?
        for (branch, capacity) in ranked.map(\.element) {
            var authority = DecisionAuthority(
                person: decider.person, step: progress.step, branch: branch.id, capacity: capacity)
            if let refusal = separationOfDuties(refuses: authority, in: progress, event: event) {
                firstRefusal = firstRefusal ?? refusal
                continue
            }
            authority.completesStep = progress.activeBranches.allSatisfy { id in
                let quorum = definition.step(progress.step)?.branches.first { $0.id == id }?.quorum ?? 1
                return progress.approvals[id, default: []].count + (id == branch.id ? 1 : 0) >= quorum
            }
            authority.coversPersonalUnionStep =
                authority.completesStep ? personalUnionStep(after: progress.step, for: authority, decider)?.id : nil
            authority.mayApprove = !approvalGrantsEndedAccess(authority, at: now)
            return .success(authority)
        }
        return .failure(firstRefusal ?? error(.notAuthorised, event))
    }

    /// The refusal separation of duties gives to a decision in this capacity, or nil if it allows it.
    private func separationOfDuties(
        refuses authority: DecisionAuthority, in progress: StepProgress, event: RequestEvent
    ) -> WorkflowError? {
        snapshot.separationOfDuties(refuses: authority.identities, branch: authority.branch, in: progress)
            .map { error($0, event) }
    }

    /// The steward step right after an owner step, when one person holds both roles in their own right and
    /// the definition combines them.
    private func personalUnionStep(after stepID: String, for authority: DecisionAuthority, _ decider: Decider) -> Step?
    {
        guard definition.personalUnion == .combine, let step = definition.step(stepID), !step.isParallel,
            authority.capacity == .ownRole(.dataOwner), decider.roles.contains(.dataSteward),
            let next = definition.step(step.onApprove), !next.isParallel,
            let branch = next.branches.first, branch.role == .dataSteward, branch.quorum == 1,
            StepApplicability(step: next, of: snapshot).applies
        else { return nil }
        return next
    }

    /// Whether `decider` may revoke granted access now, and in which capacity (own role before deputy).
    /// `revoke` acts on exactly this answer.
    public func revokeAuthority(of decider: Decider, at now: Date) -> Result<DecisionAuthority, WorkflowError> {
        switch state {
        case .granted(let endID, _):
            guard let end = definition.end(endID), end.onRevoke != nil else {
                return .failure(error(.invalidTransition, .revoke))
            }
            let direct = end.revocableBy.first { decider.roles.contains($0) }
            let deputy = direct == nil ? activeDeputy(decider, at: now, roles: end.revocableBy) : nil
            // Holding a revoking role does not let the requester decide on their own request.
            guard decider.person != snapshot.requester || (direct == nil && deputy == nil) else {
                return .failure(error(.requesterCannotDecide, .revoke))
            }
            let capacity: DecisionAuthority.Capacity
            if let direct {
                capacity = .ownRole(direct)
            } else if let deputy {
                capacity = .deputy(of: deputy.principal, role: deputy.role)
            } else {
                let couldAsDeputy = decider.deputising.contains { !$0.principalRoles.isDisjoint(with: end.revocableBy) }
                return .failure(error(couldAsDeputy ? .deputyshipNotActive : .notAuthorised, .revoke))
            }
            return .success(DecisionAuthority(person: decider.person, step: endID, branch: endID, capacity: capacity))
        case .draft, .inReview, .changesRequested, .published, .closed:
            return .failure(error(.invalidTransition, .revoke))
        }
    }

    /// Whether `decider` may discontinue the waiting request now (`discontinue` acts on exactly this
    /// answer): a request nobody moves on any more, such as a question whose requester left, or a DSB part
    /// whose only holder may not decide it. The escalation instance of the step it waits at (in its own
    /// right, or its active deputy) may close it as withdrawn, once the people it waits for had their
    /// time: the step's deadline passed, or the question has been open for as many working days as the
    /// step's deadline gives. A step without an escalation can not be discontinued.
    public func discontinueAuthority(of decider: Decider, at now: Date) -> Result<DecisionAuthority, WorkflowError> {
        guard let progress = state.stepProgress else { return .failure(error(.invalidTransition, .discontinue)) }
        guard let role = definition.escalationRole(of: progress.step), let due = escalationDue else {
            return .failure(error(.invalidTransition, .discontinue, ["step \(progress.step) has no escalation"]))
        }
        guard decider.person != snapshot.requester, !deputisesForRequester(decider, at: now, role: role) else {
            return .failure(error(.requesterCannotDecide, .discontinue))
        }
        let capacity: DecisionAuthority.Capacity
        if decider.roles.contains(role) {
            capacity = .escalation(role)
        } else if let deputy = activeDeputy(decider, at: now, roles: [role]) {
            capacity = .escalationDeputy(of: deputy.principal, role: deputy.role)
        } else {
            let couldAsDeputy = decider.deputising.contains { $0.principalRoles.contains(role) }
            return .failure(error(couldAsDeputy ? .deputyshipNotActive : .notAuthorised, .discontinue))
        }
        guard now >= due else {
            return .failure(tooEarly(.discontinue, until: due, ["the others have until \(due)"]))
        }
        return .success(
            DecisionAuthority(person: decider.person, step: progress.step, branch: progress.step, capacity: capacity))
    }

    /// When the escalation instance of the step the request waits at steps in: in review, the step's
    /// deadline; while a question is open, as many working days after it was asked as the step's deadline
    /// gives (the requester has as long to answer as the deciders had to decide). nil when nothing waits
    /// or the step has no escalation. The question's escalation timer and ``discontinueAuthority(of:at:)``
    /// both ask this.
    public var escalationDue: Date? {
        switch state {
        case .inReview(let progress):
            guard definition.escalationRole(of: progress.step) != nil else { return nil }
            return progress.deadline
        case .changesRequested(let progress, _):
            guard let rule = definition.step(progress.step)?.deadline, rule.escalateTo != nil else { return nil }
            return calendar.deadline(addingWorkingDays: rule.workingDays, to: questionAskedAt(progress))
        case .draft, .granted, .published, .closed:
            return nil
        }
    }

    /// When the open question of `progress` was asked (its decision; the step's entry should none be stored).
    public func questionAskedAt(_ progress: StepProgress) -> Date {
        snapshot.decisions.last { $0.outcome == .changesRequested }?.at ?? progress.enteredAt
    }

    /// Whether `decider` holds `role` only through an active deputyship of the requester: deciding on the
    /// request in the requester's stead is deciding on one's own request. (A deputy of someone else who
    /// holds the role acts for that person.)
    private func deputisesForRequester(_ decider: Decider, at now: Date, role: Role) -> Bool {
        !decider.roles.contains(role) && activeDeputy(decider, at: now, roles: [role]) == nil
            && decider.deputising.contains {
                $0.deputyship.deputy == decider.person && $0.deputyship.principal == snapshot.requester
                    && $0.deputyship.isActive(at: now) && $0.principalRoles.contains(role)
            }
    }

    /// The first of `roles` (in their order, as a workflow lists them) that `decider` holds through an
    /// active deputyship, and for whom: a deputy of the steward and of the owner revokes as the owner's
    /// deputy when `revocable_by` names the owner first, whichever deputyship began earlier.
    private func activeDeputy(_ decider: Decider, at now: Date, roles: [Role]) -> (principal: String, role: Role)? {
        let active = decider.deputising.filter {
            $0.deputyship.deputy == decider.person && $0.deputyship.isActive(at: now)
                && $0.deputyship.principal != snapshot.requester
        }
        for role in roles {
            if let deputy = active.first(where: { $0.principalRoles.contains(role) }) {
                return (deputy.deputyship.principal, role)
            }
        }
        return nil
    }

    /// Who separation of duties keeps from deciding `role`'s part of the step in review, whoever they are
    /// to the request: each identity here is refused on every open branch of the role, deciding in their
    /// own right or as a deputy (as the person, or as the principal a deputy acts for). Pages that name
    /// who must act leave them out, as the task mail does (``RequestSnapshot/separationOfDutiesRefuses``).
    /// Empty when nothing is in review or no open branch has the role.
    public func keptFromDeciding(_ role: Role) -> Set<String> {
        guard case .inReview(let progress) = state else { return [] }
        let branches = openBranches(of: progress).filter { $0.role == role }
        guard !branches.isEmpty else { return [] }
        // Separation of duties refuses a set of identities when it refuses one of them, and only the
        // requester and those a decision names can be refused: asking it about each of them is the answer.
        let candidates = Set(
            [snapshot.requester] + snapshot.decisions.flatMap(\.identities)
                + progress.approvals.values.joined().flatMap(\.identities))
        return candidates.filter { identity in
            branches.allSatisfy {
                snapshot.separationOfDuties(refuses: [identity], branch: $0.id, in: progress) != nil
            }
        }
    }

    // MARK: Races

    /// When `decider` tries to decide but may not (any more), the decision that took their chance: the
    /// most recent decision they made themselves (or their principal, through them; for a question of
    /// theirs answered since, the newest decision they could have made after it), else the newest
    /// decision of the step's last stay they could have made (a parallel step's branches and a quorum end
    /// with several; in a role they hold or stand in for: the role it was taken in, the decided branch's
    /// own when the escalation instance took it, and the step's escalation role when it was taken while
    /// the step was escalated, ``Decision/stepEscalated``), or the discontinuation that closed the
    /// request. The server answers "already decided by X at T" (409) with it instead of "forbidden" (403).
    /// nil when `decider` may decide the step in review now, or when no decision was theirs to take: an
    /// older decision in a role they hold is no race they lost.
    public func decisionAlreadyTaken(by decider: Decider, at now: Date) -> Decision? {
        // Whoever may still decide the step lost nothing. (May revoke is no such sign: a late approval
        // of a granted request lost its race, even if the same person may now revoke.)
        if case .success = authority(of: decider, at: now) { return nil }
        guard decider.person != snapshot.requester else { return nil }
        if let index = snapshot.decisions.lastIndex(where: { $0.person == decider.person }) {
            let own = snapshot.decisions[index]
            // A question of theirs answered since took no chance: whoever decided in their place after the
            // answer did (a colleague of the owner group, a deputy, the escalation instance).
            guard own.outcome == .changesRequested else { return own }
            let since = snapshot.decisions[(index + 1)...]
            return since.last { couldHaveTaken($0, decider, at: now) } ?? own
        }
        guard let last = snapshot.decisions.last, last.outcome != .revoked else { return nil }
        // A discontinuation ended the request for everyone the step waited for.
        if last.outcome == .discontinued, case .closed = state { return last }
        let stay = snapshot.decisions.reversed().prefix { $0.step == last.step }
        return stay.first { couldHaveTaken($0, decider, at: now) }
    }

    /// Whether `decider` holds, or stands in for someone who holds, a role that could have taken
    /// `decision` (``decisionAlreadyTaken(by:at:)``).
    private func couldHaveTaken(_ decision: Decision, _ decider: Decider, at now: Date) -> Bool {
        var roles: Set<Role> = [decision.role]
        if let step = definition.step(decision.step),
            let branch = step.branches.first(where: { $0.id == decision.branch })
        {
            roles.insert(branch.role)
            // Taken while the step was escalated: its escalation instance could have taken it (not a DSB's or
            // ISB's part, which nobody takes over). A question's answer begins a new stay, no longer
            // escalated: only while it waits for the answer did the question take their chance.
            var questionAnswered = decision.outcome == .changesRequested
            if case .changesRequested = state { questionAnswered = false }
            if decision.stepEscalated == true, !questionAnswered, let escalation = step.escalationRole,
                !branch.role.isIndependentController
            {
                roles.insert(escalation)
            }
        }
        return !decider.roles.isDisjoint(with: roles) || activeDeputy(decider, at: now, roles: Array(roles)) != nil
    }
}

extension RequestSnapshot {
    /// Separation of duties: the reason the request's decisions keep whoever a decision would be
    /// attributed to (`identities`: the person, and the principal they deputise for) from `branch` of the
    /// step in review, or nil when they may. The requester's deputy is not the requester's hand; a person
    /// who decided another step or branch (unless revoked, or covered by one decision) decides no other;
    /// nobody approves the same branch twice.
    func separationOfDuties(
        refuses identities: Set<String>, branch: String, in progress: StepProgress
    ) -> WorkflowError.Code? {
        if identities.contains(requester) { return .requesterCannotDecide }
        let earlier = decisions.filter { !$0.identities.isDisjoint(with: identities) }
        if earlier.contains(where: { $0.branch != branch && !$0.covers.contains(branch) && $0.outcome != .revoked }) {
            return .alreadyDecidedAnotherStep
        }
        let approvedHere = progress.approvals[branch, default: []].contains {
            !$0.identities.isDisjoint(with: identities)
        }
        return approvedHere ? .alreadyApproved : nil
    }

    /// Whether separation of duties keeps `person` (deciding in their own right, or as the deputy of
    /// `principal`) from `branch` of the step in review: who may be asked to decide it. A task mail to
    /// someone the engine will refuse would lead to a link that can only fail.
    public func separationOfDutiesRefuses(person: String, actingFor principal: String? = nil, branch: String) -> Bool {
        guard case .inReview(let progress) = state else { return false }
        let identities = Set([person] + (principal.map { [$0] } ?? []))
        return separationOfDuties(refuses: identities, branch: branch, in: progress) != nil
    }
}
