extension Migrations {
    /// The receivers' idempotency keys (a mail's `Message-ID`, a webhook's `webhook-id`) named the outbox
    /// row by its id alone. A database restored from a backup hands those ids out again, so a new event
    /// went out under the id of one already delivered, and receivers that drop repeats (as the README asks
    /// of webhook receivers, as some mail systems do) dropped it. A random key per row makes every new
    /// row's ids new; rows written before keep none (and their ids), so a retry still in flight stays
    /// recognisable. The column is added first and given its default after, so that existing rows stay
    /// NULL instead of each drawing a key.
    static let deliveryKey = Migration(
        version: 25, name: "outbox_delivery_key",
        sql: #"""
            ALTER TABLE outbox ADD COLUMN delivery_key uuid;
            ALTER TABLE outbox ALTER COLUMN delivery_key SET DEFAULT gen_random_uuid();
            COMMENT ON COLUMN outbox.delivery_key IS 'Random per row, part of its mails'' Message-ID and its webhook-id, so that ids handed out again after a restore never repeat a delivered message; NULL for rows before migration 25.';
            COMMENT ON TABLE webhook_deliveries IS 'One webhook event (an outbox row of kind webhook) for one subscription; webhook-id is msg_<outbox_id>_<delivery_key>_<subscription> (msg_<outbox_id>_<subscription> for rows before migration 25) on every attempt, so receivers can drop repeats.';
            """#)
}
