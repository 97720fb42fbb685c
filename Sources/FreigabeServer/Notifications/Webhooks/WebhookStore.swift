import Foundation
import Logging
import PostgresNIO

/// A delivery claimed for one attempt, with its event.
struct ClaimedDelivery: Sendable {
    var id: Int64
    var outboxID: Int64
    var subscription: String
    /// Attempts including this one.
    var attempts: Int
    var payload: String
    var createdAt: Date
    /// The outbox row's random key (migration 25); nil for rows written before.
    var deliveryKey: UUID?

    /// The same for every attempt at this event for this subscription (Standard Webhooks: the
    /// receiver's idempotency key), and with the row's random key never the same for two events, also
    /// when a restored database hands out an outbox id again; no `.`, which would blur the signed content.
    var webhookID: String {
        "msg_\(outboxID)_" + (deliveryKey.map { "\($0.compactHex)_" } ?? "") + subscription
    }
}

/// What one attempt achieved; written only while the claim is still ours.
struct DeliveryOutcome: Sendable, Hashable {
    var id: Int64
    var deliveredAt: Date?
    var failedAt: Date?
    var status: Int?
    var error: String?
    var retryAt: Date?
    /// The receiver answered 410 Gone: the subscription is switched off.
    var disablesSubscription = false
    /// The receiver answered 429 or 503 with `Retry-After`: nothing more goes to the subscription before
    /// this time (``WebhookStore/record(_:token:now:client:logger:)`` stores it for every instance).
    var pausesSubscriptionUntil: Date?
    /// The claim's attempt does not count: the payload is unreadable by this release
    /// (``RetrySchedule/pauseWhileUnreadable(age:random:)``).
    var givesBackAttempt = false
}

/// A delivery as `freigabe outbox list` shows it.
public struct WebhookDeliveryEntry: Sendable, Hashable {
    public var id: Int64
    public var subscription: String
    public var event: String
    public var requestID: UUID?
    public var createdAt: Date
    public var availableAt: Date
    public var attempts: Int
    public var failedAt: Date?
    public var status: Int?
    public var lastError: String?
}

/// The SQL of the webhook dispatcher, each call one short transaction.
enum WebhookStore {
    /// Makes the configured subscriptions known: new ones start receiving events from now on. One whose
    /// URL changed is a new receiver: enabled again (it was disabled for the old URL), receiving events
    /// from now on, and the deliveries still waiting for the old receiver are given up ("receiver
    /// changed"), so events meant for one system never reach another that was configured later.
    ///
    /// A URL the subscription had before is not registered again (`replaced_url_hashes`, migration 31):
    /// an instance restarted with a configuration not yet updated would take the subscription back from
    /// the instances with the new one. Such an instance sends the subscription nothing (its claims name
    /// its own URL); the names are returned, and logged as an error.
    @discardableResult
    static func register(
        _ subscriptions: [WebhookSettings.Subscription], now: Date, client: PostgresClient, logger: Logger
    ) async throws -> [String] {
        guard !subscriptions.isEmpty else { return [] }
        let names = subscriptions.map(\.name)
        let hashes = subscriptions.map(\.urlHash)
        let filters = subscriptions.map(\.eventFilter)
        let outdated = try await Database.transaction(client, logger: logger) { connection in
            let outdated = try await connection.query(
                """
                WITH configured AS (
                    SELECT name, decode(url_hash, 'hex') AS url_hash
                    FROM unnest(\(names)::text[], \(hashes)::text[]) AS s(name, url_hash)
                ), registered AS (
                    INSERT INTO webhook_subscriptions (name, url_hash, created_at)
                    SELECT name, url_hash, \(now) FROM configured
                    ON CONFLICT (name) DO UPDATE SET url_hash = EXCLUDED.url_hash, disabled_at = NULL,
                        disabled_reason = NULL, paused_until = NULL, created_at = EXCLUDED.created_at,
                        replaced_url_hashes = webhook_subscriptions.replaced_url_hashes || webhook_subscriptions.url_hash
                    WHERE webhook_subscriptions.url_hash <> EXCLUDED.url_hash
                        AND NOT EXCLUDED.url_hash = ANY (webhook_subscriptions.replaced_url_hashes)
                    RETURNING name, xmax <> 0 AS repointed
                ), given_up AS (
                    UPDATE webhook_deliveries d SET failed_at = \(now), claim_token = NULL,
                        last_error = 'Empfänger geändert: für die frühere Adresse bestimmt, nicht gesendet'
                    FROM registered r
                    WHERE r.repointed AND d.subscription = r.name AND d.delivered_at IS NULL AND d.failed_at IS NULL
                )
                SELECT c.name FROM configured c JOIN webhook_subscriptions s ON s.name = c.name
                WHERE s.url_hash <> c.url_hash AND c.url_hash = ANY (s.replaced_url_hashes)
                ORDER BY c.name
                """, logger: logger
            ).decode(String.self).reduce(into: [String]()) { $0.append($1) }
            // What this instance's subscriptions want, for every instance's fan-out: written by the one that
            // started last with them (a rolling update starts the new settings last), and only where its
            // address is the subscription's.
            try await connection.query(
                """
                UPDATE webhook_subscriptions s SET event_filter = c.filter, seen_at = \(now)
                FROM unnest(\(names)::text[], \(hashes)::text[], \(filters)::text[]) AS c(name, url_hash, filter)
                WHERE s.name = c.name AND s.url_hash = decode(c.url_hash, 'hex')
                """, logger: logger)
            return outdated
        }
        for name in outdated {
            logger.error(
                "Webhook subscription configured with an address it had before: this instance sends it nothing; update its webhooks settings (to go back to a former address, give the subscription a new name)",
                metadata: ["webhook.subscription": "\(name)"])
        }
        return outdated
    }

    /// Tells every instance that this one still has `subscriptions` configured (``fanOut(_:now:limit:client:logger:)``
    /// serves the subscriptions seen in the last ``seenWithin``): where this instance's address is the
    /// subscription's.
    static func touch(
        _ subscriptions: [WebhookSettings.Subscription], now: Date, client: PostgresClient, logger: Logger
    ) async throws {
        guard !subscriptions.isEmpty else { return }
        let names = subscriptions.map(\.name)
        let hashes = subscriptions.map(\.urlHash)
        try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            try await connection.query(
                """
                UPDATE webhook_subscriptions s SET seen_at = \(now)
                FROM unnest(\(names)::text[], \(hashes)::text[]) AS c(name, url_hash)
                WHERE s.name = c.name AND s.url_hash = decode(c.url_hash, 'hex')
                """, logger: logger)
        }
    }

    /// How recently some instance must have said it has a subscription configured for the fan-out of
    /// another instance to serve it; instances say so every ``touchInterval``.
    static let seenWithin: TimeInterval = 600
    static let touchInterval: TimeInterval = 60

    /// What one fan-out did.
    struct FanOut: Sendable, Hashable {
        /// Events handled (marked `sent_at`).
        var events = 0
        /// One entry per delivery failed at once as unsendable, naming its subscription.
        var unsendable: [String] = []
        /// The subscriptions that received deliveries to send (their loops have work now).
        var receiving: Set<String> = []
    }

    /// The last error of a delivery whose event has no usable type (``fanOut(_:now:limit:client:logger:)``).
    static let unsendableError = "Inhalt nicht sendbar: kein gültiger Ereignistyp"

    /// Turns up to `limit` new webhook events into one delivery per subscription that wants the event
    /// type, is enabled and existed when the event happened; marks the events handled (`sent_at`). In
    /// one statement, `FOR UPDATE SKIP LOCKED`: instances fanning out at once take different events,
    /// and an event is fanned out once. With no subscriptions the events are only marked.
    ///
    /// The subscriptions are this instance's and every other one some instance has configured in the last
    /// ``seenWithin``, each with its filter as registered (`event_filter`; this instance's own where an
    /// older release registered it): whichever instance fans an event out, each subscription gets it as
    /// it wants it, also while the instances' settings differ.
    ///
    /// An event without a well-formed type (missing, not a string, not `word.word`) can be sent by no
    /// release: its deliveries are failed at once ("Inhalt nicht sendbar", event `?`), visible in
    /// `freigabe outbox list --failed` and on the outbox page, instead of waiting for ever. A
    /// well-formed type this release does not know stays due for a newer one (``knownEvents``).
    static func fanOut(
        _ subscriptions: [WebhookSettings.Subscription], now: Date, limit: Int, client: PostgresClient,
        logger: Logger
    ) async throws -> FanOut {
        let names = subscriptions.map(\.name)
        let filters = subscriptions.map(\.eventFilter)
        return try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                WITH due AS (
                    SELECT id FROM outbox WHERE kind = 'webhook' AND sent_at IS NULL
                    ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                ), fanned AS (
                    INSERT INTO webhook_deliveries
                        (outbox_id, subscription, event, created_at, available_at, failed_at, last_error)
                    SELECT o.id, s.name, CASE WHEN t.sendable THEN o.payload->>'event' ELSE '?' END, \(now), \(now),
                        CASE WHEN t.sendable THEN NULL ELSE \(now) END,
                        CASE WHEN t.sendable THEN NULL ELSE \(unsendableError) END
                    FROM due JOIN outbox o ON o.id = due.id
                    CROSS JOIN LATERAL (
                        SELECT coalesce(jsonb_typeof(o.payload->'event') = 'string'
                            AND length(o.payload->>'event') <= 100
                            AND o.payload->>'event' ~ '^[a-z][a-z0-9_]*([.][a-z][a-z0-9_]*)+$', false) AS sendable
                    ) t
                    CROSS JOIN webhook_subscriptions s
                    LEFT JOIN unnest(\(names)::text[], \(filters)::text[]) AS c(name, filter) ON c.name = s.name
                    CROSS JOIN LATERAL (SELECT coalesce(s.event_filter, c.filter) AS filter) f
                    WHERE s.disabled_at IS NULL AND o.created_at >= s.created_at
                        AND (c.name IS NOT NULL OR s.seen_at >= \(now.addingTimeInterval(-seenWithin)))
                        AND (f.filter = '*' OR o.payload->>'event' = ANY(string_to_array(f.filter, ',')))
                    ON CONFLICT (outbox_id, subscription) DO NOTHING
                    RETURNING subscription, failed_at IS NOT NULL AS unsendable
                ), handled AS (
                    UPDATE outbox SET sent_at = \(now), attempts = outbox.attempts + 1, available_at = \(now)
                    FROM due WHERE outbox.id = due.id
                    RETURNING outbox.id
                )
                SELECT (SELECT count(*) FROM handled),
                    coalesce((SELECT array_agg(subscription ORDER BY subscription) FROM fanned WHERE unsendable), '{}'),
                    coalesce((SELECT array_agg(DISTINCT subscription) FROM fanned WHERE NOT unsendable), '{}')
                """, logger: logger)
            var result = FanOut()
            for try await (events, unsendable, receiving) in rows.decode((Int64, [String], [String]).self) {
                result = FanOut(events: Int(events), unsendable: unsendable, receiving: Set(receiving))
            }
            return result
        }
    }

    /// The event types this release can send (``WebhookEventType``). A delivery of a type a newer
    /// release added (a rolling update runs both) is claimed only by an instance that knows it: here it
    /// stays due, neither attempted nor failed as unreadable.
    static let knownEvents: [String] = WebhookEventType.allCases.map(\.rawValue)

    /// Claims up to `limit` due deliveries of one subscription, when it is enabled and not paused, under
    /// a lease (as ``OutboxStore/claim(client:now:limit:lease:token:logger:)`` does for mail). Only
    /// deliveries of the ``knownEvents``. One subscription at a time: a backlog of one never fills
    /// another's claim, and the dispatcher runs each subscription's deliveries on their own.
    ///
    /// Only while the subscription has the address this instance is configured with: during a rolling
    /// change of its URL, an instance not yet restarted leaves the deliveries to those that are, instead
    /// of sending events that happened after the change to the former receiver.
    static func claim(
        subscription: WebhookSettings.Subscription, now: Date, limit: Int, lease: Duration, token: UUID,
        client: PostgresClient, logger: Logger
    ) async throws -> [ClaimedDelivery] {
        let name = subscription.name
        let until = now.addingTimeInterval(TimeInterval(lease.components.seconds))
        return try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                WITH due AS (
                    SELECT d.id FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.name = d.subscription
                        JOIN outbox e ON e.id = d.outbox_id
                    WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.available_at <= \(now)
                        AND s.disabled_at IS NULL AND d.subscription = \(name)
                        AND s.url_hash = decode(\(subscription.urlHash), 'hex')
                        AND (s.paused_until IS NULL OR s.paused_until <= \(now))
                        AND d.event = ANY(\(knownEvents)::text[])
                        -- Only what happened since the subscription got its address (as the fan-out):
                        -- an event meant for a former receiver never goes to the new one.
                        AND e.created_at >= s.created_at
                    ORDER BY d.available_at, d.id
                    LIMIT \(limit)
                    FOR UPDATE OF d SKIP LOCKED
                )
                UPDATE webhook_deliveries d
                SET available_at = \(until), claim_token = \(token), attempts = d.attempts + 1
                FROM due, outbox o
                WHERE d.id = due.id AND o.id = d.outbox_id
                RETURNING d.id, d.outbox_id, d.subscription, d.attempts, o.payload::text, o.created_at,
                    o.delivery_key
                """, logger: logger)
            var claimed: [ClaimedDelivery] = []
            for try await (id, outboxID, subscription, attempts, payload, created, key) in rows.decode(
                (Int64, Int64, String, Int, String, Date, UUID?).self)
            {
                claimed.append(
                    ClaimedDelivery(
                        id: id, outboxID: outboxID, subscription: subscription, attempts: attempts, payload: payload,
                        createdAt: created, deliveryKey: key))
            }
            return claimed.sorted { $0.id < $1.id }
        }
    }

    /// Records the outcomes, disables the subscriptions that answered 410 and pauses those that asked
    /// for it (`Retry-After`; a later pause is kept over an earlier one), in one transaction.
    /// Returns how many outcomes were written (a delivery taken over after its lease is left alone).
    static func record(
        _ outcomes: [(outcome: DeliveryOutcome, subscription: String)], token: UUID, now: Date, client: PostgresClient,
        logger: Logger
    ) async throws -> Int {
        guard !outcomes.isEmpty else { return 0 }
        return try await Database.transaction(client, logger: logger) { connection in
            var written = 0
            for (outcome, subscription) in outcomes {
                let rows = try await connection.query(
                    """
                    UPDATE webhook_deliveries SET delivered_at = \(outcome.deliveredAt), failed_at = \(outcome.failedAt),
                        last_status = \(outcome.status), last_error = \(outcome.error),
                        available_at = coalesce(\(outcome.retryAt), available_at), claim_token = NULL,
                        attempts = attempts - CASE WHEN \(outcome.givesBackAttempt) THEN 1 ELSE 0 END
                    WHERE id = \(outcome.id) AND claim_token = \(token)
                    RETURNING id
                    """, logger: logger)
                for try await _ in rows.decode(Int64.self) { written += 1 }
                if outcome.disablesSubscription {
                    try await connection.query(
                        """
                        UPDATE webhook_subscriptions SET disabled_at = \(now),
                            disabled_reason = 'Der Empfänger antwortete 410 Gone'
                        WHERE name = \(subscription) AND disabled_at IS NULL
                        """, logger: logger)
                }
                if let until = outcome.pausesSubscriptionUntil {
                    try await connection.query(
                        """
                        UPDATE webhook_subscriptions SET paused_until = greatest(paused_until, \(until))
                        WHERE name = \(subscription)
                        """, logger: logger)
                }
            }
            return written
        }
    }

    /// When the next delivery of `subscription` that this instance would claim is due (nil: none is
    /// pending); a paused subscription's not before its pause ends.
    static func nextDue(
        subscription: WebhookSettings.Subscription, client: PostgresClient, logger: Logger
    ) async throws -> Date? {
        try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                SELECT min(greatest(d.available_at, s.paused_until)) FROM webhook_deliveries d
                JOIN webhook_subscriptions s ON s.name = d.subscription
                WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND s.disabled_at IS NULL
                    AND d.subscription = \(subscription.name) AND s.url_hash = decode(\(subscription.urlHash), 'hex')
                    AND d.event = ANY(\(knownEvents)::text[])
                """, logger: logger)
            return try await rows.decode(Date?.self).first(where: { _ in true }) ?? nil
        }
    }

    /// A receiver that gets nothing now: switched off by a 410 (until its URL changes), or paused after
    /// it refused deliveries (until the time given).
    struct ReceiverOutOfService: Sendable, Hashable {
        var name: String
        var disabledAt: Date?
        var pausedUntil: Date?
    }

    /// The receivers switched off or paused at `now`, by name.
    static func outOfService(now: Date, client: PostgresClient, logger: Logger) async throws -> [ReceiverOutOfService] {
        try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                SELECT name, disabled_at, paused_until FROM webhook_subscriptions
                WHERE disabled_at IS NOT NULL OR paused_until > \(now)
                ORDER BY name
                """, logger: logger)
            var result: [ReceiverOutOfService] = []
            for try await (name, disabled, paused) in rows.decode((String, Date?, Date?).self) {
                result.append(ReceiverOutOfService(name: name, disabledAt: disabled, pausedUntil: paused))
            }
            return result
        }
    }

    /// The channel a retry notifies (``retry(id:now:client:logger:)``), with the subscription's name as
    /// payload (empty: every subscription): the webhook dispatchers listen to it beside
    /// ``OutboxStore/channel`` and wake that subscription's loop. A fan-out wakes only the loops it gave
    /// deliveries, so a delivery made due again would otherwise wait for the poll.
    static let retryChannel = "freigabe_webhook_retry"

    /// Makes a failed (or pending) delivery due now with a fresh schedule and wakes its subscription's
    /// loop in every instance (``retryChannel``, at commit). False when there is no such delivery, it was delivered, or a dispatcher is delivering it right now
    /// (its lease runs), or it was meant for the subscription's former address (an event from before the
    /// subscription's URL changed). A subscription disabled by a 410 stays disabled (a new URL enables it).
    static func retry(
        id: Int64, by retry: OutboxRetry, now: Date, client: PostgresClient, logger: Logger
    ) async throws -> Bool {
        try await Database.transaction(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE webhook_deliveries d
                SET failed_at = NULL, attempts = 0, available_at = \(now), claim_token = NULL
                FROM outbox e, webhook_subscriptions s
                WHERE d.id = \(id) AND d.delivered_at IS NULL AND (d.claim_token IS NULL OR d.available_at <= \(now))
                    AND e.id = d.outbox_id AND s.name = d.subscription AND e.created_at >= s.created_at
                RETURNING d.subscription, e.request_id
                """, logger: logger)
            guard
                let (subscription, requestID) = try await rows.decode((String, UUID?).self).first(where: { _ in true })
            else {
                return false
            }
            try await AuditWriter.insert(
                retry.auditRow(row: "w\(id)", requestID: requestID, now: now), on: connection, logger: logger)
            try await connection.query("SELECT pg_notify(\(retryChannel), \(subscription))", logger: logger)
            return true
        }
    }

    /// Pending deliveries (oldest first), or with `failed` those given up (newest first).
    static func list(
        failed: Bool, limit: Int, client: PostgresClient, logger: Logger
    ) async throws
        -> [WebhookDeliveryEntry]
    {
        try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                SELECT d.id, d.subscription, d.event, o.request_id, d.created_at, d.available_at, d.attempts,
                    d.failed_at, d.last_status, d.last_error
                FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id
                WHERE CASE WHEN \(failed) THEN d.failed_at IS NOT NULL
                    ELSE d.delivered_at IS NULL AND d.failed_at IS NULL END
                ORDER BY CASE WHEN \(failed) THEN -extract(epoch FROM d.failed_at) ELSE 0 END, d.available_at, d.id
                LIMIT \(limit)
                """, logger: logger)
            var entries: [WebhookDeliveryEntry] = []
            for try await (id, subscription, event, request, created, available, attempts, failedAt, status, error)
                in rows.decode((Int64, String, String, UUID?, Date, Date, Int, Date?, Int?, String?).self)
            {
                entries.append(
                    WebhookDeliveryEntry(
                        id: id, subscription: subscription, event: event, requestID: request, createdAt: created,
                        availableAt: available, attempts: attempts, failedAt: failedAt, status: status,
                        lastError: error))
            }
            return entries
        }
    }
}
