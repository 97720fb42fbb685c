extension Migrations {
    /// Fairness between webhook receivers. A receiver that answers 429 or 503 with `Retry-After` asks
    /// the sender to back off: `paused_until` stops every delivery to its subscription until then, for
    /// every instance (only one delivery was postponed, and the next due ones went out at once). Each
    /// subscription's deliveries are claimed on their own now: an index per subscription, by due time.
    /// And deliveries fanned out of an event without an event type (`event = '?'`) were due for ever
    /// and claimed by nobody: they are failed as unsendable, as the fan-out now does at once.
    static let webhookPause = Migration(
        version: 20, name: "webhook_pause",
        sql: #"""
            ALTER TABLE webhook_subscriptions ADD COLUMN paused_until timestamptz;
            COMMENT ON COLUMN webhook_subscriptions.paused_until IS 'The receiver answered 429 or 503 with Retry-After: nothing is sent to it before this time (at most a day).';
            CREATE INDEX webhook_deliveries_pending_by_subscription ON webhook_deliveries (subscription, available_at, id)
                WHERE delivered_at IS NULL AND failed_at IS NULL;
            UPDATE webhook_deliveries SET failed_at = now(), claim_token = NULL,
                last_error = 'Inhalt nicht sendbar: kein gültiger Ereignistyp'
            WHERE event = '?' AND delivered_at IS NULL AND failed_at IS NULL;
            """#)
}
