/// What ``LDAPDirectory/check()`` found: the basis of `freigabe directory check`.
public struct LDAPDirectoryCheck: Sendable, Hashable, Codable {
    /// One configured group and whether it exists in the directory.
    public struct Group: Sendable, Hashable, Codable {
        /// The DN as configured.
        public var dn: String
        /// Roles the group grants (empty for pure steward groups).
        public var roles: [DirectoryRole]
        /// Domains whose stewards the group names (empty for pure role groups).
        public var stewardDomains: [String]
        /// Whether a base search on the DN found the entry.
        public var found: Bool
        /// Number of direct members (values of the member attributes), when found.
        public var memberCount: Int?
    }

    public var url: String
    public var transportSecurity: LDAPConfiguration.TransportSecurity
    /// `false` when ``LDAPConfiguration/TLS/insecure`` is set (or without TLS).
    public var certificateVerification: Bool
    /// The service account's DN, `nil` for anonymous searches.
    public var boundAs: String?
    /// `namingContexts` of the root DSE.
    public var namingContexts: [String]
    /// `vendorName` / `vendorVersion` of the root DSE, or "Active Directory" from its capabilities.
    public var vendor: String?
    public var membership: LDAPConfiguration.MembershipLookup
    /// Whether nested groups are resolved with the in-chain matching rule
    /// (``LDAPConfiguration/MembershipLookup/memberOf`` only).
    public var nestedGroupsViaMatchingRuleInChain: Bool
    /// Whether the configured base DN lies within one of the naming contexts.
    public var baseDNWithinNamingContexts: Bool
    public var groups: [Group]

    /// How many configured role and steward groups exist.
    public var resolvedGroupCount: Int {
        self.groups.filter(\.found).count
    }
}
