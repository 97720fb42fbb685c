/// Checks a parsed definition as a whole: that every transition leads somewhere that exists, every node
/// is reachable, every step can still end, and the end states fit the kinds of release the workflow serves.
struct DefinitionValidator {
    let diagnostics: Diagnostics

    /// - Parameter forFiling: also the rules that only filing new requests needs (``checkFiling(_:)``);
    ///   false for a stored definition requests are pinned to.
    func validate(_ definition: WorkflowDefinition, forFiling: Bool = true) {
        let nodes = checkUniqueIDs(definition)
        checkStart(definition, nodes: nodes)
        checkTargets(definition, nodes: nodes)
        checkSteps(definition)
        checkEnds(definition)
        if forFiling { checkFiling(definition) }
        guard diagnostics.problems.isEmpty else { return }
        checkReachability(definition)
        let trapped = checkWayOut(definition)
        checkApprovalCycles(definition, skipping: trapped)
    }

    private func checkUniqueIDs(_ definition: WorkflowDefinition) -> Set<String> {
        var seen: [String: Int] = [:]
        func claim(_ id: String, line: Int, what: String) {
            if let first = seen[id] {
                diagnostics.report("duplicate id '\(id)' (\(what); first defined on line \(first))", line: line)
            } else {
                seen[id] = line
            }
        }
        for step in definition.steps {
            claim(step.id, line: step.line, what: "step")
            if step.isParallel {
                for branch in step.branches { claim(branch.id, line: branch.line, what: "branch of '\(step.id)'") }
            }
        }
        for end in definition.ends { claim(end.id, line: end.line, what: "end") }
        return Set(seen.keys)
    }

    private func checkStart(_ definition: WorkflowDefinition, nodes: Set<String>) {
        if definition.step(definition.start) == nil {
            diagnostics.report("start '\(definition.start)' is not a step", line: definition.startLine)
        }
        guard let withdrawn = definition.end(definition.withdrawTo) else {
            diagnostics.report("withdraw '\(definition.withdrawTo)' is not an end", line: definition.withdrawLine)
            return
        }
        if withdrawn.type != .final {
            diagnostics.report(
                "withdraw must lead to an end of type final, not '\(withdrawn.type.rawValue)'",
                line: definition.withdrawLine)
        }
    }

    private func checkTargets(_ definition: WorkflowDefinition, nodes: Set<String>) {
        for step in definition.steps {
            for (event, target, line) in [
                ("approve", step.onApprove, step.onApproveLine), ("reject", step.onReject, step.onRejectLine),
            ]
            where !nodes.contains(target) {
                diagnostics.report(
                    "step '\(step.id)': on.\(event) leads to unknown step or end '\(target)'", line: line)
            }
            if let end = definition.end(step.onReject), end.type != .final {
                diagnostics.report(
                    "step '\(step.id)': a rejection cannot lead to the \(end.type.rawValue) end '\(end.id)'",
                    line: step.line)
            }
        }
        for end in definition.ends {
            for (event, target) in [("expire", end.onExpire), ("revoke", end.onRevoke)] {
                guard let target else { continue }
                if let targetEnd = definition.end(target) {
                    if targetEnd.type != .final {
                        diagnostics.report("end '\(end.id)': on.\(event) must lead to a final end", line: end.line)
                    }
                } else {
                    diagnostics.report("end '\(end.id)': on.\(event) leads to unknown end '\(target)'", line: end.line)
                }
            }
        }
    }

    private func checkSteps(_ definition: WorkflowDefinition) {
        for step in definition.steps {
            for branch in step.branches where branch.role == .dataOwner && branch.quorum != 1 {
                diagnostics.report(
                    "step '\(step.id)': a dataset has exactly one Data Owner, so quorum must be 1", line: step.line)
            }
            if let escalateTo = step.deadline?.escalateTo, step.roles.allSatisfy({ $0 == escalateTo }) {
                diagnostics.report(
                    "step '\(step.id)': escalate_to must name a higher instance than the step's own role",
                    line: step.line)
            }
        }
    }

    private func checkEnds(_ definition: WorkflowDefinition) {
        for end in definition.ends {
            switch end.type {
            case .granted:
                if !definition.kinds.contains(.sharedData) {
                    diagnostics.report("end '\(end.id)': granted access needs kind shared_data", line: end.line)
                }
                if end.onExpire == nil || end.onRevoke == nil {
                    diagnostics.report(
                        "end '\(end.id)': granted access needs on.expire and on.revoke (Shared Data always ends)",
                        line: end.line)
                }
                if end.revocableBy.isEmpty {
                    diagnostics.report("end '\(end.id)': granted access needs revocable_by", line: end.line)
                }
            case .published, .final:
                if end.type == .published && !definition.kinds.contains(.openData) {
                    diagnostics.report("end '\(end.id)': published needs kind open_data", line: end.line)
                }
                if end.onExpire != nil || end.onRevoke != nil || !end.revocableBy.isEmpty {
                    diagnostics.report(
                        "end '\(end.id)': only granted access can expire or be revoked (type \(end.type.rawValue))",
                        line: end.line)
                }
            }
        }
    }

    /// Rules a new request needs, added after definitions were first stored (a stored definition that
    /// breaks one still runs the requests pinned to it):
    /// - every request reaches the same end by approval whatever its kind (conditions skip steps, they
    ///   do not choose ends): a workflow serving both kinds can neither grant (an Open Data request would
    ///   be granted access) nor publish (a Shared Data request would be published);
    /// - a `submit_requires` field must be one the workflow's requests have (a recipient and an access
    ///   end only Shared Data, the Open Data check only Open Data), or no request could be submitted.
    private func checkFiling(_ definition: WorkflowDefinition) {
        if definition.kinds.count > 1 {
            for end in definition.ends where end.type != .final {
                diagnostics.report(
                    "end '\(end.id)': a workflow serving both kinds cannot have a \(end.type.rawValue) end "
                        + "(every request reaches it, whatever its kind)",
                    line: end.line)
            }
        }
        checkConditionsVary(definition)
        for requirement in definition.submitRequirements
        where requirement.field.filledInBy.isDisjoint(with: definition.kinds) {
            let having = ReleaseKind.allCases.filter(requirement.field.filledInBy.contains).map(\.rawValue)
            diagnostics.report(
                "submit_requires field '\(requirement.field.rawValue)' is never filled in by requests of the "
                    + "workflow's kinds (only \(having.joined(separator: ", ")) requests have it)",
                line: requirement.line)
        }
    }

    /// A test on an attribute that has one value for every request of the workflow's kinds (the
    /// recipient of Open Data, the Open Data check's answers of Shared Data, the kind of a workflow that
    /// serves one) always gives the same answer: the step it guards is always skipped, or always taken,
    /// and the file gives no sign of it.
    private func checkConditionsVary(_ definition: WorkflowDefinition) {
        func report(_ condition: Condition?, of what: String, line: Int) {
            guard let condition else { return }
            for attribute in condition.attributes.sorted(by: { $0.rawValue < $1.rawValue }) {
                let why: String
                if attribute == .kind {
                    guard definition.kinds.count == 1, let kind = definition.kinds.first else { continue }
                    why = "the workflow serves only \(kind.rawValue)"
                } else {
                    guard attribute.variesIn.isDisjoint(with: definition.kinds) else { continue }
                    let having = ReleaseKind.allCases.filter(attribute.variesIn.contains).map(\.rawValue)
                    why = "only \(having.joined(separator: ", ")) requests have it"
                }
                diagnostics.report(
                    "\(what): the part of its condition that tests '\(attribute.rawValue)' always gives the same "
                        + "answer (\(why))",
                    line: line)
            }
        }
        for step in definition.steps {
            report(step.condition, of: "step '\(step.id)'", line: step.line)
            for branch in step.branches where step.isParallel {
                report(branch.condition, of: "step '\(step.id)', branch '\(branch.id)'", line: branch.line)
            }
        }
        for requirement in definition.submitRequirements {
            report(
                requirement.condition, of: "submit_requires field '\(requirement.field.rawValue)'",
                line: requirement.line)
        }
    }

    /// Every node must be reachable from the start; an unreachable step is a mistake, not a spare part.
    private func checkReachability(_ definition: WorkflowDefinition) {
        var reached: Set<String> = [definition.start, definition.withdrawTo]
        var queue = [definition.start, definition.withdrawTo]
        while let node = queue.popLast() {
            for next in successors(of: node, in: definition) where reached.insert(next).inserted {
                queue.append(next)
            }
        }
        for step in definition.steps where !reached.contains(step.id) {
            diagnostics.report("step '\(step.id)' is unreachable from start '\(definition.start)'", line: step.line)
        }
        for end in definition.ends where !reached.contains(end.id) {
            diagnostics.report("end '\(end.id)' is unreachable from start '\(definition.start)'", line: end.line)
        }
    }

    /// Every step must be able to reach an end; otherwise requests would circle forever.
    @discardableResult
    private func checkWayOut(_ definition: WorkflowDefinition) -> Set<String> {
        var canEnd = Set(definition.ends.map(\.id))
        var changed = true
        while changed {
            changed = false
            for step in definition.steps where !canEnd.contains(step.id) {
                if successors(of: step.id, in: definition).contains(where: canEnd.contains) {
                    canEnd.insert(step.id)
                    changed = true
                }
            }
        }
        let trapped = definition.steps.filter { !canEnd.contains($0.id) }
        for step in trapped {
            if step.onApprove == step.id && step.onReject == step.id {
                diagnostics.report(
                    "step '\(step.id)' has no way out: every decision leads back to itself", line: step.line)
            } else {
                let cycle = trapped.map(\.id).joined(separator: " → ")
                diagnostics.report(
                    "step '\(step.id)' is in a cycle without exit (\(cycle)): no decision ever reaches an end",
                    line: step.line)
            }
        }
        return Set(trapped.map(\.id))
    }

    /// A step whose condition does not hold is skipped along `on.approve`; a cycle of approvals would
    /// skip around forever for a request that meets none of the conditions, so approvals must always
    /// lead forward.
    private func checkApprovalCycles(_ definition: WorkflowDefinition, skipping alreadyReported: Set<String>) {
        var reported = alreadyReported
        for first in definition.steps where !reported.contains(first.id) {
            var path: [String] = []
            var current: Step? = first
            while let step = current, !reported.contains(step.id) {
                if let index = path.firstIndex(of: step.id) {
                    let cycle = path[index...]
                    reported.formUnion(cycle)
                    let lineOfStep = definition.step(cycle.first!)?.line ?? 1
                    diagnostics.report(
                        "steps \((cycle + [cycle.first!]).joined(separator: " → ")) form a cycle along on.approve; "
                            + "approvals must lead towards an end",
                        line: lineOfStep)
                    break
                }
                path.append(step.id)
                current = definition.step(step.onApprove)
            }
        }
    }

    private func successors(of node: String, in definition: WorkflowDefinition) -> [String] {
        if let step = definition.step(node) { return [step.onApprove, step.onReject] }
        if let end = definition.end(node) { return [end.onExpire, end.onRevoke].compactMap { $0 } }
        return []
    }
}
