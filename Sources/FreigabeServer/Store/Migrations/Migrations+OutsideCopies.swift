extension Migrations {
    /// The checkpoint files a signed checkpoint reached. Such a file found missing or empty later is an
    /// outside copy that is gone (a mount not there, a restore onto a new server), not a new one: the
    /// sealer refuses to sign until it is back or an operator begins a new one
    /// (`freigabe audit seal --start-checkpoint-file`). A file never written (configured on a running
    /// log, or its first append failed) is not in here, and its first checkpoint begins it.
    static let outsideCopies = Migration(
        version: 28, name: "outside_copies",
        sql: #"""
            CREATE TABLE audit_outside_copies (
                path text PRIMARY KEY CHECK (length(path) BETWEEN 1 AND 4096),
                first_written_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE audit_outside_copies IS 'Checkpoint files (audit.checkpoint_file) a signed checkpoint reached; one found missing or empty later is a lost outside copy, and the sealer refuses until it is back or begun anew.';
            """#)
}
