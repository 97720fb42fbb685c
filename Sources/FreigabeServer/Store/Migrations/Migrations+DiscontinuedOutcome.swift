extension Migrations {
    /// The escalation instance may close a request nobody moves on as withdrawn (`discontinued`, a
    /// decision with its reason), and a question left unanswered as long as its step's deadline gives
    /// escalates (timers of kind `question_escalation`). Questions open before this migration get their
    /// timer too (not those whose texts were erased), due from their last change: the engine answers when
    /// it is really due (a timer fired early is moved to that time) or that it is moot (a step without
    /// escalation). The question's escalation is the system's event: `audit redact` no longer counts such
    /// events as activity of a waiting request.
    static let discontinuedOutcome = Migration(
        version: 26, name: "decisions_discontinued",
        sql: #"""
            ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
            ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check
                CHECK (outcome IN ('approved', 'rejected', 'changes_requested', 'revoked', 'discontinued'));
            COMMENT ON COLUMN audit_events.decision IS 'For decisions: approved, rejected, changes_requested, revoked, discontinued.';
            -- What `audit redact` counts as a waiting request's activity: what people did, not the system's
            -- own events (a question's escalation, written years after the question, would keep an
            -- abandoned request's texts for another retention period). Migration 17's function, with that
            -- one clause changed; its owner, grants and everything else stay.
            DO $migration$
            DECLARE
                definition text := pg_get_functiondef(
                    'audit_redact(timestamptz, text, text, integer, bigint[], bytea)'::regprocedure);
                changed text := replace(definition,
                    $clause$WHERE e.request_id = q.id AND e.event <> 'audit_read'$clause$,
                    $clause$WHERE e.request_id = q.id AND e.event <> 'audit_read' AND e.actor IS NOT NULL$clause$);
            BEGIN
                IF changed = definition THEN
                    RAISE EXCEPTION 'audit_redact: the activity clause of migration 17 was not found';
                END IF;
                EXECUTE changed;
            END
            $migration$;
            ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
            ALTER TABLE timers ADD CONSTRAINT timers_kind_check
                CHECK (kind IN ('reminder', 'escalation', 'expiry', 'expiry_notice', 'new_owner', 'new_stewards',
                                'question_escalation'));

            """# + questionTimersBackfill)

    /// The timers of the questions open when migration 26 runs (its last statement).
    static let questionTimersBackfill = """
        INSERT INTO timers (request_id, kind, step, due_at, created_at)
        SELECT id, 'question_escalation', current_step, updated_at, now()
        FROM requests
        WHERE phase = 'changes_requested' AND current_step IS NOT NULL AND redaction_id IS NULL;
        """
}
