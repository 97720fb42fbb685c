import Foundation
import Testing

@testable import LDAPDirectory

/// Who holds a role: the members of a group, for mail to a role (the DSB, the stewards of a domain).
@Suite("Group members and preferred language", .serialized)
struct GroupMembersTests {
    @Test("members of a nested group are its people, through the inner group")
    func nestedMembers() async throws {
        let base = try Slapd.baseDN
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            // freigabe-dsb lists only the group datenschutz-team, which lists dora.
            #expect(try await directory.memberUsernames(ofGroup: "cn=freigabe-dsb,ou=groups,\(base)") == ["dora"])
            #expect(
                try await directory.memberUsernames(ofGroup: "CN=Umweltamt, OU=groups, \(base.uppercased())")
                    == ["otto", "paul"])
            #expect(try await directory.memberUsernames(ofGroup: "cn=no-such-group,ou=groups,\(base)") == [])
        }
    }

    @Test("a group exists when an entry with members or a group's class holds its DN; people and gaps are no group")
    func groupExists() async throws {
        let base = try Slapd.baseDN
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            #expect(try await directory.groupExists(dn: "cn=freigabe-dsb,ou=groups,\(base)"))
            #expect(try await directory.groupExists(dn: "CN=Umweltamt, OU=groups, \(base.uppercased())"))
            #expect(try await directory.groupExists(dn: "cn=no-such-group,ou=groups,\(base)") == false)
            // A person's entry is no group, and a DN outside the directory's tree names nothing.
            #expect(try await directory.groupExists(dn: "uid=otto,ou=people,\(base)") == false)
            #expect(try await directory.groupExists(dn: "cn=freigabe-dsb,ou=groups,dc=other,dc=example") == false)
            // Memberships are searched below the group search base: a group elsewhere grants nobody anything.
            var narrow = try Slapd.configuration()
            narrow.membership = .groupSearch
            narrow.groupSearchBase = "ou=people,\(base)"
            try await Slapd.withDirectory(narrow) { narrowed async throws in
                #expect(try await narrowed.groupExists(dn: "cn=freigabe-dsb,ou=groups,\(base)") == false)
            }
            // Hostile: a filter or a text that is no DN is refused before anything is asked.
            await #expect(throws: LDAPDirectoryError.self) {
                try await directory.groupExists(dn: "*)(objectClass=*")
            }
        }
    }

    /// Active Directory gives every group a `sAMAccountName`, its login-name attribute: a nested group
    /// that carries the login name is still a group, and its members are the people.
    @Test("a nested group with a login name of its own (as in Active Directory) is followed, not taken for a person")
    func nestedGroupWithLoginName() async throws {
        let base = try Slapd.baseDN
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let outer = "cn=outer-\(suffix),ou=groups,\(base)"
        let inner = "cn=inner-\(suffix),ou=groups,\(base)"
        try Slapd.modify(
            Slapd.groupAddition(
                inner, members: ["uid=marta,ou=people,\(base)"],
                extra: ["objectClass: uidObject", "uid: inner-\(suffix)"])
                + Slapd.groupAddition(outer, members: [inner, "uid=ingo,ou=people,\(base)"]))
        defer { try? Slapd.modify(Slapd.deletion(of: [outer, inner])) }
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            #expect(try await directory.memberUsernames(ofGroup: outer) == ["ingo", "marta"])
        }
    }

    @Test("cycles and members that do not exist end the walk")
    func cyclesAndDanglingMembers() async throws {
        let base = try Slapd.baseDN
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let a = "cn=members-a-\(suffix),ou=groups,\(base)"
        let b = "cn=members-b-\(suffix),ou=groups,\(base)"
        try Slapd.modify(
            Slapd.groupAddition(a, members: ["uid=marta,ou=people,\(base)", "uid=gone-\(suffix),ou=people,\(base)"])
                + Slapd.groupAddition(b, members: [a, "uid=ingo,ou=people,\(base)"])
                + "dn: \(a)\nchangetype: modify\nadd: member\nmember: \(b)\n\n")
        defer { try? Slapd.modify(Slapd.deletion(of: [a, b])) }
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            #expect(try await directory.memberUsernames(ofGroup: a) == ["ingo", "marta"])
            #expect(try await directory.memberUsernames(ofGroup: b) == ["ingo", "marta"])
        }
    }

    @Test("a job of many searches on a slow directory ends at its caller's deadline, not after its last search")
    func bigGroupOnASlowDirectory() async throws {
        let base = try Slapd.baseDN
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let group = "cn=big-\(suffix),ou=groups,\(base)"
        // 60 members (that do not exist): one job of 61 base searches.
        try Slapd.modify(
            Slapd.groupAddition(group, members: (1...60).map { "uid=ghost\($0)-\(suffix),ou=people,\(base)" }))
        defer { try? Slapd.modify(Slapd.deletion(of: [group])) }
        // Every answer 250 ms late: the searches would take 15 s; the caller waits at most
        // network + 3 × operation timeout + 1 s = 5 s.
        let proxy = try TCPProxy(targetPort: try Slapd.port(of: try Slapd.url), answerDelay: .milliseconds(250))
        defer { proxy.stop() }
        var configuration = try Slapd.configuration(url: "ldap://127.0.0.1:\(proxy.port)")
        configuration.networkTimeout = .seconds(1)
        configuration.operationTimeout = .seconds(1)
        // Running out of the caller's time is no sign of a failing directory: one failure would open it.
        configuration.circuitBreaker.failureThreshold = 1
        try await Slapd.withDirectory(configuration) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.memberUsernames(ofGroup: group)
            }
            #expect(error?.code == .timeout)
            // The job stopped with its caller: no search is answered after it (one in flight may be).
            try await Task.sleep(for: .seconds(1))
            let settled = proxy.answersPassedOn
            try await Task.sleep(for: .seconds(2))
            #expect(proxy.answersPassedOn == settled, "searches went on after the deadline")
            #expect(directory.circuitState == .closed)
            #expect(try await directory.person(username: "anna").uid == "anna")
        }
    }

    @Test("a DN that does not parse is refused before the directory is asked")
    func invalidDN() async throws {
        _ = try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            await #expect(throws: LDAPDirectoryError.self) {
                try await directory.memberUsernames(ofGroup: "not a dn")
            }
        }
    }

    @Test("preferredLanguage is read from the person's entry")
    func preferredLanguage() async throws {
        let base = try Slapd.baseDN
        let uid = "lang-\(UUID().uuidString.prefix(8).lowercased())"
        try Slapd.modify(
            """
            dn: uid=\(uid),ou=people,\(base)
            changetype: add
            objectClass: inetOrgPerson
            uid: \(uid)
            cn: Lena English
            sn: English
            mail: \(uid)@stadt.example
            preferredLanguage: en

            """)
        defer { try? Slapd.modify("dn: uid=\(uid),ou=people,\(base)\nchangetype: delete\n") }
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            let person = try await directory.person(username: uid)
            #expect(person.preferredLanguage == "en")
            #expect(person.mail == "\(uid)@stadt.example")
            #expect(try await directory.person(username: "anna").preferredLanguage == nil)
        }
    }
}
