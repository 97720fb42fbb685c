extension Migrations {
    /// A decision link belongs to one stay of its step. A step asked again after an answered question
    /// (or restarted) is a new stay with a new task mail; the first mail's unused links named the same
    /// step and branch and so decided the second round. `step_entered_at` is the stay the mail was for;
    /// the confirm page takes a link only while its request is still in that stay. Links minted before
    /// have none and keep the old rule until they expire (at most `web.decision_link_days`).
    static let decisionLinkRound = Migration(
        version: 24, name: "decision_link_round",
        sql: #"""
            ALTER TABLE decision_links ADD COLUMN step_entered_at timestamptz;
            COMMENT ON COLUMN decision_links.step_entered_at IS 'When the step was entered for the stay the task mail was sent for; the link is void once the step is left or entered anew.';
            """#)
}
