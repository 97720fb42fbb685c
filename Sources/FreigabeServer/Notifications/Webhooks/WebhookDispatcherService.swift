import Foundation
import Logging
import ServiceLifecycle

/// Sends the webhooks. Every instance with a database runs one, also without subscriptions (it then
/// marks events left from an earlier configuration handled, so they do not pile up, and a subscription
/// added later starts with new events). Woken like the mail dispatcher by `LISTEN freigabe_outbox`, with
/// the same slow poll and a wake-up when the earliest retry is due; deliveries are claimed with
/// `FOR UPDATE SKIP LOCKED` under a lease, so several instances deliver each event once in normal
/// operation. Without subscriptions it only polls: commands then write no webhook rows
/// (``WebhookEventSelection``), and a fan-out woken by every command's mail rows would be one idle
/// statement per command.
struct WebhookDispatcherService: Service {
    let dispatcher: WebhookDispatcher
    let logger: Logger
    let now: @Sendable () -> Date

    init(dispatcher: WebhookDispatcher, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.dispatcher = dispatcher
        self.logger = logger
        self.now = now
    }

    func run() async throws {
        let doorbell = Doorbell()
        // Ends on graceful shutdown after the round in flight (``Rounds``); a delivery cut short by a
        // cancellation stays claimed, and after the lease it is sent again with the same webhook-id.
        await withTaskGroup(of: Void.self) { group in
            if !self.dispatcher.settings.subscriptions.isEmpty {
                group.addTask {
                    await OutboxListener(client: self.dispatcher.client, logger: self.logger).listen(
                        ringing: doorbell)
                }
            }
            await self.dispatch(woken: doorbell)
            group.cancelAll()
        }
    }

    private func dispatch(woken doorbell: Doorbell) async {
        let settings = dispatcher.settings
        var registered = false
        while Rounds.goOn {
            var pause = settings.pollInterval
            do {
                if !registered {
                    try await dispatcher.register(now: now())
                    registered = true
                }
                let report = try await dispatcher.runRound(now: now())
                if report.claimed >= settings.batchSize || report.fannedOut >= settings.batchSize * 5 { continue }
                if let next = try await WebhookStore.nextDue(
                    subscriptions: settings.subscriptions.map(\.name), client: dispatcher.client, logger: logger)
                {
                    let seconds = max(next.timeIntervalSince(now()), 0.05)
                    pause = min(pause, .milliseconds(Int64(seconds * 1000)))
                }
            } catch {
                if Task.isCancelled { return }
                logger.error("Sending webhooks failed", metadata: ["error": "\(String(reflecting: error))"])
                pause = min(pause, .seconds(5))
            }
            await doorbell.waitUnlessShuttingDown(atMost: pause)
        }
    }
}
