extension Migrations {
    /// A subscription's former addresses. An instance restarted with a configuration not yet updated
    /// registered the old URL again and took the subscription back from the instances with the new one
    /// (every event to the receiver meant to go away, the waiting deliveries of the new one given up).
    /// A URL once replaced is no longer registered over the one that replaced it.
    static let webhookReplacedAddresses = Migration(
        version: 31, name: "webhook_replaced_addresses",
        sql: #"""
            ALTER TABLE webhook_subscriptions ADD COLUMN replaced_url_hashes bytea[] NOT NULL DEFAULT '{}';
            COMMENT ON COLUMN webhook_subscriptions.replaced_url_hashes IS 'SHA-256 of every URL the subscription had before: an instance still configured with one of them does not take the subscription back (it sends it nothing).';
            """#)
}
