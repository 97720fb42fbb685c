extension Migrations {
    /// Only the event types this release writes. The column took any word, so a release that wrote a new
    /// type (three did, with no migration) left the releases still running beside it, in a rolling
    /// update, to fail on rows they could not read: their sealer's round, their auditors' pages. Now a new
    /// type needs a migration that widens this list, and the older instances see a newer schema and stand
    /// aside (``AuditSealer``) instead. `NOT VALID`: rows written before are not checked again (an
    /// upgrade must not fail on history), new ones are.
    static let auditEventTypes = Migration(
        version: 30, name: "audit_event_types",
        sql: """
            ALTER TABLE audit_events ADD CONSTRAINT audit_events_known_event CHECK (event IN (
                'submitted', 'approved', 'rejected', 'resubmitted', 'withdrawn', 'escalated', 'reminded',
                'expired', 'revoked', 'discontinued', 'changes_requested', 'expiry_announced', 'step_skipped',
                'step_completed', 'ended', 'question_unanswered', 'created', 'forbidden', 'read_denied',
                'login_failed', 'deputyship_created', 'deputyship_ended', 'catalog_imported',
                'dataset_created', 'dataset_updated', 'holders_changed', 'payloads_redacted', 'audit_read',
                'outbox_retried'
            )) NOT VALID;
            """)
}
