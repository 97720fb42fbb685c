import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FreigabeServer

/// What a person meets when the session ends while a page stays open: the form still reaches the server
/// and leads to the login, never to a CSRF refusal whose reload posts again.
@Suite("Web: the end of a session", .serialized)
struct WebSessionEndTests {
    static let settings = WebSettings(idleTimeout: .seconds(600), absoluteTimeout: .seconds(3600))

    /// The `Expires` of the session cookie a response sets.
    static func sessionCookieExpiry(_ page: Browser.Page) throws -> Date {
        let cookie = try #require(page.headers[values: .setCookie].first { $0.hasPrefix("freigabe-session=") })
        let attribute = try #require(
            cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.first {
                $0.lowercased().hasPrefix("expires=")
            })
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return try #require(formatter.date(from: String(attribute.dropFirst("expires=".count))), "\(cookie)")
    }

    /// A browser drops a cookie at its `Expires`: one that ended with the idle time was gone when a form
    /// left open overnight was sent, so the form arrived without a session cookie and got 403.
    @Test("the session cookie outlives the absolute end, at login and when refreshed; the row ends idle")
    func cookieOutlivesTheIdleEnd() async throws {
        try await WebFixture.with(settings: Self.settings) { fixture, client in
            let anna = Browser(client)
            let login = try await anna.login("anna")
            let atLogin = try Self.sessionCookieExpiry(login)
            // Hummingbird writes the login's cookie with the wall clock.
            #expect(atLogin.timeIntervalSinceNow > 3600 + 13 * 86400, "\(atLogin)")
            #expect(atLogin.timeIntervalSinceNow > 600 + 120, "longer than the idle time")
            // No row outlives the session, whatever the cookie is given (before any refresh moved it).
            let rowEnd = try await fixture.store.admin.query(
                "SELECT max(expires_at) - min(now()) < interval '3601 seconds' FROM web_sessions",
                logger: fixture.store.logger
            ).decode(Bool.self).first(where: { _ in true })
            #expect(rowEnd == true)

            let loggedInAt = fixture.clock.now()
            fixture.clock.advance(days: 2.0 / 1440)
            let refreshed = try await anna.get("/")
            #expect(refreshed.status == 200)
            let afterRefresh = try Self.sessionCookieExpiry(refreshed)
            #expect(
                abs(afterRefresh.timeIntervalSince(loggedInAt + 3600 + 14 * 86400)) < 2,
                "two weeks after the session's absolute end")

            // The idle end is still the session's: a page after it leads to the login.
            fixture.clock.advance(days: 11.0 / 1440)
            let idle = try await anna.get("/eingang")
            #expect(idle.status == 303)
            #expect(idle.location == WebPages.login(returningTo: "/eingang", expired: true))
        }
    }

    /// The database does not answer while anna's session is intact (here: her session's row is locked
    /// longer than the lock timeout): the pages say the database failed (503, when to try again), not that
    /// her session ended, and a form leads nowhere but to that page; afterwards she is still logged in.
    @Test("a session that cannot be read is the database's failure (503), not an ended session")
    func unreadableSessionIsUnavailable() async throws {
        try await WebFixture.with(settings: Self.settings) { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            let logger = fixture.store.logger
            try await fixture.store.admin.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                try await connection.query("LOCK TABLE web_sessions IN ACCESS EXCLUSIVE MODE", logger: logger)
                let page = try await anna.get("/eingang")
                #expect(page.status == 503, "\(page.status) \(page.location ?? "")")
                #expect(page.headers[.retryAfter] == "5")
                #expect(!page.html.contains("Sitzung ist abgelaufen"))
                let post = try await anna.post(
                    "/antraege", [("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", "Planung")],
                    csrf: form.hidden("_csrf"))
                #expect(post.status == 503, "\(post.status) \(post.location ?? "")")
                try await connection.query("ROLLBACK", logger: logger)
            }
            #expect(try await anna.get("/eingang").status == 200, "the session was intact all along")
        }
    }

    /// Otto opens the reject link of his task mail while logged in, types the reason, and confirms after
    /// his session ended: the confirm page carried the session's token, so the sessionless check refused
    /// it with 403 and the reason was lost.
    @Test("a mail link's confirm form sent after the session ended leads to the login and back; nothing decided")
    func confirmAfterTheSessionEnded() async throws {
        try await WebFixture.with(settings: Self.settings) { fixture, client in
            let (view, tokens) = try await DecisionLinkTests.prepare(fixture)
            let reject = "/e/\(try #require(tokens[.reject]))"
            let otto = Browser(client)
            try await otto.login("otto")
            let page = try await otto.get(reject)
            #expect(page.status == 200)
            #expect(page.html.contains("data-keep=\"\(reject)\""), "the typed reason is kept in the tab")
            _ = try await fixture.store.admin.query("DELETE FROM web_sessions", logger: fixture.store.logger)
            let before = try await fixture.allCounts().filter { $0.key != "web_sessions" }

            let late = try await otto.post(reject, [("text", "Zu grob")], csrf: page.hidden("_csrf"))
            #expect(late.status == 303, "\(late.html)")
            #expect(late.location == WebPages.login(returningTo: reject, expired: true))
            #expect(try await fixture.allCounts().filter { $0.key != "web_sessions" } == before)
            let decided = try await fixture.service.request(
                id: view.id, caller: Caller(uid: "anna", displayName: "Anna Albers"), now: fixture.clock.now(),
                logger: fixture.store.logger)
            #expect(decided.decisions.isEmpty)

            // Logged in again, the same link still decides.
            let login = try await otto.get(try #require(late.location))
            #expect(login.html.contains("Ihre Sitzung ist abgelaufen"))
            let back = try await otto.post(
                "/anmelden", [("username", "otto"), ("password", "demo"), ("next", reject)],
                csrf: login.hidden("_csrf"))
            #expect(back.location == reject)
            let again = try await otto.get(reject)
            let done = try await otto.post(reject, [("text", "Zu grob")], csrf: again.hidden("_csrf"))
            #expect(done.status == 303 || done.status == 200, "\(done.status)")
            #expect(try await fixture.store.counts()["decisions"] == (before["decisions"] ?? 0) + 1)

            // Without any session cookie a token that is not the form cookie's is still refused.
            let stranger = Browser(client)
            #expect(try await stranger.post(reject, [("text", "x")], csrf: page.hidden("_csrf")).status == 403)
        }
    }
}
