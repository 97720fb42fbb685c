extension Migrations {
    /// What each subscription wants, for every instance. The fan-out filtered events by the fanning
    /// instance's own `webhooks.*`: while the instances' settings differed (a subscription added or its
    /// `events` widened, the instances restarted one by one), an event fanned out by an instance without
    /// it was marked handled without a delivery for it, and that receiver never got it. Now the fan-out
    /// takes each subscription's filter as registered, for every subscription some instance configured in
    /// the last ten minutes (`seen_at`, touched once a minute).
    static let webhookSubscriptionFilters = Migration(
        version: 32, name: "webhook_subscription_filters",
        sql: #"""
            ALTER TABLE webhook_subscriptions ADD COLUMN event_filter text, ADD COLUMN seen_at timestamptz;
            COMMENT ON COLUMN webhook_subscriptions.event_filter IS 'The event types the subscription wants, as the instance that started last with it configured (and its current URL) registered them: * or a comma-separated list. NULL: registered by an older release.';
            COMMENT ON COLUMN webhook_subscriptions.seen_at IS 'When an instance configured with the subscription and its current URL last said so (once a minute): every instance fans events out to subscriptions seen in the last ten minutes.';
            """#)
}
