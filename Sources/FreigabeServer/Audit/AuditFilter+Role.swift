import LDAPDirectory
import WorkflowEngine

extension AuditFilter {
    /// The roles the log records someone acting in (`audit_events.role`), the values of the filter
    /// `role`: the engine's built-in roles (decisions, escalations), the requester's, and the offices of
    /// auditors and administrators (their reads). The server loads no workflow with custom roles
    /// (``DirectoryFacts``), so the log records no other; a name outside these answered an empty
    /// selection as if nobody had acted in it, and is refused instead.
    enum RecordedRole: Sendable, Hashable, CaseIterable {
        case workflow(WorkflowEngine.Role)
        case requester
        case auditor
        case admin

        static var allCases: [RecordedRole] {
            WorkflowEngine.Role.builtIn.map(RecordedRole.workflow) + [.requester, .auditor, .admin]
        }

        /// The role of this stored name; nil for anything else.
        init?(rawValue: String) {
            guard let role = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
            self = role
        }

        /// The name the log stores.
        var rawValue: String {
            switch self {
            case .workflow(let role): role.identifier
            case .requester: OutboxRecipient.requesterRole
            case .auditor: DirectoryRole.auditor.rawValue
            case .admin: DirectoryRole.admin.rawValue
            }
        }
    }
}
