/// Renders a definition as a Mermaid state diagram (`stateDiagram-v2`) for documentation and review.
public enum MermaidGraph {
    public static func render(_ definition: WorkflowDefinition) -> String {
        let title = "\(definition.title.de) (\(definition.id) v\(definition.version))"
        // Quoted, so '#', ':' and leading '[' or '&' in a title cannot break the YAML front matter.
        let quotedTitle = title.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
            of: "\"", with: "\\\"")
        var lines = ["---", "title: \"\(quotedTitle)\"", "---"]
        lines.append("stateDiagram-v2")
        lines.append("    [*] --> draft")
        lines.append("    draft --> \(node(definition.start)): submit")
        lines.append("    draft --> \(node(definition.withdrawTo)): withdraw")
        for step in definition.steps {
            let roles = step.branches.map { branch in
                branch.quorum > 1 ? "\(branch.role.identifier) ×\(branch.quorum)" : branch.role.identifier
            }.joined(separator: " + ")
            var label = "\(escape(step.title.de))<br/>\(roles)"
            if let deadline = step.deadline { label += "<br/>\(deadline.workingDays) AT" }
            lines.append("    \(node(step.id)): \(label)")
            if step.isParallel {
                lines.append("    state \(node(step.id)) {")
                for (index, branch) in step.branches.enumerated() {
                    if index > 0 { lines.append("        --") }
                    let condition = branch.condition == nil ? "" : " (bedingt)"
                    lines.append("        \(node(branch.id)): \(escape(branch.title.de))\(condition)")
                }
                lines.append("    }")
            }
            let skip = step.condition == nil ? "approve" : "approve / skip"
            lines.append("    \(node(step.id)) --> \(node(step.onApprove)): \(skip)")
            lines.append("    \(node(step.id)) --> \(node(step.onReject)): reject")
            if step.allowsRequestChanges {
                lines.append("    \(node(step.id)) --> changes_requested: request_changes")
                lines.append("    changes_requested --> \(node(step.id)): resubmit")
            }
            lines.append("    \(node(step.id)) --> \(node(definition.withdrawTo)): withdraw")
        }
        if definition.steps.contains(where: \.allowsRequestChanges) {
            lines.append("    changes_requested --> \(node(definition.withdrawTo)): withdraw")
        }
        for end in definition.ends {
            lines.append("    \(node(end.id)): \(escape(end.title.de))")
            if let expired = end.onExpire { lines.append("    \(node(end.id)) --> \(node(expired)): expire") }
            if let revoked = end.onRevoke { lines.append("    \(node(end.id)) --> \(node(revoked)): revoke") }
            if end.type != .granted { lines.append("    \(node(end.id)) --> [*]") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Mermaid state ids may not contain '-'.
    private static func node(_ id: String) -> String { id.replacingOccurrences(of: "-", with: "_") }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: ":", with: "#58;").replacingOccurrences(of: "\n", with: " ")
    }
}
