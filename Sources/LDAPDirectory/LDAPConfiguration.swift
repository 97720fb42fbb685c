#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Everything ``LDAPDirectory`` needs to know about the directory. A plain value: the server maps its
/// configuration keys onto it; ``validate()`` checks it (``LDAPDirectory/init(configuration:logger:threadPool:now:)``
/// calls it too).
public struct LDAPConfiguration: Sendable, Hashable {
    /// How group memberships are found.
    public enum MembershipLookup: String, Sendable, Hashable, Codable, CaseIterable {
        /// Search groups whose `member` / `uniqueMember` contains the user's DN, then the groups
        /// containing those groups, and so on (OpenLDAP without the memberof overlay, 389 DS, ...).
        case groupSearch
        /// Read the user's `memberOf`. Nested groups via the LDAP_MATCHING_RULE_IN_CHAIN rule where the
        /// server implements it (Active Directory), otherwise by reading `memberOf` of each group.
        case memberOf
    }

    /// Transport security. Certificate and host name verification are on unless ``insecure`` is set.
    public struct TLS: Sendable, Hashable {
        /// Upgrade an `ldap://` connection with the StartTLS extended operation before anything else
        /// is sent. (For `ldaps://` TLS starts with the connection; setting both is an error.)
        public var startTLS: Bool
        /// PEM file with the CA certificates to trust. `nil`: the system's default (libldap's
        /// `TLS_CACERT` from ldap.conf, on Debian the system bundle).
        public var caFile: String?
        /// Turns certificate and host name verification OFF. For tests against throw-away servers only;
        /// the directory logs a warning when it starts with this set.
        public var insecure: Bool

        public init(startTLS: Bool = false, caFile: String? = nil, insecure: Bool = false) {
            self.startTLS = startTLS
            self.caFile = caFile
            self.insecure = insecure
        }
    }

    /// The account the directory binds as for searches. Its `description`, `debugDescription` and
    /// mirror never contain the password, so it cannot leak through logging or `dump`.
    public struct ServiceAccount: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
        CustomReflectable
    {
        public var bindDN: String
        /// The password (read by the caller from a file or the environment).
        public var password: String

        public init(bindDN: String, password: String) {
            self.bindDN = bindDN
            self.password = password
        }

        public var description: String {
            "ServiceAccount(bindDN: \(self.bindDN), password: <redacted>)"
        }

        public var debugDescription: String {
            self.description
        }

        public var customMirror: Mirror {
            Mirror(self, children: ["bindDN": self.bindDN, "password": "<redacted>"])
        }
    }

    /// Attribute names of the directory's schema.
    public struct Attributes: Sendable, Hashable {
        /// The login name (`uid` on OpenLDAP, `sAMAccountName` on Active Directory).
        public var username: String
        public var displayName: String
        public var mail: String
        public var organizationalUnit: String
        /// The language the person wants mail in (RFC 2798 `preferredLanguage`, e.g. `en` or `de-DE`).
        public var preferredLanguage: String
        /// The user's (and, with nesting, the group's) group list for ``MembershipLookup/memberOf``.
        public var memberOf: String
        /// Member attributes of groups for ``MembershipLookup/groupSearch``.
        public var groupMember: [String]

        public init(
            username: String = "uid",
            displayName: String = "displayName",
            mail: String = "mail",
            organizationalUnit: String = "ou",
            memberOf: String = "memberOf",
            groupMember: [String] = ["member", "uniqueMember"],
            preferredLanguage: String = "preferredLanguage"
        ) {
            self.username = username
            self.displayName = displayName
            self.mail = mail
            self.organizationalUnit = organizationalUnit
            self.preferredLanguage = preferredLanguage
            self.memberOf = memberOf
            self.groupMember = groupMember
        }

        /// inetOrgPerson / groupOfNames, groupOfUniqueNames.
        public static let openLDAP = Attributes()
        /// Active Directory users and groups.
        public static let activeDirectory = Attributes(
            username: "sAMAccountName",
            organizationalUnit: "department",
            groupMember: ["member"]
        )
    }

    /// When the directory fails repeatedly, calls fail at once for a while instead of each waiting
    /// for its own timeout (and for a connection held by another call waiting for its timeout).
    public struct CircuitBreaker: Sendable, Hashable {
        /// Transport failures in a row (timeouts, refused or dropped connections, TLS failures) that
        /// open the breaker. Wrong passwords and unknown users never count: the directory answered.
        public var failureThreshold: Int
        /// How long an open breaker fails calls at once before it lets one probe call through.
        public var coolDown: Duration

        public init(failureThreshold: Int = 3, coolDown: Duration = .seconds(5)) {
            self.failureThreshold = failureThreshold
            self.coolDown = coolDown
        }
    }

    public static let openLDAPUserFilter = "(&(objectClass=inetOrgPerson)(uid={username}))"
    /// Disabled accounts (`userAccountControl` bit 2, ACCOUNTDISABLE, matched with the bitwise-AND rule
    /// 1.2.840.113556.1.4.803) are nobody: offboarding in Active Directory disables rather than deletes,
    /// and a disabled person must not keep a session, decide from a mailed link or lend roles as principal.
    public static let activeDirectoryUserFilter =
        "(&(objectCategory=person)(objectClass=user)(sAMAccountName={username})"
        + "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"

    /// One URL (`ldap://host:389`, `ldaps://host:636`, `ldapi://%2Frun%2Fslapd%2Fldapi`) or several
    /// separated by spaces, tried in order (libldap's fail-over).
    public var url: String
    /// The naming context (`dc=stadt,dc=example`).
    public var baseDN: String
    /// Where users are searched (subtree); `nil`: ``baseDN``.
    public var userSearchBase: String?
    /// Filter finding one user; ``LDAPFilter/usernamePlaceholder`` is replaced by the escaped username.
    public var userFilter: String
    public var attributes: Attributes
    /// Where groups are searched (subtree); `nil`: ``baseDN``.
    public var groupSearchBase: String?
    public var membership: MembershipLookup
    /// For ``MembershipLookup/memberOf``: use the in-chain matching rule 1.2.840.113556.1.4.1941 for
    /// nested groups. `nil`: decide from the root DSE (Active Directory announces itself in
    /// `supportedCapabilities`; OpenLDAP 2.5 does not implement the rule).
    public var nestedGroupsViaMatchingRuleInChain: Bool?
    /// How many levels of nested groups are followed (cycles are detected regardless).
    public var maximumGroupDepth: Int
    /// DirectoryRole → DNs of the groups whose members have that role.
    public var roleGroups: [DirectoryRole: [String]]
    /// Data domain id → DNs of the groups whose members are that domain's stewards.
    public var stewardGroups: [String: [String]]
    public var tls: TLS
    /// Allows plain `ldap://` without StartTLS to hosts other than loopback. Passwords would cross
    /// the network in clear; off by default.
    public var allowInsecureNonLoopback: Bool
    /// Compare the username attribute of the found entry with the typed username (case-insensitive,
    /// without Unicode compatibility folding) and refuse a mismatch. Directories fold look-alikes
    /// (slapd matches fullwidth `ａｎｎａ` to `anna`); this keeps a login name unique. Turn off only
    /// when the filter matches other attributes too (e.g. `userPrincipalName`).
    public var requireExactUsernameMatch: Bool
    /// Limit for TCP connect and the TLS handshake.
    public var networkTimeout: Duration
    /// Limit for each LDAP operation (bind, search, StartTLS), sent to the server as time limit too.
    public var operationTimeout: Duration
    /// How long person and group lookups are cached; `.zero` disables the cache.
    public var cacheTTL: Duration
    /// Maximum number of cached people (and as many group lists).
    public var cacheCapacity: Int
    /// Connections for searches; as many again are opened for user binds.
    public var poolSize: Int
    /// Bind DN and password for searches; `nil`: anonymous searches.
    public var serviceAccount: ServiceAccount?
    /// How long a call waits for a free pooled connection before it fails with
    /// ``LDAPDirectoryError/Code-swift.struct/poolTimeout``. `nil`: half the shorter of
    /// ``networkTimeout`` and ``operationTimeout`` (see ``effectivePoolWaitTimeout``).
    public var poolWaitTimeout: Duration?
    public var circuitBreaker: CircuitBreaker

    /// ``poolWaitTimeout``, or half the shorter timeout: a call that waits for a connection gives up
    /// before a call stuck on a silent directory times out and frees one, so that nobody waits one
    /// timeout for a connection and then another for the directory.
    public var effectivePoolWaitTimeout: Duration {
        self.poolWaitTimeout ?? min(self.networkTimeout, self.operationTimeout) / 2
    }

    public init(
        url: String,
        baseDN: String,
        userSearchBase: String? = nil,
        userFilter: String = LDAPConfiguration.openLDAPUserFilter,
        attributes: Attributes = .openLDAP,
        groupSearchBase: String? = nil,
        membership: MembershipLookup = .groupSearch,
        nestedGroupsViaMatchingRuleInChain: Bool? = nil,
        maximumGroupDepth: Int = 10,
        roleGroups: [DirectoryRole: [String]] = [:],
        stewardGroups: [String: [String]] = [:],
        tls: TLS = TLS(),
        allowInsecureNonLoopback: Bool = false,
        requireExactUsernameMatch: Bool = true,
        networkTimeout: Duration = .seconds(5),
        operationTimeout: Duration = .seconds(10),
        cacheTTL: Duration = .seconds(300),
        cacheCapacity: Int = 10_000,
        poolSize: Int = 4,
        serviceAccount: ServiceAccount? = nil,
        poolWaitTimeout: Duration? = nil,
        circuitBreaker: CircuitBreaker = CircuitBreaker()
    ) {
        self.url = url
        self.baseDN = baseDN
        self.userSearchBase = userSearchBase
        self.userFilter = userFilter
        self.attributes = attributes
        self.groupSearchBase = groupSearchBase
        self.membership = membership
        self.nestedGroupsViaMatchingRuleInChain = nestedGroupsViaMatchingRuleInChain
        self.maximumGroupDepth = maximumGroupDepth
        self.roleGroups = roleGroups
        self.stewardGroups = stewardGroups
        self.tls = tls
        self.allowInsecureNonLoopback = allowInsecureNonLoopback
        self.requireExactUsernameMatch = requireExactUsernameMatch
        self.networkTimeout = networkTimeout
        self.operationTimeout = operationTimeout
        self.cacheTTL = cacheTTL
        self.cacheCapacity = cacheCapacity
        self.poolSize = poolSize
        self.serviceAccount = serviceAccount
        self.poolWaitTimeout = poolWaitTimeout
        self.circuitBreaker = circuitBreaker
    }

    /// The transport security the URL and TLS settings amount to.
    public enum TransportSecurity: String, Sendable, Hashable, Codable {
        /// No TLS (`ldap://` to loopback, or explicitly allowed), or `ldapi://` (a local socket).
        case none
        case startTLS
        case ldaps
    }

    public var transportSecurity: TransportSecurity {
        if self.tls.startTLS {
            return .startTLS
        }
        let urls = (try? Self.parseURLs(self.url)) ?? []
        return !urls.isEmpty && urls.allSatisfy({ $0.scheme == "ldaps" }) ? .ldaps : .none
    }

    /// Checks everything that can be checked without connecting.
    public func validate() throws(LDAPDirectoryError) {
        let urls = try Self.parseURLs(self.url)
        for url in urls {
            if url.scheme == "ldaps" && self.tls.startTLS {
                throw .configuration("StartTLS cannot be combined with ldaps:// (\(url.text)).")
            }
            if url.scheme == "ldaps" && urls.contains(where: { $0.scheme != "ldaps" }) {
                throw .configuration("Do not mix ldaps:// with other schemes in one URL list.")
            }
            if url.scheme == "ldap" && !self.tls.startTLS && !url.isLoopback && !self.allowInsecureNonLoopback {
                throw .configuration(
                    "Plain ldap:// to \(url.host) would send passwords in clear: use ldaps:// or StartTLS "
                        + "(or, for a trusted network, allowInsecureNonLoopback: ldap.allow_insecure_non_loopback)."
                )
            }
        }
        let base = try Self.parseDN(self.baseDN, name: "base DN")
        guard !base.rdns.isEmpty else {
            throw .configuration("The base DN must not be empty.")
        }
        if let userSearchBase {
            _ = try Self.parseDN(userSearchBase, name: "user search base")
        }
        if let groupSearchBase {
            _ = try Self.parseDN(groupSearchBase, name: "group search base")
        }
        try LDAPFilter.validateTemplate(self.userFilter)
        for (name, attribute) in [
            ("username", self.attributes.username), ("displayName", self.attributes.displayName),
            ("mail", self.attributes.mail), ("organizationalUnit", self.attributes.organizationalUnit),
            ("memberOf", self.attributes.memberOf), ("preferredLanguage", self.attributes.preferredLanguage),
        ] {
            try Self.validateAttributeName(attribute, name: name)
        }
        guard !self.attributes.groupMember.isEmpty else {
            throw .configuration("At least one group member attribute is needed.")
        }
        for attribute in self.attributes.groupMember {
            try Self.validateAttributeName(attribute, name: "groupMember")
        }
        guard (1...64).contains(self.maximumGroupDepth) else {
            throw .configuration("The maximum group depth must be between 1 and 64.")
        }
        for (role, groups) in self.roleGroups {
            for group in groups {
                _ = try Self.parseDN(group, name: "group of role \(role.rawValue)")
            }
        }
        for (domain, groups) in self.stewardGroups {
            guard !domain.isEmpty else {
                throw .configuration("A steward group mapping has an empty domain id.")
            }
            for group in groups {
                _ = try Self.parseDN(group, name: "steward group of domain \(domain)")
            }
        }
        if let caFile = self.tls.caFile {
            guard access(caFile, R_OK) == 0 else {
                throw .configuration("The CA file \(caFile) cannot be read.")
            }
        }
        guard self.networkTimeout > .zero, self.operationTimeout > .zero else {
            throw .configuration("Timeouts must be positive.")
        }
        guard self.networkTimeout <= .seconds(600), self.operationTimeout <= .seconds(600) else {
            throw .configuration("Timeouts must not exceed 10 minutes.")
        }
        if let poolWaitTimeout {
            guard poolWaitTimeout > .zero, poolWaitTimeout <= .seconds(600) else {
                throw .configuration("The pool wait timeout must be positive and at most 10 minutes.")
            }
        }
        guard (1...1000).contains(self.circuitBreaker.failureThreshold) else {
            throw .configuration("The circuit breaker's failure threshold must be between 1 and 1000.")
        }
        guard self.circuitBreaker.coolDown > .zero, self.circuitBreaker.coolDown <= .seconds(600) else {
            throw .configuration("The circuit breaker's cool-down must be positive and at most 10 minutes.")
        }
        guard self.cacheTTL >= .zero else {
            throw .configuration("The cache TTL must not be negative.")
        }
        guard self.cacheCapacity >= 1 else {
            throw .configuration("The cache capacity must be at least 1.")
        }
        guard (1...256).contains(self.poolSize) else {
            throw .configuration("The pool size must be between 1 and 256.")
        }
        if let serviceAccount {
            let dn = try Self.parseDN(serviceAccount.bindDN, name: "service account bind DN")
            guard !dn.rdns.isEmpty else {
                throw .configuration("The service account bind DN must not be empty.")
            }
            // An empty password would be an unauthenticated bind (RFC 4513 5.1.2): it "succeeds"
            // with anonymous rights on many servers and hides the misconfiguration.
            guard !serviceAccount.password.allSatisfy(\.isWhitespace), !serviceAccount.password.utf8.contains(0)
            else {
                throw .configuration("The service account password must not be empty.")
            }
        }
    }

    struct ParsedURL: Sendable, Hashable {
        var text: String
        var scheme: String
        var host: String

        var isLoopback: Bool {
            if self.scheme == "ldapi" {
                return true
            }
            let host = self.host.lowercased()
            if host.isEmpty || host == "localhost" || host == "localhost." || host == "::1" {
                return true
            }
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
        }
    }

    static func parseURLs(_ text: String) throws(LDAPDirectoryError) -> [ParsedURL] {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        guard !parts.isEmpty else {
            throw .configuration("The LDAP URL must not be empty.")
        }
        var urls: [ParsedURL] = []
        for part in parts {
            guard let separator = part.firstRange(of: "://") else {
                throw .configuration("\(part) is not an LDAP URL (ldap://, ldaps:// or ldapi://).")
            }
            let scheme = part[..<separator.lowerBound].lowercased()
            guard ["ldap", "ldaps", "ldapi"].contains(scheme) else {
                throw .configuration("\(part) is not an LDAP URL (ldap://, ldaps:// or ldapi://).")
            }
            let rest = part[separator.upperBound...]
            let authority = rest.prefix(while: { $0 != "/" && $0 != "?" })
            var host: Substring
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else {
                    throw .configuration("\(part) has an invalid IPv6 address.")
                }
                host = authority[authority.index(after: authority.startIndex)..<close]
            } else {
                host = authority.prefix(while: { $0 != ":" })
                let port = authority.dropFirst(host.count)
                if !port.isEmpty && (port.count < 2 || UInt16(port.dropFirst()) == nil) {
                    throw .configuration("\(part) has an invalid port.")
                }
            }
            if scheme == "ldapi" {
                host = ""
            }
            urls.append(ParsedURL(text: part, scheme: scheme, host: String(host)))
        }
        return urls
    }

    static func parseDN(_ text: String, name: String) throws(LDAPDirectoryError) -> DistinguishedName {
        do {
            return try DistinguishedName(parsing: text)
        } catch {
            throw .configuration("The \(name) \"\(text)\" is not a valid DN: \(error.message)")
        }
    }

    private static func validateAttributeName(_ attribute: String, name: String) throws(LDAPDirectoryError) {
        let valid =
            !attribute.isEmpty
            && attribute.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ";")
            }
        guard valid else {
            throw .configuration("The \(name) attribute name \"\(attribute)\" is not valid.")
        }
    }
}
