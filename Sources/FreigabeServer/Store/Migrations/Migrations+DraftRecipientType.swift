extension Migrations {
    /// A draft may keep the recipient's type before its name is typed: a requester who chooses "externe
    /// Organisation" and saves loses nothing. Migration 19 allowed a name without a type in a request never
    /// submitted and still refused a type without a name in every row; now both rules are the same: a
    /// type without a name only where `submitted_at` is NULL and the phase is `draft` or `closed` (a draft,
    /// or one withdrawn as a draft). Submission demands the name (`RequestValidation.completeness`).
    static let draftRecipientType = Migration(
        version: 22, name: "draft_recipient_type",
        sql: #"""
            ALTER TABLE requests DROP CONSTRAINT requests_recipient_type_needs_name;
            ALTER TABLE requests ADD CONSTRAINT requests_recipient_type_needs_name
                CHECK (recipient_type IS NULL OR recipient_name IS NOT NULL
                       OR (submitted_at IS NULL AND phase IN ('draft', 'closed')));
            COMMENT ON COLUMN requests.recipient_name IS 'Shared Data: who receives the data. NULL with a recipient_type only in a request never submitted (a draft).';
            """#)
}
