import Foundation
import Testing

@testable import FreigabeServer

/// The login throttle through the production server on a real socket of 127.0.0.1 (so there is a
/// client address) against the real slapd.
@Suite("Login throttle over HTTP", .serialized)
struct ThrottleOverHTTPTests {
    static func me(
        _ port: Int, _ user: String, _ password: String = "demo", forwardedFor: String? = nil
    ) async throws -> RawResponse {
        var head = "GET /api/v1/me HTTP/1.1\r\nHost: t\r\nAuthorization: \(DirectoryFixtures.basic(user, password))\r\n"
        if let forwardedFor { head += "X-Forwarded-For: \(forwardedFor)\r\n" }
        return try await RawConnection.request(port: port, head)
    }

    static func statuses(_ responses: [RawResponse]) -> [Int: Int] {
        responses.reduce(into: [:]) { $0[$1.status, default: 0] += 1 }
    }

    @Test("a burst of 30 guesses lets exactly the free five reach the directory; others still log in")
    func burst() async throws {
        let configuration = try await DirectoryFixtures.configuration()
        try await LiveServer.run(configuration) { port async throws in
            let responses = try await withThrowingTaskGroup(of: RawResponse.self) { group in
                for guess in 0..<30 { group.addTask { try await Self.me(port, "otto", "falsch-\(guess)") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Self.statuses(responses) == [401: 5, 429: 25])
            let retryAfter = responses.compactMap { $0.headers["retry-after"].flatMap(Int.init) }
            #expect(retryAfter.count == 25 && retryAfter.allSatisfy { (1...2).contains($0) })
            // otto's right password from this address waits too: it might be the guesser's next guess.
            #expect(try await Self.me(port, "otto").status == 429)
            // Another person's correct password from the same address logs in.
            #expect(try await Self.me(port, "anna").status == 200)
            // Wrong passwords of other people from here are still answered 401, not 429.
            #expect(try await Self.me(port, "dora", "falsch").status == 401)
        }
    }

    @Test("sixteen requests with the same valid credentials at once, before the cache knows them: all pass")
    func burstOfOneUser() async throws {
        let configuration = try await DirectoryFixtures.configuration()
        try await LiveServer.run(configuration) { port async throws in
            let responses = try await withThrowingTaskGroup(of: RawResponse.self) { group in
                for _ in 0..<16 { group.addTask { try await Self.me(port, "sina") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Self.statuses(responses) == [200: 16])
        }
    }

    @Test("a remembered login is never throttled")
    func cachedLogin() async throws {
        let configuration = try await DirectoryFixtures.configuration()
        try await LiveServer.run(configuration) { port async throws in
            #expect(try await Self.me(port, "ingo").status == 200)
            for _ in 0..<8 { _ = try await Self.me(port, "ingo", "falsch") }
            #expect(try await Self.me(port, "ingo", "nochmal-falsch").status == 429)
            // Scripts re-send their (valid, remembered) credentials with every request: never slowed.
            for _ in 0..<3 { #expect(try await Self.me(port, "ingo").status == 200) }
        }
    }

    @Test("behind a trusted proxy the rightmost untrusted X-Forwarded-For hop is the client")
    func trustedProxy() async throws {
        let configuration = try await DirectoryFixtures.configuration(overrides: [
            "FREIGABE_HTTP_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"
        ])
        #expect(configuration.http.trustedProxies.map(\.description) == ["127.0.0.1", "10.0.0.0/8"])
        try await LiveServer.run(configuration) { port async throws in
            // The guesser sits at 198.51.100.7 behind two proxies and made up the leftmost hop.
            let chain = "203.0.113.9, 198.51.100.7, 10.1.2.3"
            for _ in 0..<5 { #expect(try await Self.me(port, "otto", "falsch", forwardedFor: chain).status == 401) }
            #expect(try await Self.me(port, "otto", "falsch", forwardedFor: chain).status == 429)
            #expect(try await Self.me(port, "otto", forwardedFor: "198.51.100.7").status == 429)
            // A client cannot escape by putting a fresh address on the left: the proxy's hop counts.
            #expect(try await Self.me(port, "otto", forwardedFor: "192.0.2.45, 198.51.100.7").status == 429)
            // otto at his own desk, behind the same proxy, is another client and logs in.
            #expect(try await Self.me(port, "otto", forwardedFor: "192.0.2.44, 10.1.2.3").status == 200)
        }
    }

    @Test("X-Forwarded-For from a peer that is not a trusted proxy is ignored")
    func untrustedPeer() async throws {
        let configuration = try await DirectoryFixtures.configuration(overrides: [
            "FREIGABE_HTTP_TRUSTED_PROXIES": "10.0.0.0/8"
        ])
        try await LiveServer.run(configuration) { port async throws in
            for index in 0..<5 {
                let spoofed = "198.51.100.\(index)"
                #expect(try await Self.me(port, "otto", "falsch", forwardedFor: spoofed).status == 401)
            }
            // All five counted for 127.0.0.1, whatever the header claimed.
            #expect(try await Self.me(port, "otto", forwardedFor: "198.51.100.99").status == 429)
        }
    }
}
