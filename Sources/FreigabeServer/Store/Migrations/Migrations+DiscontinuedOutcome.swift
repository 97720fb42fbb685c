extension Migrations {
    /// The escalation instance may close a request nobody moves on as withdrawn (`discontinued`, a
    /// decision with its reason). The outcome joins the column's closed set; the new check is added
    /// `NOT VALID` and validated after, so the table is locked only for the catalogue change, not for the
    /// scan of its rows (which cannot hold the new word yet).
    static let discontinuedOutcome = Migration(
        version: 26, name: "decisions_discontinued",
        sql: #"""
            ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
            ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check
                CHECK (outcome IN ('approved', 'rejected', 'changes_requested', 'revoked', 'discontinued')) NOT VALID;
            ALTER TABLE decisions VALIDATE CONSTRAINT decisions_outcome_check;
            COMMENT ON COLUMN audit_events.decision IS 'For decisions: approved, rejected, changes_requested, revoked, discontinued.';
            """#)
}
