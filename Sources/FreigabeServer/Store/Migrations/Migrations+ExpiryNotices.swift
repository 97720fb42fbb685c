extension Migrations {
    /// Timers of kind `expiry_notice`: the engine tells the requester and the Data Owner ten working days
    /// before granted access ends (`RequestMachine.announceExpiry`). Like `expiry`, it belongs to no step.
    static let expiryNotices = Migration(
        version: 11, name: "expiry_notices",
        sql: #"""
            ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
            ALTER TABLE timers DROP CONSTRAINT timers_check;
            ALTER TABLE timers ADD CONSTRAINT timers_kind_check
                CHECK (kind IN ('reminder', 'escalation', 'expiry', 'expiry_notice'));
            ALTER TABLE timers ADD CONSTRAINT timers_step_check
                CHECK ((kind IN ('expiry', 'expiry_notice')) = (step IS NULL));
            COMMENT ON COLUMN timers.kind IS 'reminder and escalation belong to a step; expiry (access ends) and expiry_notice (the requester and the Data Owner are told beforehand) to the grant.';
            """#)
}
