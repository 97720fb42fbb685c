import Foundation
import Mustache
import Testing

@testable import FreigabeServer

/// The pages' own HTML escaping (``HTMLEscaping``) and the page parts that answer Mustache by name.
@Suite("HTML escaping and page names")
struct HTMLEscapingTests {
    @Test("the five characters become the same entities as before; other text is left as it is")
    func escapesTheFiveCharacters() {
        #expect(
            HTMLEscaping.escape(#"<script>alert("x")</script>"#) == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")
        #expect(HTMLEscaping.escape("Tom & Jerry's") == "Tom &amp; Jerry&#39;s")
        #expect(HTMLEscaping.escape("&amp;") == "&amp;amp;", "escaped again, never taken for an entity")
        #expect(HTMLEscaping.escape("Straßenbäume – 2. März, 09:30 Uhr 🌳") == "Straßenbäume – 2. März, 09:30 Uhr 🌳")
        #expect(HTMLEscaping.escape("") == "")
    }

    @Test("hostile: a quote or bracket followed by a combining mark is escaped too (one grapheme, two characters)")
    func combiningMarksDoNotHideACharacter() {
        // Each is one `Character` that is not equal to `"`, `'`, `<`, `>` or `&`: swift-mustache's own
        // escaping, which compares characters, let them through.
        #expect(HTMLEscaping.escape("\"\u{301}") == "&quot;\u{301}")
        #expect(HTMLEscaping.escape("'\u{301}") == "&#39;\u{301}")
        #expect(HTMLEscaping.escape("<\u{338}") == "&lt;\u{338}")
        #expect(HTMLEscaping.escape(">\u{338}") == "&gt;\u{338}")
        #expect(HTMLEscaping.escape("&\u{301}") == "&amp;\u{301}")
        #expect(
            HTMLEscaping.escape("x\"\u{301} onfocus=alert(1) autofocus") == "x&quot;\u{301} onfocus=alert(1) autofocus")
    }

    @Test("every HTML template and partial escapes with it; text mails stay text")
    func everyTemplateNamesTheEscaping() throws {
        let folder = URL(fileURLWithPath: TestSupport.templatesDirectory).resolvingSymlinksInPath()
        let files = try #require(FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil))
        var checked = 0
        for case let file as URL in files where file.pathExtension == "mustache" {
            let first = try String(contentsOf: file, encoding: .utf8).prefix { $0 != "\n" }
            let expected =
                file.lastPathComponent.hasSuffix("-text.mustache")
                ? "{{% CONTENT_TYPE: TEXT}}" : "{{% CONTENT_TYPE: \(HTMLEscaping.name)}}"
            #expect(first == expected, "\(file.lastPathComponent) starts with \(first)")
            checked += 1
        }
        #expect(checked > 40)
    }

    @Test("a page renders the hostile value escaped, in text and in an attribute")
    func pagesUseIt() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let hostile = "x\"\u{301} onfocus=alert(1) autofocus <\u{338}img>"
        var page = ErrorPageMiddleware.ErrorPage(
            status: 400, title: hostile, message: hostile, path: nil, reference: nil, loginHref: nil)
        page.loginHref = hostile
        let html = try #require(renderer.render("error", language: "de", values: ["page": page]))
        let bytes = Data(html.utf8)
        #expect(bytes.range(of: Data("x&quot;\u{301} onfocus=alert(1) autofocus &lt;\u{338}img&gt;".utf8)) != nil)
        #expect(bytes.range(of: Data("\"\u{301}".utf8)) == nil, "no quote is left unescaped")
        #expect(bytes.range(of: Data("<\u{338}".utf8)) == nil, "no bracket is left unescaped")
    }

    @Test("through the production router: the login form keeps a hostile user name escaped in its value")
    func loginFormKeepsTheNameEscaped() async throws {
        try await WebFixture.with { _, client in
            let browser = Browser(client)
            let form = try await browser.get("/anmelden")
            let hostile = "anna\"\u{301} autofocus onfocus=alert(1) x=\"\u{301}"
            let refused = try await browser.post(
                "/anmelden", [("username", hostile), ("password", "falsch")], csrf: form.hidden("_csrf"))
            #expect(refused.status == 401 || refused.status == 422, "\(refused.status)")
            let bytes = Data(refused.html.utf8)
            #expect(
                bytes.range(of: Data("value=\"anna&quot;\u{301} autofocus onfocus=alert(1) x=&quot;\u{301}\"".utf8))
                    != nil, "\(refused.html)")
            #expect(bytes.range(of: Data("\"\u{301}".utf8)) == nil, "no quote is left unescaped")
        }
    }

    // MARK: Names instead of reflection

    @Test("page parts answer every name as Mirror did, nil optionals included")
    func namesAnswerAsMirror() {
        let field = FormField(
            .radios, name: "decision", label: "Entscheidung", hint: "Hinweis", value: "approve", error: "Fehlt",
            required: true, options: [("approve", "Zustimmen"), ("reject", "Ablehnen")])
        let bare = FormField(.text, name: "x", label: "X", value: nil)
        let summary = ErrorSummary(fields: [field], errors: ["other": "Anderes"])
        let role = RequestPage.Acting.RoleRow(role: "Data Owner", people: "Otto", deputies: "Vertretung: Vera")
        let noDeputies = RequestPage.Acting.RoleRow(role: "DSB", people: "", deputies: nil)
        let form = RequestPage.DecisionForm(
            capacity: "als Data Owner", branch: "main", choice: field, text: bare, licence: field, portalURL: nil,
            errors: summary)
        let stalled = HomePages.StalledRow(
            href: "/antraege/1", number: "FG-2026-000001", dataset: "Baumkataster", requester: "von anna",
            step: "Prüfung", waiting: "die Antwort", closable: "seit dem 2. März 2026", why: "als Governance")
        let grant = HomePages.GrantRow(
            href: "/antraege/1", number: "FG-2026-000001", dataset: "Baumkataster", requester: "von anna",
            until: "1. Mai 2026", why: "als Data Owner")
        let values: [any MustacheParent] = [
            field, bare, field.options[0], summary, summary.entries[0], role, noDeputies, form,
            RequestPage.Acting(unknown: false, roles: [role, noDeputies], missingMail: ["keine Adresse"]),
            RequestPage.Row(label: "Zweck", value: "Baumpflege"),
            HomePages.Inbox(
                items: [], isEmpty: true, total: "500 Anträge", next: "/eingang?nach=1", first: nil, stalled: [],
                grants: []),
            HomePages.Inbox(
                items: [], isEmpty: false, total: nil, next: nil, first: "/eingang", stalled: [stalled],
                grants: [grant],
                grantsShown: "50 von 60"
            ),
            stalled, grant,
            PageFrame.User(uid: "otto", name: "Otto", isAdmin: false, isAuditor: true),
            PageFrame.LanguageLink(code: "en", label: "English", href: "/sprache/en?zurueck=%2F"),
        ]
        for value in values {
            var names = 0
            for child in Mirror(reflecting: value).children {
                let name = child.label!
                #expect(
                    String(describing: value.child(named: name)) == String(describing: Self.unwrapped(child.value)),
                    "\(type(of: value)).\(name)")
                names += 1
            }
            #expect(names > 1)
            #expect(value.child(named: "noSuchName") == nil, "\(type(of: value)): an unknown name is not found")
        }
    }

    /// What swift-mustache's `Mirror` lookup answered: a nil optional is not found, a present one unwrapped.
    private static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        return mirror.children.first?.value
    }
}
