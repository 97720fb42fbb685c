import Configuration
import Foundation
import LDAPDirectory

/// Maps the `ldap.*` configuration keys onto `LDAPConfiguration`.
///
/// `ldap.flavour` picks sensible defaults for OpenLDAP or Active Directory (user filter, attribute
/// names, how memberships are found); every one of them can still be set on its own. Lists of group
/// DNs are separated by `;`, because DNs themselves contain commas.
enum DirectorySettings {
    enum Key {
        static let url = "ldap.url"
        static let baseDN = "ldap.base_dn"
        static let flavour = "ldap.flavour"
        static let userSearchBase = "ldap.user_search_base"
        static let groupSearchBase = "ldap.group_search_base"
        static let userFilter = "ldap.user_filter"
        static let membership = "ldap.membership"
        static let bindDN = "ldap.bind_dn"
        static let bindPassword = "ldap.bind_password"
        static let bindPasswordFile = "ldap.bind_password_file"
        static let startTLS = "ldap.start_tls"
        static let caFile = "ldap.ca_file"
        static let insecureTLS = "ldap.tls_insecure"
        static let allowInsecureNonLoopback = "ldap.allow_insecure_non_loopback"
        static let networkTimeout = "ldap.network_timeout_seconds"
        static let operationTimeout = "ldap.operation_timeout_seconds"
        static let poolWaitTimeout = "ldap.pool_wait_timeout_seconds"
        static let circuitFailures = "ldap.circuit_breaker_failures"
        static let circuitCoolDown = "ldap.circuit_breaker_cool_down_seconds"
        static let cacheTTL = "ldap.cache_ttl_seconds"
        static let poolSize = "ldap.pool_size"
        static let stewards = "ldap.stewards"
        static let loginCache = "ldap.login_cache_seconds"
        static func roleGroups(_ role: DirectoryRole) -> String { "ldap.roles.\(role.rawValue)" }
    }

    enum Flavour: String, CaseIterable {
        case openLDAP = "openldap"
        case activeDirectory = "active_directory"
    }

    /// The directory settings, or nil when `ldap.url` is not set (the server then serves only its
    /// public pages and answers every authenticated route with 503).
    static func read(_ values: SettingValues) throws -> LDAPConfiguration? {
        guard let url = values.text(Key.url) else { return nil }
        guard let baseDN = values.text(Key.baseDN) else {
            throw ConfigurationError(
                code: .invalidValue, key: Key.baseDN,
                description: "„\(Key.baseDN)“ (\(SettingValues.environmentName(for: Key.baseDN))) fehlt: "
                    + "ohne Basis-DN kann Freigabe im Verzeichnis niemanden finden.")
        }
        let flavours = Flavour.allCases.map(\.rawValue).joined(separator: ", ")
        let flavour =
            try values.parsed(Key.flavour, expected: flavours) { Flavour(rawValue: $0.lowercased()) } ?? .openLDAP
        let memberships = "group_search, member_of"
        let membership =
            try values.parsed(Key.membership, expected: memberships) { text -> LDAPConfiguration.MembershipLookup? in
                switch text.lowercased() {
                case "group_search": .groupSearch
                case "member_of": .memberOf
                default: nil
                }
            } ?? (flavour == .activeDirectory ? .memberOf : .groupSearch)

        var roleGroups: [DirectoryRole: [String]] = [:]
        for role in DirectoryRole.allCases {
            if let groups = values.text(Key.roleGroups(role)) { roleGroups[role] = list(groups) }
        }
        let stewardGroups =
            try values.parsed(
                Key.stewards, expected: "Einträge „domäne=Gruppen-DN“, getrennt durch „;“", parse: stewardships) ?? [:]

        var configuration = LDAPConfiguration(
            url: url, baseDN: baseDN,
            userSearchBase: values.text(Key.userSearchBase),
            userFilter: values.text(Key.userFilter)
                ?? (flavour == .activeDirectory
                    ? LDAPConfiguration.activeDirectoryUserFilter : LDAPConfiguration.openLDAPUserFilter),
            attributes: flavour == .activeDirectory ? .activeDirectory : .openLDAP,
            groupSearchBase: values.text(Key.groupSearchBase),
            membership: membership,
            roleGroups: roleGroups,
            stewardGroups: stewardGroups,
            tls: LDAPConfiguration.TLS(
                startTLS: try values.parsed(Key.startTLS, expected: "true, false", parse: Self.bool) ?? false,
                caFile: values.text(Key.caFile),
                insecure: try values.parsed(Key.insecureTLS, expected: "true, false", parse: Self.bool) ?? false),
            allowInsecureNonLoopback: try values.parsed(
                Key.allowInsecureNonLoopback, expected: "true, false", parse: Self.bool) ?? false)
        configuration.networkTimeout =
            try values.seconds(Key.networkTimeout, in: 1...300) ?? configuration.networkTimeout
        configuration.operationTimeout =
            try values.seconds(Key.operationTimeout, in: 1...300) ?? configuration.operationTimeout
        configuration.poolWaitTimeout =
            try values.seconds(Key.poolWaitTimeout, in: 1...300) ?? configuration.poolWaitTimeout
        configuration.circuitBreaker.failureThreshold =
            try values.wholeNumber(Key.circuitFailures, in: 1...1000) ?? configuration.circuitBreaker.failureThreshold
        configuration.circuitBreaker.coolDown =
            try values.seconds(Key.circuitCoolDown, in: 1...300) ?? configuration.circuitBreaker.coolDown
        configuration.cacheTTL = try values.seconds(Key.cacheTTL, in: 0...86_400) ?? configuration.cacheTTL
        configuration.poolSize = try values.wholeNumber(Key.poolSize, in: 1...64) ?? configuration.poolSize
        if let bindDN = values.text(Key.bindDN) {
            configuration.serviceAccount = LDAPConfiguration.ServiceAccount(
                bindDN: bindDN, password: try servicePassword(values))
        }
        try checkKeys(of: configuration)
        do {
            try configuration.validate()
        } catch {
            throw ConfigurationError(
                code: .invalidValue, key: Key.url,
                description: "Die LDAP-Einstellungen sind nicht verwendbar: \(error.message)",
                details: String(describing: error))
        }
        return configuration
    }

    /// What ``LDAPConfiguration/validate()`` would refuse in one sentence for all of `ldap.*`, refused at
    /// the setting that holds it: a DN that does not parse (base, search bases, role and steward groups),
    /// a CA file that cannot be read. The operator is sent to the setting to fix, not to `ldap.url`.
    private static func checkKeys(of configuration: LDAPConfiguration) throws {
        let dn = "ein DN wie cn=gruppe,ou=groups,dc=stadt,dc=example"
        func checkDN(_ text: String?, at key: String) throws {
            guard let text, DistinguishedName.normalize(text) == nil else { return }
            throw SettingValues.invalid(key, text, expected: dn)
        }
        try checkDN(configuration.baseDN, at: Key.baseDN)
        try checkDN(configuration.userSearchBase, at: Key.userSearchBase)
        try checkDN(configuration.groupSearchBase, at: Key.groupSearchBase)
        for (role, groups) in configuration.roleGroups.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for group in groups { try checkDN(group, at: Key.roleGroups(role)) }
        }
        for (_, groups) in configuration.stewardGroups.sorted(by: { $0.key < $1.key }) {
            for group in groups { try checkDN(group, at: Key.stewards) }
        }
        if let caFile = configuration.tls.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw SettingValues.invalid(
                Key.caFile, caFile, expected: "eine lesbare Datei mit den CA-Zertifikaten (PEM)")
        }
    }

    /// The service account's password, from `ldap.bind_password_file` (preferred: it keeps the secret
    /// out of the process environment) or `ldap.bind_password`.
    private static func servicePassword(_ values: SettingValues) throws -> String {
        if let path = values.text(Key.bindPasswordFile) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else {
                throw ConfigurationError(
                    code: .invalidValue, key: Key.bindPasswordFile,
                    description: "Die Passwortdatei „\(path)“ (\(Key.bindPasswordFile)) ist nicht lesbar.")
            }
            // Files written by `echo` end with a newline that is not part of the password.
            return String(text.trimmingSuffix(while: \.isNewline))
        }
        guard let password = values.text(Key.bindPassword) else {
            throw ConfigurationError(
                code: .invalidValue, key: Key.bindPassword,
                description: "„\(Key.bindDN)“ ist gesetzt, aber kein Passwort: setzen Sie „\(Key.bindPasswordFile)“ "
                    + "oder „\(Key.bindPassword)“.")
        }
        return password
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `umwelt=cn=stewards-umwelt,ou=groups,dc=stadt,dc=example; mobilitaet=...`: the first `=` ends
    /// the domain id, the rest is the DN.
    static func stewardships(_ text: String) -> [String: [String]]? {
        var result: [String: [String]] = [:]
        for entry in list(text) {
            guard let separator = entry.firstIndex(of: "=") else { return nil }
            let domain = entry[..<separator].trimmingCharacters(in: .whitespaces)
            let dn = entry[entry.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            guard !domain.isEmpty, !dn.isEmpty, domain.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" })
            else { return nil }
            result[domain, default: []].append(dn)
        }
        return result
    }

    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "1", "on": true
        case "false", "no", "0", "off": false
        default: nil
        }
    }

    /// `ldap.login_cache_seconds`: how long a successful login is remembered (0 turns it off).
    static func loginCacheTTL(_ values: SettingValues) throws -> Duration {
        try values.seconds(Key.loginCache, in: 0...3600) ?? .seconds(60)
    }
}

extension StringProtocol {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> SubSequence {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return self[startIndex..<end]
    }
}
