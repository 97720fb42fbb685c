extension Migrations {
    /// `audit redact` erases the texts of abandoned requests too: a draft never submitted, or a question
    /// (`changes_requested`) its requester never answered, stays open forever, and migration 10's function
    /// erased only requests closed or published before the cut-off. Such a request's purpose, legal basis
    /// and the question (a decision comment, and the snapshot's state) were kept past the retention period.
    ///
    /// Now a request that waits for its requester (draft, changes_requested) goes like a closed one when
    /// its last activity lies before the cut-off: its newest event in the log (append-only, written with
    /// every change; the auditors' own reads, `audit_read`, are no activity of the request) and its
    /// `updated_at` (the application writes it; it can only make a request look newer, never older than
    /// its log). It keeps its state; the question in the snapshot becomes a dash like the purpose, the
    /// comments of the approvals the step holds go like those of the decisions (the snapshot is compared
    /// with the `decisions` rows, so both must lose them). A request waiting for an approver (in review),
    /// or granted, keeps its texts: an open decision needs them.
    ///
    /// Only the function changes (same signature, owner, grants); the triggers of migration 10 let
    /// exactly these updates through already (`decisions` by the request's `redaction_id`).
    static let abandonedRequestErasure = Migration(
        version: 17, name: "abandoned_request_erasure",
        sql: #"""
            CREATE OR REPLACE FUNCTION audit_redact(
                erased_before timestamptz, redacted_by text, os_user text, retention_years integer,
                sequences bigint[], payload_hashes bytea
            ) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
            DECLARE
                redaction bigint;
                due bigint;
                erased bigint;
                requests_erased bigint;
                given bigint := coalesce(cardinality(sequences), 0);
            BEGIN
                IF retention_years IS NULL OR retention_years NOT BETWEEN 1 AND 100 THEN
                    RAISE EXCEPTION 'audit_redact: retention of % years is not 1 to 100', retention_years
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF erased_before IS NULL OR erased_before > now() - make_interval(years => retention_years) THEN
                    RAISE EXCEPTION 'audit_redact: % lies within the retention period of % years', erased_before,
                        retention_years USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF coalesce(length(payload_hashes), 0) <> 32 * given THEN
                    RAISE EXCEPTION 'audit_redact: % payload hash bytes for % events', length(payload_hashes), given
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                -- One erasure at a time ("FGREDACT"); the caller took it already to read the events it hashed.
                PERFORM pg_advisory_xact_lock(5064106763452760916);
                SELECT count(*) INTO due FROM audit_seals s JOIN audit_events e ON e.id = s.event_row
                WHERE e.occurred_at < audit_redact.erased_before AND s.redaction_id IS NULL
                  AND e.event <> 'payloads_redacted';
                IF due <> given THEN
                    RAISE EXCEPTION 'audit_redact: % sealed events before % still have their payload, % were given',
                        due, erased_before, given USING ERRCODE = 'invalid_parameter_value';
                END IF;
                INSERT INTO audit_redactions (erased_before, retention_years, redacted_by, os_user)
                VALUES (audit_redact.erased_before, audit_redact.retention_years, audit_redact.redacted_by,
                        audit_redact.os_user)
                RETURNING id INTO redaction;
                UPDATE audit_seals s
                SET payload_salt = NULL, redaction_id = redaction,
                    payload_hash = substring(payload_hashes FROM (g.position - 1)::integer * 32 + 1 FOR 32)
                FROM unnest(sequences) WITH ORDINALITY AS g(sequence, position), audit_events e
                WHERE s.sequence = g.sequence AND e.id = s.event_row AND s.redaction_id IS NULL
                  AND e.occurred_at < audit_redact.erased_before AND e.event <> 'payloads_redacted';
                GET DIAGNOSTICS erased = ROW_COUNT;
                IF erased <> due THEN
                    RAISE EXCEPTION 'audit_redact: % of % events given are due for erasure', erased, due
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                UPDATE audit_events e SET comment = NULL, client_address = NULL, details = '{}'::jsonb
                FROM audit_seals s WHERE s.event_row = e.id AND s.redaction_id = redaction;
                -- Requests closed (or published) before the cut-off, and those abandoned before it: a draft or
                -- an unanswered question whose last activity (its newest event but the auditors' reads, and
                -- its last change) lies before the cut-off. Their free texts go, in the columns, in the
                -- snapshot's decisions and, for a question, in the snapshot's state (the question and the
                -- comments of the step's approvals). The state stays; version and updated_at stay, it is not
                -- a change of the request.
                UPDATE requests q
                SET purpose = '-', legal_basis = NULL, anonymisation_statement = NULL,
                    open_data_check = (SELECT jsonb_object_agg(c.key, c.value - 'note')
                                       FROM jsonb_each(q.open_data_check) AS c(key, value)),
                    snapshot = jsonb_set(
                        jsonb_set(q.snapshot, '{decisions}', coalesce(
                            (SELECT jsonb_agg(d.value - 'comment' ORDER BY d.position)
                             FROM jsonb_array_elements(q.snapshot->'decisions') WITH ORDINALITY AS d(value, position)),
                            '[]'::jsonb)),
                        '{state}',
                        CASE WHEN q.snapshot->'state' ? 'changesRequested' THEN jsonb_build_object(
                            'changesRequested', jsonb_build_object(
                                '_0', jsonb_set(q.snapshot #> '{state,changesRequested,_0}', '{approvals}', coalesce(
                                    (SELECT jsonb_object_agg(a.key, (
                                                SELECT coalesce(jsonb_agg(d.value - 'comment' ORDER BY d.position), '[]'::jsonb)
                                                FROM jsonb_array_elements(a.value) WITH ORDINALITY AS d(value, position)))
                                     FROM jsonb_each(q.snapshot #> '{state,changesRequested,_0,approvals}') AS a(key, value)),
                                    '{}'::jsonb)),
                                'question', '-'))
                        ELSE q.snapshot->'state' END),
                    redaction_id = redaction
                WHERE q.redaction_id IS NULL AND q.updated_at < audit_redact.erased_before
                  AND (q.phase IN ('closed', 'published')
                       OR (q.phase IN ('draft', 'changes_requested')
                           AND NOT EXISTS (
                               SELECT 1 FROM audit_events e
                               WHERE e.request_id = q.id AND e.event <> 'audit_read'
                                 AND e.occurred_at >= audit_redact.erased_before)));
                GET DIAGNOSTICS requests_erased = ROW_COUNT;
                UPDATE decisions d SET comment = NULL
                FROM requests q WHERE q.id = d.request_id AND q.redaction_id = redaction AND d.comment IS NOT NULL;
                -- Further copies: the notifications of those requests (mail texts; their webhook deliveries go
                -- with them) and of no request before the cut-off, and stored answers of idempotent calls (meant
                -- for 24 hours, never needed years later).
                DELETE FROM outbox o
                WHERE o.request_id IN (SELECT q.id FROM requests q WHERE q.redaction_id = redaction)
                   OR (o.request_id IS NULL AND o.created_at < audit_redact.erased_before);
                DELETE FROM idempotency_keys k WHERE k.created_at < audit_redact.erased_before;
                INSERT INTO audit_events (occurred_at, actor, event, details)
                VALUES (now(), audit_redact.redacted_by, 'payloads_redacted', jsonb_build_object(
                    'redaction', redaction, 'erased_before', audit_redact.erased_before, 'event_count', erased,
                    'request_count', requests_erased,
                    'retention_years', audit_redact.retention_years, 'database_role', session_user,
                    'os_user', audit_redact.os_user));
                RETURN redaction;
            END;
            $$;
            COMMENT ON COLUMN requests.redaction_id IS 'Set when audit_redact erased the free texts of this request, closed or abandoned (a draft or an unanswered question with no activity since) before the cut-off: purpose is then a dash, legal basis, anonymisation statement, the release check''s notes, the decisions'' comments and an open question are gone.';
            """#)
}
