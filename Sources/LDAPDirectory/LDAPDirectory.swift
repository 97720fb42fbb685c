import Logging
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// People, passwords and roles from an LDAP directory (OpenLDAP or Active Directory).
///
/// All libldap calls block, so they run on a `NIOThreadPool` (its own, with one thread per pooled
/// connection, unless one is handed in), never on an event loop or the caller's thread. Searches use
/// a pool of connections bound as the service account (or anonymous); user binds use a second pool,
/// so that a user's bind never changes the identity searches run with.
///
/// A failing directory: a call waits at most ``LDAPConfiguration/effectivePoolWaitTimeout`` for a
/// connection, and after repeated transport failures a circuit breaker fails calls at once for a
/// cool-down, then lets one probe through (``circuitState``); it recovers without a restart.
///
/// Lifecycle: create it, use it from any task, and call ``shutdown()`` when done (or let ``run()``
/// do it: run it as a service, it refreshes cache entries in the background until cancelled).
public final class LDAPDirectory: Sendable {
    public let configuration: LDAPConfiguration
    private let logger: Logger
    private let threadPool: NIOThreadPool
    private let ownsThreadPool: Bool
    private let executor: BlockingExecutor
    /// Internal (not private) for tests, which check that no slot is leaked.
    let searchPool: LDAPConnectionPool
    let bindPool: LDAPConnectionPool
    private let breaker: CircuitBreaker
    private let roleMapping: RoleMapping
    private let cache: DirectoryCache
    private let now: @Sendable () -> ContinuousClock.Instant
    private let refreshRequests: AsyncStream<RefreshRequest>
    private let refreshContinuation: AsyncStream<RefreshRequest>.Continuation
    private let lifecycle = Mutex(Lifecycle())
    private let userAttributes: [String]

    private struct Lifecycle {
        var running = false
        var shutDown = false
        /// Result of the root DSE check for the in-chain matching rule, once made.
        var matchingRuleInChain: Bool?
    }

    private enum RefreshRequest: Sendable {
        case person(username: String)
        case groups(entry: LDAPEntry)
    }

    /// - Parameters:
    ///   - configuration: validated here; an invalid one throws ``LDAPDirectoryError/Code-swift.struct/configuration``.
    ///   - logger: receives connection problems, login failures (without passwords) and warnings.
    ///   - threadPool: a started pool for the blocking calls; `nil` creates one of `2 × poolSize` threads
    ///     that ``shutdown()`` stops.
    ///   - now: the clock for the cache TTL and the circuit breaker's cool-down (tests inject one).
    public init(
        configuration: LDAPConfiguration,
        logger: Logger,
        threadPool: NIOThreadPool? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) throws(LDAPDirectoryError) {
        try configuration.validate()
        _ = ignoreSIGPIPE
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "ldap.url"] = "\(configuration.url)"
        self.logger = logger
        self.roleMapping = try RoleMapping(configuration: configuration)
        if let threadPool {
            self.threadPool = threadPool
            self.ownsThreadPool = false
        } else {
            let pool = NIOThreadPool(numberOfThreads: 2 * configuration.poolSize)
            pool.start()
            self.threadPool = pool
            self.ownsThreadPool = true
        }
        self.searchPool = LDAPConnectionPool(name: "search", capacity: configuration.poolSize)
        self.bindPool = LDAPConnectionPool(name: "bind", capacity: configuration.poolSize)
        // Worst legitimate case of one job: connect + TLS (network timeout), StartTLS and service
        // bind (one operation timeout each), a failed operation on a dropped connection and its retry.
        let hardDeadline = configuration.networkTimeout + configuration.operationTimeout * 3 + .seconds(1)
        self.breaker = CircuitBreaker(
            settings: .init(
                failureThreshold: configuration.circuitBreaker.failureThreshold,
                coolDown: configuration.circuitBreaker.coolDown,
                // A probe's job ends within the hard deadline, unless libldap hangs past its timeouts.
                probeTimeout: hardDeadline),
            logger: logger,
            now: now)
        self.executor = BlockingExecutor(
            threadPool: self.threadPool,
            settings: ConnectionSettings(configuration),
            hardDeadline: hardDeadline,
            poolWaitTimeout: configuration.effectivePoolWaitTimeout,
            breaker: self.breaker,
            pools: [self.searchPool, self.bindPool],
            logger: logger
        )
        self.cache = DirectoryCache(ttl: configuration.cacheTTL, capacity: configuration.cacheCapacity)
        self.now = now
        (self.refreshRequests, self.refreshContinuation) = AsyncStream.makeStream(
            of: RefreshRequest.self, bufferingPolicy: .bufferingNewest(1024))
        var attributes = [
            configuration.attributes.username, configuration.attributes.displayName, "cn",
            configuration.attributes.mail, configuration.attributes.organizationalUnit,
            configuration.attributes.preferredLanguage,
        ]
        if configuration.membership == .memberOf {
            // memberOf is operational on OpenLDAP: it is only returned when asked for by name.
            attributes.append(configuration.attributes.memberOf)
        }
        self.userAttributes = attributes

        if configuration.tls.insecure {
            logger.warning(
                """
                LDAP TLS certificate and host name verification is DISABLED (tls.insecure): \
                anybody on the network path can impersonate the directory and read passwords
                """
            )
        }
        if configuration.transportSecurity == .none,
            let urls = try? LDAPConfiguration.parseURLs(configuration.url),
            urls.contains(where: { !$0.isLoopback })
        {
            logger.warning(
                """
                LDAP without TLS to a non-loopback host (allowInsecureNonLoopback): \
                passwords cross the network in clear
                """
            )
        }
    }

    deinit {
        if self.ownsThreadPool && !self.lifecycle.withLock({ $0.shutDown }) {
            // shutdown() was forgotten: stop the threads anyway (without waiting) instead of leaking
            // them; idle connections close in their own deinit.
            self.threadPool.shutdownGracefully { _ in }
        }
    }

    // MARK: - Public API

    /// The circuit breaker's state now. Read-only; changes only through calls' outcomes and time.
    public var circuitState: CircuitState {
        self.breaker.state
    }

    /// Checks `password` for `username`: finds the user's entry with the configured filter (the
    /// username escaped per RFC 4515; exactly one entry must match), then binds as that entry's DN.
    /// Returns the person with roles. Nothing about the password is cached or logged.
    ///
    /// Throws ``LDAPDirectoryError`` with `invalidUsername` / `invalidPassword` before contacting the
    /// directory, `userNotFound`, `ambiguousUser`, `invalidCredentials`, or `directoryUnavailable`,
    /// `timeout`, `tlsFailure`, `poolTimeout`, `circuitOpen` (fail closed).
    public func authenticate(username: String, password: String) async throws -> Person {
        var logger = self.logger
        logger[metadataKey: "ldap.user"] = "\(username)"
        do {
            try InputValidation.validateUsername(username)
            try InputValidation.validatePassword(password)
            try self.checkNotShutDown()
            // Always a fresh search: a cached DN could belong to an account deleted or renamed since.
            let entry = try await self.searchUser(username: username, forLogin: true, logger: logger)
            let dn = entry.dn
            try await self.executor.run(self.bindPool, serviceAccount: nil, operation: "bind") { connection in
                try connection.bind(dn: dn, password: password)
            }
            self.cache.storePerson(entry, key: DirectoryCache.personKey(username), now: self.now())
            let person = self.makePerson(entry: entry, groups: try await self.groups(for: entry, logger: logger))
            logger.debug(
                "directory login succeeded",
                metadata: ["ldap.dn": "\(dn)", "ldap.roles": "\(person.roles.map(\.rawValue))"])
            return person
        } catch {
            self.log(error, operation: "authenticate", logger: logger)
            throw error
        }
    }

    /// The person with login name `username`: entry attributes, groups (nested), roles, stewardships.
    /// Served from the cache while younger than the TTL.
    public func person(username: String) async throws -> Person {
        var logger = self.logger
        logger[metadataKey: "ldap.user"] = "\(username)"
        do {
            try InputValidation.validateUsername(username)
            try self.checkNotShutDown()
            let entry = try await self.userEntry(username: username, logger: logger)
            return self.makePerson(entry: entry, groups: try await self.groups(for: entry, logger: logger))
        } catch {
            self.log(error, operation: "person", logger: logger)
            throw error
        }
    }

    /// The login names of everybody in the group `dn`, directly or through nested groups, sorted.
    ///
    /// Reads the group's member attributes (``LDAPConfiguration/Attributes/groupMember``) and each
    /// member's entry: an entry of a group's object class, or with members of its own, is a nested group
    /// (followed up to ``LDAPConfiguration/maximumGroupDepth``, cycles are harmless), any other entry with
    /// a login name a person. (Active Directory gives groups a `sAMAccountName` too: by the login name
    /// alone a nested group was taken for a person and its members were never read.) Members
    /// that do not exist are skipped. Active Directory's ranged answers for groups of more than 1,500
    /// members are followed to their end (``AttributeRange``). One job per level of nesting. Not cached: who holds a role is
    /// asked when a notification is sent, and a stale answer would mail someone who left the group.
    ///
    /// Throws ``LDAPDirectoryError`` (`configuration` for a DN that does not parse, or the transport errors
    /// of every call).
    public func memberUsernames(ofGroup dn: String) async throws -> [String] {
        var logger = self.logger
        logger[metadataKey: "ldap.group"] = "\(dn)"
        // The caller's mistake, not the directory's: refused before anything is asked or logged.
        _ = try LDAPConfiguration.parseDN(dn, name: "group")
        do {
            try self.checkNotShutDown()
            let usernameAttribute = self.configuration.attributes.username
            let memberAttributes = self.configuration.attributes.groupMember
            let attributes = [usernameAttribute, "objectClass"] + memberAttributes
            var visited: Set<String> = [DirectoryCache.groupsKey(dn)]
            var usernames: Set<String> = []
            var frontier = [dn]
            var depth = 0
            while !frontier.isEmpty {
                guard depth < self.configuration.maximumGroupDepth else {
                    logger.warning(
                        "group nesting deeper than maximumGroupDepth; ignoring deeper members",
                        metadata: ["ldap.group_depth": "\(depth)"])
                    break
                }
                depth += 1
                let level = frontier
                // The groups of this level, then their members' entries: base searches, one job.
                let entries = try await self.executor.run(
                    self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "group members"
                ) { connection in
                    let members = try level.flatMap { group in
                        let entry = try connection.readEntry(group, attributes: memberAttributes)
                        return memberAttributes.flatMap { entry?.values($0) ?? [] }
                    }
                    // A nested group's first range of members is enough to know it is a group: it is
                    // read whole on the next level.
                    return try members.flatMap { member in
                        try connection.search(
                            base: member, scope: .base, filter: "(objectClass=*)", attributes: attributes
                        ).entries.map { RangedValues(first: $0).entry }
                    }
                }
                frontier = []
                for entry in entries where visited.insert(DirectoryCache.groupsKey(entry.dn)).inserted {
                    let isGroup =
                        entry.values("objectClass").contains { Self.groupObjectClasses.contains($0.lowercased()) }
                        || memberAttributes.contains(where: { !entry.values($0).isEmpty })
                    if isGroup {
                        frontier.append(entry.dn)
                    } else if let username = entry.first(usernameAttribute) {
                        usernames.insert(username)
                    }
                }
            }
            return usernames.sorted()
        } catch {
            self.log(error, operation: "group members", logger: logger)
            throw error
        }
    }

    /// The object classes that make an entry a group, lower-cased: OpenLDAP's and Active Directory's.
    /// An empty group of Active Directory has no members to recognise it by.
    static let groupObjectClasses: Set<String> = ["groupofnames", "groupofuniquenames", "group", "posixgroup"]

    /// Whether `dn` names a group of the directory: an entry with members or a group's object class,
    /// where a person's memberships are looked for. A person's DN, a DN nobody holds, or a group outside
    /// the group search base when memberships are searched there (``LDAPConfiguration/MembershipLookup/groupSearch``,
    /// Active Directory's in-chain search) is no group: a catalogue naming one would route its steps to
    /// nobody. Not cached: asked when an administrator saves the catalogue.
    ///
    /// Throws ``LDAPDirectoryError`` (`configuration` for a DN that does not parse, or the transport errors
    /// of every call).
    public func groupExists(dn: String) async throws -> Bool {
        var logger = self.logger
        logger[metadataKey: "ldap.group"] = "\(dn)"
        let parsed = try LDAPConfiguration.parseDN(dn, name: "group")
        do {
            try self.checkNotShutDown()
            let searchedBelowBase =
                self.configuration.membership == .groupSearch ? true : try await self.usesMatchingRuleInChain()
            if searchedBelowBase {
                let base = self.configuration.groupSearchBase ?? self.configuration.baseDN
                if let searched = try? LDAPConfiguration.parseDN(base, name: "group search base"),
                    !parsed.isWithin(searched)
                {
                    return false
                }
            }
            let memberAttributes = self.configuration.attributes.groupMember
            let entry = try await self.executor.run(
                self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "group exists"
            ) { connection in
                // The first range of members is enough to know it has some.
                try connection.search(
                    base: dn, scope: .base, filter: "(objectClass=*)", attributes: ["objectClass"] + memberAttributes
                ).entries.first.map { RangedValues(first: $0).entry }
            }
            guard let entry else { return false }
            return memberAttributes.contains { !entry.values($0).isEmpty }
                || entry.values("objectClass").contains { Self.groupObjectClasses.contains($0.lowercased()) }
        } catch {
            self.log(error, operation: "group exists", logger: logger)
            throw error
        }
    }

    /// Connects with the configured settings (TLS, service account) and reports what it finds: the
    /// root DSE's naming contexts and vendor, and which configured role and steward groups exist.
    /// Throws when the directory cannot be reached or TLS / the service bind fails.
    public func check() async throws -> LDAPDirectoryCheck {
        try self.checkNotShutDown()
        let rootDSE = try await self.readRootDSE()
        let inChain = try await self.usesMatchingRuleInChain()
        var groups: [LDAPDirectoryCheck.Group] = []
        var configured: [String: (roles: Set<DirectoryRole>, domains: Set<String>)] = [:]
        for (role, dns) in self.configuration.roleGroups {
            for dn in dns {
                configured[dn, default: ([], [])].roles.insert(role)
            }
        }
        for (domain, dns) in self.configuration.stewardGroups {
            for dn in dns {
                configured[dn, default: ([], [])].domains.insert(domain)
            }
        }
        let memberAttributes = self.configuration.attributes.groupMember
        for (dn, grants) in configured.sorted(by: { $0.key < $1.key }) {
            let entry: LDAPEntry?
            do {
                entry = try await self.executor.run(
                    self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "check group"
                ) { connection in
                    try connection.readEntry(dn, attributes: memberAttributes)
                }
            } catch let error as LDAPDirectoryError where error.code == .operationFailed {
                // E.g. a referral for a DN outside the directory's naming contexts: not found here.
                self.logger.info(
                    "configured group could not be read",
                    metadata: ["ldap.dn": "\(dn)", "error": "\(error.debugDescription)"])
                entry = nil
            }
            groups.append(
                .init(
                    dn: dn,
                    roles: grants.roles.sorted(),
                    stewardDomains: grants.domains.sorted(),
                    found: entry != nil,
                    memberCount: entry.map { entry in memberAttributes.reduce(0) { $0 + entry.values($1).count } }
                ))
        }
        let namingContexts = rootDSE.values("namingContexts")
        let base = try? DistinguishedName(parsing: self.configuration.baseDN)
        let withinNamingContexts = namingContexts.contains { context in
            guard let base, let context = try? DistinguishedName(parsing: context) else {
                return false
            }
            return base.isWithin(context)
        }
        return LDAPDirectoryCheck(
            url: self.configuration.url,
            transportSecurity: self.configuration.transportSecurity,
            certificateVerification: self.configuration.transportSecurity != .none && !self.configuration.tls.insecure,
            boundAs: self.configuration.serviceAccount?.bindDN,
            namingContexts: namingContexts,
            vendor: Self.vendor(of: rootDSE),
            membership: self.configuration.membership,
            nestedGroupsViaMatchingRuleInChain: self.configuration.membership == .memberOf && inChain,
            baseDNWithinNamingContexts: withinNamingContexts,
            groups: groups
        )
    }

    /// Refreshes cache entries in the background (requested by lookups of entries in the last
    /// quarter of their TTL) until the task is cancelled, then shuts the directory down. Run it as a
    /// service; without it entries simply expire and are fetched again on demand.
    public func run() async {
        let first = self.lifecycle.withLock { state in
            defer { state.running = true }
            return !state.running
        }
        guard first else {
            self.logger.warning("LDAPDirectory.run() called more than once; ignoring the second call")
            return
        }
        for await request in self.refreshRequests {
            await self.refresh(request)
        }
        await self.shutdown()
    }

    /// Closes all connections and, if the directory created it, stops its thread pool. Calls after
    /// that fail with ``LDAPDirectoryError/Code-swift.struct/shutDown``. Safe to call more than once.
    public func shutdown() async {
        let first = self.lifecycle.withLock { state in
            defer { state.shutDown = true }
            return !state.shutDown
        }
        guard first else {
            return
        }
        self.refreshContinuation.finish()
        let idle = self.searchPool.shutdown() + self.bindPool.shutdown()
        if !idle.isEmpty {
            // Closing sends an UnbindRequest: a (short) blocking write, so on the thread pool too.
            try? await self.threadPool.runIfActive {
                for connection in idle {
                    connection.close()
                }
            }
        }
        if self.ownsThreadPool {
            do {
                try await self.threadPool.shutdownGracefully()
            } catch {
                self.logger.debug("LDAP thread pool shutdown: \(error)")
            }
        }
    }

    /// Drops all cached people and group lists (e.g. after changing role groups in the directory).
    public func invalidateCache() {
        self.cache.removeAll()
    }

    // MARK: - Users

    private func userEntry(username: String, logger: Logger) async throws -> LDAPEntry {
        let key = DirectoryCache.personKey(username)
        switch self.cache.person(key, now: self.now()) {
        case .fresh(let entry):
            return entry
        case .refreshDue(let entry):
            self.refreshContinuation.yield(.person(username: username))
            return entry
        case .missing:
            let entry = try await self.searchUser(username: username, forLogin: false, logger: logger)
            self.cache.storePerson(entry, key: key, now: self.now())
            return entry
        }
    }

    /// Searches the user's entry. Exactly one entry with a non-empty DN must match (an empty DN would
    /// make the following bind anonymous), and, unless disabled, its login name must equal the typed
    /// one up to case; an entry with several login names is `ambiguousUser`. For logins, "not found" reads like a wrong password (no user enumeration).
    private func searchUser(username: String, forLogin: Bool, logger: Logger) async throws -> LDAPEntry {
        let notFound = forLogin ? "Invalid username or password." : "No such user in the directory."
        let filter = LDAPFilter.userFilter(template: self.configuration.userFilter, username: username)
        let base = self.configuration.userSearchBase ?? self.configuration.baseDN
        let attributes = self.userAttributes
        let result = try await self.executor.run(
            self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "user search"
        ) { connection in
            // Two are enough to know whether the filter is ambiguous.
            try connection.search(base: base, scope: .subtree, filter: filter, attributes: attributes, sizeLimit: 2)
        }
        // Counted before entries without a DN are dropped: such an entry is still a second match.
        let entries = result.entries.filter { !$0.dn.isEmpty }
        if result.entries.count > 1 || result.sizeLimitExceeded {
            throw LDAPDirectoryError(
                code: .ambiguousUser,
                message: "The username matches more than one directory entry.",
                details: "filter \(filter) matched \(entries.map(\.dn))"
            )
        }
        guard let entry = entries.first else {
            throw LDAPDirectoryError(
                code: .userNotFound,
                message: notFound,
                details: "no entry for filter \(filter) below \(base)"
            )
        }
        if self.configuration.requireExactUsernameMatch {
            let stored = entry.values(self.configuration.attributes.username)
            guard stored.contains(where: { InputValidation.usernameMatches(typed: username, stored: $0) }) else {
                // The directory folded the typed name onto another one (Unicode compatibility
                // mapping, e.g. fullwidth letters): not the same login name.
                throw LDAPDirectoryError(
                    code: .userNotFound,
                    message: notFound,
                    details: "entry \(entry.dn) matched, but its login name \(stored) differs from the typed one"
                )
            }
        }
        // One entry, one identity: Freigabe tells people apart by their login name (who decided which
        // step, who filed the request), and an entry with two could act as two people.
        let names = entry.values(self.configuration.attributes.username)
        if names.count > 1 {
            throw LDAPDirectoryError(
                code: .ambiguousUser,
                message: "The directory entry has more than one login name.",
                details: "entry \(entry.dn) has \(names.count) values of \(self.configuration.attributes.username)"
            )
        }
        return entry
    }

    private func makePerson(entry: LDAPEntry, groups: [String]) -> Person {
        let attributes = self.configuration.attributes
        let uid = entry.first(attributes.username) ?? ""
        let grants = self.roleMapping.grants(forGroups: groups)
        return Person(
            dn: entry.dn,
            uid: uid,
            displayName: entry.first(attributes.displayName) ?? entry.first("cn") ?? uid,
            mail: entry.first(attributes.mail),
            organizationalUnit: entry.first(attributes.organizationalUnit),
            groups: groups,
            roles: grants.roles,
            stewardDomains: grants.stewardDomains,
            preferredLanguage: entry.first(attributes.preferredLanguage)
        )
    }

    // MARK: - Groups

    private func groups(for entry: LDAPEntry, logger: Logger) async throws -> [String] {
        let key = DirectoryCache.groupsKey(entry.dn)
        switch self.cache.groups(key, now: self.now()) {
        case .fresh(let groups):
            return groups
        case .refreshDue(let groups):
            self.refreshContinuation.yield(.groups(entry: entry))
            return groups
        case .missing:
            let groups = try await self.resolveGroups(for: entry, logger: logger)
            self.cache.storeGroups(groups, key: key, now: self.now())
            return groups
        }
    }

    private func resolveGroups(for entry: LDAPEntry, logger: Logger) async throws -> [String] {
        switch self.configuration.membership {
        case .groupSearch:
            return try await self.groupsBySearch(userDN: entry.dn, logger: logger)
        case .memberOf:
            if try await self.usesMatchingRuleInChain() {
                return try await self.groupsByMatchingRuleInChain(userDN: entry.dn)
            }
            // `entry` may come from the cache (a background refresh runs on the entry it served): its
            // memberOf could bring back a membership that ended since, stored as new for another TTL.
            // The attribute is read now, on the entry itself (one base search).
            return try await self.groupsByMemberOf(entry: try await self.currentMemberOf(dn: entry.dn), logger: logger)
        }
    }

    /// Breadth-first: groups that list the user, then groups that list those groups, ... One search
    /// per level (per 32 DNs). A visited set makes cycles harmless; the depth limit bounds the work.
    private func groupsBySearch(userDN: String, logger: Logger) async throws -> [String] {
        let base = self.configuration.groupSearchBase ?? self.configuration.baseDN
        let memberAttributes = self.configuration.attributes.groupMember
        var visited: Set<String> = [DirectoryCache.groupsKey(userDN)]
        var found: [String] = []
        var frontier = [userDN]
        var depth = 0
        while !frontier.isEmpty {
            guard depth < self.configuration.maximumGroupDepth else {
                logger.warning(
                    "group nesting deeper than maximumGroupDepth; ignoring deeper groups",
                    metadata: ["ldap.group_depth": "\(depth)"])
                break
            }
            depth += 1
            var next: [String] = []
            for start in stride(from: 0, to: frontier.count, by: 32) {
                let chunk = frontier[start..<min(start + 32, frontier.count)]
                let filter = LDAPFilter.or(
                    chunk.flatMap { dn in memberAttributes.map { LDAPFilter.equality($0, dn) } })
                let result = try await self.executor.run(
                    self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "group search"
                ) { connection in
                    try connection.search(base: base, scope: .subtree, filter: filter, attributes: ["1.1"])
                }
                for group in result.entries where visited.insert(DirectoryCache.groupsKey(group.dn)).inserted {
                    found.append(group.dn)
                    next.append(group.dn)
                }
            }
            frontier = next
        }
        return found.sorted()
    }

    /// Active Directory: one search returns every group the user is in, however nested.
    private func groupsByMatchingRuleInChain(userDN: String) async throws -> [String] {
        let base = self.configuration.groupSearchBase ?? self.configuration.baseDN
        let member = self.configuration.attributes.groupMember[0]
        let filter = "(\(member):1.2.840.113556.1.4.1941:=\(LDAPFilter.escape(userDN)))"
        let result = try await self.executor.run(
            self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "in-chain group search"
        ) { connection in
            try connection.search(base: base, scope: .subtree, filter: filter, attributes: ["1.1"])
        }
        return Array(Set(result.entries.map(\.dn))).sorted()
    }

    /// The entry `dn` with only its memberOf values as the directory holds them now (none when it is gone).
    private func currentMemberOf(dn: String) async throws -> LDAPEntry {
        let memberOf = self.configuration.attributes.memberOf
        let result = try await self.executor.run(
            self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "memberOf"
        ) { connection in
            try connection.search(base: dn, scope: .base, filter: "(objectClass=*)", attributes: [memberOf])
        }
        return result.entries.first ?? LDAPEntry(dn: dn, attributes: [:])
    }

    /// The user's memberOf, then memberOf of each of those groups, and so on (cycle-safe).
    private func groupsByMemberOf(entry: LDAPEntry, logger: Logger) async throws -> [String] {
        let memberOf = self.configuration.attributes.memberOf
        var visited: Set<String> = [DirectoryCache.groupsKey(entry.dn)]
        var found: [String] = []
        var frontier: [String] = []
        for group in entry.values(memberOf) where visited.insert(DirectoryCache.groupsKey(group)).inserted {
            found.append(group)
            frontier.append(group)
        }
        var depth = 1
        while !frontier.isEmpty {
            guard depth < self.configuration.maximumGroupDepth else {
                logger.warning(
                    "group nesting deeper than maximumGroupDepth; ignoring deeper groups",
                    metadata: ["ldap.group_depth": "\(depth)"])
                break
            }
            depth += 1
            let level = frontier
            // One job reads the whole level: base searches are cheap and this saves thread hops.
            let parents = try await self.executor.run(
                self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "memberOf expansion"
            ) { connection in
                try level.map { group in
                    try connection.search(base: group, scope: .base, filter: "(objectClass=*)", attributes: [memberOf])
                        .entries.flatMap { $0.values(memberOf) }
                }
            }
            frontier = []
            for group in parents.joined() where visited.insert(DirectoryCache.groupsKey(group)).inserted {
                found.append(group)
                frontier.append(group)
            }
        }
        return found.sorted()
    }

    /// Configured, or detected once from the root DSE: Active Directory (and AD LDS) list their
    /// capability OIDs in `supportedCapabilities`; OpenLDAP 2.5 has no such attribute and does not
    /// implement the rule (it would silently match nothing).
    private func usesMatchingRuleInChain() async throws -> Bool {
        guard self.configuration.membership == .memberOf else {
            return false
        }
        if let configured = self.configuration.nestedGroupsViaMatchingRuleInChain {
            return configured
        }
        if let detected = self.lifecycle.withLock({ $0.matchingRuleInChain }) {
            return detected
        }
        let rootDSE = try await self.readRootDSE()
        let capabilities = Set(rootDSE.values("supportedCapabilities"))
        let detected = !capabilities.isDisjoint(with: Self.activeDirectoryCapabilities)
        self.lifecycle.withLock { $0.matchingRuleInChain = detected }
        self.logger.info(
            "nested group resolution chosen from the root DSE",
            metadata: ["ldap.matching_rule_in_chain": "\(detected)"])
        return detected
    }

    /// LDAP_CAP_ACTIVE_DIRECTORY_OID and LDAP_CAP_ACTIVE_DIRECTORY_ADAM_OID.
    private static let activeDirectoryCapabilities: Set<String> = ["1.2.840.113556.1.4.800", "1.2.840.113556.1.4.1851"]

    private func readRootDSE() async throws -> LDAPEntry {
        let result = try await self.executor.run(
            self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "root DSE"
        ) { connection in
            try connection.search(
                base: "", scope: .base, filter: "(objectClass=*)",
                attributes: ["namingContexts", "supportedCapabilities", "vendorName", "vendorVersion"])
        }
        return result.entries.first ?? LDAPEntry(dn: "", attributes: [:])
    }

    private static func vendor(of rootDSE: LDAPEntry) -> String? {
        if let name = rootDSE.first("vendorName") {
            return [name, rootDSE.first("vendorVersion")].compactMap { $0 }.joined(separator: " ")
        }
        if !Set(rootDSE.values("supportedCapabilities")).isDisjoint(with: activeDirectoryCapabilities) {
            return "Active Directory"
        }
        return nil
    }

    // MARK: - Background refresh

    private func refresh(_ request: RefreshRequest) async {
        switch request {
        case .person(let username):
            let key = DirectoryCache.personKey(username)
            do {
                let entry = try await self.searchUser(username: username, forLogin: false, logger: self.logger)
                self.cache.storePerson(entry, key: key, now: self.now())
            } catch let error as LDAPDirectoryError where error.code == .userNotFound || error.code == .ambiguousUser {
                // The directory answered: the account is gone (deleted, or disabled where the user filter
                // says so), or its name now names two entries (nobody, as a fresh lookup says). Serving the
                // old entry until the TTL would keep its sessions and roles alive.
                self.cache.forgetPerson(key: key)
            } catch {
                self.cache.refreshFailed(personKey: key)
                self.logger.debug(
                    "background refresh of a person failed",
                    metadata: ["ldap.user": "\(username)", "error": "\(String(reflecting: error))"])
            }
        case .groups(let entry):
            let key = DirectoryCache.groupsKey(entry.dn)
            do {
                let groups = try await self.resolveGroups(for: entry, logger: self.logger)
                self.cache.storeGroups(groups, key: key, now: self.now())
            } catch {
                self.cache.refreshFailed(groupsKey: key)
                self.logger.debug(
                    "background refresh of groups failed",
                    metadata: ["ldap.dn": "\(entry.dn)", "error": "\(String(reflecting: error))"])
            }
        }
    }

    // MARK: - Helpers

    private func checkNotShutDown() throws(LDAPDirectoryError) {
        if self.lifecycle.withLock({ $0.shutDown }) {
            throw LDAPDirectoryError.shutDown
        }
    }

    private func log(_ error: any Error, operation: String, logger: Logger) {
        guard let error = error as? LDAPDirectoryError else {
            return
        }
        let metadata: Logger.Metadata = [
            "ldap.operation": "\(operation)",
            "error.code": "\(error.code)",
            "error": "\(error.debugDescription)",
        ]
        switch error.code {
        case .invalidCredentials, .userNotFound, .invalidUsername, .invalidPassword:
            logger.info("directory refused the login", metadata: metadata)
        case .ambiguousUser, .operationFailed:
            logger.warning("directory lookup failed", metadata: metadata)
        case .circuitOpen:
            // The breaker logged its opening once; the server logs each call it could not serve.
            logger.debug("directory call refused by the open circuit breaker", metadata: metadata)
        default:
            logger.error("directory unavailable", metadata: metadata)
        }
    }
}

/// libldap writes to its sockets with write(2); a server that closed the connection would raise
/// SIGPIPE and kill the process. Ignored process-wide, as SwiftNIO does on Linux for the same reason.
private let ignoreSIGPIPE: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
}()

/// Finding people by name, for pickers (a deputy, say): the input is a person's typing, so it is escaped
/// (RFC 4515) before it becomes part of the filter, and the answer is capped.
extension LDAPDirectory {
    /// One person a search found.
    public struct PersonMatch: Sendable, Hashable {
        public var uid: String
        public var displayName: String
        public var organizationalUnit: String?
    }

    /// The shortest and longest text a search accepts: one letter would match half the city.
    public static let searchLength = 2...64

    /// People whose display name or login name contains `text` (case as the directory compares it),
    /// at most `limit`, sorted by name. Text outside ``searchLength`` finds nobody without asking.
    /// `*`, `(`, `)`, `\` and NUL in `text` are matched literally, never as filter syntax.
    public func searchPeople(matching text: String, limit: Int = 10) async throws -> [PersonMatch] {
        // Without Foundation here: trimmed by hand.
        let text = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        guard Self.searchLength.contains(text.count) else { return [] }
        let attributes = self.configuration.attributes
        let value = LDAPFilter.escape(text)
        // The configured user filter with a presence test for the login name: only person entries.
        let people = self.configuration.userFilter.replacing(LDAPFilter.usernamePlaceholder, with: "*")
        let filter =
            "(&\(people)(|(\(attributes.displayName)=*\(value)*)(\(attributes.username)=*\(value)*)))"
        let base = self.configuration.userSearchBase ?? self.configuration.baseDN
        let wanted = [attributes.username, attributes.displayName, attributes.organizationalUnit]
        let limit = max(1, min(limit, 50))
        do {
            try self.checkNotShutDown()
            let result = try await self.executor.run(
                self.searchPool, serviceAccount: self.configuration.serviceAccount, operation: "people search"
            ) { connection in
                try connection.search(
                    base: base, scope: .subtree, filter: filter, attributes: wanted, sizeLimit: Int32(limit))
            }
            return result.entries.compactMap { entry -> PersonMatch? in
                guard let uid = entry.first(attributes.username) else { return nil }
                return PersonMatch(
                    uid: uid, displayName: entry.first(attributes.displayName) ?? uid,
                    organizationalUnit: entry.first(attributes.organizationalUnit))
            }
            .sorted { ($0.displayName, $0.uid) < ($1.displayName, $1.uid) }
        } catch {
            self.log(error, operation: "people search", logger: self.logger)
            throw error
        }
    }
}
