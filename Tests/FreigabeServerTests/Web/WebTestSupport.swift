import Foundation
import Hummingbird
import HummingbirdTesting
import LDAPDirectory
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The web pages against the real PostgreSQL (a fresh database per test) and the real slapd with the
/// demo directory, through the production router (`buildRouter` with the web routes, their session
/// middleware on PostgreSQL, the CSRF check, the error pages).
struct WebFixture: Sendable {
    let store: ServiceFixture
    let service: RequestService
    let clock: TestClock
    let settings: WebSettings

    static func with(
        settings: WebSettings = WebSettings(), workflows: WorkflowLibrary = StoreTestSupport.workflows,
        principals: (any PrincipalResolver)? = nil, logger: Logger = APITestSupport.logger,
        _ body: @escaping @Sendable (WebFixture, any TestClientProtocol) async throws -> Void
    ) async throws {
        let directory = try LDAPDirectory(
            configuration: try DemoDirectory.configuration(), logger: APITestSupport.logger)
        do {
            try await ServiceFixture.with(workflows: workflows) { store in
                let clock = TestClock(Clock.start)
                let service = RequestService(
                    client: store.app, workflows: workflows, calendar: StoreTestSupport.calendar,
                    principals: principals ?? DirectoryPrincipalResolver(directory: directory))
                let renderer = try await TestSupport.makeRenderer()
                let authenticator = DirectoryAuthenticator(
                    directory: directory, throttle: LoginThrottle(),
                    onFailedLogin: auditFailedLogins(to: service, logger: logger, now: { clock.now() }))
                var configuration = TestSupport.configuration
                configuration.web = settings
                let sessions = PostgresSessionDriver(
                    client: store.app, logger: logger, maximumLifetime: settings.absoluteTimeout)
                let web = WebRoutes(
                    pages: WebPages(renderer: renderer, settings: settings, now: { clock.now() }),
                    authenticator: authenticator, directory: directory, service: service, sessions: sessions)
                let router = buildRouter(
                    configuration: configuration, renderer: renderer, authenticator: authenticator,
                    api: APIRoutes(
                        service: service, document: try OpenAPIDocument.load(path: APIFixture.openAPIPath),
                        now: { clock.now() }),
                    web: web, logger: logger)
                let fixture = WebFixture(store: store, service: service, clock: clock, settings: settings)
                try await Application(router: router, logger: logger).test(.router) { client in
                    try await body(fixture, client)
                }
            }
        } catch {
            await directory.shutdown()
            throw error
        }
        await directory.shutdown()
    }

    /// Row counts of every table of the schema, for "nothing changed" checks.
    func allCounts() async throws -> [String: Int] {
        var result: [String: Int] = [:]
        let tables = try await store.admin.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", logger: store.logger)
        var names: [String] = []
        for try await name in tables.decode(String.self) { names.append(name) }
        for name in names {
            let rows = try await store.admin.query(
                PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \"\(name)\""), logger: store.logger)
            for try await count in rows.decode(Int.self) { result[name] = count }
        }
        return result
    }
}

/// A browser: keeps its cookies, sends forms with the page's CSRF token, follows nothing by itself.
final class Browser: @unchecked Sendable {
    // Unchecked: each test drives its browser from one task; the class only holds the cookie jar.
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    var language = "de"

    init(_ client: any TestClientProtocol) { self.client = client }

    struct Page {
        var status: Int
        var headers: HTTPFields
        var html: String
        var location: String? { headers[.location] }

        /// The value of the first hidden `name` field, e.g. the CSRF token.
        func hidden(_ name: String) -> String? {
            guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
            let rest = html[range.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }
    }

    @discardableResult
    func get(_ path: String) async throws -> Page {
        try await send(.get, path, body: nil)
    }

    /// Posts `fields` as a form; the CSRF token of `csrfFrom` (the page the form is on) unless given.
    @discardableResult
    func post(_ path: String, _ fields: [(String, String)], csrf: String?) async throws -> Page {
        var all = fields
        if let csrf { all.insert(("_csrf", csrf), at: 0) }
        let body = all.map { Self.encode($0.0) + "=" + Self.encode($0.1) }.joined(separator: "&")
        return try await send(
            .post, path, body: ByteBuffer(string: body),
            headers: [.contentType: "application/x-www-form-urlencoded"])
    }

    /// Posts a `multipart/form-data` form with one file.
    @discardableResult
    func postFile(
        _ path: String, field: String, filename: String, content: String, csrf: String?
    ) async throws -> Page {
        let boundary = "----freigabe-test-boundary"
        var body = ""
        if let csrf { body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n\(csrf)\r\n" }
        body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(field)\"; filename=\"\(filename)\"\r\n"
        body += "Content-Type: application/octet-stream\r\n\r\n\(content)\r\n--\(boundary)--\r\n"
        return try await send(
            .post, path, body: ByteBuffer(string: body),
            headers: [.contentType: "multipart/form-data; boundary=\(boundary)"])
    }

    /// Logs in as `user` (password `demo`) and returns the start page's redirect.
    @discardableResult
    func login(_ user: String, password: String = "demo") async throws -> Page {
        let form = try await get("/anmelden")
        return try await post(
            "/anmelden", [("username", user), ("password", password)], csrf: form.hidden("_csrf"))
    }

    func send(
        _ method: HTTPRequest.Method, _ path: String, body: ByteBuffer?, headers: HTTPFields = [:]
    ) async throws -> Page {
        var headers = headers
        headers[.accept] = "text/html"
        headers[.acceptLanguage] = language
        if !cookies.isEmpty {
            headers[.cookie] = cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                separator: "; ")
        }
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: body)
        for line in response.headers[values: .setCookie] {
            let pair = line.split(separator: ";", maxSplits: 1)[0].split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let name = String(pair[0]).trimmingCharacters(in: .whitespaces)
            if line.contains("Max-Age=0") || line.lowercased().contains("expires=thu, 01 jan 1970") {
                cookies[name] = nil
            } else {
                cookies[name] = String(pair[1])
            }
        }
        let page = Page(
            status: Int(response.status.code), headers: response.headers, html: String(buffer: response.body))
        // Every page any web test reads: no Swift value leaked into the text as Swift prints it (a missing
        // optional rendered by Mustache as "nil" stood in every timeline entry and inbox row).
        let leaked = try Regex(#">\s*(– )?(nil|Optional\()|– nil<"#)
        #expect(!page.html.contains(leaked), "\(method) \(path) shows a Swift value as text")
        return page
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
