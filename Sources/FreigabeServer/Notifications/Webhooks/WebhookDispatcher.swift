import Foundation
import Logging
import PostgresNIO

/// Webhooks in rounds: fan new events out to the subscriptions (``fanOut(now:)``); per subscription,
/// claim its due deliveries, send them at the same time (each attempt bounded by the timeout) and record
/// what happened (``deliver(subscription:now:)``). Each subscription's deliveries are claimed and sent on
/// their own, so a receiver that hangs or has a backlog holds up only its own: the
/// ``WebhookDispatcherService`` runs one loop per subscription. ``runRound(now:)`` does all of it at
/// once; tests run rounds with a clock of their choice.
struct WebhookDispatcher: Sendable {
    let client: PostgresClient
    let settings: WebhookSettings
    let metrics: AppMetrics?
    let logger: Logger
    /// A number in 0..<1 for the retry jitter.
    let random: @Sendable () -> Double

    init(
        client: PostgresClient, settings: WebhookSettings, metrics: AppMetrics?, logger: Logger,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.random = random
    }

    struct RoundReport: Sendable, Hashable {
        /// Events turned into deliveries.
        var fannedOut = 0
        var claimed = 0
        var delivered = 0
        var retried = 0
        var failed = 0
        /// Subscriptions switched off by a 410 in this round.
        var disabled: [String] = []
        /// HTTP clients the round used: one per receiver (host and checked address), not per attempt.
        var httpClients = 0
        /// Subscriptions paused by a `Retry-After` in this round.
        var paused: [String] = []

        /// Adds the deliveries of another subscription's round.
        mutating func add(_ other: RoundReport) {
            fannedOut += other.fannedOut
            claimed += other.claimed
            delivered += other.delivered
            retried += other.retried
            failed += other.failed
            disabled += other.disabled.filter { !disabled.contains($0) }
            httpClients += other.httpClients
            paused += other.paused.filter { !paused.contains($0) }
        }
    }

    /// Registers the subscriptions (at start, and harmless again).
    /// - Returns: the subscriptions configured with an address they had before (``WebhookStore/register(_:now:client:logger:)``).
    @discardableResult
    func register(now: Date) async throws -> [String] {
        try await WebhookStore.register(settings.subscriptions, now: now, client: client, logger: logger)
    }

    /// Fans new events out, then runs every subscription's deliveries side by side and waits for all
    /// (the service instead runs each subscription in its own loop, see ``WebhookDispatcherService``).
    func runRound(now: Date) async throws -> RoundReport {
        var report = RoundReport()
        report.fannedOut = try await fanOut(now: now).events
        let parts = try await withThrowingTaskGroup(of: RoundReport.self) { group in
            for subscription in settings.subscriptions {
                group.addTask { try await self.deliver(subscription: subscription, now: now) }
            }
            var parts: [RoundReport] = []
            for try await part in group { parts.append(part) }
            return parts
        }
        for part in parts { report.add(part) }
        return report
    }

    /// Turns new events into deliveries (``WebhookStore/fanOut(_:now:limit:client:logger:)``); returns how
    /// many events were handled and which subscriptions received deliveries to send. A delivery failed
    /// as unsendable counts as failed in the metrics.
    func fanOut(now: Date) async throws -> WebhookStore.FanOut {
        let result = try await WebhookStore.fanOut(
            settings.subscriptions, now: now, limit: settings.batchSize * 5, client: client, logger: logger)
        for subscription in result.unsendable {
            metrics?.webhookDelivery(subscription: subscription, outcome: "failed")
        }
        if !result.unsendable.isEmpty {
            logger.error(
                "webhook events without a usable event type: failed unsent (freigabe outbox list --failed)",
                metadata: ["webhook.unsendable": "\(result.unsendable.count)"])
        }
        return result
    }

    /// One round of one subscription: claims up to `batchSize` of its due deliveries (none while it is
    /// paused), sends them at the same time through one HTTP client per receiver, records the outcomes.
    func deliver(subscription: WebhookSettings.Subscription, now: Date) async throws -> RoundReport {
        var report = RoundReport()
        let token = UUID()
        let claimed = try await WebhookStore.claim(
            subscription: subscription, now: now, limit: settings.batchSize, lease: settings.lease, token: token,
            client: client, logger: logger)
        let claimedAt = ContinuousClock.now
        report.claimed = claimed.count
        guard !claimed.isEmpty else { return report }
        let clients = WebhookRoundClients(policy: settings.policy, timeout: settings.timeout)
        let outcomes = await withTaskGroup(of: (DeliveryOutcome, String).self) { group in
            for delivery in claimed {
                group.addTask { (await self.attempt(delivery, now: now, clients: clients), delivery.subscription) }
            }
            var outcomes: [(outcome: DeliveryOutcome, subscription: String)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.outcome.id < $1.outcome.id }
        }
        report.httpClients = clients.count
        await clients.shutdown()
        for (outcome, subscription) in outcomes {
            if outcome.deliveredAt != nil {
                report.delivered += 1
                metrics?.webhookDelivery(subscription: subscription, outcome: "delivered")
            } else if outcome.failedAt != nil {
                report.failed += 1
                metrics?.webhookDelivery(subscription: subscription, outcome: "failed")
            } else {
                report.retried += 1
                metrics?.webhookDelivery(subscription: subscription, outcome: "retried")
            }
            if outcome.pausesSubscriptionUntil != nil, !report.paused.contains(subscription) {
                report.paused.append(subscription)
            }
            if outcome.disablesSubscription, !report.disabled.contains(subscription) {
                report.disabled.append(subscription)
                metrics?.webhookDisabled(subscription: subscription)
                logger.error(
                    "webhook receiver answered 410 Gone: subscription disabled until its URL changes",
                    metadata: ["webhook.subscription": "\(subscription)"])
            }
        }
        // Sent is sent: a database that blinked after the attempts must not have them all sent again.
        let written = try await OutcomeRecording.retrying(
            until: claimedAt + settings.lease * 3 / 4, logger: logger
        ) {
            try await WebhookStore.record(outcomes, token: token, now: now, client: client, logger: logger)
        }
        if written < outcomes.count {
            logger.warning(
                "some claimed webhook deliveries were not recorded: taken over after the lease, or recorded by a try whose answer was lost",
                metadata: ["webhook.claimed": "\(outcomes.count)", "webhook.recorded": "\(written)"])
        }
        return report
    }

    /// One attempt at one delivery, and what follows from it.
    private func attempt(_ delivery: ClaimedDelivery, now: Date, clients: WebhookRoundClients) async -> DeliveryOutcome
    {
        var outcome = DeliveryOutcome(id: delivery.id)
        var rowLogger = logger
        rowLogger[metadataKey: "webhook.subscription"] = "\(delivery.subscription)"
        rowLogger[metadataKey: "webhook.id"] = "\(delivery.webhookID)"
        rowLogger[metadataKey: "webhook.attempt"] = "\(delivery.attempts)"
        guard let subscription = settings.subscriptions.first(where: { $0.name == delivery.subscription }) else {
            // Claimed only for configured names; kept for safety.
            return retry(outcome, attempts: delivery.attempts, error: "Abonnement nicht konfiguriert", now: now)
        }
        let message: OutboxMessage
        do {
            message = try OutboxMessage.decode(fromStoredJSON: delivery.payload)
        } catch {
            // A rolling update: a newer release may have written a shape this one cannot read. Failing it
            // would lose an event the newer instances can send: left for them as a mail row is, the
            // attempt given back. Not the decoder's words in the log: they may quote the payload, which
            // names people.
            rowLogger.warning(
                "webhook payload unreadable by this release (written by a newer one?): left for an instance that can read it"
            )
            let pause = settings.retrySchedule.pauseWhileUnreadable(
                age: now.timeIntervalSince(delivery.createdAt), random: random())
            outcome.retryAt = now.addingTimeInterval(pause.seconds)
            outcome.error = RetrySchedule.unreadableError
            outcome.givesBackAttempt = true
            return outcome
        }
        let body: Data
        let headers: WebhookSigner.Headers
        do {
            guard
                let payload = WebhookPayload(
                    message, sequence: delivery.outboxID, createdAt: delivery.createdAt)
            else {
                throw PayloadError(description: "kein Ereignistyp")
            }
            body = try payload.body()
            headers = try WebhookSigner.sign(
                id: delivery.webhookID, timestamp: Int64(now.timeIntervalSince1970.rounded(.down)), body: body,
                secrets: subscription.secrets)
        } catch {
            // Nothing a retry could change.
            outcome.failedAt = now
            outcome.error = "Inhalt nicht sendbar: \(error)"
            rowLogger.error("webhook payload unusable", metadata: ["error": "\(error)"])
            return outcome
        }
        let sender = WebhookSender(policy: settings.policy, timeout: settings.timeout, clients: clients)
        switch await sender.send(to: subscription, body: body, headers: headers, now: now) {
        case .delivered(let status):
            outcome.deliveredAt = now
            outcome.status = status
            rowLogger.debug("webhook delivered", metadata: ["http.status": "\(status)"])
        case .gone:
            outcome.failedAt = now
            outcome.status = 410
            outcome.error = "410 Gone: Abonnement abgeschaltet"
            outcome.disablesSubscription = true
        case .failed(let status, let error, let retryAfter):
            outcome.status = status
            outcome = retry(outcome, attempts: delivery.attempts, error: error, retryAfter: retryAfter, now: now)
            // 429 and 503 with Retry-After ask the sender to back off: the whole subscription waits (at
            // most a day, ``WebhookSender/retryAfter(_:now:)``: a hostile value cannot stop it for longer).
            if let retryAfter, retryAfter > .zero, let status, [429, 503].contains(status) {
                let until = now.addingTimeInterval(retryAfter.seconds)
                outcome.pausesSubscriptionUntil = until
                rowLogger.warning(
                    "webhook receiver asked to wait (Retry-After): subscription paused",
                    metadata: ["http.status": "\(status)", "webhook.paused_until": "\(until)"])
            }
            if outcome.failedAt != nil {
                rowLogger.warning(
                    "webhook failed for good (freigabe outbox list --failed)", metadata: ["error": "\(error)"])
            } else {
                rowLogger.info("webhook not delivered; retried later", metadata: ["error": "\(error)"])
            }
        }
        return outcome
    }

    /// The next attempt after the schedule's pause, or later when the receiver asked (`Retry-After`);
    /// failed when the schedule has run out.
    private func retry(
        _ outcome: DeliveryOutcome, attempts: Int, error: String, retryAfter: Duration? = nil, now: Date
    ) -> DeliveryOutcome {
        var outcome = outcome
        guard let delay = settings.retrySchedule.delay(afterFailedAttempts: attempts, random: random()) else {
            outcome.failedAt = now
            outcome.error = String("aufgegeben nach \(attempts) Versuchen; \(error)".prefix(2000))
            return outcome
        }
        let pause = max(delay, retryAfter ?? .zero)
        outcome.retryAt = now.addingTimeInterval(pause.seconds)
        outcome.error = String(error.prefix(2000))
        return outcome
    }

    private struct PayloadError: Error, CustomStringConvertible {
        var description: String
    }
}
