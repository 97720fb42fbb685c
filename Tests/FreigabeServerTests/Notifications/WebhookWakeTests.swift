import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

@testable import FreigabeServer

/// What wakes a subscription's delivery loop: a fan-out that gave it deliveries, and an operator's retry
/// of one of its deliveries (`LISTEN freigabe_webhook_retry`); not a commit that wrote only mail rows,
/// nor another subscription's events. The poll is ten minutes here: only a wake-up can explain a
/// round within a test.
@Suite("Webhook wake-ups", .serialized)
struct WebhookWakeTests {
    typealias Round = WebhookDispatcherService.Round

    /// The rounds a running service started, per loop.
    final class RoundCounter: Sendable {
        private let counts = Mutex<[Round: Int]>([:])
        func observe(_ round: Round) { counts.withLock { $0[round, default: 0] += 1 } }
        var all: [Round: Int] { counts.withLock { $0 } }
        subscript(_ round: Round) -> Int { counts.withLock { $0[round] ?? 0 } }
    }

    static let portal = Round.deliver(subscription: "portal")
    static let archive = Round.deliver(subscription: "archive")

    /// `portal` wants `request.submitted`, `archive` only `grant.revoked`; both polled every ten minutes.
    static func settings(port: Int) -> WebhookSettings {
        var settings = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook")
        settings.subscriptions.append(
            WebhookSettings.Subscription(
                name: "archive", url: URL(string: "http://127.0.0.1:\(port)/archive")!,
                secrets: [WebhookTestSupport.secret], events: [.grantRevoked]))
        settings.pollInterval = .seconds(600)
        return settings
    }

    /// Runs the service until `body` returns; `body` gets the rounds as they are counted.
    static func running(
        _ dispatcher: WebhookDispatcher, _ body: @Sendable (RoundCounter) async throws -> Void
    )
        async throws
    {
        let rounds = RoundCounter()
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let service = WebhookDispatcherService(
            dispatcher: dispatcher, logger: logger, observe: { rounds.observe($0) })
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(rounds)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The rounds once those of the start have run (each loop's first, and those the listener rang when
    /// it began listening): nothing new for a second.
    static func settled(_ rounds: RoundCounter) async throws -> [Round: Int] {
        var last = rounds.all
        var quiet = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let now = rounds.all
            if now != last || now.count < 3 {
                last = now
                quiet = ContinuousClock.now
            } else if ContinuousClock.now - quiet >= .seconds(1) {
                return now
            }
        }
        Issue.record("the service's rounds did not settle: \(last)")
        return last
    }

    /// Whether `condition` held within `limit`.
    static func eventually(
        within limit: Duration = .seconds(10), _ condition: () async throws -> Bool
    )
        async throws -> Bool
    {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test("a fan-out wakes the loop of the subscription that received a delivery, not the other's", .runsAlone)
    func fanOutWakesOnlyReceivers() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init() }) { port, receiver in
                let dispatcher = try await WebhookTestSupport.dispatcher(fixture, Self.settings(port: port))
                try await Self.running(dispatcher) { rounds in
                    let before = try await Self.settled(rounds)
                    _ = try await fixture.submittedRequest()
                    #expect(try await Self.eventually { receiver.requests.count == 1 })
                    // Time for a round that should not come.
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(rounds[Self.portal] > before[Self.portal] ?? 0)
                    #expect(rounds[Self.archive] == before[Self.archive], "archive received nothing: not woken")
                }
                #expect(receiver.requests.map(\.path) == ["/hook"])
            }
        }
    }

    @Test("a commit that wrote only mail rows wakes the fan-out, and no subscription's loop", .runsAlone)
    func mailOnlyCommitWakesNoDelivery() async throws {
        try await ServiceFixture.with { base in
            // Commands of a service no subscription wants any event of write mail rows only.
            let service = RequestService(
                client: base.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: People.resolver, webhookEvents: WebhookEventSelection(subscriptions: []))
            let mailOnly = ServiceFixture(service: service, app: base.app, admin: base.admin)
            let dispatcher = try await WebhookTestSupport.dispatcher(base, Self.settings(port: 9))
            try await Self.running(dispatcher) { rounds in
                let before = try await Self.settled(rounds)
                let request = try await mailOnly.submittedRequest()
                #expect(try await Self.eventually { rounds[.fanOut] > before[.fanOut] ?? 0 }, "the commit woke it")
                try await Task.sleep(for: .milliseconds(500))
                #expect(rounds[Self.portal] == before[Self.portal])
                #expect(rounds[Self.archive] == before[Self.archive])
                let kinds = try await base.admin.query(
                    "SELECT DISTINCT kind FROM outbox WHERE request_id = \(request.id)", logger: base.logger)
                #expect(try await kinds.decode(String.self).reduce(into: []) { $0.append($1) } == ["mail"])
            }
        }
    }

    @Test("an operator's retry of a failed delivery wakes its subscription: sent within moments, not at the poll")
    func retryWakesItsSubscription() async throws {
        try await ServiceFixture.with { fixture in
            // Refused until the schedule (one pause) has run out, the operator's retry accepted.
            try await WebhookReceiver.run({ index, _ in .init(status: index < 2 ? 400 : 204) }) { port, receiver in
                var settings = Self.settings(port: port)
                settings.retrySchedule = RetrySchedule.parse("1s")!
                let dispatcher = try await WebhookTestSupport.dispatcher(fixture, settings)
                let environment = try await fixture.databaseEnvironment()
                try await Self.running(dispatcher) { rounds in
                    _ = try await Self.settled(rounds)
                    _ = try await fixture.submittedRequest()
                    #expect(
                        try await Self.eventually {
                            try await WebhookTestSupport.deliveries(fixture).contains { $0.failed }
                        })
                    let rows = try await fixture.admin.query(
                        "SELECT id FROM webhook_deliveries WHERE failed_at IS NOT NULL", logger: fixture.logger)
                    let id = try #require(try await rows.decode(Int64.self).first(where: { _ in true }))
                    let clock = ContinuousClock()
                    let retried = clock.now
                    #expect(await OutboxTool.retryWebhook(id: id, environment: environment).succeeded)
                    #expect(try await Self.eventually { receiver.requests.count == 3 })
                    let waited = clock.now - retried
                    #expect(waited < .seconds(3), "sent \(waited) after the retry")
                }
                let rows = try await WebhookTestSupport.deliveries(fixture)
                #expect(rows.map(\.delivered) == [true], "\(rows)")
            }
        }
    }
}
