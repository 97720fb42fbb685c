extension Migrations {
    /// Timers of kind `new_owner` and `new_stewards`: the catalogue gave a dataset another Data Owner or
    /// its domain other Data Stewards while requests waited for them, and the new holders are sent the
    /// step's task (`RequestMachine.tasks(heldBy:)`). Like a reminder, each belongs to one step.
    static let handovers = Migration(
        version: 16, name: "handovers",
        sql: #"""
            ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
            ALTER TABLE timers ADD CONSTRAINT timers_kind_check
                CHECK (kind IN ('reminder', 'escalation', 'expiry', 'expiry_notice', 'new_owner', 'new_stewards'));
            COMMENT ON COLUMN timers.kind IS 'reminder, escalation, new_owner and new_stewards (the catalogue handed the step to other people, who are sent its task) belong to a step; expiry (access ends) and expiry_notice (the requester and the Data Owner are told beforehand) to the grant.';
            """#)
}
