import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

@testable import FreigabeServer

/// One receiver must not hold up the others: a hung or slow receiver delays only its own deliveries, a
/// backlog of one subscription does not starve another, a receiver's `Retry-After` pauses its
/// subscription (for every instance), and an event that can never be sent does not wait for ever.
@Suite("Webhook fairness", .serialized)
struct WebhookFairnessTests {
    @Test(
        "a receiver that accepts the connection and never answers delays only its own deliveries: the other subscription's arrive within moments",
        .runsAlone)
    func hungReceiverDelaysOnlyItself() async throws {
        try await ServiceFixture.with { fixture in
            try await SilentReceiver.run { silentPort, silent in
                try await WebhookReceiver.run({ _, _ in .init() }) { port, receiver in
                    var settings = WebhookTestSupport.settings(
                        url: "http://127.0.0.1:\(port)/hook", timeout: .seconds(6))
                    settings.subscriptions.append(
                        WebhookSettings.Subscription(
                            name: "silent", url: URL(string: "http://127.0.0.1:\(silentPort)/hook")!,
                            secrets: [WebhookTestSupport.secret], events: [.requestSubmitted]))
                    let dispatcher = try await WebhookTestSupport.dispatcher(fixture, settings)
                    var logger = Logger(label: "t")
                    logger.logLevel = .critical
                    let service = WebhookDispatcherService(dispatcher: dispatcher, logger: logger)
                    let group = ServiceGroup(
                        configuration: .init(services: [service], gracefulShutdownSignals: [], logger: logger))
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        tasks.addTask { try await group.run() }
                        try await Task.sleep(for: .milliseconds(500))
                        let clock = ContinuousClock()
                        _ = try await fixture.submittedRequest()
                        var started = clock.now
                        while (receiver.requests.isEmpty || silent.connections == 0)
                            && clock.now - started < .seconds(10)
                        {
                            try await Task.sleep(for: .milliseconds(20))
                        }
                        // The silent receiver now holds its attempt for the 6 s timeout; a new event for both.
                        started = clock.now
                        _ = try await fixture.submittedRequest(at: Clock.days(1))
                        while receiver.requests.count < 2 && clock.now - started < .seconds(10) {
                            try await Task.sleep(for: .milliseconds(20))
                        }
                        let waited = clock.now - started
                        await group.triggerGracefulShutdown()
                        try await tasks.waitForAll()
                        #expect(silent.connections >= 1, "the silent receiver was tried")
                        #expect(receiver.requests.count == 2)
                        #expect(waited < .seconds(2), "the healthy receiver got the second event \(waited) after it")
                    }
                    let rows = try await WebhookTestSupport.deliveries(fixture)
                    let silentRows = rows.filter { $0.subscription == "silent" }
                    #expect(
                        silentRows.allSatisfy { !$0.delivered && !$0.failed }, "the hung attempt is retried: \(rows)")
                    #expect(rows.filter { $0.subscription == "portal" }.allSatisfy { $0.delivered }, "\(rows)")
                }
            }
        }
    }

    @Test("a subscription with 100 due deliveries does not starve another: the other's one goes in the first round")
    func backlogDoesNotStarve() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 204) }) { port, receiver in
                var settings = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook")
                settings.subscriptions.insert(
                    WebhookSettings.Subscription(
                        name: "bulk", url: URL(string: "http://127.0.0.1:\(port)/bulk")!,
                        secrets: [WebhookTestSupport.secret], events: [.requestSubmitted]), at: 0)
                let dispatcher = try await WebhookTestSupport.dispatcher(fixture, settings)
                _ = try await fixture.submittedRequest()
                let start = Date()
                // 100 events that piled up for `bulk` during an outage of its receiver: older, so due first.
                let earlier = start.addingTimeInterval(-3600)
                try await fixture.admin.query(
                    """
                    WITH copies AS (
                        INSERT INTO outbox (kind, topic, request_id, payload, created_at, available_at, sent_at)
                        SELECT o.kind, o.topic, o.request_id, o.payload, o.created_at, o.available_at, \(earlier)
                        FROM outbox o, generate_series(1, 100)
                        WHERE o.kind = 'webhook' AND o.payload->>'event' = 'request.submitted'
                        RETURNING id
                    )
                    INSERT INTO webhook_deliveries (outbox_id, subscription, event, created_at, available_at)
                    SELECT id, 'bulk', 'request.submitted', \(earlier), \(earlier) FROM copies
                    """, logger: fixture.logger)
                let report = try await dispatcher.runRound(now: start)
                #expect(
                    receiver.requests.filter { $0.path == "/hook" }.count == 1, "portal's one event in the first round")
                let bulk = receiver.requests.filter { $0.path == "/bulk" }.count
                #expect(bulk >= 1 && bulk <= settings.batchSize)
                #expect(report.delivered == bulk + 1)
                let portal = try await WebhookTestSupport.deliveries(fixture).filter { $0.subscription == "portal" }
                #expect(portal.count == 1 && portal.allSatisfy { $0.delivered }, "\(portal)")
            }
        }
    }

    @Test(
        "429 with Retry-After: 120 pauses the subscription, stored so that another instance waits too; afterwards everything is sent"
    )
    func retryAfterPausesSubscription() async throws {
        try await ServiceFixture.with { fixture in
            let script: WebhookReceiver.Script = { index, _ in
                index == 0 ? .init(status: 429, headers: ["Retry-After": "120"]) : .init(status: 204)
            }
            try await WebhookReceiver.run(script) { port, receiver in
                let settings = WebhookTestSupport.settings(
                    url: "http://127.0.0.1:\(port)/hook", schedule: "5s, 1m, 5m, 30m, 2h, 6h, 24h")
                let one = try await WebhookTestSupport.dispatcher(fixture, settings)
                let two = try await WebhookTestSupport.dispatcher(fixture, settings)
                _ = try await fixture.submittedRequest()
                let start = Date()
                let first = try await one.runRound(now: start)
                #expect(first.retried == 1 && receiver.requests.count == 1)
                #expect(Self.same(try await Self.pausedUntil(fixture, "portal"), start.addingTimeInterval(120)))
                // Two more events for the paused subscription.
                _ = try await fixture.submittedRequest(at: Clock.days(1))
                _ = try await fixture.submittedRequest(at: Clock.days(2))
                for (seconds, dispatcher) in [(1.0, one), (6, two), (60, one), (119, two)] {
                    let report = try await dispatcher.runRound(now: start.addingTimeInterval(seconds))
                    #expect(report.claimed == 0, "\(seconds) s after the 429")
                }
                #expect(receiver.requests.count == 1, "nothing sent while paused")
                let next = try await WebhookStore.nextDue(
                    subscription: try #require(settings.subscriptions.first), client: fixture.app,
                    logger: fixture.logger)
                #expect(Self.same(next, start.addingTimeInterval(120)), "the service sleeps until the pause ends")
                let after = try await two.runRound(now: start.addingTimeInterval(121))
                #expect(after.delivered == 3)
                #expect(receiver.requests.count == 4)
                #expect(try await WebhookTestSupport.deliveries(fixture).allSatisfy { $0.delivered })
            }
        }
    }

    @Test(
        "hostile Retry-After: a huge one pauses for a day at most; negative, garbage and a past date pause nothing"
    )
    func hostileRetryAfter() async throws {
        for (value, pause) in [
            ("99999999999999999999999999", 86_400.0), ("86400", 86_400), ("999999", 86_400), ("30", 30), ("-5", nil),
            ("soon", nil), ("Sun, 06 Nov 1994 08:49:37 GMT", nil), ("1e9", nil), ("", nil),
            (String(repeating: "9", count: 5000), 86_400),
        ] as [(String, Double?)] {
            try await ServiceFixture.with { fixture in
                let script: WebhookReceiver.Script = { index, _ in
                    index == 0 ? .init(status: 503, headers: ["Retry-After": value]) : .init(status: 204)
                }
                try await WebhookReceiver.run(script) { port, receiver in
                    let dispatcher = try await WebhookTestSupport.dispatcher(
                        fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", schedule: "1s, 2m"))
                    _ = try await fixture.submittedRequest()
                    let start = Date()
                    #expect(try await dispatcher.runRound(now: start).retried == 1, "\(value.prefix(40))")
                    let paused = try await Self.pausedUntil(fixture, "portal")
                    if let pause {
                        #expect(
                            Self.same(paused, start.addingTimeInterval(pause)),
                            "\(value.prefix(40)): \(String(describing: paused))")
                    } else {
                        #expect(paused == nil || paused! <= start, "\(value.prefix(40))")
                        // The next event goes at once.
                        _ = try await fixture.submittedRequest(at: Clock.days(1))
                        #expect(
                            try await dispatcher.runRound(now: start.addingTimeInterval(0.5)).delivered == 1,
                            "\(value.prefix(40))")
                        #expect(receiver.requests.count == 2)
                    }
                }
            }
        }
    }

    @Test(
        "a webhook row without a usable event type fails at the fan-out as unsendable and is listed as failed; a well-formed unknown type stays due"
    )
    func eventlessRowFails() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 204) }) { port, receiver in
                let metrics = AppMetrics()
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", events: nil),
                    metrics: metrics)
                // Four requests; the step_assigned event of each is spoiled in its own way.
                let spoilers = [
                    "payload - 'event'", "jsonb_set(payload, '{event}', '42')",
                    #"jsonb_set(payload, '{event}', '"Request Submitted; DROP TABLE outbox"')"#,
                    #"jsonb_set(payload, '{event}', '"request.future_event"')"#,
                ]
                for (day, spoiler) in spoilers.enumerated() {
                    let request = try await fixture.submittedRequest(at: Clock.days(Double(day)))
                    try await fixture.admin.query(
                        PostgresQuery(
                            unsafeSQL: """
                                UPDATE outbox SET payload = \(spoiler)
                                WHERE kind = 'webhook' AND request_id = '\(request.id.uuidString)'
                                    AND payload->>'event' = 'request.step_assigned'
                                """), logger: fixture.logger)
                }
                let start = Date()
                let report = try await dispatcher.runRound(now: start)
                #expect(report.fannedOut == 8)
                #expect(report.delivered == 4 && receiver.requests.count == 4, "the four submissions")
                let rows = try await WebhookTestSupport.deliveries(fixture).filter { !$0.delivered }
                #expect(rows.count == 4, "\(rows)")
                let unsendable = rows.filter(\.failed)
                #expect(unsendable.count == 3, "\(rows)")
                #expect(
                    unsendable.allSatisfy { $0.attempts == 0 && $0.error?.hasPrefix("Inhalt nicht sendbar") == true },
                    "\(unsendable)")
                #expect(rows.filter { !$0.failed }.map(\.event) == ["request.future_event"], "left to a newer release")
                // Nothing is due for ever: later rounds claim nothing.
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(86_400)).claimed == 0)
                let listed = await OutboxTool.list(failed: true, environment: try await fixture.databaseEnvironment())
                #expect(
                    listed.standardOutput.filter { $0.contains("\tportal\t") && $0.contains("Inhalt nicht sendbar") }
                        .count == 3, "\(listed.standardOutput)")
                #expect(
                    metrics.registry.emitToString().contains(
                        #"freigabe_webhook_deliveries_total{subscription="portal",outcome="failed"} 3"#)
                        || metrics.registry.emitToString().contains(
                            #"freigabe_webhook_deliveries_total{outcome="failed",subscription="portal"} 3"#)
                )
            }
        }
    }

    /// The same time as PostgreSQL keeps it (microseconds).
    static func same(_ stored: Date?, _ expected: Date) -> Bool {
        guard let stored else { return false }
        return abs(stored.timeIntervalSince(expected)) < 0.001
    }

    /// `webhook_subscriptions.paused_until` of `name`.
    static func pausedUntil(_ fixture: ServiceFixture, _ name: String) async throws -> Date? {
        let rows = try await fixture.admin.query(
            "SELECT paused_until FROM webhook_subscriptions WHERE name = \(name)", logger: fixture.logger)
        return try await rows.decode(Date?.self).first(where: { _ in true }) ?? nil
    }
}

/// A receiver that accepts TCP connections on 127.0.0.1 and never answers (a hung application behind a
/// listening socket).
final class SilentReceiver: Sendable {
    private let accepted = Atomic<Int>(0)

    /// Connections accepted so far.
    var connections: Int { accepted.load(ordering: .relaxed) }

    static func run<Value: Sendable>(
        _ body: @Sendable (_ port: Int, _ receiver: SilentReceiver) async throws -> Value
    ) async throws -> Value {
        let receiver = SilentReceiver()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 16)
            .childChannelInitializer { channel in
                receiver.accepted.add(1, ordering: .relaxed)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        do {
            let value = try await body(port, receiver)
            try? await server.close()
            return value
        } catch {
            try? await server.close()
            throw error
        }
    }
}
