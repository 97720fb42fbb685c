import Testing

@testable import LDAPDirectory

@Suite("configuration validation, role mapping, input checks, cache")
struct ConfigurationTests {
    static let base = "dc=stadt,dc=example"

    static func configuration(
        url: String = "ldap://127.0.0.1:389",
        startTLS: Bool = false
    ) -> LDAPConfiguration {
        LDAPConfiguration(
            url: url,
            baseDN: base,
            roleGroups: [.dsb: ["cn=freigabe-dsb,ou=groups,\(base)"]],
            stewardGroups: ["umwelt": ["cn=stewards-umwelt,ou=groups,\(base)"]],
            tls: .init(startTLS: startTLS)
        )
    }

    @Test("defaults are those the issue asks for")
    func defaults() {
        let configuration = LDAPConfiguration(url: "ldaps://ldap.stadt.example", baseDN: Self.base)
        #expect(configuration.cacheTTL == .seconds(300))
        #expect(configuration.membership == .groupSearch)
        #expect(configuration.tls.insecure == false)
        #expect(configuration.allowInsecureNonLoopback == false)
        #expect(configuration.requireExactUsernameMatch)
        #expect(configuration.userFilter == "(&(objectClass=inetOrgPerson)(uid={username}))")
        #expect(configuration.transportSecurity == .ldaps)
        // A waiter gives up before a call stuck on a silent directory (5 s / 10 s) frees its slot.
        #expect(configuration.poolWaitTimeout == nil)
        #expect(configuration.effectivePoolWaitTimeout == .milliseconds(2500))
        #expect(configuration.circuitBreaker == .init(failureThreshold: 3, coolDown: .seconds(5)))
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test(
        "plain ldap:// is allowed to loopback only",
        arguments: [
            ("ldap://127.0.0.1:389", true), ("ldap://localhost", true), ("ldap://[::1]:1389", true),
            ("ldap://127.8.9.10", true), ("ldapi://%2Frun%2Fslapd%2Fldapi", true), ("ldap:///", true),
            ("ldap://ldap.stadt.example", false), ("ldap://10.0.0.5:389", false),
            ("ldap://127.0.0.1.evil.example", false),
            ("ldap://localhost.evil.example", false), ("ldap://127.0.0.1 ldap://ldap.stadt.example", false),
        ])
    func loopbackOnly(url: String, allowed: Bool) throws {
        var configuration = Self.configuration(url: url)
        if allowed {
            try configuration.validate()
        } else {
            let error = #expect(throws: LDAPDirectoryError.self) { try configuration.validate() }
            #expect(error?.code == .configuration)
            configuration.allowInsecureNonLoopback = true
            try configuration.validate()
            configuration.allowInsecureNonLoopback = false
            configuration.tls.startTLS = true
            try configuration.validate()
            #expect(configuration.transportSecurity == .startTLS)
        }
    }

    @Test(
        "invalid settings are refused with a configuration error",
        arguments: [
            "empty url", "http url", "bad port", "starttls with ldaps", "mixed schemes", "bad base", "empty base",
            "filter without placeholder", "unbalanced filter", "bad attribute", "no member attributes",
            "bad role group", "bad steward group", "empty domain", "missing ca file", "zero timeout", "pool size",
            "empty service password", "whitespace service password", "depth", "zero pool wait",
            "zero failure threshold", "zero cool-down", "long cool-down",
        ])
    func invalid(name: String) {
        var configuration = Self.configuration()
        switch name {
        case "empty url": configuration.url = " "
        case "http url": configuration.url = "http://ldap.stadt.example"
        case "bad port": configuration.url = "ldap://127.0.0.1:99999"
        case "starttls with ldaps":
            configuration.url = "ldaps://ldap.stadt.example"
            configuration.tls.startTLS = true
        case "mixed schemes": configuration.url = "ldaps://a.example ldap://127.0.0.1"
        case "bad base": configuration.baseDN = "dc=stadt,"
        case "empty base": configuration.baseDN = ""
        case "filter without placeholder": configuration.userFilter = "(uid=anna)"
        case "unbalanced filter": configuration.userFilter = "(&(uid={username})"
        case "bad attribute": configuration.attributes.username = "uid)(x"
        case "no member attributes": configuration.attributes.groupMember = []
        case "bad role group": configuration.roleGroups[.isb] = ["not a dn"]
        case "bad steward group": configuration.stewardGroups["mobilitaet"] = ["cn=x,"]
        case "empty domain": configuration.stewardGroups[""] = ["cn=x"]
        case "missing ca file": configuration.tls.caFile = "/nonexistent/ca.pem"
        case "zero timeout": configuration.operationTimeout = .zero
        case "pool size": configuration.poolSize = 0
        case "empty service password":
            configuration.serviceAccount = .init(bindDN: "cn=svc,\(Self.base)", password: "")
        case "whitespace service password":
            configuration.serviceAccount = .init(bindDN: "cn=svc,\(Self.base)", password: "  ")
        case "depth": configuration.maximumGroupDepth = 0
        case "zero pool wait": configuration.poolWaitTimeout = .zero
        case "zero failure threshold": configuration.circuitBreaker.failureThreshold = 0
        case "zero cool-down": configuration.circuitBreaker.coolDown = .zero
        case "long cool-down": configuration.circuitBreaker.coolDown = .seconds(601)
        default: Issue.record("unknown case \(name)")
        }
        let error = #expect(throws: LDAPDirectoryError.self) { try configuration.validate() }
        #expect(error?.code == .configuration)
        #expect(throws: LDAPDirectoryError.self) {
            _ = try LDAPDirectory(configuration: configuration, logger: .init(label: "test"))
        }
    }

    @Test("a directory dropped without shutdown() stops its own thread pool instead of trapping")
    func droppedWithoutShutdown() throws {
        _ = try LDAPDirectory(configuration: Self.configuration(), logger: .init(label: "test"))
    }

    @Test("the service account's password never appears in descriptions, mirrors or dumps")
    func serviceAccountRedacted() {
        let account = LDAPConfiguration.ServiceAccount(
            bindDN: "cn=svc,dc=stadt,dc=example", password: "s3cr3t-Passw0rd")
        var configuration = Self.configuration()
        configuration.serviceAccount = account
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [
            "\(account)", String(reflecting: account), "\(configuration)", String(reflecting: configuration), dumped,
        ] {
            #expect(!text.contains("s3cr3t"), "\(text)")
        }
        #expect("\(account)".contains("cn=svc,dc=stadt,dc=example"))
    }

    @Test("role mapping compares DNs normalised and collects all grants")
    func roleMapping() throws {
        var configuration = Self.configuration()
        configuration.roleGroups = [
            .dsb: ["CN=Freigabe-DSB, OU=Groups, DC=stadt, DC=example"],
            .auditor: ["cn=revision,ou=groups,dc=stadt,dc=example", "cn=freigabe-dsb,ou=groups,dc=stadt,dc=example"],
            .admin: ["cn=freigabe-admins,ou=groups,dc=stadt,dc=example"],
        ]
        configuration.stewardGroups = [
            "mobilitaet": ["cn=stewards-mobilitaet,ou=groups,dc=stadt,dc=example"],
            "umwelt": ["cn=Stewards-Umwelt,ou=groups,dc=stadt,dc=example"],
        ]
        let mapping = try RoleMapping(configuration: configuration)
        let grants = mapping.grants(forGroups: [
            "cn=freigabe-dsb,ou=groups,dc=stadt,dc=example",
            "cn=stewards-umwelt,ou=groups,dc=stadt,dc=example",
            "cn=all-staff,ou=groups,dc=stadt,dc=example",
            "garbage",
        ])
        #expect(grants.roles == [.dsb, .auditor])
        #expect(grants.stewardDomains == ["umwelt"])
        #expect(mapping.grants(forGroups: []).roles.isEmpty)
        #expect(mapping.grants(forGroups: ["cn=freigabe-dsb,ou=groups,dc=other"]).roles.isEmpty)
        #expect(
            DirectoryRole.allCases.map(\.rawValue) == [
                "dsb", "isb", "open_data_officer", "governance", "auditor", "admin",
            ])
    }

    @Test(
        "usernames refused before any directory contact",
        arguments: [
            "", " ", "\u{0}", "anna\u{0}", "an\nna", "anna\r", "\u{1B}[31m", "a\u{2028}b",
            String(repeating: "a", count: 257),
        ])
    func invalidUsernames(username: String) {
        let error = #expect(throws: LDAPDirectoryError.self) { try InputValidation.validateUsername(username) }
        #expect(error?.code == .invalidUsername)
    }

    @Test(
        "acceptable usernames",
        arguments: ["anna", "jürgen", "аnna", "*", "x)(uid=*", "\\", String(repeating: "a", count: 256)])
    func validUsernames(username: String) throws {
        try InputValidation.validateUsername(username)
    }

    @Test(
        "passwords refused before any bind",
        arguments: ["", " ", "\t\n", "\u{3000}", "demo\u{0}", "\u{0}", String(repeating: "x", count: 5000)])
    func invalidPasswords(password: String) {
        let error = #expect(throws: LDAPDirectoryError.self) { try InputValidation.validatePassword(password) }
        #expect(error?.code == .invalidPassword)
    }

    @Test("exact username comparison ignores case only")
    func exactUsername() {
        #expect(InputValidation.usernameMatches(typed: "ANNA", stored: "anna"))
        #expect(InputValidation.usernameMatches(typed: "JÜRGEN", stored: "jürgen"))
        #expect(!InputValidation.usernameMatches(typed: "ａｎｎａ", stored: "anna"))
        #expect(!InputValidation.usernameMatches(typed: "аnna", stored: "anna"))
        #expect(!InputValidation.usernameMatches(typed: "jurgen", stored: "jürgen"))
    }

    @Test("error descriptions are safe; debug descriptions carry the details")
    func errorDescriptions() {
        let error = LDAPDirectoryError(
            code: .invalidCredentials, message: "Invalid username or password.", resultCode: 49,
            diagnostic: "Invalid credentials", details: "bind on ldap://127.0.0.1")
        #expect("\(error)" == "Invalid username or password.")
        #expect(String(reflecting: error).contains("resultCode: 49"))
        #expect(String(reflecting: error).contains("code: invalidCredentials"))
        #expect(LDAPDirectoryError.Code.timeout != .directoryUnavailable)
    }
}

@Suite("cache TTL with an injected clock")
struct DirectoryCacheTests {
    let entry = LDAPEntry(dn: "uid=anna,ou=people,dc=stadt,dc=example", attributes: ["uid": ["anna"]])

    @Test("fresh, then due for refresh once, then gone at the TTL")
    func lifecycle() {
        let cache = DirectoryCache(ttl: .seconds(100), capacity: 10)
        let start = ContinuousClock.now
        cache.storePerson(self.entry, key: "anna", now: start)
        guard case .fresh = cache.person("anna", now: start + .seconds(74)) else {
            Issue.record("expected fresh")
            return
        }
        guard case .refreshDue = cache.person("anna", now: start + .seconds(75)) else {
            Issue.record("expected refreshDue")
            return
        }
        // Requested once; until the refresh stores a new value it is served as fresh.
        guard case .fresh = cache.person("anna", now: start + .seconds(80)) else {
            Issue.record("expected fresh after the refresh request")
            return
        }
        guard case .missing = cache.person("anna", now: start + .seconds(100)) else {
            Issue.record("expected missing at the TTL")
            return
        }
        cache.storeGroups(["cn=g"], key: "k", now: start)
        guard case .missing = cache.groups("k", now: start + .seconds(101)) else {
            Issue.record("expected groups missing after the TTL")
            return
        }
    }

    @Test("a TTL of zero disables caching")
    func disabled() {
        let cache = DirectoryCache(ttl: .zero, capacity: 10)
        let now = ContinuousClock.now
        cache.storePerson(self.entry, key: "anna", now: now)
        guard case .missing = cache.person("anna", now: now) else {
            Issue.record("expected missing")
            return
        }
    }

    @Test("capacity bounds the number of entries")
    func capacity() {
        let cache = DirectoryCache(ttl: .seconds(100), capacity: 10)
        let start = ContinuousClock.now
        for index in 0..<50 {
            cache.storePerson(self.entry, key: "user\(index)", now: start + .milliseconds(index))
        }
        #expect(cache.count.people <= 10)
        guard case .fresh = cache.person("user49", now: start + .seconds(1)) else {
            Issue.record("the newest entry should survive eviction")
            return
        }
    }
}
