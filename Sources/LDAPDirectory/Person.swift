/// The roles Freigabe derives from directory groups (configured in ``LDAPConfiguration/roleGroups``).
/// Data Owner and Data Steward are not here: ownership is per dataset (catalogue), stewardship is per
/// domain (``Person/stewardDomains``).
public enum DirectoryRole: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Datenschutzbeauftragte:r (data protection officer).
    case dsb
    /// Informationssicherheitsbeauftragte:r (information security officer).
    case isb
    /// Open-Data-Beauftragte:r.
    case openDataOfficer = "open_data_officer"
    /// Data Governance Office (escalations).
    case governance
    /// Revision: reads and verifies the decision log.
    case auditor
    /// Maintains catalogue, domains and configuration.
    case admin

    public static func < (lhs: DirectoryRole, rhs: DirectoryRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A person as Freigabe sees them: identity attributes from their directory entry plus what their
/// (transitive) group memberships grant.
public struct Person: Sendable, Hashable, Codable {
    /// The entry's DN as the directory spells it.
    public var dn: String
    /// The login name (value of ``LDAPConfiguration/Attributes/username``, e.g. `uid` or `sAMAccountName`)
    /// as stored in the directory: the stable identity to use in sessions and the audit log, which may
    /// differ in case from what was typed at the login form.
    public var uid: String
    public var displayName: String
    public var mail: String?
    /// Organisational unit (`ou`, or `department` on Active Directory).
    public var organizationalUnit: String?
    /// The language the person wants mail in (`preferredLanguage`, e.g. `en`, `de-DE`), as stored.
    public var preferredLanguage: String?
    /// DNs of all groups the person is a member of, directly or through nested groups, sorted.
    public var groups: [String]
    /// Roles granted by ``groups``, sorted.
    public var roles: [DirectoryRole]
    /// Ids of the data domains the person is a Data Steward of, sorted.
    public var stewardDomains: [String]

    public init(
        dn: String,
        uid: String,
        displayName: String,
        mail: String? = nil,
        organizationalUnit: String? = nil,
        groups: [String] = [],
        roles: [DirectoryRole] = [],
        stewardDomains: [String] = [],
        preferredLanguage: String? = nil
    ) {
        self.dn = dn
        self.uid = uid
        self.displayName = displayName
        self.mail = mail
        self.organizationalUnit = organizationalUnit
        self.groups = groups
        self.roles = roles
        self.stewardDomains = stewardDomains
        self.preferredLanguage = preferredLanguage
    }

    public func hasRole(_ role: DirectoryRole) -> Bool {
        self.roles.contains(role)
    }

    public func isSteward(of domain: String) -> Bool {
        self.stewardDomains.contains(domain)
    }

    /// Whether the person is in the group `dn` (directly or nested), comparing normalised DNs.
    /// Use it for owner groups named in the catalogue.
    public func isMember(ofGroup dn: String) -> Bool {
        guard let wanted = DistinguishedName.normalize(dn) else {
            return false
        }
        return self.groups.contains { DistinguishedName.normalize($0) == wanted }
    }
}
