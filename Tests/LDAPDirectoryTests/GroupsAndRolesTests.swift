import Foundation
import Testing

@testable import LDAPDirectory

/// Group resolution and role mapping against slapd, in both flavours: `.groupSearch` (member /
/// uniqueMember searches) and `.memberOf` (slapd's memberof overlay; OpenLDAP 2.5 does not implement
/// the in-chain matching rule, so nesting is expanded through the groups' own memberOf).
@Suite("groups and roles against slapd")
struct GroupsAndRolesTests {
    static let flavours: [LDAPConfiguration.MembershipLookup] = [.groupSearch, .memberOf]

    @Test("dora is DSB through the nested group datenschutz-team", arguments: flavours)
    func nestedDSB(membership: LDAPConfiguration.MembershipLookup) async throws {
        let base = try Slapd.baseDN
        try await Slapd.withDirectory(try Slapd.configuration(membership: membership)) { directory async throws in
            let dora = try await directory.authenticate(username: "dora", password: "demo")
            #expect(dora.roles == [.dsb])
            #expect(dora.isMember(ofGroup: "cn=datenschutz-team,ou=groups,\(base)"))
            #expect(dora.isMember(ofGroup: "cn=freigabe-dsb,ou=groups,\(base)"))
            #expect(dora.stewardDomains.isEmpty)
            // The same through person(username:).
            #expect(try await directory.person(username: "dora").roles == [.dsb])
        }
    }

    @Test("every demo role and stewardship resolves", arguments: flavours)
    func allRoles(membership: LDAPConfiguration.MembershipLookup) async throws {
        try await Slapd.withDirectory(try Slapd.configuration(membership: membership)) { directory async throws in
            let expectations: [(String, [DirectoryRole], [String])] = [
                ("anna", [], []), ("otto", [], []), ("paul", [], []), ("marta", [], []), ("volker", [], []),
                ("jürgen", [], []), ("dora", [.dsb], []), ("ingo", [.isb], []), ("olga", [.openDataOfficer], []),
                ("greta", [.governance], []), ("alex", [.auditor], []), ("adam", [.admin], []),
                ("stefan", [], ["umwelt"]), ("sina", [], ["mobilitaet"]), ("bea", [], ["bevoelkerung"]),
            ]
            for (username, roles, domains) in expectations {
                let person = try await directory.person(username: username)
                #expect(person.roles == roles, "\(username) (\(membership))")
                #expect(person.stewardDomains == domains, "\(username) (\(membership))")
            }
            let sina = try await directory.authenticate(username: "sina", password: "demo")
            #expect(sina.isSteward(of: "mobilitaet"))
            #expect(!sina.isSteward(of: "umwelt"))
            #expect(sina.organizationalUnit == "Amt für Verkehr und Mobilität")
        }
    }

    @Test("both flavours find the same groups", arguments: ["anna", "dora", "sina", "jürgen", "otto"])
    func flavoursAgree(username: String) async throws {
        let bySearch = try await Slapd.withDirectory(try Slapd.configuration(membership: .groupSearch)) {
            try await $0.person(username: username)
        }
        let byMemberOf = try await Slapd.withDirectory(try Slapd.configuration(membership: .memberOf)) {
            try await $0.person(username: username)
        }
        #expect(
            Set(bySearch.groups.compactMap(DistinguishedName.normalize))
                == Set(byMemberOf.groups.compactMap(DistinguishedName.normalize)))
        #expect(bySearch.roles == byMemberOf.roles)
    }

    @Test("group cycles terminate", arguments: flavours)
    func cycles(membership: LDAPConfiguration.MembershipLookup) async throws {
        let base = try Slapd.baseDN
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let a = "cn=cycle-a-\(suffix),ou=groups,\(base)"
        let b = "cn=cycle-b-\(suffix),ou=groups,\(base)"
        let marta = "uid=marta,ou=people,\(base)"
        // Online adds so that the memberof overlay maintains memberOf in both directions.
        try Slapd.modify(
            Slapd.groupAddition(a, members: [marta]) + Slapd.groupAddition(b, members: [a])
                + "dn: \(a)\nchangetype: modify\nadd: member\nmember: \(b)\n\n")
        defer { try? Slapd.modify(Slapd.deletion(of: [a, b])) }
        var configuration = try Slapd.configuration(membership: membership)
        configuration.roleGroups[.auditor] = [b]
        try await Slapd.withDirectory(configuration) { directory async throws in
            let person = try await directory.person(username: "marta")
            #expect(person.isMember(ofGroup: a))
            #expect(person.isMember(ofGroup: b))
            #expect(person.roles == [.auditor])
        }
    }

    @Test("the in-chain matching rule is not used on OpenLDAP unless configured")
    func inChainDetection() async throws {
        let check = try await Slapd.withDirectory(try Slapd.configuration(membership: .memberOf)) {
            try await $0.check()
        }
        #expect(check.membership == .memberOf)
        #expect(check.nestedGroupsViaMatchingRuleInChain == false)
    }

    /// With a 5-minute TTL and an injected clock: the role stays while cached, disappears at the TTL.
    @Test("a removed membership stops granting the role after the TTL", arguments: flavours)
    func cacheTTL(membership: LDAPConfiguration.MembershipLookup) async throws {
        let base = try Slapd.baseDN
        let group = "cn=ttl-\(UUID().uuidString.prefix(8).lowercased()),ou=groups,\(base)"
        let volker = "uid=volker,ou=people,\(base)"
        try Slapd.modify(
            """
            dn: \(group)
            changetype: add
            objectClass: groupOfNames
            cn: \(group.dropFirst(3).prefix(12))
            member: \(volker)
            member: uid=marta,ou=people,\(base)

            """)
        defer { try? Slapd.modify("dn: \(group)\nchangetype: delete\n") }
        var configuration = try Slapd.configuration(membership: membership, cacheTTL: .seconds(300))
        configuration.roleGroups[.auditor] = [group]
        let clock = ManualClock()
        try await Slapd.withDirectory(configuration, now: clock.now) { directory async throws in
            #expect(try await directory.authenticate(username: "volker", password: "demo").roles == [.auditor])
            try Slapd.modify("dn: \(group)\nchangetype: modify\ndelete: member\nmember: \(volker)\n")
            clock.advance(by: .seconds(200))
            // Cached: still granted (within the TTL, as documented).
            #expect(try await directory.person(username: "volker").roles == [.auditor])
            #expect(try await directory.authenticate(username: "volker", password: "demo").roles == [.auditor])
            clock.advance(by: .seconds(100))
            // At the TTL the cache entry is gone and the directory is asked again.
            #expect(try await directory.person(username: "volker").roles == [])
            #expect(try await directory.authenticate(username: "volker", password: "demo").roles == [])
        }
    }

    @Test("run() refreshes entries in the background before they expire", arguments: Self.flavours)
    func backgroundRefresh(membership: LDAPConfiguration.MembershipLookup) async throws {
        let base = try Slapd.baseDN
        let group = "cn=refresh-\(UUID().uuidString.prefix(8).lowercased()),ou=groups,\(base)"
        try Slapd.modify(
            """
            dn: \(group)
            changetype: add
            objectClass: groupOfNames
            cn: \(group.dropFirst(3).prefix(16))
            member: uid=paul,ou=people,\(base)
            member: uid=marta,ou=people,\(base)

            """)
        defer { try? Slapd.modify("dn: \(group)\nchangetype: delete\n") }
        var configuration = try Slapd.configuration(membership: membership, cacheTTL: .seconds(300))
        configuration.roleGroups[.governance] = [group]
        let clock = ManualClock()
        let directory = try LDAPDirectory(configuration: configuration, logger: .init(label: "test"), now: clock.now)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await directory.run() }
            #expect(try await directory.person(username: "paul").roles == [.governance])
            try Slapd.modify("dn: \(group)\nchangetype: modify\ndelete: member\nmember: uid=paul,ou=people,\(base)\n")
            clock.advance(by: .seconds(240))  // in the last quarter of the TTL
            // Served from the cache, and a refresh is requested.
            #expect(try await directory.person(username: "paul").roles == [.governance])
            var roles: [DirectoryRole] = [.governance]
            let deadline = ContinuousClock.now + .seconds(10)
            while roles == [.governance] && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                roles = try await directory.person(username: "paul").roles
            }
            #expect(roles == [], "the background refresh did not update the cache")
            tasks.cancelAll()
        }
        await directory.shutdown()
    }

    /// A person deleted (or disabled) in the directory: the background refresh finds nobody and the
    /// cached entry goes, so web sessions end then, not at the TTL.
    @Test("a person the background refresh no longer finds is dropped from the cache")
    func deletedPersonLeavesTheCache() async throws {
        let base = try Slapd.baseDN
        let uid = "leaver-\(UUID().uuidString.prefix(8).lowercased())"
        try Slapd.modify(
            """
            dn: uid=\(uid),ou=people,\(base)
            changetype: add
            objectClass: inetOrgPerson
            uid: \(uid)
            cn: Lea Leaver
            sn: Leaver
            mail: \(uid)@stadt.example

            """)
        var deleted = false
        defer { if !deleted { try? Slapd.modify("dn: uid=\(uid),ou=people,\(base)\nchangetype: delete\n") } }
        let clock = ManualClock()
        let directory = try LDAPDirectory(
            configuration: try Slapd.configuration(cacheTTL: .seconds(300)), logger: .init(label: "test"),
            now: clock.now)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await directory.run() }
            #expect(try await directory.person(username: uid).uid == uid)
            try Slapd.modify("dn: uid=\(uid),ou=people,\(base)\nchangetype: delete\n")
            deleted = true
            clock.advance(by: .seconds(240))  // in the last quarter of the TTL
            // Served from the cache once more, and a refresh is requested.
            #expect(try await directory.person(username: uid).uid == uid)
            var gone = false
            let deadline = ContinuousClock.now + .seconds(10)
            while !gone && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                do {
                    _ = try await directory.person(username: uid)
                } catch let error as LDAPDirectoryError where error.code == .userNotFound {
                    gone = true
                }
            }
            #expect(gone, "the deleted person was still served from the cache")
            tasks.cancelAll()
        }
        await directory.shutdown()
    }

    @Test("a cache TTL of zero always asks the directory")
    func noCache() async throws {
        let base = try Slapd.baseDN
        let group = "cn=nocache-\(UUID().uuidString.prefix(8).lowercased()),ou=groups,\(base)"
        try Slapd.modify(
            """
            dn: \(group)
            changetype: add
            objectClass: groupOfNames
            cn: \(group.dropFirst(3).prefix(16))
            member: uid=greta,ou=people,\(base)
            member: uid=marta,ou=people,\(base)

            """)
        defer { try? Slapd.modify("dn: \(group)\nchangetype: delete\n") }
        var configuration = try Slapd.configuration(cacheTTL: .zero)
        configuration.roleGroups[.admin] = [group]
        try await Slapd.withDirectory(configuration) { directory async throws in
            #expect(try await directory.person(username: "greta").roles == [.governance, .admin])
            try Slapd.modify("dn: \(group)\nchangetype: modify\ndelete: member\nmember: uid=greta,ou=people,\(base)\n")
            #expect(try await directory.person(username: "greta").roles == [.governance])
        }
    }

    @Test("check() reports the root DSE and which role groups resolve")
    func check() async throws {
        var configuration = try Slapd.configuration()
        configuration.stewardGroups["kultur"] = ["cn=stewards-kultur,ou=groups,\(try Slapd.baseDN)"]
        let check = try await Slapd.withDirectory(configuration) { try await $0.check() }
        #expect(check.namingContexts == [try Slapd.baseDN])
        #expect(check.baseDNWithinNamingContexts)
        #expect(check.transportSecurity == .none)
        #expect(check.certificateVerification == false)
        #expect(check.boundAs == (try Slapd.value("FREIGABE_LDAP_BIND_DN")))
        #expect(check.groups.count == 10)
        #expect(check.resolvedGroupCount == 9)
        let missing = try #require(check.groups.first { !$0.found })
        #expect(missing.stewardDomains == ["kultur"])
        let dsb = try #require(check.groups.first { $0.roles == [.dsb] })
        #expect(dsb.found && dsb.memberCount == 1)
    }
}
