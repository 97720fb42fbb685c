extension Migrations {
    /// The request page names who must act now with the deputies in force (``ActingFacts``): every
    /// deputyship with `valid_until` after now, whoever's. The two indexes of migration 2 lead with the
    /// deputy or the principal, so PostgreSQL read the whole table for it, and deputyships are kept after
    /// they end: ten years of a city (36,500 deputyships of two weeks, 40 in force) cost 4.6 ms and 341
    /// buffers per page view. On `valid_until` the read starts at now: 0.25 ms, 4 buffers (EXPLAIN
    /// ANALYZE, README "Benchmarks").
    static let deputyshipsInForce = Migration(
        version: 14, name: "deputyships_in_force",
        sql: #"""
            CREATE INDEX deputyships_in_force ON deputyships (valid_until);
            """#)
}
