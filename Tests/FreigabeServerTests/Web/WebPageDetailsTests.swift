import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FreigabeServer

/// Small things a person meets on the pages: the language switch leads back to the same page, an error
/// is announced once.
@Suite("Web: page details", .serialized)
struct WebPageDetailsTests {
    /// The language link's way back, as the page carries it.
    static func languageLink(_ page: Browser.Page) throws -> String {
        let match = try #require(page.html.firstMatch(of: #/href="(/sprache/en\?zurueck=[^"]*)"/#))
        return String(match.1).replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Anna switches to English on the new-request form: it came back without its kind and dataset (a
    /// 404), and from a page that answered a form (a POST address) to that address (405).
    @Test("the language switch returns to the page with its query; after a form, to the page the form was on")
    func languageSwitchKeepsThePage() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let formPath = "/antraege/neu?kind=shared_data&dataset=baumkataster"
            let form = try await anna.get(formPath)
            #expect(form.status == 200)
            let link = try Self.languageLink(form)
            let switched = try await anna.get(link)
            #expect(switched.status == 303)
            #expect(switched.location == formPath)
            let english = try await anna.get(try #require(switched.location))
            #expect(english.status == 200)
            #expect(english.html.contains("lang=\"en\""))
            anna.cookies[WebPages.languageCookie] = nil

            // A form answered with its errors (POST /antraege): back to the form's page named by Referer,
            // never to the POST address; without a Referer, to the start page.
            let fields = [("kind", "shared_data"), ("dataset_id", "baumkataster"), ("action", "review")]
            let body =
                (["_csrf=" + Browser.encode(form.hidden("_csrf") ?? "")]
                + fields.map { Browser.encode($0.0) + "=" + Browser.encode($0.1) }).joined(separator: "&")
            for (referer, expected) in [
                ("http://127.0.0.1:8080" + formPath, formPath), ("https://evil.example/x", "/x"), (nil, "/"),
            ] {
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                if let referer { headers[.referer] = referer }
                let refused = try await anna.send(.post, "/antraege", body: ByteBuffer(string: body), headers: headers)
                #expect(refused.status == 422 || refused.status == 200, "\(refused.status)")
                let back = try Self.languageLink(refused)
                #expect(back == "/sprache/en?zurueck=" + WebPages.queryValue(expected), "\(referer ?? "none")")
            }
            // A page shown after a form whose own Referer was a POST address (the second try of a form):
            // the switch leads to the start page instead of an address that answers only POST (405).
            for (back, expected) in [
                ("/antraege", "/"), ("/antraege/neu?kind=open_data", "/antraege/neu?kind=open_data"),
            ] {
                let switched = try await anna.get("/sprache/en?zurueck=" + WebPages.queryValue(back))
                #expect(switched.status == 303)
                #expect(switched.location == expected, "\(back)")
            }
            anna.cookies[WebPages.languageCookie] = nil
        }
    }

    /// Otto's page is out of date when he decides (someone acted meanwhile): 409, and he may still decide.
    /// The message stood in the page's summary and in the decision form's, two alerts with the same ids.
    @Test("a refused decision that may be tried again shows its message once, in the decision form's summary")
    func conflictShownOnce() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            let path = "/antraege/\(view.id.uuidString)"
            let otto = Browser(client)
            try await otto.login("otto")
            let page = try await otto.get(path)
            let version = try #require(page.hidden("version").flatMap { Int($0) })
            let stale = try await otto.post(
                path + "/entscheidung",
                [
                    ("version", String(version - 1)), ("branch", try #require(page.hidden("branch"))),
                    ("decision", "approve"),
                ], csrf: page.hidden("_csrf"))
            #expect(stale.status == 409)
            #expect(stale.html.contains("action=\"\(path)/entscheidung\""), "he may still decide")
            #expect(stale.html.components(separatedBy: "id=\"form-errors\"").count - 1 == 1, "\(stale.html)")
            #expect(stale.html.components(separatedBy: "role=\"alert\"").count - 1 == 1)
        }
    }

    /// Adam saves a dataset or a domain while the directory does not answer (the owner and the steward
    /// group are checked there): the 503 error page lost everything he typed.
    @Test("the dataset and domain forms keep what was typed when the directory does not answer; nothing stored")
    func adminFormsKeepTheInputWhenTheDirectoryIsSilent() async throws {
        let silent = ClosurePrincipalResolver(
            { _ in throw CancellationError() }, groups: { _ in throw CancellationError() })
        try await WebFixture.with(principals: silent) { fixture, client in
            let adam = Browser(client)
            try await adam.login("adam")
            let before = try await fixture.allCounts().filter { $0.key != "web_sessions" }
            let datasetForm = try await adam.get("/verwaltung/datensatz")
            let dataset = try await adam.post(
                "/verwaltung/datensatz",
                [
                    ("id", "spielplaetze"), ("title", "Spielplätze <b>neu</b>"), ("domain", "umwelt"),
                    ("owner", "otto"),
                    ("classification", "public"), ("personal_data", "none"), ("protection_need", "normal"),
                ], csrf: datasetForm.hidden("_csrf"))
            #expect(dataset.status == 503)
            #expect(dataset.headers[.retryAfter] == "5", "a form shown again for the directory says when to try again")
            #expect(dataset.html.contains("value=\"Spielplätze &lt;b&gt;neu&lt;/b&gt;\""), "\(dataset.html)")
            #expect(dataset.html.contains("id=\"form-errors\""))

            let domainForm = try await adam.get("/verwaltung/domaene")
            let domain = try await adam.post(
                "/verwaltung/domaene",
                [
                    ("id", "kultur"), ("title", "Kultur und Freizeit"),
                    ("steward_group", "cn=kultur,ou=groups,dc=stadt,dc=example"),
                ],
                csrf: domainForm.hidden("_csrf"))
            #expect(domain.status == 503)
            #expect(domain.headers[.retryAfter] == "5")
            #expect(domain.html.contains("value=\"Kultur und Freizeit\""), "\(domain.html)")
            #expect(try await fixture.allCounts().filter { $0.key != "web_sessions" } == before, "nothing stored")
        }
    }
}
