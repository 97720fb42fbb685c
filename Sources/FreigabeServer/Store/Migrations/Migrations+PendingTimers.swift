extension Migrations {
    /// Every command cancels the pending timers of its request (``CommandWrite``: `cancelled_timers`).
    /// With only `timers_request` (all timers of a request) and `timers_due` (all pending timers, by due
    /// time) PostgreSQL chose `timers_due`, whose predicate matches, and filtered it for the request: a
    /// scan of every pending timer of the city on every command, growing with the granted requests that
    /// wait for their expiry (`make bench`: 600–900 buffers per command write after a few thousand
    /// lifecycles). This index answers exactly that lookup.
    static let pendingTimersByRequest = Migration(
        version: 12, name: "pending_timers_by_request",
        sql: #"""
            CREATE INDEX timers_pending_by_request ON timers (request_id)
                WHERE fired_at IS NULL AND cancelled_at IS NULL;
            """#)
}
