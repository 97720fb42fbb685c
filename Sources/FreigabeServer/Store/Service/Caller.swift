import Foundation
import LDAPDirectory

/// Who calls the service: the authenticated person with what LDAP says about them (roles are the
/// directory's own `DirectoryRole`; Data Owner and Data Steward follow from the catalogue per request). The HTTP layer
/// builds it from `LDAPDirectory.Person` on every call, so role changes in LDAP apply at once.
public struct Caller: Sendable, Hashable {
    /// The stable login name (`Person.uid`), as recorded in requests, decisions and the audit log.
    public var uid: String
    public var displayName: String
    public var mail: String?
    public var roles: Set<DirectoryRole>
    /// Ids of the domains the person is a Data Steward of (from LDAP).
    public var stewardDomains: Set<String>
    /// DNs of every group the person is in (directly or nested): used for datasets owned by a group and
    /// for domain steward groups named in the catalogue. Compared case- and space-insensitively.
    public var groups: Set<String>
    /// The client's IP address as the HTTP layer saw it (after trusted proxies), for the audit log.
    public var clientAddress: String?
    /// The door the command came through; the audit log records it with every decision.
    public var channel: Channel = .api

    /// The doors to the same command handlers.
    public enum Channel: String, Sendable, Hashable, Codable, CaseIterable {
        case api
        /// The web pages, with a session.
        case web
        /// The confirm page of a decision link in a mail.
        case emailLink = "email_link"
        /// The operator's command line (`freigabe outbox retry`).
        case commandLine = "cli"
    }

    public init(
        uid: String, displayName: String, mail: String? = nil, roles: Set<DirectoryRole> = [],
        stewardDomains: Set<String> = [], groups: Set<String> = [], clientAddress: String? = nil
    ) {
        self.uid = uid
        self.displayName = displayName
        self.mail = mail
        self.roles = roles
        self.stewardDomains = stewardDomains
        self.groups = groups
        self.clientAddress = clientAddress
    }

    /// What the directory says about the person, without the per-call parts.
    public var directoryFacts: DirectoryFacts {
        DirectoryFacts(roles: roles, stewardDomains: stewardDomains, groups: groups)
    }
}

/// A person's roles, steward domains and groups as the directory reports them. A deputy acts with the
/// roles of the person they represent, so the service needs these facts for principals too.
///
/// Workflow definitions may name custom roles (`Role.custom`, `freigabe workflow validate --role`), but
/// the directory maps groups only to the built-in roles, so the server loads definitions without them.
public struct DirectoryFacts: Sendable, Hashable {
    public var roles: Set<DirectoryRole>
    public var stewardDomains: Set<String>
    public var groups: Set<String> {
        didSet { groupKeys = Set(groups.map(DNKey.key)) }
    }
    /// `groups` in their comparison form (``DNKey``), made once: normalising every DN on each of the
    /// several role questions of a command was 2 % of the server's CPU under `make bench`.
    public private(set) var groupKeys: Set<String>

    public init(
        roles: Set<DirectoryRole> = [], stewardDomains: Set<String> = [], groups: Set<String> = []
    ) {
        self.roles = roles
        self.stewardDomains = stewardDomains
        self.groups = groups
        self.groupKeys = Set(groups.map(DNKey.key))
    }
}

/// A person as the directory knows them: the uid in the directory's own spelling (`PAUL` → `paul`) and
/// what the directory says about them.
public struct DirectoryEntry: Sendable, Hashable {
    public var uid: String
    public var facts: DirectoryFacts

    public init(uid: String, facts: DirectoryFacts = DirectoryFacts()) {
        self.uid = uid
        self.facts = facts
    }
}

/// Looks up people by uid and groups by DN: the principals a deputy acts for, the people a deputyship
/// names, and the owner and groups a catalogue change names (the HTTP layer implements it with LDAP and
/// its cache). Called before a command's transaction, never while a row is locked.
public protocol PrincipalResolver: Sendable {
    /// The person; nil when the directory does not know them (then they lend a deputy no role).
    func entry(ofUID uid: String) async throws -> DirectoryEntry?
    /// Whether `dn` names a group of the directory (a dataset's owner group, a domain's steward group).
    func groupExists(dn: String) async throws -> Bool
}

/// A ``PrincipalResolver`` from closures, for tests and simple wiring. Without `groups` it knows no
/// group, as a resolver that knows nobody (`{ _ in nil }`) knows no person.
public struct ClosurePrincipalResolver: PrincipalResolver {
    private let resolve: @Sendable (String) async throws -> DirectoryEntry?
    private let groups: @Sendable (String) async throws -> Bool

    public init(
        _ resolve: @escaping @Sendable (String) async throws -> DirectoryEntry?,
        groups: @escaping @Sendable (String) async throws -> Bool = { _ in false }
    ) {
        self.resolve = resolve
        self.groups = groups
    }

    public func entry(ofUID uid: String) async throws -> DirectoryEntry? { try await resolve(uid) }

    public func groupExists(dn: String) async throws -> Bool { try await groups(dn) }
}
