extension Migrations {
    /// The escalation capacity in the decision log itself. The engine's record says whether a decision was
    /// taken by the escalation instance of an overdue step (`AuditRecord.asEscalation`), and so does the
    /// `decisions` row; the audit event did not, so a sealed event, and an export of it, could not prove
    /// it. From now on the event carries it and the sealer encodes it as the capacity `escalation`
    /// (FORMAT.md field 9). Rows written before get `false`: their leaves were sealed without it and must
    /// encode as before.
    ///
    /// The erasure trigger of migration 10 lists every column an erasure must leave alone; the new one
    /// joins that list. The partial index serves the auditors' filter `capacity=escalation`: such
    /// decisions are rare, the index stays small.
    static let auditEscalation = Migration(
        version: 13, name: "audit_escalation",
        sql: #"""
            ALTER TABLE audit_events ADD COLUMN as_escalation boolean NOT NULL DEFAULT false;
            COMMENT ON COLUMN audit_events.as_escalation IS 'The actor decided as the escalation instance of an overdue step (role is then the escalation role); sealed as the capacity "escalation". false in rows written before migration 13.';
            CREATE INDEX audit_events_escalation ON audit_events (id) WHERE as_escalation;

            CREATE OR REPLACE FUNCTION audit_events_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE'
                    AND NEW.comment IS NULL AND NEW.client_address IS NULL AND NEW.details = '{}'::jsonb
                    AND (NEW.id, NEW.occurred_at, NEW.recorded_at, NEW.actor, NEW.acting_for, NEW.role, NEW.request_id,
                         NEW.dataset_id, NEW.event, NEW.decision, NEW.step, NEW.state, NEW.chain_position,
                         NEW.previous_hash, NEW.hash, NEW.as_escalation)
                        IS NOT DISTINCT FROM
                        (OLD.id, OLD.occurred_at, OLD.recorded_at, OLD.actor, OLD.acting_for, OLD.role, OLD.request_id,
                         OLD.dataset_id, OLD.event, OLD.decision, OLD.step, OLD.state, OLD.chain_position,
                         OLD.previous_hash, OLD.hash, OLD.as_escalation)
                    AND EXISTS (
                        SELECT 1 FROM audit_seals s JOIN audit_redactions r ON r.id = s.redaction_id
                        WHERE s.event_row = OLD.id AND r.transaction_id = pg_current_xact_id()
                          AND OLD.occurred_at < r.erased_before)
                THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'The decision log is never changed; append a correcting event instead. Payloads are erased only by freigabe audit redact.';
            END;
            $$;
            """#)
}
