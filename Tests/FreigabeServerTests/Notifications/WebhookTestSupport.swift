import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@testable import FreigabeServer

/// A real HTTP receiver on 127.0.0.1 (a small Hummingbird application): records every request and
/// answers as the test's script says.
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [String: String]
        var body: Data
    }

    /// Status, headers and a pause before answering, for the n-th request (0-based) to `path`.
    struct Answer: Sendable {
        var status: Int = 204
        var headers: [String: String] = [:]
        var delay: Duration = .zero
        /// After the head and a first piece of the body, how long the body is held open (zero: no body).
        var bodyHeldOpen: Duration = .zero
    }

    typealias Script = @Sendable (_ index: Int, _ path: String) -> Answer

    private let received = Mutex<[Received]>([])
    private let script: Script

    init(script: @escaping Script) {
        self.script = script
    }

    var requests: [Received] { received.withLock { $0 } }

    /// Runs the receiver until `body` returns; `body` gets its port.
    static func run<Value: Sendable>(
        _ script: @escaping Script, _ body: @Sendable (_ port: Int, _ receiver: WebhookReceiver) async throws -> Value
    ) async throws -> Value {
        let receiver = WebhookReceiver(script: script)
        let router = Router()
        router.post("**") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let index = receiver.received.withLock { list in
                list.append(Received(path: request.uri.path, headers: headers, body: Data(buffer: body)))
                return list.filter { $0.path == request.uri.path }.count - 1
            }
            let answer = receiver.script(index, request.uri.path)
            if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
            var fields = HTTPFields()
            for (name, value) in answer.headers { fields[HTTPField.Name(name)!] = value }
            guard answer.bodyHeldOpen > .zero else {
                return Response(status: .init(code: answer.status), headers: fields)
            }
            return Response(
                status: .init(code: answer.status), headers: fields,
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "ok"))
                    try await Task.sleep(for: answer.bodyHeldOpen)
                    try await writer.finish(nil)
                })
        }
        let port = Mutex<Int?>(nil)
        var logger = Logger(label: "webhook.receiver")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } }, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let services = ServiceGroup(
                configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
            group.addTask { try await services.run() }
            do {
                let deadline = ContinuousClock.now + .seconds(10)
                while port.withLock({ $0 }) == nil {
                    guard ContinuousClock.now < deadline else { throw TestSetupError("receiver did not start") }
                    try await Task.sleep(for: .milliseconds(20))
                }
                let value = try await body(port.withLock { $0 }!, receiver)
                await services.triggerGracefulShutdown()
                group.cancelAll()
                return value
            } catch {
                await services.triggerGracefulShutdown()
                group.cancelAll()
                throw error
            }
        }
    }
}

enum WebhookTestSupport {
    /// 32 fixed bytes, as `openssl rand -base64 32` would give.
    static let secret = WebhookSecret("whsec_" + Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString())!
    static let oldSecret = WebhookSecret("whsec_" + Data((0..<24).map { UInt8(255 - $0) }).base64EncodedString())!

    static func text(of secret: WebhookSecret) -> String { "whsec_" + secret.key.base64EncodedString() }

    /// Settings for one subscription `portal` to `url`; loopback allowed unless `allowLoopback` is false.
    static func settings(
        url: String, events: Set<WebhookEventType>? = [.requestSubmitted], secrets: [WebhookSecret] = [secret],
        schedule: String = "1s, 1s, 1s, 1s", timeout: Duration = .seconds(10), allowLoopback: Bool = true
    ) -> WebhookSettings {
        var settings = WebhookSettings(
            subscriptions: [
                WebhookSettings.Subscription(name: "portal", url: URL(string: url)!, secrets: secrets, events: events)
            ],
            policy: AddressPolicy(allowed: allowLoopback ? [IPNetwork("127.0.0.1/32")!] : []))
        settings.retrySchedule = RetrySchedule.parse(schedule)!
        settings.timeout = timeout
        return settings
    }

    static func dispatcher(
        _ fixture: ServiceFixture, _ settings: WebhookSettings, metrics: AppMetrics? = nil
    ) async throws -> WebhookDispatcher {
        var logger = Logger(label: "freigabe.webhook.tests")
        logger.logLevel = .critical
        let dispatcher = WebhookDispatcher(
            client: fixture.app, settings: settings, metrics: metrics, logger: logger, random: { 0.5 })
        // Registered before the events of the test happen (they carry the fixed test clock).
        try await dispatcher.register(now: Date(timeIntervalSince1970: 0))
        return dispatcher
    }

    struct DeliveryRow: Sendable, Equatable {
        var subscription: String
        var event: String
        var attempts: Int
        var delivered: Bool
        var failed: Bool
        var status: Int?
        var error: String?
    }

    static func deliveries(_ fixture: ServiceFixture) async throws -> [DeliveryRow] {
        let rows = try await fixture.admin.query(
            """
            SELECT subscription, event, attempts, delivered_at IS NOT NULL, failed_at IS NOT NULL, last_status, last_error
            FROM webhook_deliveries ORDER BY id
            """, logger: fixture.logger)
        var result: [DeliveryRow] = []
        for try await (subscription, event, attempts, delivered, failed, status, error) in rows.decode(
            (String, String, Int, Bool, Bool, Int?, String?).self)
        {
            result.append(
                DeliveryRow(
                    subscription: subscription, event: event, attempts: attempts, delivered: delivered, failed: failed,
                    status: status, error: error))
        }
        return result
    }

    /// Verifies a received webhook with the reference implementation (`scripts/verify-webhook`, the
    /// `standardwebhooks` package from PyPI); returns the payload's type it printed.
    static func verifyWithReference(_ received: WebhookReceiver.Received, secret: WebhookSecret) async throws -> String
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let headers = directory.appendingPathComponent("headers.json")
        let body = directory.appendingPathComponent("body.json")
        try JSONSerialization.data(withJSONObject: received.headers).write(to: headers)
        try received.body.write(to: body)
        let script = StoreTestSupport.repositoryRoot.appendingPathComponent("scripts/verify-webhook").path
        return try await MailSink.run("/bin/bash", [script, text(of: secret), headers.path, body.path])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension ServiceFixture {
    /// A submitted Shared Data request (anna, baumkataster): its events are `request.submitted` and
    /// `request.step_assigned`.
    func submittedRequest(at now: Date = Clock.start) async throws -> RequestView {
        try await shared("baumkataster", at: now)
    }

    /// The `FREIGABE_DB_*` settings of this fixture's database, for the command-line tools.
    func databaseEnvironment() async throws -> [String: String] {
        let rows = try await app.query("SELECT current_database()", logger: logger)
        let name = try #require(try await rows.decode(String.self).first(where: { _ in true }))
        var environment = try StoreTestSupport.environment()
        environment["FREIGABE_DB_NAME"] = name
        return environment
    }
}
