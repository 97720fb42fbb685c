import Foundation
import Logging
import PostgresNIO

/// One step of the schema: a number, a name and the SQL (several statements), embedded in the binary.
public struct Migration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Why migrating failed.
public struct MigrationError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// An applied migration's SQL differs from what this program carries: someone edited a released
        /// migration. Never do that; add a new one.
        case checksumMismatch = "checksum_mismatch"
        /// The application role name is not a plain identifier.
        case invalidRoleName = "invalid_role_name"
        /// The SQL of a migration failed; nothing of it was applied.
        case failed
        /// A table the migration changes stayed locked by another session (a long query, a backup's
        /// `pg_dump`) through every attempt; nothing of it was applied.
        case tableLocked = "table_locked"
    }

    public var code: Code
    public var message: String
    /// The SQL failed because a table lock was not granted in time (SQLSTATE 55P03): worth another try.
    var lockNotAvailable = false

    public var description: String { "\(code.rawValue): \(message)" }
}

/// What the database holds compared with this program's migrations.
public struct MigrationStatus: Sendable, Hashable {
    /// Versions recorded in `schema_migrations`, ascending.
    public var applied: [Int]
    /// Versions this program carries that are not applied yet.
    public var pending: [Int]
    /// Applied versions this program does not know (a newer release migrated the database).
    public var unknown: [Int]
    /// Applied versions whose checksum differs from this program's SQL.
    public var mismatched: [Int]

    /// Every known migration is applied unchanged.
    public var isCurrent: Bool { pending.isEmpty && mismatched.isEmpty }
}

/// Applies ``Migrations/all`` in order, each in its own transaction, recorded in `schema_migrations`.
///
/// Several instances may start at once: every transaction first takes `pg_advisory_xact_lock`, so one
/// migrates while the others wait and then find nothing left to do. Run it as the owner (admin) role;
/// afterwards it grants the application role exactly what it needs (``Privileges``).
public enum Migrator {
    /// Key of the advisory lock (an arbitrary constant: "Freigabe" in ASCII, shortened to 63 bits).
    static let lockKey: Int64 = 0x4672_6569_6761_6265 & 0x3fff_ffff_ffff_ffff

    /// Applies every pending migration and then the grants for `appRole`.
    ///
    /// - Parameters:
    ///   - appRole: the application's database role (e.g. `freigabe_app`), or nil to skip the grants.
    ///   - migrations: for tests; the program's migrations by default.
    ///   - upTo: for tests of the upgrade path: apply only migrations up to this version.
    ///   - timeouts: the deadlines of its transactions (tests shorten the pool wait).
    ///   - tableLock: how long one attempt waits for a table another session holds, and how many attempts
    ///     are made (the pause between them as long as the wait).
    /// - Returns: the versions applied by this call.
    @discardableResult
    public static func migrate(
        client: PostgresClient, appRole: String?, logger: Logger, migrations: [Migration] = Migrations.all,
        upTo: Int? = nil, timeouts: DatabaseSettings.Timeouts = .migration,
        tableLock: (wait: Duration, attempts: Int) = Self.tableLock
    ) async throws -> [Int] {
        if let appRole { try Privileges.checkRoleName(appRole) }
        try await Database.exclusiveTransaction(client, lockKey: lockKey, timeouts: timeouts, logger: logger) {
            connection in
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
        }
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            if let upTo, migration.version > upTo { break }
            let didApply = try await withTableLockRetries(migration, tableLock, appliedBefore: applied, logger: logger)
            {
                try await apply(
                    migration, client: client, timeouts: timeouts, tableLockWait: tableLock.wait, logger: logger)
            }
            if didApply { applied.append(migration.version) }
        }

        // A newer release migrated this database (a rolling update, an older instance restarting): its
        // grants and group keys are the newer release's, and ours would take privileges away from it.
        let known = Set(migrations.map(\.version))
        let newer = try await Database.read(client, logger: logger) { connection in
            var newer: [Int] = []
            for try await version in try await connection.query(
                "SELECT version FROM schema_migrations ORDER BY version", logger: logger
            ).decode(Int.self) where !known.contains(version) {
                newer.append(version)
            }
            return newer
        }
        guard newer.isEmpty else {
            logger.warning(
                "the database carries migrations of a newer release; grants and group keys left as it set them",
                metadata: ["migration.unknown": "\(newer)"])
            return applied
        }
        if upTo == nil {
            try await Database.exclusiveTransaction(client, lockKey: lockKey, timeouts: timeouts, logger: logger) {
                connection in
                try await CatalogRepository.rekeyGroups(on: connection, logger: logger)
            }
        }
        if let appRole {
            try await Database.exclusiveTransaction(client, lockKey: lockKey, timeouts: timeouts, logger: logger) {
                connection in
                try await Privileges.grant(to: appRole, on: connection, logger: logger)
            }
        }
        return applied
    }

    /// How long one attempt of a migration waits for a table another session holds, and how many
    /// attempts it makes. Waiting longer would queue every command that touches the table behind the
    /// migration's request for it (a lock request blocks the ones after it), so the service would stall
    /// for as long as a nightly `pg_dump` or a long report runs; the advisory lock between instances is
    /// taken before and may wait for another instance's migration as long as the transaction allows.
    public static let tableLock: (wait: Duration, attempts: Int) = (.seconds(5), 4)

    /// At least 1: `lock_timeout = 0` would mean waiting for ever.
    private static func milliseconds(_ duration: Duration) -> Int {
        max(1, Int((duration / .milliseconds(1)).rounded(.up)))
    }

    /// One migration in one transaction; false when it was applied already.
    private static func apply(
        _ migration: Migration, client: PostgresClient, timeouts: DatabaseSettings.Timeouts,
        tableLockWait: Duration, logger: Logger
    ) async throws -> Bool {
        try await Database.exclusiveTransaction(client, lockKey: lockKey, timeouts: timeouts, logger: logger) {
            connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = \(Self.milliseconds(tableLockWait))"), logger: logger
            )
            let checksum = Self.checksum(of: migration.sql)
            let rows = try await connection.query(
                "SELECT checksum FROM schema_migrations WHERE version = \(migration.version)", logger: logger)
            if let recorded = try await rows.decode(String.self).first(where: { _ in true }) {
                guard recorded == checksum else {
                    throw MigrationError(
                        code: .checksumMismatch,
                        message: "migration \(migration.version) (\(migration.name)) was changed after it was "
                            + "applied: recorded checksum \(recorded), now \(checksum). Released migrations "
                            + "must never be edited; restore it and add a new migration.")
                }
                return false
            }
            logger.info(
                "applying migration",
                metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
            do {
                for statement in SQLStatements.split(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            } catch {
                var failure = MigrationError(
                    code: .failed,
                    message: "migration \(migration.version) (\(migration.name)) failed: "
                        + (Database.serverMessage(of: error) ?? String(reflecting: error)))
                failure.lockNotAvailable = Database.sqlState(of: error) == "55P03"
                throw failure
            }
            try await connection.query(
                """
                INSERT INTO schema_migrations (version, name, checksum)
                VALUES (\(migration.version), \(migration.name), \(checksum))
                """, logger: logger)
            return true
        }
    }

    /// Runs `attempt` again while it fails for a table lock it did not get in time (SQLSTATE 55P03),
    /// pausing as long as the wait between attempts; after the last, a ``MigrationError`` that says so.
    private static func withTableLockRetries(
        _ migration: Migration, _ tableLock: (wait: Duration, attempts: Int), appliedBefore: [Int], logger: Logger,
        _ attempt: () async throws -> Bool
    ) async throws -> Bool {
        let wait = Self.milliseconds(tableLock.wait)
        for number in 1...max(1, tableLock.attempts) {
            do {
                return try await attempt()
            } catch let error as MigrationError where error.code == .failed && error.lockNotAvailable {
                guard number < tableLock.attempts else {
                    let before = appliedBefore.isEmpty ? "" : " (applied before it in this run: \(appliedBefore))"
                    throw MigrationError(
                        code: .tableLocked,
                        message: "migration \(migration.version) (\(migration.name)) did not get a table or rows it "
                            + "changes within \(wait) ms in \(tableLock.attempts) attempts: another session holds them "
                            + "(a long query, a backup's pg_dump; see pg_locks). Nothing of it was applied\(before); "
                            + "run the migration again when that session has ended.")
                }
                logger.warning(
                    "a migration waits for a table another session holds; trying again",
                    metadata: [
                        "migration.version": "\(migration.version)", "attempt": "\(number)",
                        "error": "\(error.message)",
                    ])
                try await Task.sleep(for: tableLock.wait)
            }
        }
        return false
    }

    /// Compares the database with the program's migrations without changing anything. Works with the
    /// application role (it may read `schema_migrations`); `/ready` asks ``status(on:logger:migrations:)``.
    public static func status(
        client: PostgresClient, logger: Logger, migrations: [Migration] = Migrations.all
    ) async throws -> MigrationStatus {
        try await Database.read(client, logger: logger) { connection in
            try await status(on: connection, logger: logger, migrations: migrations)
        }
    }

    /// ``status(client:logger:migrations:)`` on a connection already leased: two short reads.
    static func status(
        on connection: PostgresConnection, logger: Logger, migrations: [Migration] = Migrations.all
    ) async throws -> MigrationStatus {
        let exists =
            try await connection.query(
                "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
            ).decode(Bool.self).first(where: { _ in true }) ?? false
        var recorded: [Int: String] = [:]
        if exists {
            let rows = try await connection.query(
                "SELECT version, checksum FROM schema_migrations ORDER BY version", logger: logger)
            for try await (version, checksum) in rows.decode((Int, String).self) { recorded[version] = checksum }
        }
        var mismatched: [Int] = []
        for migration in migrations {
            guard let checksum = recorded[migration.version] else { continue }
            if Self.checksum(of: migration.sql) != checksum { mismatched.append(migration.version) }
        }
        let known = Set(migrations.map(\.version))
        return MigrationStatus(
            applied: recorded.keys.sorted(),
            pending: migrations.map(\.version).filter { recorded[$0] == nil }.sorted(),
            unknown: recorded.keys.filter { !known.contains($0) }.sorted(),
            mismatched: mismatched.sorted())
    }

    /// SHA-256 of the SQL's UTF-8 bytes, hex: what `encode(sha256(convert_to(sql, 'UTF8')), 'hex')`
    /// gave when earlier releases let PostgreSQL compute it, so recorded checksums still match. Computed
    /// here, a readiness probe sends no migration's text to the server.
    static func checksum(of sql: String) -> String {
        SHA256Hex.of(Data(sql.utf8))
    }
}

/// Least privilege for the application role. Not a migration because the role's name is configuration;
/// applied (idempotently) after every migration run. Each table's grant is complete: `REVOKE ALL` first.
enum Privileges {
    /// table → privileges of the application role.
    static let tables: [(table: String, privileges: String)] = [
        ("schema_migrations", "SELECT"),
        ("domains", "SELECT, INSERT, UPDATE"),
        ("datasets", "SELECT, INSERT, UPDATE"),
        ("workflow_definitions", "SELECT, INSERT"),
        ("requests", "SELECT, INSERT, UPDATE"),
        // Decisions and the audit log are history: appended, never changed.
        ("decisions", "SELECT, INSERT"),
        ("deputyships", "SELECT, INSERT"),
        // Work queues: rows are claimed and updated, never deleted by the application (a stolen server
        // cannot make a failed mail vanish from the Postausgang); `audit redact` (the owner) erases.
        ("timers", "SELECT, INSERT, UPDATE"),
        ("outbox", "SELECT, INSERT, UPDATE"),
        // Expired keys' stored answers are deleted every five minutes (`IdempotencyKeyExpiry`).
        ("idempotency_keys", "SELECT, INSERT, UPDATE, DELETE"),
        ("audit_events", "SELECT"),
        ("audit_seals", "SELECT, INSERT"),
        ("audit_checkpoints", "SELECT, INSERT"),
        // Written only by audit_redact(), which the application role may not call.
        ("audit_redactions", "SELECT"),
        ("web_sessions", "SELECT, INSERT, UPDATE, DELETE"),
        // Registered at start, disabled on 410; never deleted by the application.
        ("webhook_subscriptions", "SELECT, INSERT, UPDATE"),
        ("webhook_deliveries", "SELECT, INSERT, UPDATE"),
        // Links are marked used, never changed otherwise; `audit redact` (the owner) erases old ones.
        ("decision_links", "SELECT, INSERT"),
        // The sealer notes each checkpoint file it reached; nothing is ever changed.
        ("audit_outside_copies", "SELECT, INSERT"),
    ]

    /// Privileges on some columns only, besides ``tables``: what the application writes of a table whose
    /// other columns are history or the database's own.
    static let columns: [(table: String, privilege: String, columns: [String])] = [
        // A deputyship is ended, never changed otherwise.
        ("deputyships", "UPDATE", ["ended_at", "ended_by"]),
        // A link is marked used (or given back), never redirected or prolonged.
        ("decision_links", "UPDATE", ["used_at"]),
        // Not the database's own columns: when it recorded an event (the sealing alarms and the
        // verifier's grace go by it), its id, and the unused chain columns.
        ("audit_events", "INSERT", AuditWriter.insertedColumns),
    ]

    static let sequences = ["request_number_seq", "audit_events_id_seq"]

    static func checkRoleName(_ role: String) throws {
        let valid =
            !role.isEmpty && role.count <= 63
            && role.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            }
        guard valid else {
            throw MigrationError(
                code: .invalidRoleName,
                message: "the application role '\(role)' must be 1 to 63 characters of a-z, 0-9, _ and -")
        }
    }

    static func grant(to role: String, on connection: PostgresConnection, logger: Logger) async throws {
        try checkRoleName(role)
        // Identifiers cannot be bound as parameters; the name is checked above and quoted here.
        let quoted = "\"\(role)\""
        // Only what exists: a test may stop the migrations half way (`upTo`).
        let names = tables.map(\.table) + sequences
        let rows = try await connection.query(
            "SELECT name FROM unnest(\(names)::text[]) AS name WHERE to_regclass(name) IS NOT NULL", logger: logger)
        var existing: Set<String> = []
        for try await name in rows.decode(String.self) { existing.insert(name) }
        // Nobody but the owner creates objects in the schema (PostgreSQL 14 and clusters upgraded from it
        // still let everyone): a function the application role placed there could take the place of a
        // built-in one inside `audit_redact`, which runs as the owner.
        var statements = [
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC", "REVOKE CREATE ON SCHEMA public FROM \(quoted)",
            "GRANT USAGE ON SCHEMA public TO \(quoted)",
        ]
        for (table, privileges) in tables where existing.contains(table) {
            statements.append("REVOKE ALL ON TABLE \(table) FROM \(quoted)")
            statements.append("GRANT \(privileges) ON TABLE \(table) TO \(quoted)")
        }
        // `REVOKE ALL ON TABLE` above took the column privileges too. Only columns that exist: a column
        // added by a later migration is granted once it is there.
        let columnRows = try await connection.query(
            """
            SELECT table_name::text, column_name::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = ANY(\(columns.map(\.table)))
            """, logger: logger)
        var existingColumns: Set<String> = []
        for try await (table, column) in columnRows.decode((String, String).self) {
            existingColumns.insert("\(table).\(column)")
        }
        for (table, privilege, names) in columns {
            let present = names.filter { existingColumns.contains("\(table).\($0)") }
            guard !present.isEmpty else { continue }
            statements.append(
                "GRANT \(privilege) (\(present.joined(separator: ", "))) ON TABLE \(table) TO \(quoted)")
        }
        for sequence in sequences where existing.contains(sequence) {
            statements.append("REVOKE ALL ON SEQUENCE \(sequence) FROM \(quoted)")
            statements.append("GRANT USAGE, SELECT ON SEQUENCE \(sequence) TO \(quoted)")
        }
        for statement in statements {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        // Only the schema's owner (or a superuser) can take the right away; anyone else's REVOKE is a mere
        // warning. On PostgreSQL 14 and older `public` belongs to `postgres`, not to our owner role.
        let creates = try await connection.query(
            "SELECT has_schema_privilege(\(role), 'public', 'CREATE'), current_user", logger: logger
        ).decode((Bool, String).self).first(where: { _ in true })
        if let creates, creates.0 {
            throw MigrationError(
                code: .failed,
                message: "the application role '\(role)' may still create objects in schema public, which "
                    + "'\(creates.1)' does not own (PostgreSQL 14 and older give it to postgres): as a superuser, "
                    + "ALTER SCHEMA public OWNER TO \"\(creates.1)\"; or REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
                    + "then run freigabe migrate again")
        }
        logger.info("granted privileges", metadata: ["db.role": "\(role)"])
    }
}
