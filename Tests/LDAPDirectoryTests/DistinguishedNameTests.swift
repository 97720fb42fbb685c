import Testing

@testable import LDAPDirectory

@Suite("DN parsing and normalisation")
struct DistinguishedNameTests {
    @Test(
        "spellings of the same DN compare equal",
        arguments: [
            ("cn=freigabe-dsb,ou=groups,dc=stadt,dc=example", "CN=Freigabe-DSB,OU=Groups,DC=Stadt,DC=Example"),
            ("cn=freigabe-dsb,ou=groups,dc=stadt,dc=example", "cn=freigabe-dsb, ou=groups, dc=stadt, dc=example"),
            ("cn=freigabe-dsb,ou=groups,dc=stadt,dc=example", "  cn = freigabe-dsb ,ou=groups ; dc=stadt,dc=example "),
            ("cn=Data  Team,ou=groups", "cn=data team,ou=groups"),
            ("cn=a\\,b,ou=x", "cn=a\\2Cb,ou=x"),
            ("cn=a\\,b,ou=x", "cn=\"a,b\",ou=x"),
            ("2.5.4.3=admins,0.9.2342.19200300.100.1.25=example", "cn=admins,dc=example"),
            ("OID.2.5.4.11=people,dc=example", "ou=people,dc=example"),
            ("uid=j\\C3\\BCrgen,ou=people", "uid=jürgen,ou=people"),
            ("uid=Jürgen,ou=people", "uid=ju\u{0308}rgen,ou=people"),  // NFC vs NFD
            ("cn=x+uid=y,dc=example", "uid=y+cn=x,dc=example"),
            ("cn=trailing\\ ,dc=example", "cn=trailing\\20,dc=example"),
        ])
    func equalSpellings(lhs: String, rhs: String) throws {
        let a = try DistinguishedName(parsing: lhs)
        let b = try DistinguishedName(parsing: rhs)
        #expect(a == b, "\(a.normalized) vs \(b.normalized)")
        #expect(a.hashValue == b.hashValue)
    }

    @Test(
        "different DNs stay different",
        arguments: [
            ("cn=freigabe-dsb,ou=groups,dc=stadt,dc=example", "cn=freigabe-isb,ou=groups,dc=stadt,dc=example"),
            ("cn=a,dc=example", "cn=a,dc=example,dc=org"),
            ("uid=anna,ou=people", "uid=аnna,ou=people"),  // Cyrillic а
            ("uid=anna,ou=people", "uid=ａｎｎａ,ou=people"),  // fullwidth
            ("cn=a\\2Cb,ou=x", "cn=a,cn=b,ou=x"),
        ])
    func differentDNs(lhs: String, rhs: String) throws {
        #expect(try DistinguishedName(parsing: lhs) != DistinguishedName(parsing: rhs))
    }

    @Test("normalised form is canonical and parses again to itself")
    func normalisedRoundTrip() throws {
        let dn = try DistinguishedName(parsing: "CN=Müller\\, Hans + UID=hm ,OU=Amt für IT,DC=Stadt")
        #expect(dn.normalized == "cn=müller\\, hans+uid=hm,ou=amt für it,dc=stadt")
        #expect(try DistinguishedName(parsing: dn.normalized).normalized == dn.normalized)
        #expect(dn.rdns.count == 3)
        #expect(dn.rdns[0].count == 2)
    }

    @Test(
        "invalid DNs are rejected",
        arguments: ["cn", "=x", "cn=a,", "cn=a\\", "cn=a\\zz", "cn=a<b", "cn=#abc", "cn=\"open"])
    func invalid(text: String) {
        #expect(throws: LDAPDirectoryError.self) {
            try DistinguishedName(parsing: text)
        }
    }

    @Test("the empty DN is valid and has no RDNs")
    func emptyDN() throws {
        #expect(try DistinguishedName(parsing: "").rdns.isEmpty)
        #expect(try DistinguishedName(parsing: "   ").rdns.isEmpty)
    }

    @Test("hex values keep their form")
    func hexValues() throws {
        let dn = try DistinguishedName(parsing: "cn=#04024869,dc=example")
        #expect(dn.rdns[0][0].value == "#04024869")
        #expect(dn == (try DistinguishedName(parsing: "CN=#04024869,DC=example")))
    }

    @Test("isWithin compares suffixes")
    func within() throws {
        let user = try DistinguishedName(parsing: "uid=anna,ou=people,dc=stadt,dc=example")
        #expect(user.isWithin(try DistinguishedName(parsing: "DC=Stadt, DC=Example")))
        #expect(user.isWithin(user))
        #expect(!user.isWithin(try DistinguishedName(parsing: "ou=groups,dc=stadt,dc=example")))
        #expect(!(try DistinguishedName(parsing: "dc=example")).isWithin(user))
    }

    @Test("Person.isMember(ofGroup:) compares normalised DNs")
    func personMembership() {
        let person = Person(
            dn: "uid=dora,ou=people,dc=stadt,dc=example", uid: "dora", displayName: "Dora",
            groups: ["cn=datenschutz-team,ou=groups,dc=stadt,dc=example"])
        #expect(person.isMember(ofGroup: "CN=Datenschutz-Team, OU=Groups, DC=stadt, DC=example"))
        #expect(!person.isMember(ofGroup: "cn=freigabe-dsb,ou=groups,dc=stadt,dc=example"))
        #expect(!person.isMember(ofGroup: "not a dn"))
    }
}
