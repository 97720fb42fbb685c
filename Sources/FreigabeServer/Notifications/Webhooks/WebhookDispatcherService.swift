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
///
/// One loop fans new events out and wakes the loops of the subscriptions that received deliveries (one
/// loop per subscription), each of which claims, sends and records that subscription's deliveries on its
/// own: a receiver that never answers holds its own loop for the timeout, not the others (their events
/// go out within moments), and a backlog of one subscription never fills another's claim. A commit that
/// wrote only mail rows wakes the fan-out, which finds nothing and wakes no subscription's loop. A
/// delivery made due again by an operator (`freigabe outbox retry w<id>`, the outbox page) wakes its
/// subscription's loop through `LISTEN freigabe_webhook_retry` (``WebhookStore/retryChannel``), on the
/// same connection as `freigabe_outbox`.
struct WebhookDispatcherService: Service {
    let dispatcher: WebhookDispatcher
    let logger: Logger
    let now: @Sendable () -> Date
    /// Told of every round before it starts (tests count them).
    let observe: (@Sendable (Round) -> Void)?

    /// A round of one of the loops.
    enum Round: Sendable, Hashable {
        case fanOut
        /// A claim of one subscription's due deliveries.
        case deliver(subscription: String)
    }

    init(
        dispatcher: WebhookDispatcher, logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
        observe: (@Sendable (Round) -> Void)? = nil
    ) {
        self.dispatcher = dispatcher
        self.logger = logger
        self.now = now
        self.observe = observe
    }

    func run() async throws {
        let names = dispatcher.settings.subscriptions.map(\.name)
        let fanOutBell = Doorbell()
        let bells = Dictionary(uniqueKeysWithValues: names.map { ($0, Doorbell()) })
        // Ends on graceful shutdown after the rounds in flight (``Rounds``); a delivery cut short by a
        // cancellation stays claimed, and after the lease it is sent again with the same webhook-id.
        await withTaskGroup(of: Void.self) { group in
            if !names.isEmpty {
                let listener = OutboxListener(
                    client: dispatcher.client, logger: logger,
                    channels: [OutboxStore.channel, WebhookStore.retryChannel])
                group.addTask {
                    await listener.listen { wake in
                        switch wake {
                        case .listening:
                            // New events and retries may have come while nobody listened.
                            fanOutBell.ring()
                            for bell in bells.values { bell.ring() }
                        case .notified(OutboxStore.channel, _):
                            fanOutBell.ring()
                        case .notified(_, let subscription) where subscription.isEmpty:
                            // A retry that names no subscription: every loop.
                            for bell in bells.values { bell.ring() }
                        case .notified(_, let subscription):
                            // A retry: its subscription's loop (none for one not configured here).
                            bells[subscription]?.ring()
                        }
                    }
                }
            }
            await withTaskGroup(of: Void.self) { loops in
                loops.addTask { await self.fanOut(woken: fanOutBell, waking: bells) }
                for subscription in dispatcher.settings.subscriptions {
                    guard let bell = bells[subscription.name] else { continue }
                    loops.addTask { await self.deliver(subscription: subscription, woken: bell) }
                }
            }
            group.cancelAll()
        }
    }

    /// Registers the subscriptions, then fans new events out whenever rung (a commit) or polled, and
    /// wakes the loops of the subscriptions that received deliveries.
    private func fanOut(woken doorbell: Doorbell, waking bells: [String: Doorbell]) async {
        let settings = dispatcher.settings
        var registered = false
        var touched = Date.distantPast
        while Rounds.goOn {
            var pause = settings.pollInterval
            do {
                if !registered {
                    // Before any fan-out: an event fanned out to no registered subscription is lost.
                    try await dispatcher.register(now: now())
                    registered = true
                    touched = now()
                } else if now().timeIntervalSince(touched) >= WebhookStore.touchInterval {
                    // The other instances fan events out to these subscriptions too while this one says so.
                    try await WebhookStore.touch(
                        settings.subscriptions, now: now(), client: dispatcher.client, logger: logger)
                    touched = now()
                }
                observe?(.fanOut)
                let fanned = try await dispatcher.fanOut(now: now())
                for name in fanned.receiving { bells[name]?.ring() }
                if fanned.events >= settings.batchSize * 5 { continue }
            } catch {
                if Task.isCancelled { return }
                logger.error("Sending webhooks failed", metadata: ["error": "\(String(reflecting: error))"])
                pause = min(pause, .seconds(5))
            }
            await doorbell.waitUnlessShuttingDown(atMost: pause)
        }
    }

    /// One subscription's deliveries: a round when rung, polled, or when its next delivery is due (not
    /// before its pause ends).
    private func deliver(subscription: WebhookSettings.Subscription, woken doorbell: Doorbell) async {
        let settings = dispatcher.settings
        let name = subscription.name
        var subscriptionLogger = logger
        subscriptionLogger[metadataKey: "webhook.subscription"] = "\(name)"
        while Rounds.goOn {
            var pause = settings.pollInterval
            do {
                observe?(.deliver(subscription: name))
                let report = try await dispatcher.deliver(subscription: subscription, now: now())
                if report.claimed >= settings.batchSize { continue }
                if let next = try await WebhookStore.nextDue(
                    subscription: subscription, client: dispatcher.client, logger: logger)
                {
                    let seconds = max(next.timeIntervalSince(now()), 0.05)
                    pause = min(pause, .milliseconds(Int64(min(seconds, 86_400) * 1000)))
                }
            } catch {
                if Task.isCancelled { return }
                subscriptionLogger.error(
                    "Sending webhooks failed", metadata: ["error": "\(String(reflecting: error))"])
                pause = min(pause, .seconds(5))
            }
            await doorbell.waitUnlessShuttingDown(atMost: pause)
        }
    }
}
