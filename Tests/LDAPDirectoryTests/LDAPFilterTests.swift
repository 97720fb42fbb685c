import Testing

@testable import LDAPDirectory

@Suite("RFC 4515 filter escaping")
struct LDAPFilterTests {
    @Test(
        "special characters become \\XX",
        arguments: [
            ("*", "\\2a"),
            ("a*", "a\\2a"),
            ("x)(uid=*", "x\\29\\28uid=\\2a"),
            ("*)(|(uid=*))", "\\2a\\29\\28|\\28uid=\\2a\\29\\29"),
            ("\\", "\\5c"),
            ("a\u{0}b", "a\\00b"),
            ("(", "\\28"),
            ("tab\there", "tab\\09here"),
            ("del\u{7F}", "del\\7f"),
        ])
    func escapesSpecialCharacters(input: String, expected: String) {
        #expect(LDAPFilter.escape(input) == expected)
    }

    @Test("ordinary and non-ASCII characters stay as they are")
    func keepsOrdinaryCharacters() {
        #expect(LDAPFilter.escape("anna") == "anna")
        #expect(LDAPFilter.escape("jürgen") == "jürgen")
        #expect(LDAPFilter.escape("аnna") == "аnna")  // Cyrillic а: a different user name, sent as is
        #expect(LDAPFilter.escape("o'brien-müller.x_y@stadt") == "o'brien-müller.x_y@stadt")
        #expect(LDAPFilter.escape("") == "")
    }

    @Test("escaped output never contains an unescaped filter metacharacter")
    func escapedOutputIsInert() {
        let nasty = "*()\\\u{0}" + String(repeating: "*)(", count: 10) + "|(&(objectClass=*))"
        let escaped = LDAPFilter.escape(nasty)
        #expect(!escaped.contains("*"))
        #expect(!escaped.contains("("))
        #expect(!escaped.contains(")"))
        #expect(!escaped.utf8.contains(0))
        // Every backslash starts a two-hex-digit escape.
        let bytes = Array(escaped.utf8)
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\\") {
            #expect(index + 2 < bytes.count || index + 2 == bytes.count)
            #expect(bytes[index + 1...index + 2].allSatisfy { Character(UnicodeScalar($0)).isHexDigit })
        }
    }

    @Test("the template gets the escaped username at every placeholder")
    func substitutesTemplate() {
        let filter = LDAPFilter.userFilter(
            template: "(|(uid={username})(mail={username}))", username: "x)(uid=*")
        #expect(filter == "(|(uid=x\\29\\28uid=\\2a)(mail=x\\29\\28uid=\\2a))")
        #expect(
            LDAPFilter.userFilter(template: LDAPConfiguration.openLDAPUserFilter, username: "anna")
                == "(&(objectClass=inetOrgPerson)(uid=anna))")
    }

    @Test("the Active Directory filter finds no disabled account (ACCOUNTDISABLE by bitwise AND)")
    func activeDirectoryExcludesDisabledAccounts() {
        #expect(
            LDAPFilter.userFilter(template: LDAPConfiguration.activeDirectoryUserFilter, username: "a*(x)")
                == "(&(objectCategory=person)(objectClass=user)(sAMAccountName=a\\2a\\28x\\29)"
                + "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))")
    }

    @Test("templates are checked for shape")
    func validatesTemplates() throws {
        try LDAPFilter.validateTemplate(LDAPConfiguration.openLDAPUserFilter)
        try LDAPFilter.validateTemplate(LDAPConfiguration.activeDirectoryUserFilter)
        try LDAPFilter.validateTemplate("(cn=a\\29b{username})")
        for bad in ["(uid=anna)", "uid={username}", "(&(uid={username})", "(uid={username}))(", ")(uid={username})("] {
            #expect(throws: LDAPDirectoryError.self, "\(bad)") {
                try LDAPFilter.validateTemplate(bad)
            }
        }
    }
}
