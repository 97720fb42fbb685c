import Foundation
import Mustache
import Testing

@testable import FreigabeServer

/// The pages' rendering shortcuts render the same bytes as the plain lookups: the catalogue's texts
/// written into the templates (``TextsWrittenIn``), the page's outer context (``PageContext``) and the
/// kept date texts (``BerlinDates``).
@Suite("Web: texts written into the templates, kept dates")
struct PageTextsWrittenInTests {
    /// Hostile texts: markup and quotes, braces that could form a tag, white space, a line break.
    static let catalog = StringCatalog(
        language: "de",
        texts: [
            "web.title": "Eingang <b>\"heute\"</b> & 'morgen' \"\u{301}",
            "web.brace": "a {{lang}} b",
            "web.open": "a {",
            "web.close": "a } b",
            "web.blank": "   ",
            "web.lines": "eins\nzwei",
            "web.group.leaf": "Blatt",
        ])

    static let header = TextsWrittenIn.htmlHeader + "\n"

    static func writtenIn(_ body: String) -> String {
        String(TextsWrittenIn.template(header + body, catalog: catalog).dropFirst(header.count))
    }

    @Test("a text is written in, escaped as {{…}} escapes it; hostile texts and every other tag stay lookups")
    func writesInOnlyPlainTextTags() {
        #expect(
            Self.writtenIn("<h1>{{t.web.title}}</h1>")
                == "<h1>Eingang &lt;b&gt;&quot;heute&quot;&lt;/b&gt; &amp; &#39;morgen&#39; &quot;\u{301}</h1>")
        #expect(Self.writtenIn("{{ t.web.group.leaf }}·{{t.web.group.leaf}}") == "Blatt·Blatt")
        let kept = [
            "{{t.web.brace}}", "{{t.web.open}}{{lang}}", "{{t.web.close}}", "{{t.web.blank}}", "{{t.web.lines}}",
            "{{t.web.group}}", "{{t.web.missing}}", "{{{t.web.title}}}", "{{&t.web.title}}",
            "{{#t.web.title}}x{{/t.web.title}}", "{{^t.web.title}}x{{/t.web.title}}", "{{lowercased(t.web.title)}}",
            "{{t}}", "{{t.}}", "{{page.t.web.title}}", "{{t.web.title", "{{! {{t.web.title}}", "{{t.web.ti-tle}}",
        ]
        for tag in kept { #expect(Self.writtenIn(tag) == tag, "\(tag)") }
        // Mail templates (no HTML escaping) and templates that change the delimiters are left as they are.
        #expect(TextsWrittenIn.template("{{t.web.title}}", catalog: Self.catalog) == "{{t.web.title}}")
        let delimiters = Self.header + "{{=<% %>=}}<%t.web.title%> {{t.web.title}}"
        #expect(TextsWrittenIn.template(delimiters, catalog: Self.catalog) == delimiters)
    }

    @Test("hostile texts render the same bytes written in as looked up")
    func hostileTextsRenderAlike() throws {
        HTMLEscaping.register()
        let body = """
            <title>{{t.web.title}}</title>
              {{t.web.brace}}|{{t.web.open}}{{lang}}|{{t.web.close}}|{{t.web.blank}}|{{t.web.lines}}
            {{#page.items}}<li title="{{t.web.title}}">{{.}} {{t.web.group.leaf}}</li>
            {{/page.items}}
              {{t.web.missing}}{{{t.web.title}}}{{&t.web.title}}
            """
        let source = Self.header + body
        let context = PageContext(values: ["page": ["items": ["<a>", "b\"\u{301}"]]], catalog: Self.catalog)
        let lookedUp = try MustacheTemplate(string: source).render(context)
        let written = try MustacheTemplate(string: TextsWrittenIn.template(source, catalog: Self.catalog)).render(
            context)
        #expect(written == lookedUp)
        #expect(lookedUp.contains("<title>Eingang &lt;b&gt;"), "\(lookedUp)")
        #expect(TextsWrittenIn.template(source, catalog: Self.catalog) != source, "something was written in")
    }

    /// A frame as the layout reads it, with hostile values.
    static func frame(_ hostile: String) -> [String: Any] {
        [
            "user": PageFrame.User(uid: "otto", name: hostile, isAdmin: true, isAuditor: true),
            "csrf": hostile,
            "languages": [PageFrame.LanguageLink(code: "en", label: "English", href: "/sprache/en?zurueck=%2F")],
            "isInbox": true,
        ]
    }

    static let hostile = "<script>alert(\"x\")</script> & 'y' \"\u{301}"

    @Test("every page renders the same bytes in German and English with the texts written in as looked up")
    func everyPageRendersAlike() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let rows = (0..<3).map { index in
            HomePages.InboxRow(
                href: "/antraege/\(index)", number: "FR-\(index)", dataset: Self.hostile, requester: Self.hostile,
                step: "Prüfung", why: Self.hostile, deadline: "2. März 2026", waited: "3 Arbeitstage",
                overdue: index == 1 ? Self.hostile : nil)
        }
        let stalled = (0..<2).map { index in
            HomePages.StalledRow(
                href: "/antraege/\(index)", number: "FR-\(index)", dataset: Self.hostile, requester: Self.hostile,
                step: "Prüfung", waiting: Self.hostile, closable: "seit dem 2. März 2026", why: Self.hostile)
        }
        let grants = (0..<2).map { index in
            HomePages.GrantRow(
                href: "/antraege/\(index)", number: "FR-\(index)", dataset: Self.hostile, requester: Self.hostile,
                until: "1. Mai 2026", why: Self.hostile)
        }
        let generic: [String: Any] = [
            "notice": Self.hostile, "error": Self.hostile, "next": "/eingang?nach=\(Self.hostile)",
            "total": Self.hostile, "isEmpty": false,
        ]
        var compared = 0
        for language in ["de", "en"] {
            for template in PageRenderer.requiredTemplates {
                let page: Any =
                    template == "inbox"
                    ? HomePages.Inbox(
                        items: rows, isEmpty: false, total: Self.hostile, next: "/eingang?nach=x", first: "/eingang",
                        stalled: stalled, grants: grants, grantsShown: Self.hostile)
                    : generic
                let values: [String: Any] = [
                    "frame": Self.frame(Self.hostile), "pageTitle": Self.hostile, "page": page,
                ]
                let written = try #require(renderer.render(template, language: language, values: values))
                let lookedUp = try #require(
                    renderer.render(template, language: language, values: values, textsWrittenIn: false))
                #expect(written == lookedUp, "\(template) in \(language)")
                #expect(!written.contains("<script>"), "\(template): the hostile value is escaped")
                compared += 1
            }
        }
        #expect(compared == 2 * PageRenderer.requiredTemplates.count)
        // The texts are really written in: the inbox's heading is in the template, not looked up.
        let library = try #require(renderer.pageLibraries["de"])
        let title = try #require(renderer.catalog(for: "de")["web.inbox.title"])
        let withoutTexts = PageContext(values: [:], catalog: StringCatalog(language: "de", texts: [:]))
        #expect(
            try #require(library.render(withoutTexts, withTemplate: "inbox")).contains(HTMLEscaping.escape(title)))
        #expect(
            try #require(renderer.library.render(withoutTexts, withTemplate: "inbox")).contains(
                HTMLEscaping.escape(title))
                == false, "the templates as written look it up")
    }

    @Test("through the production router: a long timeline with hostile texts renders as looked up")
    func requestPageRendersAlike() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            var view = try await store.shared("baumkataster")
            for round in 0..<3 {
                view = try await store.decide(
                    view, by: People.otto, .requestChanges(question: "Frage \(round) \(Self.hostile)"),
                    at: Clock.days(Double(round * 2 + 1)))
                view = try await fixture.service.resubmit(
                    requestID: view.id,
                    changes: Resubmission(
                        comment: "Antwort \(round) \(Self.hostile)",
                        changes: RequestDetails.Patch(values: RequestDetails(purpose: Self.hostile), given: [.purpose])),
                    caller: People.anna, now: Clock.days(Double(round * 2 + 2)), logger: store.logger)
            }
            view = try await store.decide(
                view, by: People.otto, .approve(comment: Self.hostile, licence: nil, portalURL: nil),
                at: Clock.days(8))
            fixture.clock.advance(days: 9)
            let renderer = try await TestSupport.makeRenderer()
            let (read, _) = try await fixture.service.requestForPage(
                id: view.id, caller: People.otto, now: fixture.clock.now(), logger: store.logger)
            for language in ["de", "en"] {
                let page = RequestPage(read, text: PageText(catalog: renderer.catalog(for: language)))
                #expect(page.steps.flatMap(\.decisions).count >= 7)
                let values: [String: Any] = ["frame": Self.frame(Self.hostile), "pageTitle": "FR", "page": page]
                let written = try #require(renderer.render("request", language: language, values: values))
                #expect(
                    written == renderer.render("request", language: language, values: values, textsWrittenIn: false))
                #expect(written.contains(HTMLEscaping.escape("Antwort 2 \(Self.hostile)")))
            }
            // The production page has the written-in texts and keeps every hostile text escaped.
            let otto = Browser(client)
            try await otto.login("otto")
            let served = try await otto.get("/antraege/\(view.id.uuidString)")
            #expect(served.status == 200)
            #expect(
                served.html.contains(
                    HTMLEscaping.escape(try #require(renderer.catalog(for: "de")["web.request.timeline"]))))
            #expect(served.html.contains(HTMLEscaping.escape("Frage 0 \(Self.hostile)")))
            #expect(!served.html.contains("<script>"))
        }
    }

    /// Pages wrote „2. März 2026, 09:30 Uhr“ with a pattern of their own, mails and API messages „2. März
    /// 2026 um 09:30 Uhr“ from the catalogue: one moment, two spellings.
    @Test("a moment, a day and a last day read the same on a page, in a mail and in an API message")
    func datesReadTheSameEverywhere() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let moment = Date(timeIntervalSince1970: 1_772_443_800)  // 2 March 2026, 10:30 in Berlin
        for language in ["de", "en"] {
            let catalog = renderer.catalog(for: language)
            let page = PageText(catalog: catalog)
            #expect(page.dateTime(moment) == UserText.Argument.time(moment).resolved(in: catalog))
            #expect(page.lastDay(moment) == UserText.Argument.lastDay(moment).resolved(in: catalog))
            #expect(page.date(moment) == catalog.format(moment, .day))
        }
        #expect(PageText(catalog: renderer.catalog(for: "de")).dateTime(moment) == "2. März 2026 um 10:30 Uhr")
        #expect(PageText(catalog: renderer.catalog(for: "en")).dateTime(moment) == "2 March 2026 at 10:30")
        #expect(PageText(catalog: renderer.catalog(for: "de")).shortDate(moment) == "02.03.2026")
    }

    @Test("a kept date text is the formatter's text, for its own pattern and locale only")
    func keptDatesAreTheFormattersText() {
        let dates = [
            Date(timeIntervalSince1970: 1_772_443_800),  // 2 March 2026, 10:30 in Berlin
            Date(timeIntervalSince1970: 1_772_443_800.999), Date(timeIntervalSince1970: -2_208_988_800),
            Date(timeIntervalSince1970: 1_782_864_000),  // summer time
        ]
        let formats = [
            ("d. MMMM yyyy, HH:mm 'Uhr'", "de_DE"), ("d MMMM yyyy, HH:mm", "en_GB"), ("dd.MM.yyyy", "de_DE"),
            ("yyyy-MM-dd HH:mm:ss.SSS", "en_US_POSIX"),
        ]
        for _ in 0..<2 {  // the second round answers from what the first kept
            for date in dates {
                for (pattern, locale) in formats {
                    let fresh = DateFormatter()
                    fresh.calendar = Calendar(identifier: .gregorian)
                    fresh.locale = Locale(identifier: locale)
                    fresh.timeZone = BerlinDates.timeZone
                    fresh.dateFormat = pattern
                    #expect(BerlinDates.format(date, pattern: pattern, locale: locale) == fresh.string(from: date))
                }
            }
        }
        // More dates than are kept: every answer is still right.
        let fresh = DateFormatter()
        fresh.calendar = Calendar(identifier: .gregorian)
        fresh.locale = Locale(identifier: "en_US_POSIX")
        fresh.timeZone = BerlinDates.timeZone
        fresh.dateFormat = "yyyy-MM-dd"
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(BerlinDates.format(start, pattern: "yyyy-MM-dd", locale: "en_US_POSIX") == "2023-11-14")
        var wrong = 0
        for step in 0..<(BerlinDates.keptTexts + 10) {
            let date = start.addingTimeInterval(Double(step) * 3_600)
            if BerlinDates.format(date, pattern: "yyyy-MM-dd", locale: "en_US_POSIX") != fresh.string(from: date) {
                wrong += 1
            }
        }
        #expect(wrong == 0)
    }
}
