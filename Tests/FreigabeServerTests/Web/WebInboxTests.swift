import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The inbox in pages (keyset, 50 a page, oldest deadline first) and that visitors without a session
/// leave no `web_sessions` rows behind.
@Suite("Web inbox and anonymous visits", .serialized)
struct WebInboxTests {
    /// Rows of `web_sessions`.
    static func sessionRows(_ fixture: WebFixture) async throws -> Int {
        try await fixture.allCounts()["web_sessions"] ?? -1
    }

    /// Request ids in a page's links, in their order.
    static func requestIDs(_ html: String) -> [String] {
        html.components(separatedBy: "href=\"/antraege/").dropFirst().map { String($0.prefix(36)) }
    }

    @Test("the inbox comes in pages of 50, oldest deadline first; every task once; hostile places start over")
    func inboxIsPaged() async throws {
        try await WebFixture.with { fixture, client in
            // 120 tasks for otto, filed a minute apart: the first filed has the oldest deadline.
            var filed: [String] = []
            for index in 0..<120 {
                let view = try await fixture.store.shared(
                    "baumkataster", at: Clock.start.addingTimeInterval(Double(index) * 60))
                filed.append(view.id.uuidString)
            }
            fixture.clock.advance(days: 1)
            let otto = Browser(client)
            try await otto.login("otto")
            var seen: [String] = []
            var path: String? = "/eingang"
            var pages = 0
            while let current = path, pages < 10 {
                let page = try await otto.get(current)
                #expect(page.status == 200)
                #expect(page.html.contains("120 Anträge warten auf Ihre Entscheidung."))
                let ids = Self.requestIDs(page.html)
                #expect(ids.count == (pages < 2 ? 50 : 20), "page \(pages + 1)")
                seen += ids
                pages += 1
                path = page.html.components(separatedBy: "href=\"").dropFirst()
                    .map { String($0.prefix { $0 != "\"" }) }.first { $0.hasPrefix("/eingang?nach=") }
                if pages > 1 { #expect(page.html.contains("href=\"/eingang\"")) }
            }
            #expect(pages == 3)
            #expect(seen == filed, "every task once, oldest deadline first")
            // The start page counts them too.
            #expect(try await otto.get("/").html.contains("120 Anträge warten auf Ihre Entscheidung."))
            // A place that is none (a bare id as before, SQL, signs, too many digits) starts at the first page.
            for hostile in [
                "x", "%27%20OR%201%3D1--", "n.1.\(filed[0])%27;DROP%20TABLE%20requests--", UUID().uuidString,
                "n.-1.\(filed[0])", "%2B1.1.\(filed[0])", "1.1.1.\(filed[0])", "n.1234567890123456789.\(filed[0])",
                "n.%201.\(filed[0])", "n..\(filed[0])",
            ] {
                let page = try await otto.get("/eingang?nach=" + hostile)
                #expect(page.status == 200)
                #expect(Self.requestIDs(page.html) == Array(filed.prefix(50)), "\(hostile)")
            }
            #expect(try await fixture.store.counts()["requests"] == 120)
            // Someone else's inbox is not otto's: anna filed them and decides none of them.
            let anna = Browser(client)
            try await anna.login("anna")
            #expect(try await anna.get("/eingang").html.contains("Zurzeit wartet nichts auf Ihre Entscheidung."))
        }
    }

    @Test("anonymous GETs of every page write no web_sessions row, the login form included")
    func anonymousVisitsWriteNoSession() async throws {
        try await WebFixture.with { fixture, client in
            let request = try await fixture.store.submittedRequest()
            let before = try await Self.sessionRows(fixture)
            #expect(before == 0)
            let paths = [
                "/", "/katalog", "/katalog/baumkataster", "/eingang", "/vertretungen", "/verwaltung",
                "/verwaltung/ausgang", "/pruefung", "/antraege/\(request.id.uuidString)", "/antraege/neu",
                "/gibt-es-nicht", "/sprache/en?zurueck=/katalog", "/static/freigabe.css", "/e/kein-gueltiger-link",
                "/api/v1/health",
            ]
            for round in 0..<3 {
                for path in paths {
                    // A crawler: a new client every time, no cookies.
                    let visitor = Browser(client)
                    let page = try await visitor.get(path)
                    #expect(page.status < 500, "\(path): \(page.status)")
                    #expect(
                        page.headers[values: .setCookie].allSatisfy {
                            !$0.hasPrefix(fixture.settings.sessionCookieName)
                        },
                        "round \(round), \(path) sets no session cookie")
                }
            }
            #expect(try await Self.sessionRows(fixture) == before)
            // The login form's CSRF token is a cookie of the browser's own (SessionlessFormToken): no row,
            // and the same token again for the same browser.
            let visitor = Browser(client)
            let login = try await visitor.get("/anmelden")
            let token = try #require(login.hidden("_csrf"))
            #expect(try await Self.sessionRows(fixture) == before)
            #expect(try await visitor.get("/anmelden").hidden("_csrf") == token)
            _ = try await visitor.get("/")
            #expect(try await Self.sessionRows(fixture) == before)
            // The login itself starts the one session.
            let done = try await visitor.post("/anmelden", [("username", "anna"), ("password", "demo")], csrf: token)
            #expect(done.status == 303)
            #expect(try await Self.sessionRows(fixture) == before + 1)
        }
    }
}
