extension Migrations {
    /// The checkpoint files a signed checkpoint reached. Once one is in here, a checkpoint file found
    /// missing or empty (under this path or another) is an outside copy that is gone (a mount not there,
    /// a restore onto a new server), not a new one: the sealer refuses to sign until it is back or an
    /// operator begins a new one (`freigabe audit seal --start-checkpoint-file`). While none is (no
    /// checkpoint reached a file yet), the first checkpoint begins the file.
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
