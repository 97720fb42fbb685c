import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FreigabeServer

/// HTTP Basic logins through `DirectoryAuthenticator` against the real slapd of `make services`.
@Suite("HTTP Basic login against the directory")
struct DirectoryAuthenticatorTests {
    struct Me: Decodable {
        var uid: String
        var roles: [String]
        var steward_domains: [String]
    }

    private func withApp(
        overrides: [String: String] = [:], _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let app = try await buildApplication(
            configuration: try await DirectoryFixtures.configuration(overrides: overrides))
        try await app.test(.router, body)
    }

    private func me(_ client: any TestClientProtocol, authorization: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let authorization { headers[.authorization] = authorization }
        return try await client.execute(uri: "/api/v1/me", method: .get, headers: headers)
    }

    @Test("valid credentials give the person and the roles from their groups")
    func validCredentials() async throws {
        try await withApp { client in
            let expected: [(String, [String], [String])] = [
                ("anna", [], []), ("dora", ["dsb"], []), ("ingo", ["isb"], []), ("sina", [], ["mobilitaet"]),
                ("greta", ["governance"], []), ("alex", ["auditor"], []), ("adam", ["admin"], []),
                ("olga", ["open_data_officer"], []), ("jürgen", [], []),
            ]
            for (user, roles, domains) in expected {
                let response = try await me(client, authorization: DirectoryFixtures.basic(user))
                #expect(response.status == .ok, "\(user)")
                #expect(response.headers[.cacheControl] == "no-store")
                let body = try JSONDecoder().decode(Me.self, from: Data(buffer: response.body))
                #expect(body.uid == user)
                #expect(body.roles == roles, "\(user)")
                #expect(body.steward_domains == domains, "\(user)")
            }
        }
    }

    @Test("no credentials: 401 with a Basic challenge")
    func noCredentials() async throws {
        try await withApp { client in
            let response = try await me(client, authorization: nil)
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == #"Basic realm="Freigabe", charset="UTF-8""#)
        }
    }

    @Test(
        "wrong, empty or hostile credentials never log anyone in",
        arguments: [
            ("anna", "falsch"), ("anna", ""), ("anna", "   "), ("*", "demo"), ("a*", "demo"), ("x)(uid=*", "demo"),
            ("*)(|(uid=*))", "demo"), ("\\", "demo"), ("anna\u{0}", "demo"),
            (String(repeating: "a", count: 300), "demo"),
            ("аnna", "demo"), ("ａｎｎａ", "demo"), ("jurgen", "demo"),
        ])
    func refusedCredentials(username: String, password: String) async throws {
        try await withApp { client in
            let response = try await me(client, authorization: DirectoryFixtures.basic(username, password))
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate] != nil)
        }
    }

    @Test("a malformed Authorization header is refused, not ignored")
    func malformedHeader() async throws {
        try await withApp { client in
            for header in ["Basic !!!", "Basic " + Data("ohne-doppelpunkt".utf8).base64EncodedString(), "Bearer abc"] {
                let response = try await me(client, authorization: header)
                #expect(response.status == .unauthorized, "\(header)")
            }
        }
    }

    @Test("repeated failures slow the user down with 429 and Retry-After, even for the right password")
    func throttling() async throws {
        try await withApp { client in
            // The router test client has no address; such requests count as one address of their own.
            for _ in 0..<5 {
                let response = try await me(client, authorization: DirectoryFixtures.basic("otto", "falsch"))
                #expect(response.status == .unauthorized)
            }
            let throttled = try await me(client, authorization: DirectoryFixtures.basic("otto"))
            #expect(throttled.status == .tooManyRequests)
            let retryAfter = try #require(throttled.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...2).contains(retryAfter))
            let other = try await me(client, authorization: DirectoryFixtures.basic("anna"))
            #expect(other.status == .ok)
        }
    }

    @Test("directory down: logins fail closed with 503 within the timeout")
    func directoryDown() async throws {
        // Port 1 on loopback is closed: the connection is refused at once.
        try await withApp(overrides: ["FREIGABE_LDAP_URL": "ldap://127.0.0.1:1"]) { client in
            let started = ContinuousClock.now
            let response = try await me(client, authorization: DirectoryFixtures.basic("anna"))
            #expect(response.status == .serviceUnavailable)
            #expect(ContinuousClock.now - started < .seconds(20))
        }
    }

    @Test("no directory configured: logins answer 503, public pages still work")
    func noDirectory() async throws {
        var configuration = TestSupport.configuration
        configuration.directory = nil
        let app = try await buildApplication(configuration: configuration)
        try await app.test(.router) { client in
            let response = try await me(client, authorization: DirectoryFixtures.basic("anna"))
            #expect(response.status == .serviceUnavailable)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }
}
