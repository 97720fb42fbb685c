extension Migrations {
    /// A draft may keep the recipient's name before its type is chosen ("interne Stelle" or "externe
    /// Organisation"): migration 2 demanded both or neither in every row. Now a name without a type is
    /// allowed only in a request never submitted (a draft, or one withdrawn as a draft: `submitted_at`
    /// stays NULL and the phase is `draft` or `closed`); a submitted request, and any type without a name,
    /// is refused as before. Submission demands the type (`RequestValidation.completeness`).
    static let draftRecipientName = Migration(
        version: 19, name: "draft_recipient_name",
        sql: #"""
            ALTER TABLE requests DROP CONSTRAINT requests_check;
            ALTER TABLE requests ADD CONSTRAINT requests_recipient_type_needs_name
                CHECK (recipient_type IS NULL OR recipient_name IS NOT NULL);
            ALTER TABLE requests ADD CONSTRAINT requests_recipient_name_needs_type
                CHECK (recipient_name IS NULL OR recipient_type IS NOT NULL
                       OR (submitted_at IS NULL AND phase IN ('draft', 'closed')));
            COMMENT ON COLUMN requests.recipient_type IS 'Shared Data: internal (a unit of the administration) or external. NULL with a recipient_name only in a request never submitted (a draft).';
            """#)
}
