/// The schema, as ordered migrations. NEVER edit a migration once it has been released: the migrator
/// refuses to start when the SHA-256 of an applied migration's SQL differs from the one recorded in
/// `schema_migrations`. Change the schema by appending a new migration.
///
/// Privileges of the application role are not part of the SQL: the role's name is configuration, so
/// ``Privileges`` grants them after every run.
///
/// Enum values in CHECK constraints are the engine's raw values (`Vocabulary.swift`); a test compares them.
public enum Migrations {
    /// The newest migration this release carries: a database with a higher one was migrated by a newer
    /// release.
    public static var newest: Int { all.map(\.version).max() ?? 0 }

    public static let all: [Migration] = [
        catalogue, requests, auditLog, timerRetries, outboxDelivery, auditSeals, webSessions, webhookDelivery,
        decisionLinks, auditRedaction, expiryNotices, pendingTimersByRequest, auditEscalation, deputyshipsInForce,
        auditTimeOrder, handovers, abandonedRequestErasure, erasureClock, draftRecipientName, webhookPause,
        draftRecipientType, auditPersonCase, decisionLinkRound, deliveryKey, discontinuedOutcome, erasureOfLaterTexts,
        outsideCopies, unusedIndexes, auditEventTypes, webhookReplacedAddresses, webhookSubscriptionFilters,
    ]

    static let catalogue = Migration(
        version: 1, name: "catalogue",
        sql: #"""
            CREATE TABLE domains (
                id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
                title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
                steward_group text NOT NULL CHECK (length(steward_group) BETWEEN 1 AND 1000),
                steward_group_key text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE domains IS 'Data domains (Datendomänen); each has one LDAP group of Data Stewards.';
            COMMENT ON COLUMN domains.steward_group IS 'DN of the LDAP group whose members are the Data Stewards of the domain, as written in the catalogue.';
            COMMENT ON COLUMN domains.steward_group_key IS 'steward_group lower-cased without spaces around , = + (DNKey), for membership tests.';

            CREATE TABLE datasets (
                id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
                title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
                description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
                domain_id text NOT NULL REFERENCES domains (id),
                owner text CHECK (length(owner) BETWEEN 1 AND 200),
                owner_group text CHECK (length(owner_group) BETWEEN 1 AND 1000),
                owner_group_key text,
                classification text NOT NULL
                    CHECK (classification IN ('public', 'internal', 'confidential', 'strictly_confidential')),
                personal_data text NOT NULL
                    CHECK (personal_data IN ('none', 'anonymised', 'pseudonymised', 'personal', 'special_category')),
                protection_need text NOT NULL CHECK (protection_need IN ('normal', 'high', 'very_high')),
                licence text CHECK (length(licence) BETWEEN 1 AND 200),
                high_value boolean NOT NULL DEFAULT false,
                formats text[] NOT NULL DEFAULT '{}',
                updated_at timestamptz NOT NULL DEFAULT now(),
                CHECK ((owner IS NULL) <> (owner_group IS NULL)),
                CHECK ((owner_group IS NULL) = (owner_group_key IS NULL))
            );
            COMMENT ON TABLE datasets IS 'The dataset catalogue; requests copy the routing facts when submitted.';
            COMMENT ON COLUMN datasets.owner IS 'uid of the Data Owner; exactly one of owner and owner_group is set.';
            COMMENT ON COLUMN datasets.owner_group IS 'DN of the LDAP group that owns the dataset (any member decides as Data Owner).';
            COMMENT ON COLUMN datasets.owner_group_key IS 'owner_group normalised (DNKey), for membership tests.';
            COMMENT ON COLUMN datasets.personal_data IS 'none < anonymised < pseudonymised < personal < special_category (GDPR Art. 9).';
            COMMENT ON COLUMN datasets.protection_need IS 'BSI IT-Grundschutz Schutzbedarf.';
            COMMENT ON COLUMN datasets.high_value IS 'High-value dataset under EU implementing regulation 2023/138.';
            COMMENT ON COLUMN datasets.licence IS 'Licence the dataset is published under, or NULL when none is set.';
            CREATE INDEX datasets_domain ON datasets (domain_id);
            CREATE INDEX datasets_owner ON datasets (owner) WHERE owner IS NOT NULL;
            CREATE INDEX datasets_owner_group ON datasets (owner_group_key) WHERE owner_group_key IS NOT NULL;
            """#)

    static let requests = Migration(
        version: 2, name: "requests",
        sql: #"""
            CREATE TABLE workflow_definitions (
                workflow_id text NOT NULL,
                version integer NOT NULL CHECK (version >= 1),
                content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
                source text NOT NULL,
                first_used_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (workflow_id, version, content_hash)
            );
            COMMENT ON TABLE workflow_definitions IS 'Exact YAML text of every definition a request was pinned to, so requests in flight keep their definition when the file changes or disappears. Rows are never changed.';
            COMMENT ON COLUMN workflow_definitions.content_hash IS 'SHA-256 (hex) of source, as the engine computes it.';

            CREATE SEQUENCE request_number_seq;
            COMMENT ON SEQUENCE request_number_seq IS 'Running part of requests.number (FG-YYYY-NNNNNN); never reset, so numbers stay unique.';

            CREATE TABLE requests (
                id uuid PRIMARY KEY,
                number text NOT NULL UNIQUE CHECK (number ~ '^FG-[0-9]{4}-[0-9]{6,}$'),
                kind text NOT NULL CHECK (kind IN ('shared_data', 'open_data')),
                dataset_id text NOT NULL REFERENCES datasets (id),
                requester text NOT NULL CHECK (length(requester) BETWEEN 1 AND 200),
                purpose text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 4000),
                recipient_name text CHECK (length(recipient_name) BETWEEN 1 AND 200),
                recipient_type text CHECK (recipient_type IN ('internal', 'external')),
                legal_basis text CHECK (length(legal_basis) BETWEEN 1 AND 4000),
                access_start timestamptz,
                access_end timestamptz,
                licence text CHECK (length(licence) BETWEEN 1 AND 200),
                format text CHECK (length(format) BETWEEN 1 AND 200),
                anonymisation_statement text CHECK (length(anonymisation_statement) BETWEEN 1 AND 4000),
                open_data_check jsonb,
                workflow_id text NOT NULL,
                workflow_version integer NOT NULL,
                workflow_hash text NOT NULL,
                state text NOT NULL,
                phase text NOT NULL
                    CHECK (phase IN ('draft', 'in_review', 'changes_requested', 'granted', 'published', 'closed')),
                current_step text,
                pending_roles text[] NOT NULL DEFAULT '{}',
                escalation_role text,
                step_entered_at timestamptz,
                deadline timestamptz,
                snapshot jsonb NOT NULL,
                version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                submitted_at timestamptz,
                FOREIGN KEY (workflow_id, workflow_version, workflow_hash)
                    REFERENCES workflow_definitions (workflow_id, version, content_hash),
                CHECK ((recipient_name IS NULL) = (recipient_type IS NULL)),
                CHECK (access_start IS NULL OR access_end IS NULL OR access_end > access_start),
                CHECK (kind = 'shared_data' OR (recipient_name IS NULL AND access_start IS NULL AND access_end IS NULL))
            );
            COMMENT ON TABLE requests IS 'Release requests. snapshot is the engine''s RequestSnapshot (JSON, dates as seconds since 1970) and the truth for the workflow; the columns beside it are copies for queries.';
            COMMENT ON COLUMN requests.number IS 'Human-readable number FG-<year>-<running number>.';
            COMMENT ON COLUMN requests.requester IS 'uid of the person who filed the request.';
            COMMENT ON COLUMN requests.recipient_type IS 'Shared Data: internal (a unit of the administration) or external.';
            COMMENT ON COLUMN requests.legal_basis IS 'Legal basis of the processing (Art. 6 GDPR), for personal data.';
            COMMENT ON COLUMN requests.access_start IS 'Shared Data: start of the access period.';
            COMMENT ON COLUMN requests.access_end IS 'Shared Data: end of the access period; granted access expires then.';
            COMMENT ON COLUMN requests.open_data_check IS 'Open Data release check (§ 12a EGovG): {personalReference|tradeSecrets|thirdPartyRights|security|confidentiality: {applies, note}}.';
            COMMENT ON COLUMN requests.workflow_hash IS 'Pinned definition: (workflow_id, workflow_version, workflow_hash) in workflow_definitions.';
            COMMENT ON COLUMN requests.state IS 'Engine state name, e.g. in_review:owner_review, closed:withdrawn.';
            COMMENT ON COLUMN requests.pending_roles IS 'Roles whose decision the current step still waits for (inbox queries).';
            COMMENT ON COLUMN requests.escalation_role IS 'Role that may decide in place of the waiting roles because the step is overdue and escalated.';
            COMMENT ON COLUMN requests.version IS 'Optimistic locking: every change sets version = version + 1 WHERE version = the version read.';
            CREATE INDEX requests_inbox ON requests (phase, dataset_id);
            CREATE INDEX requests_pending_roles ON requests USING gin (pending_roles) WHERE phase = 'in_review';
            CREATE INDEX requests_escalation ON requests (escalation_role) WHERE escalation_role IS NOT NULL;
            CREATE INDEX requests_requester ON requests (requester, created_at DESC);
            CREATE INDEX requests_dataset ON requests (dataset_id);

            CREATE TABLE decisions (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id uuid NOT NULL REFERENCES requests (id),
                position integer NOT NULL CHECK (position >= 0),
                person text NOT NULL,
                acting_for text,
                role text NOT NULL,
                as_escalation boolean NOT NULL,
                step text NOT NULL,
                branch text NOT NULL,
                outcome text NOT NULL CHECK (outcome IN ('approved', 'rejected', 'changes_requested', 'revoked')),
                comment text,
                covers text[] NOT NULL,
                licence text,
                portal_url text,
                decided_at timestamptz NOT NULL,
                UNIQUE (request_id, position)
            );
            COMMENT ON TABLE decisions IS 'One row per engine Decision, in order (position = index in snapshot.decisions). Never changed.';
            COMMENT ON COLUMN decisions.acting_for IS 'uid of the principal when the person decided as deputy (Vertretung).';
            COMMENT ON COLUMN decisions.as_escalation IS 'Decided by the escalation instance of an overdue step.';
            COMMENT ON COLUMN decisions.covers IS 'Steps this decision covers; two for an Owner + Steward Personalunion.';
            CREATE INDEX decisions_person ON decisions (person);
            CREATE INDEX decisions_acting_for ON decisions (acting_for) WHERE acting_for IS NOT NULL;

            CREATE TABLE deputyships (
                id uuid PRIMARY KEY,
                principal text NOT NULL CHECK (length(principal) BETWEEN 1 AND 200),
                deputy text NOT NULL CHECK (length(deputy) BETWEEN 1 AND 200),
                valid_from timestamptz NOT NULL,
                valid_until timestamptz NOT NULL,
                created_by text NOT NULL,
                created_at timestamptz NOT NULL,
                ended_by text,
                ended_at timestamptz,
                CHECK (deputy <> principal),
                CHECK (valid_until > valid_from),
                CHECK ((ended_by IS NULL) = (ended_at IS NULL))
            );
            COMMENT ON TABLE deputyships IS 'Vertretung: deputy acts for principal from valid_from (inclusive) to valid_until (exclusive), or to ended_at when ended early.';
            CREATE INDEX deputyships_deputy ON deputyships (deputy, valid_until);
            CREATE INDEX deputyships_principal ON deputyships (principal, valid_until);

            CREATE TABLE timers (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id uuid NOT NULL REFERENCES requests (id),
                kind text NOT NULL CHECK (kind IN ('reminder', 'escalation', 'expiry')),
                step text,
                due_at timestamptz NOT NULL,
                created_at timestamptz NOT NULL,
                fired_at timestamptz,
                cancelled_at timestamptz,
                attempts integer NOT NULL DEFAULT 0,
                last_error text,
                CHECK ((kind = 'expiry') = (step IS NULL))
            );
            COMMENT ON TABLE timers IS 'Reminders, escalations and expiries the engine scheduled; fired with FOR UPDATE SKIP LOCKED, so several instances share the work. Cancelled rows are kept (cancelled_at) for investigations.';
            CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;
            CREATE INDEX timers_request ON timers (request_id);

            CREATE TABLE outbox (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                kind text NOT NULL CHECK (kind IN ('mail', 'webhook')),
                topic text NOT NULL,
                request_id uuid,
                payload jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                available_at timestamptz NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                last_error text,
                sent_at timestamptz
            );
            COMMENT ON TABLE outbox IS 'Notifications written in the same transaction as the change that causes them; a dispatcher sends them with FOR UPDATE SKIP LOCKED and retries.';
            COMMENT ON COLUMN outbox.topic IS 'Template name, e.g. request_decision, reminder, granted.';
            COMMENT ON COLUMN outbox.available_at IS 'Not sent before this time (retry back-off).';
            CREATE INDEX outbox_pending ON outbox (available_at) WHERE sent_at IS NULL;

            CREATE TABLE idempotency_keys (
                actor text NOT NULL,
                key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
                operation text NOT NULL,
                fingerprint bytea NOT NULL,
                status integer NOT NULL,
                response jsonb NOT NULL,
                created_at timestamptz NOT NULL,
                PRIMARY KEY (actor, key)
            );
            COMMENT ON TABLE idempotency_keys IS 'Idempotency-Key per actor: the same key with the same fingerprint answers the stored response; kept 24 hours.';
            COMMENT ON COLUMN idempotency_keys.fingerprint IS 'SHA-256 of the operation and its canonical JSON input.';
            CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
            """#)

    static let auditLog = Migration(
        version: 3, name: "audit_log",
        sql: #"""
            CREATE TABLE audit_events (
                id bigserial PRIMARY KEY,
                occurred_at timestamptz NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                actor text,
                acting_for text,
                role text,
                request_id uuid,
                dataset_id text,
                event text NOT NULL CHECK (event ~ '^[a-z][a-z0-9_]{0,63}$'),
                decision text,
                step text,
                state text,
                comment text,
                client_address inet,
                details jsonb NOT NULL DEFAULT '{}',
                chain_position bigint UNIQUE,
                previous_hash bytea,
                hash bytea
            );
            COMMENT ON TABLE audit_events IS 'Append-only decision and security log: one row per transition record and per security event. No UPDATE, DELETE or TRUNCATE (grants and triggers).';
            COMMENT ON COLUMN audit_events.occurred_at IS 'When it happened (UTC), as the engine recorded it.';
            COMMENT ON COLUMN audit_events.actor IS 'uid of who acted; NULL for the system (timers).';
            COMMENT ON COLUMN audit_events.acting_for IS 'uid of the principal when the actor acted as deputy.';
            COMMENT ON COLUMN audit_events.request_id IS 'No foreign key on purpose: the log outlives anything, and security events may name requests that do not exist.';
            COMMENT ON COLUMN audit_events.event IS 'submitted, approved, rejected, changes_requested, resubmitted, withdrawn, escalated, reminded, expired, revoked, step_skipped, step_completed, ended, forbidden, login_failed, ...';
            COMMENT ON COLUMN audit_events.decision IS 'For decisions: approved, rejected, changes_requested, revoked.';
            COMMENT ON COLUMN audit_events.state IS 'Engine state name after the event.';
            COMMENT ON COLUMN audit_events.chain_position IS 'Reserved for the tamper-evident hash chain: set on insert once the chain exists; NULL for rows before it.';
            COMMENT ON COLUMN audit_events.previous_hash IS 'Reserved for the hash chain: hash of the row at chain_position - 1.';
            COMMENT ON COLUMN audit_events.hash IS 'Reserved for the hash chain: hash over previous_hash and the canonical encoding of this row.';
            CREATE INDEX audit_events_request ON audit_events (request_id, id) WHERE request_id IS NOT NULL;
            CREATE INDEX audit_events_dataset ON audit_events (dataset_id, id) WHERE dataset_id IS NOT NULL;
            CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at);
            CREATE INDEX audit_events_acting_for ON audit_events (acting_for, occurred_at) WHERE acting_for IS NOT NULL;
            CREATE INDEX audit_events_occurred ON audit_events (occurred_at);
            CREATE INDEX audit_events_event ON audit_events (event, occurred_at);

            CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'The decision log is never changed; append a correcting event instead.';
            END;
            $$;
            CREATE TRIGGER audit_events_no_update_delete
                BEFORE UPDATE OR DELETE ON audit_events
                FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
            CREATE TRIGGER audit_events_no_truncate
                BEFORE TRUNCATE ON audit_events
                FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
            """#)

    static let timerRetries = Migration(
        version: 4, name: "timer_retries",
        sql: #"""
            ALTER TABLE timers ADD COLUMN next_attempt_at timestamptz;
            COMMENT ON COLUMN timers.next_attempt_at IS 'After a failed attempt: not tried again before this time (exponential back-off). NULL: due at due_at.';
            COMMENT ON COLUMN timers.attempts IS 'How often firing was tried; a fired timer counts its successful attempt too.';
            COMMENT ON COLUMN timers.last_error IS 'Why the last attempt failed (NULL after success), or why a fired timer was moot.';
            DROP INDEX timers_due;
            CREATE INDEX timers_due ON timers ((coalesce(next_attempt_at, due_at)), id)
                WHERE fired_at IS NULL AND cancelled_at IS NULL;
            CREATE INDEX timers_failing ON timers (attempts) WHERE fired_at IS NULL AND cancelled_at IS NULL AND last_error IS NOT NULL;
            """#)

    static let outboxDelivery = Migration(
        version: 5, name: "outbox_delivery",
        sql: #"""
            ALTER TABLE outbox ADD COLUMN failed_at timestamptz;
            ALTER TABLE outbox ADD COLUMN claim_token uuid;
            ALTER TABLE outbox ADD COLUMN delivered_to text[] NOT NULL DEFAULT '{}';
            ALTER TABLE outbox ADD COLUMN undeliverable_to text[] NOT NULL DEFAULT '{}';
            COMMENT ON COLUMN outbox.failed_at IS 'Set when at least one recipient will never get the message: a permanent refusal, no mail address, or the retry schedule ran out. freigabe outbox retry clears it.';
            COMMENT ON COLUMN outbox.sent_at IS 'Set when nothing is left to try: every recipient got it or failed for good (then failed_at is set too).';
            COMMENT ON COLUMN outbox.claim_token IS 'The dispatcher that claimed the row for one sending attempt; only it may record the outcome, until available_at (its lease) passes.';
            COMMENT ON COLUMN outbox.delivered_to IS 'uids of the recipients the SMTP server accepted the message for; a retry skips them.';
            COMMENT ON COLUMN outbox.undeliverable_to IS 'uids whose address the SMTP server refused for good (5xx); a retry skips them, freigabe outbox retry tries them again.';
            COMMENT ON COLUMN outbox.attempts IS 'Sending attempts (claims) so far.';
            COMMENT ON COLUMN outbox.last_error IS 'Why the last attempt did not reach everybody (temporary or permanent), or who has no mail address.';
            DROP INDEX outbox_pending;
            CREATE INDEX outbox_pending ON outbox (available_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;
            CREATE INDEX outbox_failed ON outbox (failed_at) WHERE failed_at IS NOT NULL;

            CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                -- Delivered at commit, once per transaction: the dispatchers wake within a second.
                PERFORM pg_notify('freigabe_outbox', '');
                RETURN NULL;
            END;
            $$;
            CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
                FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
            """#)

    /// The tamper evidence of the decision log (`AuditLog`, `Sources/AuditLog/FORMAT.md`): the sealer gives
    /// committed `audit_events` their place in an RFC 6962 Merkle tree, after they commit and in the order
    /// it finds them, and signs a checkpoint per batch. Version 5 is left to the outbox migration.
    static let auditSeals = Migration(
        version: 6, name: "audit_seals",
        sql: #"""
            CREATE TABLE audit_seals (
                sequence bigint PRIMARY KEY CHECK (sequence >= 0),
                event_row bigint NOT NULL UNIQUE REFERENCES audit_events (id),
                event_id uuid NOT NULL UNIQUE,
                format_version smallint NOT NULL,
                payload_salt bytea NOT NULL CHECK (length(payload_salt) = 16),
                leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
                sealed_at timestamptz NOT NULL
            );
            COMMENT ON TABLE audit_seals IS 'Place of each audit event in the Merkle tree (leaf index = sequence, no gaps) and the leaf hash over its canonical encoding (AuditLog format v1). Append-only.';
            COMMENT ON COLUMN audit_seals.payload_salt IS 'Random salt of the event''s personal payload (comment, details, client address), so that the payload hash reveals nothing. Erasure after the retention period (audit redact) is not built yet.';

            CREATE TABLE audit_checkpoints (
                tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
                root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
                frontier jsonb NOT NULL,
                signed_note text,
                created_at timestamptz NOT NULL
            );
            COMMENT ON TABLE audit_checkpoints IS 'One row per sealed batch: the tree head, the right edge of the tree the next batch continues from, and the checkpoint signed with the key of audit.key_file (C2SP tlog-checkpoint; NULL without a key). Append-only; copies belong outside the database.';

            CREATE FUNCTION audit_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$;
            CREATE TRIGGER audit_seals_no_update_delete BEFORE UPDATE OR DELETE ON audit_seals
                FOR EACH ROW EXECUTE FUNCTION audit_history_append_only();
            CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
                FOR EACH STATEMENT EXECUTE FUNCTION audit_history_append_only();
            CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
                FOR EACH ROW EXECUTE FUNCTION audit_history_append_only();
            CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
                FOR EACH STATEMENT EXECUTE FUNCTION audit_history_append_only();
            CREATE TRIGGER decisions_no_update_delete BEFORE UPDATE OR DELETE ON decisions
                FOR EACH ROW EXECUTE FUNCTION audit_history_append_only();
            CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
                FOR EACH STATEMENT EXECUTE FUNCTION audit_history_append_only();
            """#)

    /// Login sessions of the web pages (hummingbird-auth's session middleware on `PostgresSessionDriver`),
    /// so that any instance serves any browser.
    static let webSessions = Migration(
        version: 7, name: "web_sessions",
        sql: #"""
            CREATE TABLE web_sessions (
                key_hash bytea PRIMARY KEY CHECK (length(key_hash) = 32),
                value jsonb NOT NULL,
                expires_at timestamptz NOT NULL
            );
            CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
            COMMENT ON TABLE web_sessions IS 'Browser sessions: SHA-256 of the session id (never the id itself), the session (uid, CSRF token, login and last request times) and when it ends without activity. Expired rows are deleted by the server.';
            """#)

    /// Signed webhooks: the subscriptions' lasting state (a 410 disables one) and one delivery row per
    /// `webhook` outbox row and subscription, each with its own attempts, lease and retry time. The
    /// subscriptions themselves (URL, secret, event types) are configuration; only a hash of the URL is
    /// stored, since a URL may carry the receiver's token.
    static let webhookDelivery = Migration(
        version: 8, name: "webhook_delivery",
        sql: #"""
            CREATE TABLE webhook_subscriptions (
                name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9]{0,31}$'),
                url_hash bytea NOT NULL CHECK (length(url_hash) = 32),
                created_at timestamptz NOT NULL,
                disabled_at timestamptz,
                disabled_reason text,
                CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
            );
            COMMENT ON TABLE webhook_subscriptions IS 'One row per configured webhook subscription (webhooks.<name>.*), registered at start. Events are delivered from created_at on, not the history.';
            COMMENT ON COLUMN webhook_subscriptions.url_hash IS 'SHA-256 of the configured URL: a new URL re-enables a disabled subscription.';
            COMMENT ON COLUMN webhook_subscriptions.disabled_at IS 'Set when the receiver answered 410 Gone: nothing more is sent until the URL changes.';

            CREATE TABLE webhook_deliveries (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                outbox_id bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
                subscription text NOT NULL REFERENCES webhook_subscriptions (name) ON DELETE CASCADE,
                event text NOT NULL,
                created_at timestamptz NOT NULL,
                available_at timestamptz NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                claim_token uuid,
                delivered_at timestamptz,
                failed_at timestamptz,
                last_status integer,
                last_error text,
                UNIQUE (outbox_id, subscription)
            );
            COMMENT ON TABLE webhook_deliveries IS 'One webhook event (an outbox row of kind webhook) for one subscription; webhook-id is msg_<outbox_id>_<subscription> on every attempt, so receivers can drop repeats.';
            COMMENT ON COLUMN webhook_deliveries.available_at IS 'Not tried before this time: the retry back-off, Retry-After, or the lease of the dispatcher that claimed it (claim_token).';
            COMMENT ON COLUMN webhook_deliveries.failed_at IS 'The retry schedule ran out, or the receiver answered 410 Gone.';
            COMMENT ON COLUMN webhook_deliveries.last_status IS 'HTTP status of the last attempt; NULL when no answer came (timeout, refused address, network).';
            CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (available_at, id)
                WHERE delivered_at IS NULL AND failed_at IS NULL;
            CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (failed_at) WHERE failed_at IS NOT NULL;
            CREATE INDEX outbox_webhook_pending ON outbox (id) WHERE kind = 'webhook' AND sent_at IS NULL;
            COMMENT ON COLUMN outbox.kind IS 'mail: sent by the mail dispatcher; webhook: one event, fanned out to webhook_deliveries (sent_at is then set).';
            """#)

    /// The links in task mails: one per person, request step and action, valid once and for a while.
    static let decisionLinks = Migration(
        version: 9, name: "decision_links",
        sql: #"""
            CREATE TABLE decision_links (
                token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
                request_id uuid NOT NULL REFERENCES requests (id),
                step text NOT NULL,
                branch text NOT NULL,
                uid text NOT NULL,
                action text NOT NULL CHECK (action IN ('approve', 'reject', 'request_changes')),
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                used_at timestamptz,
                CHECK (expires_at > created_at)
            );
            CREATE INDEX decision_links_request ON decision_links (request_id);
            CREATE INDEX decision_links_expired ON decision_links (expires_at);
            COMMENT ON TABLE decision_links IS 'Links in task mails: SHA-256 of a 256-bit random token (the token itself is only in the mail), bound to one request, step, branch, person and action; valid until expires_at and once (used_at).';
            """#)

    /// Erasure of personal payloads after the retention period (`freigabe audit redact`, FORMAT.md §3).
    ///
    /// The texts of requests closed before the cut-off go too (columns, snapshot, `decisions.comment`), so
    /// that the erasure is not hollow; `decisions` gets the same kind of narrow trigger.
    ///
    /// The log stays append-only for everything else. The one way to change a sealed event is
    /// `audit_redact(...)`: SECURITY DEFINER, owned by the owner (migration) role, EXECUTE for nobody else
    /// (the application role cannot call it; a stolen server cannot erase). It records the erasure in the
    /// append-only `audit_redactions` (cut-off, retention, who ran it as they said, the OS account, and
    /// `session_user`, which the caller cannot choose; the time is the database's), erases the payload
    /// texts and salt of exactly the sealed events before the cut-off, keeps the payload hash beside the
    /// recorded leaf hash (the leaf commits to it, so a wrong hash is found by `audit verify`), and appends
    /// a `payloads_redacted` event that is sealed like any other. The triggers now let through exactly that
    /// change and only in the transaction of a redaction that covers the event: even the owner, triggers
    /// enabled, cannot change anything else or erase a newer event. The trigger names stay, so `audit
    /// verify` and `/ready` keep seeing them.
    static let auditRedaction = Migration(
        version: 10, name: "audit_redaction",
        sql: #"""
            CREATE TABLE audit_redactions (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                erased_before timestamptz NOT NULL,
                retention_years integer NOT NULL CHECK (retention_years BETWEEN 1 AND 100),
                redacted_by text NOT NULL CHECK (length(redacted_by) BETWEEN 1 AND 200),
                os_user text CHECK (length(os_user) BETWEEN 1 AND 200),
                database_role text NOT NULL DEFAULT session_user,
                redacted_at timestamptz NOT NULL DEFAULT now(),
                transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
                CHECK (erased_before <= redacted_at - make_interval(years => retention_years))
            );
            COMMENT ON TABLE audit_redactions IS 'One row per freigabe audit redact: personal payloads of the sealed events before erased_before were erased. Append-only; written only by audit_redact().';
            COMMENT ON COLUMN audit_redactions.redacted_by IS 'uid of who ran it (--actor, else the OS account).';
            COMMENT ON COLUMN audit_redactions.database_role IS 'session_user of the erasing connection: the role that had the authority, not chosen by the caller.';
            COMMENT ON COLUMN audit_redactions.transaction_id IS 'The erasing transaction: the triggers allow the erasure of a sealed event only within it.';

            ALTER TABLE audit_seals ALTER COLUMN payload_salt DROP NOT NULL;
            ALTER TABLE audit_seals ADD COLUMN payload_hash bytea CHECK (length(payload_hash) = 32);
            ALTER TABLE audit_seals ADD COLUMN redaction_id bigint REFERENCES audit_redactions (id);
            ALTER TABLE audit_seals ADD CONSTRAINT audit_seals_erasure CHECK (
                (payload_salt IS NULL) = (redaction_id IS NOT NULL) AND (payload_hash IS NULL) = (redaction_id IS NULL));
            CREATE INDEX audit_seals_redaction ON audit_seals (redaction_id) WHERE redaction_id IS NOT NULL;
            COMMENT ON COLUMN audit_seals.payload_salt IS 'Random salt of the event''s personal payload (comment, details, client address), so that the payload hash reveals nothing. NULL once erased (audit_redactions).';
            COMMENT ON COLUMN audit_seals.payload_hash IS 'Set when the payload is erased: its hash, which the leaf commits to (the payload itself can no longer give it).';
            COMMENT ON COLUMN audit_seals.redaction_id IS 'The erasure that removed the payload and salt.';

            CREATE FUNCTION audit_events_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE'
                    AND NEW.comment IS NULL AND NEW.client_address IS NULL AND NEW.details = '{}'::jsonb
                    AND (NEW.id, NEW.occurred_at, NEW.recorded_at, NEW.actor, NEW.acting_for, NEW.role, NEW.request_id,
                         NEW.dataset_id, NEW.event, NEW.decision, NEW.step, NEW.state, NEW.chain_position,
                         NEW.previous_hash, NEW.hash)
                        IS NOT DISTINCT FROM
                        (OLD.id, OLD.occurred_at, OLD.recorded_at, OLD.actor, OLD.acting_for, OLD.role, OLD.request_id,
                         OLD.dataset_id, OLD.event, OLD.decision, OLD.step, OLD.state, OLD.chain_position,
                         OLD.previous_hash, OLD.hash)
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
            DROP TRIGGER audit_events_no_update_delete ON audit_events;
            CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
                FOR EACH ROW EXECUTE FUNCTION audit_events_erasure_only();

            CREATE FUNCTION audit_seals_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE'
                    AND OLD.redaction_id IS NULL AND NEW.redaction_id IS NOT NULL
                    AND NEW.payload_salt IS NULL AND NEW.payload_hash IS NOT NULL
                    AND (NEW.sequence, NEW.event_row, NEW.event_id, NEW.format_version, NEW.leaf_hash, NEW.sealed_at)
                        IS NOT DISTINCT FROM
                        (OLD.sequence, OLD.event_row, OLD.event_id, OLD.format_version, OLD.leaf_hash, OLD.sealed_at)
                    AND EXISTS (
                        SELECT 1 FROM audit_redactions r JOIN audit_events e ON e.id = OLD.event_row
                        WHERE r.id = NEW.redaction_id AND r.transaction_id = pg_current_xact_id()
                          AND e.occurred_at < r.erased_before)
                THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'audit_seals is append-only: % is not allowed', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$;
            DROP TRIGGER audit_seals_no_update_delete ON audit_seals;
            CREATE TRIGGER audit_seals_no_update_delete BEFORE UPDATE OR DELETE ON audit_seals
                FOR EACH ROW EXECUTE FUNCTION audit_seals_erasure_only();

            -- The request's own copies of the texts: a closed request's free texts go with the log's payloads,
            -- or the erasure would be hollow. Its facts (who, which dataset, to whom, state, decisions) stay.
            ALTER TABLE requests ADD COLUMN redaction_id bigint REFERENCES audit_redactions (id);
            COMMENT ON COLUMN requests.redaction_id IS 'Set when audit_redact erased the free texts of this closed request (purpose is then a dash, legal basis, anonymisation statement, the release check''s notes and the decisions'' comments are gone).';

            CREATE FUNCTION decisions_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.comment IS NULL
                    AND (NEW.id, NEW.request_id, NEW.position, NEW.person, NEW.acting_for, NEW.role, NEW.as_escalation,
                         NEW.step, NEW.branch, NEW.outcome, NEW.covers, NEW.licence, NEW.portal_url, NEW.decided_at)
                        IS NOT DISTINCT FROM
                        (OLD.id, OLD.request_id, OLD.position, OLD.person, OLD.acting_for, OLD.role, OLD.as_escalation,
                         OLD.step, OLD.branch, OLD.outcome, OLD.covers, OLD.licence, OLD.portal_url, OLD.decided_at)
                    AND EXISTS (
                        SELECT 1 FROM requests q JOIN audit_redactions r ON r.id = q.redaction_id
                        WHERE q.id = OLD.request_id AND r.transaction_id = pg_current_xact_id())
                THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$;
            DROP TRIGGER decisions_no_update_delete ON decisions;
            CREATE TRIGGER decisions_no_update_delete BEFORE UPDATE OR DELETE ON decisions
                FOR EACH ROW EXECUTE FUNCTION decisions_erasure_only();

            CREATE TRIGGER audit_redactions_no_update_delete BEFORE UPDATE OR DELETE ON audit_redactions
                FOR EACH ROW EXECUTE FUNCTION audit_history_append_only();
            CREATE TRIGGER audit_redactions_no_truncate BEFORE TRUNCATE ON audit_redactions
                FOR EACH STATEMENT EXECUTE FUNCTION audit_history_append_only();

            CREATE FUNCTION audit_redact(
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
                -- Requests closed (or published) before the cut-off: their free texts, in the columns and in
                -- the snapshot's decisions. The snapshot's state of a final request holds no text; version and
                -- updated_at stay, it is not a change of the request.
                UPDATE requests q
                SET purpose = '-', legal_basis = NULL, anonymisation_statement = NULL,
                    open_data_check = (SELECT jsonb_object_agg(c.key, c.value - 'note')
                                       FROM jsonb_each(q.open_data_check) AS c(key, value)),
                    snapshot = jsonb_set(q.snapshot, '{decisions}', coalesce(
                        (SELECT jsonb_agg(d.value - 'comment' ORDER BY d.position)
                         FROM jsonb_array_elements(q.snapshot->'decisions') WITH ORDINALITY AS d(value, position)),
                        '[]'::jsonb)),
                    redaction_id = redaction
                WHERE q.phase IN ('closed', 'published') AND q.updated_at < audit_redact.erased_before
                  AND q.redaction_id IS NULL;
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
            REVOKE ALL ON FUNCTION audit_redact(timestamptz, text, text, integer, bigint[], bytea) FROM PUBLIC;
            COMMENT ON FUNCTION audit_redact(timestamptz, text, text, integer, bigint[], bytea) IS 'freigabe audit redact: erases the payloads (texts and salt) of exactly the sealed events before erased_before, given with their payload hashes, records the erasure and appends a payloads_redacted event. Owner only.';
            """#)
}
