/// Group DNs → roles and steward domains, with DNs compared in normalised form.
struct RoleMapping: Sendable {
    private var rolesByGroup: [String: Set<DirectoryRole>] = [:]
    private var domainsByGroup: [String: Set<String>] = [:]

    init(configuration: LDAPConfiguration) throws(LDAPDirectoryError) {
        for (role, groups) in configuration.roleGroups {
            for group in groups {
                let dn = try LDAPConfiguration.parseDN(group, name: "group of role \(role.rawValue)")
                self.rolesByGroup[dn.normalized, default: []].insert(role)
            }
        }
        for (domain, groups) in configuration.stewardGroups {
            for group in groups {
                let dn = try LDAPConfiguration.parseDN(group, name: "steward group of domain \(domain)")
                self.domainsByGroup[dn.normalized, default: []].insert(domain)
            }
        }
    }

    /// Roles and steward domains granted by membership in `groups` (DNs as the directory returns them;
    /// unparsable ones grant nothing).
    func grants(forGroups groups: [String]) -> (roles: [DirectoryRole], stewardDomains: [String]) {
        var roles: Set<DirectoryRole> = []
        var domains: Set<String> = []
        for group in groups {
            guard let normalized = DistinguishedName.normalize(group) else {
                continue
            }
            roles.formUnion(self.rolesByGroup[normalized] ?? [])
            domains.formUnion(self.domainsByGroup[normalized] ?? [])
        }
        return (roles.sorted(), domains.sorted())
    }
}
