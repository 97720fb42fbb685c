import Foundation
import Hummingbird
import HummingbirdTesting
import LDAPDirectory
import Logging
import Synchronization
import Testing

@testable import FreigabeServer

/// The JSON API against the real PostgreSQL (a fresh database per test, from the store's template) and
/// the real slapd with the demo directory (every password `demo`), through the same middleware the
/// server mounts: problem middleware, then the directory authenticator, then the routes.
struct APIFixture: Sendable {
    let store: ServiceFixture
    let service: RequestService
    let clock: TestClock
    /// The router's API routes as `METHOD /path`, HEAD left out (generated from GET).
    let routes: Set<String>
    let document: OpenAPIDocument

    static let repositoryRoot = StoreTestSupport.repositoryRoot
    static let openAPIPath = repositoryRoot.appendingPathComponent("openapi.yaml").path

    /// Runs `body` with an API on a fresh database with the demo catalogue, tested through the router.
    static func with(
        _ body: @escaping @Sendable (APIFixture, APIClient) async throws -> Void
    ) async throws {
        let directory = try LDAPDirectory(
            configuration: try DemoDirectory.configuration(), logger: APITestSupport.logger)
        do {
            try await ServiceFixture.with { store in
                let clock = TestClock(Clock.start)
                let service = RequestService(
                    client: store.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                    principals: DirectoryPrincipalResolver(directory: directory))
                let document = try OpenAPIDocument.load(path: openAPIPath)
                let router = try await makeRouter(
                    service: service, directory: directory, document: document, clock: clock)
                let routes = Set(
                    router.routes.filter { $0.method != .head && $0.path.description.hasPrefix("/api/v1/") }.map {
                        "\($0.method.rawValue) \($0.path.description)"
                    })
                let fixture = APIFixture(
                    store: store, service: service, clock: clock, routes: routes, document: document)
                let app = Application(router: router, logger: APITestSupport.logger)
                try await app.test(.router) { client in
                    try await body(fixture, APIClient(client: client, validator: APITestSupport.validator))
                }
            }
        } catch {
            await directory.shutdown()
            throw error
        }
        await directory.shutdown()
    }

    /// The server's router (`buildRouter`, with all its middleware), with the test's clock.
    static func makeRouter(
        service: RequestService, directory: LDAPDirectory, document: OpenAPIDocument, clock: TestClock
    ) async throws -> Router<AppRequestContext> {
        let logger = APITestSupport.logger
        return buildRouter(
            configuration: TestSupport.configuration, renderer: try await TestSupport.makeRenderer(),
            authenticator: DirectoryAuthenticator(
                directory: directory, throttle: LoginThrottle(),
                onFailedLogin: auditFailedLogins(to: service, logger: logger, now: { clock.now() })),
            api: APIRoutes(service: service, document: document, now: { clock.now() }), logger: logger)
    }
}

enum APITestSupport {
    static let logger: Logger = {
        var logger = Logger(label: "freigabe.api.tests")
        logger.logLevel = .warning
        return logger
    }()

    static let validator: OpenAPIValidator = {
        do {
            return try OpenAPIValidator(yaml: try String(contentsOfFile: APIFixture.openAPIPath, encoding: .utf8))
        } catch {
            fatalError("openapi.yaml does not load: \(error)")
        }
    }()
}

/// A clock the tests move (deadlines, expiry).
final class TestClock: Sendable {
    private let value: Mutex<Date>

    init(_ start: Date) { self.value = Mutex(start) }

    func now() -> Date { value.withLock { $0 } }

    func advance(days: Double) { value.withLock { $0 = $0.addingTimeInterval(days * 86_400) } }
}

/// The demo directory's settings from `.local/env` (written by `scripts/services up`).
enum DemoDirectory {
    static func configuration() throws -> LDAPConfiguration {
        let environment = try StoreTestSupport.ldapEnvironment()
        func value(_ key: String) throws -> String {
            guard let value = environment[key], !value.isEmpty else {
                throw TestSetupError("\(key) is not set: run `scripts/services up` (make test does)")
            }
            return value
        }
        let base = try value("FREIGABE_LDAP_BASE_DN")
        return LDAPConfiguration(
            url: try value("FREIGABE_LDAP_URL"), baseDN: base, userSearchBase: "ou=people,\(base)",
            groupSearchBase: "ou=groups,\(base)", membership: .groupSearch,
            roleGroups: [
                .dsb: ["cn=freigabe-dsb,ou=groups,\(base)"],
                .isb: ["cn=freigabe-isb,ou=groups,\(base)"],
                .openDataOfficer: ["cn=freigabe-open-data,ou=groups,\(base)"],
                .governance: ["cn=freigabe-governance,ou=groups,\(base)"],
                .auditor: ["cn=freigabe-auditors,ou=groups,\(base)"],
                .admin: ["cn=freigabe-admins,ou=groups,\(base)"],
            ],
            stewardGroups: [
                "umwelt": ["cn=stewards-umwelt,ou=groups,\(base)"],
                "mobilitaet": ["cn=stewards-mobilitaet,ou=groups,\(base)"],
                "bevoelkerung": ["cn=stewards-bevoelkerung,ou=groups,\(base)"],
            ],
            networkTimeout: .seconds(3), operationTimeout: .seconds(5), poolSize: 4,
            serviceAccount: LDAPConfiguration.ServiceAccount(
                bindDN: try value("FREIGABE_LDAP_BIND_DN"), password: try value("FREIGABE_LDAP_BIND_PASSWORD")))
    }
}

extension StoreTestSupport {
    /// `FREIGABE_LDAP_*` from `.local/env`, the process environment winning.
    static func ldapEnvironment() throws -> [String: String] {
        let values = TestSupport.localServicesEnvironment().filter { $0.key.hasPrefix("FREIGABE_LDAP_") }
        return values
    }
}

/// A response of the API, parsed.
struct APIResponse: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: String
    var json: JSONValue?

    var contentType: String? { headers[.contentType] }

    /// The problem's type without the base URI, e.g. `validation`.
    var problemType: String? {
        json?["type"]?.string.map { $0.replacingOccurrences(of: ProblemType.base, with: "") }
    }

    var errors: [String: String] {
        guard case .object(let fields)? = json?["errors"] else { return [:] }
        return fields.compactMapValues(\.string)
    }
}

/// Sends requests as a demo user and checks every answer against `openapi.yaml`.
struct APIClient: Sendable {
    let client: any TestClientProtocol
    let validator: OpenAPIValidator

    static func basic(_ user: String, _ password: String = "demo") -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// - Parameters:
    ///   - json: a JSON text sent as `application/json`, or
    ///   - body: raw bytes with `headers` of the caller's choice.
    ///   - validate: check the answer against the document (off for answers to requests the document
    ///     does not describe, e.g. unknown paths).
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ path: String, as user: String? = nil, json: String? = nil,
        body: ByteBuffer? = nil, headers: HTTPFields = [:], validate: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        var headers = headers
        if let user { headers[.authorization] = Self.basic(user) }
        var payload = body
        if let json {
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
            payload = ByteBuffer(string: json)
        }
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: payload)
        let text = String(buffer: response.body)
        var parsed: JSONValue? = nil
        if let type = response.headers[.contentType], type.contains("json") {
            parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(parsed != nil, "answer is not JSON: \(text.prefix(300))", sourceLocation: sourceLocation)
        }
        let result = APIResponse(status: Int(response.status.code), headers: response.headers, body: text, json: parsed)
        if validate {
            let problems = validator.check(
                method: method, path: path, status: result.status, contentType: result.contentType, body: parsed)
            #expect(
                problems.isEmpty, "\(method) \(path) → \(result.status) does not match openapi.yaml: \(problems)",
                sourceLocation: sourceLocation)
        }
        return result
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields[key]
    }

    subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    var string: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    var int: Int? {
        guard case .number(let number) = self else { return nil }
        return Int(exactly: number)
    }

    var bool: Bool? {
        guard case .bool(let flag) = self else { return nil }
        return flag
    }

    var array: [JSONValue] {
        guard case .array(let items) = self else { return [] }
        return items
    }
}

/// JSON text from a Swift value (for building bodies with texts that need escaping).
func jsonText(_ object: [String: Any]) -> String {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}
