extension Migrations {
    /// An erasure's time and transaction are the database's, not the writer's. `audit_redactions` took
    /// `redacted_at` and `transaction_id` as defaults, so the owner could insert a row of their own with
    /// `redacted_at` twenty years ahead and `erased_before` ten years ahead: its CHECK held, and the
    /// triggers of `audit_events` and `audit_seals` then let that transaction blank last month's events,
    /// triggers enabled. A row trigger now sets both (and the role, `session_user`) before the CHECK is
    /// evaluated, whatever the INSERT gave: the cut-off is measured from the real `now()`. `audit_redact`
    /// inserts without them and is unchanged. Disabling the trigger takes the table's owner, and `audit
    /// verify` reports it (``AuditTriggerGuard``) and compares each erasure's time with the clock of the
    /// sealer, whose signed checkpoints the owner cannot forge.
    static let erasureClock = Migration(
        version: 18, name: "erasure_clock",
        sql: #"""
            CREATE FUNCTION audit_redactions_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.redacted_at := now();
                NEW.transaction_id := pg_current_xact_id();
                NEW.database_role := session_user;
                RETURN NEW;
            END;
            $$;
            CREATE TRIGGER audit_redactions_stamp BEFORE INSERT ON audit_redactions
                FOR EACH ROW EXECUTE FUNCTION audit_redactions_stamp();
            COMMENT ON COLUMN audit_redactions.redacted_at IS 'now() of the erasing transaction, set by the trigger audit_redactions_stamp whatever the INSERT gave.';
            """#)
}
