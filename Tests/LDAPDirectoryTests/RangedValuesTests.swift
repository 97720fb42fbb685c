import Testing

@testable import LDAPDirectory

/// Active Directory's ranged retrieval: a group of more than 1,500 members is answered in ranges.
/// slapd has no ranged retrieval, so the directory here is a function that answers as a domain
/// controller does ([MS-ADTS] 3.1.1.3.1.3.3, `MaxValRange` 1,500).
@Suite("Ranged attribute values (Active Directory)")
struct RangedValuesTests {
    static let group = "CN=Alle Beschäftigten,OU=Gruppen,DC=stadt,DC=example"

    /// A domain controller's answer for `description` (`member` or `member;range=L-*`) of a group with
    /// `members`, at most `perAnswer` values at a time.
    static func domainController(
        members: [String], perAnswer: Int = 1500
    ) -> (String) -> LDAPEntry {
        { description in
            let low = AttributeRange(description: description)?.low ?? 0
            let high = min(low + perAnswer, members.count) - 1
            let last = high == members.count - 1
            if low == 0 && last && !description.contains(";") {
                return LDAPEntry(dn: group, attributes: ["member": members])
            }
            let name = "member;range=\(low)-" + (last ? "*" : "\(high)")
            return LDAPEntry(dn: group, attributes: [name: Array(members[low...high])])
        }
    }

    static func members(_ count: Int) -> [String] {
        (0..<count).map { "CN=Person \($0),OU=Personen,DC=stadt,DC=example" }
    }

    static func read(_ answer: @escaping (String) -> LDAPEntry) throws(LDAPDirectoryError) -> (LDAPEntry, [String]) {
        var asked: [String] = []
        let entry = try RangedValues.complete(answer("member")) { description in
            asked.append(description)
            return answer(description)
        }
        return (entry, asked)
    }

    @Test("a group of 4,000 is read in three answers, every member once and in order")
    func bigGroupIsReadWhole() throws {
        let members = Self.members(4000)
        let (entry, asked) = try Self.read(Self.domainController(members: members))
        #expect(entry.values("member") == members)
        #expect(asked == ["member;range=1500-*", "member;range=3000-*"])
        #expect(entry.attributes.keys.sorted() == ["member"])
    }

    @Test("a group that fits in one answer asks nothing more; exactly 1,500 and 1,501 members")
    func edgesOfOneAnswer() throws {
        for count in [0, 1, 1499, 1500, 1501, 3000, 3001] {
            let members = Self.members(count)
            let (entry, asked) = try Self.read(Self.domainController(members: members))
            #expect(entry.values("member") == members, "\(count) members")
            #expect(asked.count == max(0, (count - 1) / 1500), "\(count) members")
        }
    }

    @Test("an answer out of order, without the range, with two ranges, or endless is refused")
    func hostileAnswersAreRefused() {
        let first = LDAPEntry(dn: Self.group, attributes: ["member;range=0-1": ["a", "b"]])
        let answers: [(String, (String) -> LDAPEntry?)] = [
            ("starts again at 0", { _ in LDAPEntry(dn: Self.group, attributes: ["member;range=0-*": ["a"]]) }),
            ("skips values", { _ in LDAPEntry(dn: Self.group, attributes: ["member;range=5-*": ["f"]]) }),
            ("names no range", { _ in LDAPEntry(dn: Self.group, attributes: ["member": ["c"]]) }),
            ("no entry", { _ in nil }),
            (
                "two ranges",
                { _ in
                    LDAPEntry(dn: Self.group, attributes: ["member;range=2-3": ["c", "d"], "member;range=2-*": ["c"]])
                }
            ),
            (
                "one value at a time, for ever",
                { description in
                    let low = AttributeRange(description: description)!.low
                    return LDAPEntry(dn: Self.group, attributes: ["member;range=\(low)-\(low)": ["v\(low)"]])
                }
            ),
        ]
        for (name, answer) in answers {
            #expect(throws: LDAPDirectoryError.self, "\(name)") {
                _ = try RangedValues.complete(first) { description in answer(description) }
            }
        }
    }

    @Test("range options are parsed strictly; anything else is an ordinary attribute name")
    func parsing() {
        #expect(AttributeRange(description: "member;range=0-1499") == .init(attribute: "member", low: 0, high: 1499))
        #expect(AttributeRange(description: "Member;Range=1500-*") == .init(attribute: "member", low: 1500, high: nil))
        #expect(
            AttributeRange(description: "member;binary;range=3-3") == .init(attribute: "member", low: 3, high: 3))
        for hostile in [
            "member", "member;binary", "member;range=", "member;range=5-3", "member;range=-1-5", "member;range=+1-5",
            "member;range=0-*x", "member;range=0-1-2", "member;range= 0-5", "member;range=0-9999999999",
            ";range=0-5", "member;range=٣-5", "member;range=*-*",
        ] {
            #expect(AttributeRange(description: hostile) == nil, "\(hostile)")
        }
    }

    @Test("an ordinary entry is left as it is; a ranged first answer is filed under the plain name")
    func namesArePlain() {
        let person = LDAPEntry(dn: "uid=otto", attributes: ["uid": ["otto"], "mail": ["otto@stadt.example"]])
        #expect(RangedValues(first: person).entry == person)
        let group = LDAPEntry(dn: Self.group, attributes: ["member;range=0-1499": ["a"], "cn": ["Alle"]])
        #expect(RangedValues(first: group).entry.values("member") == ["a"])
        #expect(RangedValues(first: group).entry.values("cn") == ["Alle"])
    }
}
