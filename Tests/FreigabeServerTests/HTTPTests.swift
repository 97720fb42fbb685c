import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("HTTP routes")
struct HTTPTests {
    static let browserHeaders: HTTPFields = [.accept: "text/html,application/xhtml+xml,*/*;q=0.8"]

    /// The one script every page loads: a file of ours (progressive enhancement), never inline code.
    static let scriptFile = #"<script src="/static/freigabe.js" defer></script>"#

    static func withoutTheScriptFile(_ html: String) -> String {
        html.replacingOccurrences(of: scriptFile, with: "")
    }

    static func expectSecurityHeaders(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            response.headers[.contentSecurityPolicy]
                == "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            sourceLocation: sourceLocation
        )
        #expect(response.headers[.xContentTypeOptions] == "nosniff", sourceLocation: sourceLocation)
        #expect(response.headers[.referrerPolicy] == "same-origin", sourceLocation: sourceLocation)
        #expect(response.headers[.xFrameOptions] == "DENY", sourceLocation: sourceLocation)
    }

    @Test func healthAnswersOKWithoutCaching() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                #expect(response.headers[.cacheControl] == "no-store")
                Self.expectSecurityHeaders(response)
            }
        }
    }

    @Test func startPageIsGermanByDefault() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get, headers: Self.browserHeaders) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.contentLanguage] == "de")
                #expect(response.headers[.vary] == "Accept-Language")
                Self.expectSecurityHeaders(response)
                let html = String(buffer: response.body)
                #expect(html.hasPrefix("<!DOCTYPE html>"))
                #expect(html.contains(#"<html lang="de">"#))
                #expect(html.contains(#"<link rel="stylesheet" href="/static/freigabe.css">"#))
                for text in [
                    "<h1 id=\"start-title\">Daten sicher teilen und veröffentlichen</h1>",
                    "Shared Data", "Open Data", "Data Owner", "Data Steward", "Datenschutz",
                    "Informationssicherheit", "Wer entscheidet?", "Jede Entscheidung",
                ] {
                    #expect(html.contains(text), "missing \(text)")
                }
                // The CSP forbids inline code; the page must not need any. Its one script is a file.
                #expect(!Self.withoutTheScriptFile(html).contains("<script"))
                #expect(html.contains(Self.scriptFile))
                #expect(!html.contains("style="))
                // Every Mustache tag was resolved.
                #expect(!html.contains("{{"))
            }
        }
    }

    @Test(arguments: ["en", "en-GB,en;q=0.9,de;q=0.5", "fr-FR, en;q=0.7"])
    func startPageInEnglish(acceptLanguage: String) async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get, headers: [.acceptLanguage: acceptLanguage]) {
                response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentLanguage] == "en")
                let html = String(buffer: response.body)
                #expect(html.contains(#"<html lang="en">"#))
                #expect(html.contains("Who decides?"))
                #expect(!html.contains("Wer entscheidet?"))
            }
        }
    }

    @Test(arguments: ["de-DE,de;q=0.9,en;q=0.8", "fr", "en;q=0", "*"])
    func startPageFallsBackToGerman(acceptLanguage: String) async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get, headers: [.acceptLanguage: acceptLanguage]) {
                response in
                #expect(String(buffer: response.body).contains(#"<html lang="de">"#))
            }
        }
    }

    @Test func headReturnsHeadersWithoutBody() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.body.readableBytes == 0)
                Self.expectSecurityHeaders(response)
            }
            try await client.execute(uri: "/health", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/static/freigabe.css", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/gibt-es-nicht", method: .head, headers: Self.browserHeaders) { response in
                #expect(response.status == .notFound)
                #expect(response.body.readableBytes == 0)
            }
        }
    }

    @Test func unknownPathGivesGermanNotFoundPageToBrowsers() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/gibt-es-nicht", method: .get, headers: Self.browserHeaders) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                Self.expectSecurityHeaders(response)
                let html = String(buffer: response.body)
                #expect(html.contains(#"<html lang="de">"#))
                #expect(html.contains("Seite nicht gefunden"))
                #expect(html.contains("Fehlercode 404"))
                #expect(html.contains("<code>/gibt-es-nicht</code>"))
                #expect(html.contains(#"href="/">Zur Startseite</a>"#))
            }
        }
    }

    @Test func notFoundPageEscapesTheRequestedPath() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/%3Cscript%3Ealert(%22x%22)%3C/script%3E",
                method: .get,
                headers: Self.browserHeaders
            ) { response in
                #expect(response.status == .notFound)
                let html = String(buffer: response.body)
                #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
                #expect(!Self.withoutTheScriptFile(html).contains("<script"))
            }
        }
    }

    @Test func unknownPathGivesNoHTMLToAPIClients() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/gibt-es-nicht", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType]?.contains("text/html") != true)
                Self.expectSecurityHeaders(response)
            }
        }
    }

    @Test func wrongMethodIsRejectedWithSecurityHeaders() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .post, headers: Self.browserHeaders) { response in
                #expect(response.status.code >= 400)
                Self.expectSecurityHeaders(response)
            }
        }
    }

    /// The production router with the API mounted; the database client is never run, so only routing
    /// answers (OPTIONS, 405) work.
    static func routerWithAPI() async throws -> Router<AppRequestContext> {
        let client = PostgresClient(
            configuration: .init(
                host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: nil, tls: .disable))
        let service = RequestService(
            client: client, workflows: try WorkflowLoader.load(directory: TestSupport.workflowsDirectory),
            calendar: StoreTestSupport.calendar, principals: ClosurePrincipalResolver { _ in nil })
        let document = try OpenAPIDocument.load(
            path: TestSupport.repositoryRoot.appendingPathComponent("openapi.yaml").path)
        return buildRouter(
            configuration: TestSupport.configuration, renderer: try await TestSupport.makeRenderer(),
            authenticator: DirectoryAuthenticator(directory: nil, throttle: LoginThrottle()),
            api: APIRoutes(service: service, document: document), logger: Logger(label: "test"))
    }

    @Test("a wrong method on a known path gets 405 with Allow, not 404")
    func wrongMethodGives405WithAllow() async throws {
        let app = Application(router: try await Self.routerWithAPI())
        try await app.test(.router) { client in
            let health = try await client.execute(uri: "/health", method: .delete)
            #expect(health.status == .methodNotAllowed)
            #expect(health.headers[.allow] == "GET, HEAD")
            Self.expectSecurityHeaders(health)
            let start = try await client.execute(uri: "/", method: .put, headers: Self.browserHeaders)
            #expect(start.status == .methodNotAllowed)
            #expect(start.headers[.allow] == "GET, HEAD")
            #expect(start.headers[.contentType] == "text/html; charset=utf-8")
            // Under /api/v1 the 405 is problem+json like every API error, and needs no login.
            let me = try await client.execute(uri: "/api/v1/me", method: .post)
            #expect(me.status == .methodNotAllowed)
            #expect(me.headers[.allow] == "GET, HEAD")
            #expect(me.headers[.contentType] == "application/problem+json")
            let request = try await client.execute(uri: "/api/v1/requests/\(UUID())", method: .delete)
            #expect(request.status == .methodNotAllowed)
            #expect(request.headers[.allow] == "GET, HEAD")
            // Unknown paths stay 404.
            #expect(try await client.execute(uri: "/gibt-es-nicht", method: .delete).status == .notFound)
        }
    }

    @Test("OPTIONS on a known path answers 204 with Allow")
    func optionsAnswered() async throws {
        let app = Application(router: try await Self.routerWithAPI())
        try await app.test(.router) { client in
            let requests = try await client.execute(uri: "/api/v1/requests", method: .options)
            #expect(requests.status == .noContent)
            #expect(requests.headers[.allow] == "POST, OPTIONS")
            #expect(requests.body.readableBytes == 0)
            let health = try await client.execute(uri: "/health", method: .options)
            #expect(health.status == .noContent)
            #expect(health.headers[.allow] == "GET, HEAD, OPTIONS")
            Self.expectSecurityHeaders(health)
            #expect(try await client.execute(uri: "/gibt-es-nicht", method: .options).status == .notFound)
        }
    }

    @Test func stylesheetIsServed() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            try await client.execute(uri: "/static/freigabe.css", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/css") == true)
                #expect(String(buffer: response.body).contains(":root"))
                Self.expectSecurityHeaders(response)
            }
            // The script the pages load is served as JavaScript (with nosniff, any other type would not run).
            try await client.execute(uri: "/static/freigabe.js", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/javascript") == true)
                #expect(String(buffer: response.body).contains("sessionStorage"))
                Self.expectSecurityHeaders(response)
            }
        }
    }

    @Test func templatesAndStringsAreNotServed() async throws {
        let app = try await TestSupport.makeApp()
        try await app.test(.router) { client in
            for uri in ["/static/../start.mustache", "/start.mustache", "/strings/de.yaml", "/static/strings/de.yaml"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status.code >= 400, "\(uri) answered \(response.status)")
                }
            }
        }
    }

    struct SecretFailure: Error, CustomStringConvertible {
        var description: String { "password=hunter2" }
    }

    @Test func unexpectedErrorGivesGenericPageWithoutDetails() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let router = buildRouter(
            configuration: TestSupport.configuration,
            renderer: renderer,
            authenticator: DirectoryAuthenticator(directory: nil, throttle: LoginThrottle()),
            logger: .init(label: "test")
        )
        // Routes added after the middleware get it too.
        router.get("/boom") { _, _ -> String in throw SecretFailure() }
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/boom", method: .get, headers: Self.browserHeaders) { response in
                #expect(response.status == .internalServerError)
                Self.expectSecurityHeaders(response)
                let html = String(buffer: response.body)
                #expect(html.contains("Ein Fehler ist aufgetreten"))
                #expect(!html.contains("hunter2"))
            }
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                #expect(!String(buffer: response.body).contains("hunter2"))
                Self.expectSecurityHeaders(response)
            }
        }
    }
}
