import Foundation
import Testing

@testable import LDAPDirectory

/// Logins against the real slapd of `scripts/services` (demo directory: every password is "demo").
@Suite("authenticate against slapd")
struct AuthenticationTests {
    @Test("anna logs in with her password and gets her entry")
    func loginSucceeds() async throws {
        let recorder = LogRecorder()
        try await Slapd.withDirectory(try Slapd.configuration(), logger: recorder.logger()) { directory async throws in
            let anna = try await directory.authenticate(username: "anna", password: "demo")
            #expect(anna.uid == "anna")
            #expect(anna.dn == "uid=anna,ou=people,\(try Slapd.baseDN)")
            #expect(anna.displayName == "Anna Albers")
            #expect(anna.mail == "anna.albers@stadt.example")
            #expect(anna.organizationalUnit == "Amt für Stadtentwicklung")
            #expect(anna.roles.isEmpty)
            #expect(anna.stewardDomains.isEmpty)
            #expect(anna.isMember(ofGroup: "cn=amt-stadtentwicklung,ou=groups,\(try Slapd.baseDN)"))
            #expect(anna.isMember(ofGroup: "cn=all-staff,ou=groups,\(try Slapd.baseDN)"))
        }
        #expect(!recorder.text.contains("demo"), "a password reached the log:\n\(recorder.text)")
    }

    @Test("the login name is matched case-insensitively and reported as stored")
    func loginIgnoresCase() async throws {
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            #expect(try await directory.authenticate(username: "ANNA", password: "demo").uid == "anna")
            #expect(try await directory.authenticate(username: "JÜRGEN", password: "demo").uid == "jürgen")
        }
    }

    @Test("a wrong password is invalidCredentials and is never logged")
    func wrongPassword() async throws {
        let recorder = LogRecorder()
        try await Slapd.withDirectory(try Slapd.configuration(), logger: recorder.logger()) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: "Falsch-Passwort-4711")
            }
            #expect(error?.code == .invalidCredentials)
            #expect(error?.resultCode == 49)
            #expect(error?.message == "Invalid username or password.")
            // The pool's bind connection is still usable after the refused bind.
            #expect(try await directory.authenticate(username: "anna", password: "demo").uid == "anna")
        }
        #expect(!recorder.text.contains("Falsch-Passwort-4711"), "a password reached the log:\n\(recorder.text)")
        #expect(recorder.text.contains("invalidCredentials"))
    }

    @Test("an unknown user is userNotFound with the same safe message")
    func unknownUser() async throws {
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "niemand", password: "demo")
            }
            #expect(error?.code == .userNotFound)
            #expect(error?.message == "Invalid username or password.")
            let lookup = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.person(username: "niemand")
            }
            #expect(lookup?.code == .userNotFound)
            #expect(lookup?.message == "No such user in the directory.")
        }
    }

    /// Every demo account has the password "demo": if any of these names matched an entry, the
    /// login would succeed. They must all fail, and none may authenticate as someone.
    @Test(
        "filter metacharacters in the username never match anybody",
        arguments: [
            "*", "a*", "*a", "x)(uid=*", "*)(|(uid=*))", "anna)(|(uid=*", "\\", "\\2a", "anna*", "(uid=anna)",
            "*)(uid=anna",
        ]
    )
    func injection(username: String) async throws {
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: username, password: "demo")
            }
            #expect(error?.code == .userNotFound, "\(username): \(String(reflecting: error))")
        }
    }

    @Test(
        "look-alike names never log in as another user",
        arguments: [
            "аnna",  // Cyrillic а
            "ａｎｎａ",  // fullwidth: slapd folds it onto anna (RFC 4518 NFKC), the exact check refuses it
            "anna\u{200B}",  // zero-width space
            "jurgen",  // umlaut dropped
            "juergen",
            "ｊüｒｇｅｎ",
        ])
    func lookAlikes(username: String) async throws {
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: username, password: "demo")
            }
            #expect(error?.code == .userNotFound, "\(username): \(String(reflecting: error))")
        }
    }

    @Test("why the exact-name check exists: without it slapd maps fullwidth ａｎｎａ onto anna")
    func lookAlikeWithoutExactCheck() async throws {
        var configuration = try Slapd.configuration()
        configuration.requireExactUsernameMatch = false
        try await Slapd.withDirectory(configuration) { directory async throws in
            let person = try await directory.authenticate(username: "ａｎｎａ", password: "demo")
            // Still anna's own password and entry: the risk is two login names for one account.
            #expect(person.uid == "anna")
        }
    }

    @Test("umlauts: jürgen logs in (NFC and NFD spelling), jurgen does not")
    func umlauts() async throws {
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            let jürgen = try await directory.authenticate(username: "jürgen", password: "demo")
            #expect(jürgen.uid == "jürgen")
            #expect(jürgen.displayName == "Jürgen Jäger")
            #expect(jürgen.isMember(ofGroup: "cn=all-staff,ou=groups,\(try Slapd.baseDN)"))
            let decomposed = try await directory.authenticate(username: "ju\u{0308}rgen", password: "demo")
            #expect(decomposed.dn == jürgen.dn)
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "jurgen", password: "demo")
            }
            #expect(error?.code == .userNotFound)
        }
    }

    /// The directory URL points at a closed port: any contact would fail with directoryUnavailable,
    /// so these errors prove the checks happen before anything is sent.
    @Test(
        "invalid usernames are refused before contacting the directory",
        arguments: ["", "   ", "anna\u{0}", "\u{0}", "an\nna", "anna\u{1B}", String(repeating: "a", count: 300)])
    func invalidUsernames(username: String) async throws {
        var configuration = try Slapd.configuration()
        configuration.url = "ldap://127.0.0.1:\(try freePort())"
        try await Slapd.withDirectory(configuration) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: username, password: "demo")
            }
            #expect(error?.code == .invalidUsername, "\(String(reflecting: error))")
            let lookup = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.person(username: username)
            }
            #expect(lookup?.code == .invalidUsername)
        }
    }

    @Test(
        "empty, whitespace and NUL passwords are refused before any bind",
        arguments: ["", " ", "   ", "\t", "\n", "\u{00A0}", "\u{3000}", "demo\u{0}", "\u{0}demo"])
    func invalidPasswords(password: String) async throws {
        // Against a closed port: refused without contact.
        var offline = try Slapd.configuration()
        offline.url = "ldap://127.0.0.1:\(try freePort())"
        try await Slapd.withDirectory(offline) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: password)
            }
            #expect(error?.code == .invalidPassword)
        }
        // Against slapd, which would accept an empty password as an unauthenticated bind.
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: password)
            }
            #expect(error?.code == .invalidPassword)
        }
    }

    @Test("a filter matching several entries is ambiguousUser")
    func ambiguous() async throws {
        var configuration = try Slapd.configuration()
        configuration.userFilter = "(|(uid={username})(ou=Umweltamt))"
        configuration.requireExactUsernameMatch = false
        try await Slapd.withDirectory(configuration) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "otto", password: "demo")
            }
            #expect(error?.code == .ambiguousUser)
        }
    }

    @Test("an entry with two login names is ambiguousUser under either: one entry must not act as two people")
    func twoLoginNames() async throws {
        let base = try Slapd.baseDN
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let dn = "uid=zwei-\(suffix),ou=people,\(base)"
        try Slapd.modify(
            """
            dn: \(dn)
            changetype: add
            objectClass: inetOrgPerson
            uid: zwei-\(suffix)
            uid: zweit-\(suffix)
            cn: Zwei Namen
            sn: Namen
            userPassword: demo

            """)
        defer { try? Slapd.modify("dn: \(dn)\nchangetype: delete\n") }
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            for name in ["zwei-\(suffix)", "zweit-\(suffix)"] {
                let login = await #expect(throws: LDAPDirectoryError.self) {
                    try await directory.authenticate(username: name, password: "demo")
                }
                #expect(login?.code == .ambiguousUser, "\(name)")
                let lookup = await #expect(throws: LDAPDirectoryError.self) {
                    try await directory.person(username: name)
                }
                #expect(lookup?.code == .ambiguousUser, "\(name)")
            }
        }
    }

    @Test("anonymous searches work where the directory allows them")
    func anonymousSearch() async throws {
        var configuration = try Slapd.configuration()
        configuration.serviceAccount = nil
        try await Slapd.withDirectory(configuration) { directory async throws in
            #expect(try await directory.authenticate(username: "otto", password: "demo").uid == "otto")
        }
    }

    @Test("a wrong service account password is a configuration error")
    func wrongServicePassword() async throws {
        var configuration = try Slapd.configuration()
        configuration.serviceAccount?.password = "not-the-service-password"
        let recorder = LogRecorder()
        try await Slapd.withDirectory(configuration, logger: recorder.logger()) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: "demo")
            }
            #expect(error?.code == .configuration)
        }
        #expect(!recorder.text.contains("not-the-service-password"))
        #expect(!recorder.text.contains(try Slapd.value("FREIGABE_LDAP_BIND_PASSWORD")))
    }

    @Test("many concurrent logins share a small pool")
    func concurrentLogins() async throws {
        try await Slapd.withDirectory(try Slapd.configuration()) { directory async throws in
            let users = [
                "anna", "otto", "paul", "stefan", "sina", "bea", "dora", "ingo", "olga", "greta", "alex", "adam",
            ]
            try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<48 {
                    let user = users[index % users.count]
                    group.addTask { try await directory.authenticate(username: user, password: "demo").uid }
                }
                var count = 0
                for try await uid in group {
                    #expect(users.contains(uid))
                    count += 1
                }
                #expect(count == 48)
            }
        }
    }

    @Test("calls after shutdown fail with shutDown")
    func afterShutdown() async throws {
        let directory = try LDAPDirectory(configuration: try Slapd.configuration(), logger: .init(label: "test"))
        _ = try await directory.authenticate(username: "anna", password: "demo")
        await directory.shutdown()
        await directory.shutdown()
        let error = await #expect(throws: LDAPDirectoryError.self) {
            try await directory.authenticate(username: "anna", password: "demo")
        }
        #expect(error?.code == .shutDown)
    }
}
