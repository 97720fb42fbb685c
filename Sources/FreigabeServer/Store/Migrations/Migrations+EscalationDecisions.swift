extension Migrations {
    /// The auditors' filter `capacity=escalation` (``AuditFilter/Capacity``): the audit event does not
    /// record that a decision was taken by the escalation instance, the `decisions` row does. Without an
    /// index, finding the few requests with such a decision reads all of `decisions`, which grows with
    /// the log; escalation decisions are rare, so this partial index stays small.
    static let escalationDecisions = Migration(
        version: 13, name: "escalation_decisions",
        sql: #"""
            CREATE INDEX decisions_escalation ON decisions (request_id) WHERE as_escalation;
            """#)
}
