extension Migrations {
    /// The auditors' person filter compares uids case-insensitively (`lower(column) = lower($1)`), as login,
    /// deputyships and the catalogue do: the log keeps the directory's spelling (an AD `sAMAccountName`
    /// such as `MMueller`), and `person=mmueller` found nothing, so an auditor read "did nothing". The
    /// filter's three arms (actor, acting for, requester of the event's request) stay one `BitmapOr` of
    /// index scans with expression indexes on `lower(…)`; the actor and acting-for indexes keep their
    /// `occurred_at` and replace migration 3's, which only this filter used. `requests_requester`
    /// stays: "my requests" reads it by the caller's own uid, ordered by `created_at`.
    ///
    /// The acting-for index is partial (most events act for nobody), and PostgreSQL estimates with no
    /// partial index's statistics: without the expression statistics the arm was guessed at 0.5 % of the
    /// log and the planner walked `audit_events_occurred` filtering every event (175 ms for one person in
    /// 300,000 events on a scratch database, EXPLAIN ANALYZE) instead of the `BitmapOr` (1.3 ms, as with
    /// the old indexes; 0.1 ms with 30 days).
    static let auditPersonCase = Migration(
        version: 23, name: "audit_person_case",
        sql: #"""
            CREATE INDEX audit_events_actor_lower ON audit_events (lower(actor), occurred_at);
            DROP INDEX audit_events_actor;
            CREATE INDEX audit_events_acting_for_lower ON audit_events (lower(acting_for), occurred_at) WHERE acting_for IS NOT NULL;
            DROP INDEX audit_events_acting_for;
            CREATE STATISTICS audit_events_acting_for_lower ON (lower(acting_for)) FROM audit_events;
            CREATE INDEX requests_requester_lower ON requests (lower(requester));
            """#)
}
