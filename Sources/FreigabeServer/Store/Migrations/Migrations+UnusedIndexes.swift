extension Migrations {
    /// Two indexes that served no query and cost an entry with every row:
    /// - `decisions_person`: every read of `decisions` goes by request (the unique `(request_id,
    ///   position)`) or by `acting_for` (its own index); the one comparison of a person (a decision
    ///   link's) is by `lower(person)` within a request.
    /// - the uniqueness of `audit_events.chain_position`, a column reserved for a chain that was built
    ///   elsewhere (`audit_seals`): NULL in every row, yet an entry per event, several per command.
    static let unusedIndexes = Migration(
        version: 29, name: "unused_indexes",
        sql: """
            DROP INDEX IF EXISTS decisions_person;
            ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_chain_position_key;
            COMMENT ON COLUMN audit_events.chain_position IS 'Unused (NULL): the chain is in audit_seals.';
            COMMENT ON COLUMN audit_events.previous_hash IS 'Unused (NULL): the chain is in audit_seals.';
            COMMENT ON COLUMN audit_events.hash IS 'Unused (NULL): the chain is in audit_seals.';
            """)
}
