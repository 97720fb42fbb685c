import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import FreigabeServer

@Suite("Operations: /metrics")
struct MetricsTests {
    static let token = "metrik-token-4711"

    private func scrape(_ client: any TestClientProtocol, token: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: "/metrics", method: .get, headers: headers)
    }

    @Test("with a token: refused without it or with another; Prometheus text with requests, logins and the circuit")
    func tokenProtected() async throws {
        let app = try await buildApplication(
            configuration: try await DirectoryFixtures.configuration(overrides: ["FREIGABE_METRICS_TOKEN": Self.token]))
        try await app.test(.router) { client in
            #expect(try await scrape(client, token: nil).status == .unauthorized)
            #expect(try await scrape(client, token: "metrik-token-4712").status == .unauthorized)
            #expect(try await scrape(client, token: Self.token + "x").status == .unauthorized)
            for _ in 0..<2 {
                let me = try await client.execute(
                    uri: "/api/v1/me", method: .get, headers: [.authorization: DirectoryFixtures.basic("anna")])
                #expect(me.status == .ok)
            }
            let wrong = try await client.execute(
                uri: "/api/v1/me", method: .get, headers: [.authorization: DirectoryFixtures.basic("anna", "falsch")])
            #expect(wrong.status == .unauthorized)
            let response = try await scrape(client, token: Self.token)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(buffer: response.body)
            #expect(
                text.contains(#"freigabe_http_requests_total{route="/api/v1/me",method="GET",status="200"} 2"#),
                "\(text)")
            #expect(text.contains(#"freigabe_http_requests_total{route="/api/v1/me",method="GET",status="401"} 1"#))
            #expect(text.contains(#"freigabe_logins_total{result="ok"} 1"#))
            #expect(text.contains(#"freigabe_logins_total{result="cached"} 1"#))
            #expect(text.contains(#"freigabe_logins_total{result="refused"} 1"#))
            #expect(text.contains(#"freigabe_ldap_circuit_state{state="closed"} 1"#))
            #expect(text.contains("freigabe_http_request_duration_seconds_bucket"))
            // No person's name is ever a label.
            #expect(!text.contains("anna"))
        }
    }

    @Test("without a token only loopback clients may read; an unknown peer is refused")
    func loopbackOnly() async throws {
        let app = try await buildApplication(configuration: try await DirectoryFixtures.configuration())
        try await app.test(.router) { client in
            // The router test has no peer address: not loopback.
            let anonymous = try await scrape(client, token: nil)
            #expect(anonymous.status == .unauthorized)
            let guessed = try await scrape(client, token: Self.token)
            #expect(guessed.status == .unauthorized)
        }
    }

    @Test("commands and decisions are counted by command and outcome")
    func commandsAndDecisions() async throws {
        try await ServiceFixture.with { fixture in
            let metrics = AppMetrics()
            let service = RequestService(
                client: fixture.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: People.resolver, metrics: metrics)
            let counted = ServiceFixture(service: service, app: fixture.app, admin: fixture.admin)
            let request = try await counted.shared("baumkataster")
            _ = try await counted.decide(request, by: People.otto, at: Clock.days(1))
            _ = await expectServiceError(.conflict) {
                try await counted.decide(request, by: People.otto, at: Clock.days(1))
            }
            let text = metrics.registry.emitToString()
            #expect(text.contains(#"freigabe_commands_total{command="decide",outcome="ok"} 1"#), "\(text)")
            #expect(text.contains(#"freigabe_commands_total{command="decide",outcome="conflict"} 1"#))
            #expect(text.contains(#"freigabe_decisions_total{outcome="approved"} 1"#))
            #expect(text.contains("freigabe_db_pool_wait_seconds_count"))
        }
    }
}

@Suite("Configuration: directory fault settings")
struct DirectoryFaultSettingsTests {
    @Test("pool wait and circuit breaker are read from configuration; bad values stop the start")
    func read() async throws {
        let configuration = try await DirectoryFixtures.configuration(overrides: [
            "FREIGABE_LDAP_POOL_WAIT_TIMEOUT_SECONDS": "2", "FREIGABE_LDAP_CIRCUIT_BREAKER_FAILURES": "7",
            "FREIGABE_LDAP_CIRCUIT_BREAKER_COOL_DOWN_SECONDS": "9",
        ])
        let directory = try #require(configuration.directory)
        #expect(directory.poolWaitTimeout == .seconds(2))
        #expect(directory.circuitBreaker.failureThreshold == 7)
        #expect(directory.circuitBreaker.coolDown == .seconds(9))
        for (key, value) in [
            ("FREIGABE_LDAP_POOL_WAIT_TIMEOUT_SECONDS", "0"), ("FREIGABE_LDAP_CIRCUIT_BREAKER_FAILURES", "-1"),
            ("FREIGABE_LDAP_CIRCUIT_BREAKER_FAILURES", "1e3"), ("FREIGABE_LDAP_CIRCUIT_BREAKER_COOL_DOWN_SECONDS", "x"),
        ] {
            await #expect(throws: ConfigurationError.self, "\(key)=\(value)") {
                _ = try await DirectoryFixtures.configuration(overrides: [key: value])
            }
        }
    }
}

@Suite("Operations: JSON log lines")
struct JSONLogTests {
    final class Lines: Sendable {
        let all = Mutex<[String]>([])

        /// Every line written so far, each as its JSON object.
        func objects() throws -> [[String: String]] {
            try all.withLock { $0 }.map { try JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        }
    }

    /// A logger that writes JSON lines (as `log.format: json` does) into the returned `Lines`: what tests
    /// read to see that something was logged, with which metadata.
    static func capturingLogger(level: Logger.Level = .info) -> (Logger, Lines) {
        let lines = Lines()
        var logger = Logger(label: "freigabe") { label in
            JSONLogHandler(label: label) { line in lines.all.withLock { $0.append(line) } }
        }
        logger.logLevel = level
        return (logger, lines)
    }

    @Test("one JSON object per line with level, label, message and metadata; quotes and line breaks escaped")
    func line() throws {
        let lines = Lines()
        var logger = Logger(label: "freigabe") { label in
            JSONLogHandler(label: label) { line in lines.all.withLock { $0.append(line) } }
        }
        logger[metadataKey: "request.id"] = "abc"
        logger.info("request \"changed\"\nnext", metadata: ["command": "decide"])
        let written = lines.all.withLock { $0 }
        #expect(written.count == 1)
        #expect(written[0].hasSuffix("\n") && written[0].filter { $0 == "\n" }.count == 1)
        let object = try JSONDecoder().decode([String: String].self, from: Data(written[0].utf8))
        #expect(object["level"] == "info")
        #expect(object["label"] == "freigabe")
        #expect(object["message"] == "request \"changed\"\nnext")
        #expect(object["request.id"] == "abc")
        #expect(object["command"] == "decide")
        #expect(object["time"]?.hasSuffix("Z") == true)
    }

    /// A 500 or 503 page shows only a reference (`hb.request.id`): the cause must be in the log under it.
    @Test("an internal or unavailable service error is logged with its details; the answer is generic")
    func serviceErrorsAreLogged() throws {
        var (logger, lines) = Self.capturingLogger()
        logger[metadataKey: "hb.request.id"] = "ref-1"
        for error in [ServiceError.internal("outbox row 7 unreadable"), .unavailable("pool wait over")] {
            let problem = APIProblemMiddleware<AppRequestContext>.problem(for: error, logger: logger)
            #expect(problem.errors.isEmpty)
            #expect(!"\(problem.detail)".contains("outbox row") && !"\(problem.detail)".contains("pool wait"))
        }
        _ = APIProblemMiddleware<AppRequestContext>.problem(for: ServiceError.notFound(), logger: logger)
        let written = try lines.objects()
        #expect(written.count == 2)
        #expect(written.allSatisfy { $0["level"] == "error" && $0["hb.request.id"] == "ref-1" })
        #expect(written.map { $0["message"] } == ["service error in a request", "service error in a request"])
        #expect(written[0]["error"]?.contains("outbox row 7 unreadable") == true, "\(written)")
        #expect(written[1]["error"]?.contains("pool wait over") == true, "\(written)")
    }

    @Test("a decision link's token never reaches the log: its path is logged without it")
    func linkTokensStayOutOfTheLog() {
        #expect(loggedPath("/e/Zk3v9_Qx-secret") == "/e/…")
        #expect(loggedPath("/e/") == "/e/…")
        #expect(loggedPath("/eingang") == "/eingang")
        #expect(loggedPath("/api/v1/requests/42") == "/api/v1/requests/42")
    }

    @Test("log.format is text or json; anything else stops the start")
    func configuration() async throws {
        #expect(
            try await DirectoryFixtures.configuration(overrides: ["FREIGABE_LOG_FORMAT": "json"]).logFormat == .json)
        #expect(try await DirectoryFixtures.configuration().logFormat == .text)
        await #expect(throws: ConfigurationError.self) {
            _ = try await DirectoryFixtures.configuration(overrides: ["FREIGABE_LOG_FORMAT": "xml"])
        }
    }
}

@Suite("ServiceError: safe description, details only for the log")
struct ServiceErrorTextTests {
    @Test("description never carries details; debugDescription does")
    func texts() {
        let error = ServiceError.unavailable("connect on 10.0.0.7:5432 as freigabe_app failed")
        #expect(!error.description.contains("10.0.0.7"))
        #expect(error.description.hasPrefix("unavailable: "))
        #expect(String(reflecting: error).contains("10.0.0.7"))
        #expect(String(reflecting: ServiceError.notFound()) == ServiceError.notFound().description)
    }
}
