import Foundation
import LDAPDirectory
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Migrations and privileges")
struct MigrationTests {
    let logger = StoreTestSupport.logger

    @Test("from an empty database every migration applies once and the schema is current")
    func fromEmpty() async throws {
        try await TestDatabase.with(migrated: false) { database in
            try await database.withClients { app, admin in
                let before = try await Migrator.status(client: admin, logger: logger)
                #expect(before.applied.isEmpty)
                #expect(before.pending == Migrations.all.map(\.version))
                let applied = try await Migrator.migrate(client: admin, appRole: database.settings.user, logger: logger)
                #expect(applied == Migrations.all.map(\.version))
                // A second run finds nothing to do.
                #expect(
                    try await Migrator.migrate(client: admin, appRole: database.settings.user, logger: logger) == [])
                let status = try await Migrator.status(client: app, logger: logger)
                #expect(status.isCurrent)
                #expect(status.applied == Migrations.all.map(\.version))
                #expect(status.unknown.isEmpty && status.mismatched.isEmpty)
                // Earlier releases let PostgreSQL compute the checksums: databases they migrated must match.
                for migration in Migrations.all {
                    let rows = try await admin.query(
                        "SELECT encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex')", logger: logger)
                    let byServer = try await rows.decode(String.self).first(where: { _ in true })
                    #expect(byServer == Migrator.checksum(of: migration.sql), "migration \(migration.version)")
                }
            }
        }
    }

    /// `freigabe serve` with the database down or a wrong password: the operator reads where the
    /// database is and why it could not be reached, as `freigabe migrate` says it, not
    /// `unavailable: general.database_unavailable` after the migration's 30 s pool wait.
    @Test("the migration at start names host:port and the cause: a refused connection, a wrong password (28P01)")
    func startNamesPlaceAndCause() async throws {
        let settings = try DatabaseSettings(environment: try StoreTestSupport.environment())
        let short = DatabaseSettings.Timeouts(transaction: .seconds(5), poolWait: .seconds(1))
        var wrongPassword = settings
        wrongPassword.adminPassword = "falsches-passwort"
        let refused = await #expect(throws: DatabaseStartup.Failure.self) {
            try await DatabaseStartup.migrate(wrongPassword, logger: logger, timeouts: short)
        }
        let words = refused?.description ?? ""
        let place = "Migration fehlgeschlagen: Datenbank nicht erreichbar (\(settings.host):\(settings.port), "
        #expect(words.hasPrefix(place), "\(words)")
        #expect(words.contains("password authentication failed") && words.contains("28P01"), "\(words)")
        #expect(!words.contains("falsches-passwort"), "\(words)")
        var away = settings
        away.port = try await closedPort()
        let down = await #expect(throws: DatabaseStartup.Failure.self) {
            try await DatabaseStartup.migrate(away, logger: logger, timeouts: short)
        }
        let text = down?.description ?? ""
        #expect(
            text.hasPrefix("Migration fehlgeschlagen: Datenbank nicht erreichbar (127.0.0.1:\(away.port), "), "\(text)")
        #expect(text.contains("refused") && !text.contains("general.database_unavailable"), "\(text)")
    }

    /// An administrator edits a released workflow file and forgets `version:`: requests keep the stored
    /// text, but new ones would start on another text under the same version. The start stops (before
    /// any migration) with the file and what to do; `/ready` says not ready (for an instance started
    /// without migrating), and such an instance stores no second text: its new request is refused with
    /// 503. The stored text again, the edit under a new version, or an edit of an older version kept for
    /// its requests (not the one in force) is fine; so is either of two texts a database already holds.
    @Test("a workflow file edited without a new version stops the start, makes /ready not ready, stores nothing")
    func workflowEditedWithoutNewVersion() async throws {
        try await TestDatabase.with(migrated: true) { database in
            try await database.withClients { app, admin in
                let shipped = StoreTestSupport.workflows
                let entry = try #require(shipped.current(for: .sharedData))
                let version = entry.definition.version
                func record(_ library: WorkflowLibrary, at seconds: TimeInterval) async throws {
                    let entry = try #require(library.current(for: .sharedData))
                    try await app.withConnection { connection in
                        try await RequestService.recordDefinition(
                            entry, now: Date(timeIntervalSince1970: seconds), on: connection, logger: logger)
                    }
                }
                func storedTexts() async throws -> Int {
                    try await admin.query(
                        "SELECT count(*)::int FROM workflow_definitions WHERE workflow_id = 'shared-data'",
                        logger: logger
                    ).decode(Int.self).first(where: { _ in true }) ?? -1
                }
                try await record(shipped, at: 1_800_000_000)
                let file = try String(
                    contentsOfFile: StoreTestSupport.workflowsDirectory + "/shared-data.yaml", encoding: .utf8)
                let edited = try StoreTestSupport.workflows(written: ["shared-data.yaml": file + "# geändert\n"])
                let raised = try StoreTestSupport.workflows(written: [
                    "shared-data.yaml": file.replacingOccurrences(
                        of: "\nversion: \(version)\n", with: "\nversion: \(version + 1)\n") + "# geändert\n",
                    // The old version kept for its requests, edited: new requests never start on it.
                    "shared-data.alt.yaml": file + "# auch geändert\n",
                ])
                #expect(raised.current(for: .sharedData)?.definition.version == version + 1)

                let refused = await #expect(throws: DatabaseStartup.Failure.self) {
                    try await DatabaseStartup.migrate(database.settings, workflows: edited, logger: logger)
                }
                let words = refused?.description ?? ""
                #expect(
                    words.hasPrefix("Workflow-Definition geändert, ohne die Version zu erhöhen: ")
                        && words.contains(
                            "shared-data.yaml: shared-data Version \(version) ist seit 2027-01-15T08:00:00Z")
                        && words.contains("erhöhen Sie `version:`"), "\(words)")
                let notReady = await ReadinessCheck.database(app, workflows: edited)(logger: logger)
                #expect(notReady.status == .notReady && notReady.workflows == .editedWithoutVersion, "\(notReady)")
                // An instance that started anyway stores no second text under the version.
                let stored = try await storedTexts()
                let unavailable = await #expect(throws: ServiceError.self) {
                    try await record(edited, at: 1_800_000_100)
                }
                #expect(
                    unavailable?.code == .unavailable && unavailable?.message == UserText("general.workflow_edited"))
                #expect(try await storedTexts() == stored)

                for fine in [shipped, raised] {
                    try await DatabaseStartup.migrate(database.settings, workflows: fine, logger: logger)
                    let ready = await ReadinessCheck.database(app, workflows: fine)(logger: logger)
                    #expect(ready.status == .ready && ready.workflows == .current, "\(ready)")
                }

                // A database that holds two texts of one version (stored before this check): either passes,
                // a third does not, and the first stored is named.
                let second = try StoreTestSupport.workflows(written: ["shared-data.yaml": file + "# zweite\n"])
                let secondEntry = try #require(second.current(for: .sharedData))
                try await admin.query(
                    """
                    INSERT INTO workflow_definitions (workflow_id, version, content_hash, source, first_used_at)
                    VALUES ('shared-data', \(version), \(secondEntry.definition.contentHash), \(secondEntry.source),
                            to_timestamp(1800000500))
                    """, logger: logger)
                for either in [shipped, second] {
                    #expect(await ReadinessCheck.database(app, workflows: either)(logger: logger).status == .ready)
                }
                let third = try await app.withConnection { try await edited.editedVersions(on: $0, logger: logger) }
                #expect(third.map(\.storedHash) == [entry.definition.contentHash])
            }
        }
    }

    /// PostgreSQL 14 (and clusters upgraded from it) let every role create objects in `public`: the
    /// application role could then place a function there that `audit_redact`, run by the owner, would
    /// call instead of a built-in one.
    @Test(
        "after migrate the application role creates nothing in the schema, deletes no queued row, writes no column it never writes"
    )
    func leastPrivilegeInTheSchema() async throws {
        try await TestDatabase.with(migrated: true) { database in
            try await database.withClients { app, admin in
                let role = database.settings.user
                try await admin.query("GRANT CREATE ON SCHEMA public TO PUBLIC", logger: logger)
                try await admin.query(
                    PostgresQuery(unsafeSQL: "GRANT CREATE ON SCHEMA public TO \"\(role)\""), logger: logger)
                try await Migrator.migrate(client: admin, appRole: role, logger: logger)
                let creates = try await admin.query(
                    "SELECT has_schema_privilege(\(role), 'public', 'CREATE')", logger: logger
                ).decode(Bool.self).first(where: { _ in true })
                #expect(creates == false)
                for statement in [
                    "CREATE FUNCTION public.jsonb_agg(jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT $1'",
                    "DELETE FROM outbox", "DELETE FROM timers", "DELETE FROM webhook_deliveries",
                    "DELETE FROM decision_links",
                    // Columns it never writes: who deputises for whom, where a link leads, when the database
                    // recorded an event (the sealing alarms go by it).
                    "UPDATE deputyships SET deputy = 'mallory'", "UPDATE decision_links SET expires_at = now()",
                    "INSERT INTO audit_events (occurred_at, event, recorded_at) VALUES (now(), 'created', now() + interval '1 year')",
                    "INSERT INTO audit_events (occurred_at, event, chain_position) VALUES (now(), 'created', 1)",
                ] {
                    do {
                        try await app.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        Issue.record("the application role could: \(statement)")
                    } catch {
                        #expect(Database.sqlState(of: error) == "42501", "\(statement): \(String(reflecting: error))")
                    }
                }
            }
        }
    }

    @Test("indexes no query uses are not kept: decisions by person, the unused chain position of events")
    func unusedIndexesAreGone() async throws {
        try await TestDatabase.with(migrated: true) { database in
            try await database.withClients { _, admin in
                let names = try await admin.query(
                    """
                    SELECT indexname FROM pg_indexes
                    WHERE tablename IN ('decisions', 'audit_events') ORDER BY indexname
                    """, logger: logger
                ).decode(String.self).reduce(into: [String]()) { $0.append($1) }
                #expect(!names.contains("decisions_person") && !names.contains("audit_events_chain_position_key"))
                #expect(
                    names.contains("decisions_acting_for") || names.contains { $0.contains("acting_for") }, "\(names)")
            }
        }
    }

    /// The migration's deadline closed only the client's connection: the backend went on with the DDL
    /// (here a sleep) and held its locks, so commands waited behind a migration already reported failed.
    @Test("a migration that outlives its deadline is ended by the server too, not only by the client", .runsAlone)
    func migrationDeadlineEndsTheStatement() async throws {
        try await TestDatabase.with(migrated: true) { database in
            try await database.withClients { _, admin in
                let marker = "freigabe-slow-migration-\(UUID().uuidString.prefix(8))"
                let slow = Migration(version: 9_001, name: "slow", sql: "SELECT pg_sleep(30) -- \(marker)")
                let started = ContinuousClock.now
                await #expect(throws: (any Error).self) {
                    try await Migrator.migrate(
                        client: admin, appRole: nil, logger: logger, migrations: Migrations.all + [slow],
                        timeouts: .init(
                            transaction: .seconds(6), poolWait: .seconds(3), connect: .seconds(3),
                            statement: .seconds(2), lock: .seconds(2), idleInTransaction: .seconds(6)))
                }
                let elapsed = ContinuousClock.now - started
                #expect(elapsed < .seconds(6), "ended by the server's statement_timeout, took \(elapsed)")
                let running = try await admin.query(
                    "SELECT count(*)::int FROM pg_stat_activity WHERE query LIKE '%' || \(marker) || '%' AND pid <> pg_backend_pid()",
                    logger: logger
                ).decode(Int.self).first(where: { _ in true })
                #expect(running == 0, "the backend still sleeps")
                #expect(try await Migrator.status(client: admin, logger: logger).unknown == [])
            }
        }
    }

    @Test("after a newer release migrated the database, an older one's migrate leaves its grants alone")
    func newerReleaseKeepsItsGrants() async throws {
        try await TestDatabase.with(migrated: true) { database in
            try await database.withClients { _, admin in
                let role = database.settings.user
                func mayReference() async throws -> Bool {
                    try await admin.query(
                        "SELECT has_table_privilege(\(role), 'requests', 'REFERENCES')", logger: logger
                    ).decode(Bool.self).first(where: { _ in true }) ?? false
                }
                // What a newer release granted besides ours; our grants (REVOKE ALL first) take it away...
                try await admin.query(
                    PostgresQuery(unsafeSQL: "GRANT REFERENCES ON requests TO \"\(role)\""), logger: logger)
                try await Migrator.migrate(client: admin, appRole: role, logger: logger)
                #expect(try await mayReference() == false)
                // ...unless the database carries a migration this release does not know.
                try await admin.query(
                    PostgresQuery(unsafeSQL: "GRANT REFERENCES ON requests TO \"\(role)\""), logger: logger)
                try await admin.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')",
                    logger: logger)
                #expect(try await Migrator.migrate(client: admin, appRole: role, logger: logger) == [])
                #expect(try await mayReference())
                #expect(try await Migrator.status(client: admin, logger: logger).unknown == [9999])
            }
        }
    }

    @Test("migrate re-keys group DNs stored in an older form, with the directory's normalisation")
    func rekeysGroups() async throws {
        try await TestDatabase.with(migrated: true) { database in
            try await database.withClients { app, admin in
                // A key as an older release wrote it (escapes kept, spaces inside the value doubled).
                let group = #"CN=Stewards\, Umwelt  Amt,OU=Groups,DC=stadt,DC=example"#
                let stale = #"cn=stewards\, umwelt  amt,ou=groups,dc=stadt,dc=example"#
                #expect(DistinguishedName.normalize(group) != stale)
                try await admin.query(
                    """
                    INSERT INTO domains (id, title, steward_group, steward_group_key)
                    VALUES ('umwelt', 'Umwelt', \(group), \(stale))
                    """, logger: logger)
                try await Migrator.migrate(client: admin, appRole: database.settings.user, logger: logger)
                let rows = try await app.query(
                    "SELECT steward_group_key FROM domains WHERE id = 'umwelt'", logger: logger)
                let key = try await rows.decode(String.self).first(where: { _ in true })
                #expect(key == DistinguishedName.normalize(group))
                // The key a member's group list gives (as LDAP spells the DN) is the stored key.
                #expect(DNKey.key("cn=stewards\\, umwelt amt, ou=groups, dc=stadt, dc=example") == key)
            }
        }
    }

    @Test(
        "each migration applies on top of the previous version, keeping the data",
        arguments: Migrations.all.map(\.version))
    func fromPreviousVersion(version: Int) async throws {
        try await TestDatabase.with(migrated: false) { database in
            try await database.withClients { app, admin in
                try await Migrator.migrate(
                    client: admin, appRole: database.settings.user, logger: logger, upTo: version - 1)
                if version > 1 {
                    // Data written at the previous version survives the next migration.
                    try await admin.query(
                        """
                        INSERT INTO domains (id, title, steward_group, steward_group_key)
                        VALUES ('umwelt', 'Umwelt', 'cn=stewards-umwelt,ou=groups,dc=stadt,dc=example',
                                'cn=stewards-umwelt,ou=groups,dc=stadt,dc=example')
                        """, logger: logger)
                }
                let applied = try await Migrator.migrate(client: admin, appRole: database.settings.user, logger: logger)
                #expect(applied == Migrations.all.map(\.version).filter { $0 >= version })
                #expect(try await Migrator.status(client: app, logger: logger).isCurrent)
                if version > 1 {
                    let rows = try await app.query("SELECT title FROM domains WHERE id = 'umwelt'", logger: logger)
                    #expect(try await rows.decode(String.self).first(where: { _ in true }) == "Umwelt")
                }
            }
        }
    }

    @Test("an applied migration whose SQL changed is refused")
    func checksumChange() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                var edited = Migrations.all
                edited[0].sql += "\n-- a harmless-looking edit\n"
                do {
                    try await Migrator.migrate(client: admin, appRole: nil, logger: logger, migrations: edited)
                    Issue.record("an edited migration was accepted")
                } catch let error as MigrationError {
                    #expect(error.code == .checksumMismatch)
                    #expect(error.message.contains("migration 1 (catalogue)"))
                }
                let status = try await Migrator.status(client: app, logger: logger, migrations: edited)
                #expect(status.mismatched == [1])
                #expect(!status.isCurrent)
            }
        }
    }

    /// The program's migrations and one more that changes `outbox`, with its version.
    static let widerOutbox: (next: Int, migrations: [Migration]) = (
        Migrations.newest + 1,
        Migrations.all + [
            Migration(
                version: Migrations.newest + 1, name: "wider_outbox", sql: "ALTER TABLE outbox ADD COLUMN note text")
        ]
    )

    /// What a long report does to `outbox` until its transaction ends: holds it for reading.
    static func holdOutbox(_ holder: PostgresConnection) async throws {
        try await holder.query("BEGIN", logger: StoreTestSupport.logger)
        try await holder.query("LOCK TABLE outbox IN ACCESS SHARE MODE", logger: StoreTestSupport.logger)
    }

    /// Upgrade day while a long report (or the nightly pg_dump) reads a table a migration changes: the
    /// migration's request for the table would queue every command behind it for as long as the report
    /// runs. It waits a few seconds per attempt instead, and gives up with a clear message, having
    /// changed nothing; run again when the table is free, it applies.
    @Test("a migration that cannot get its table in time gives up after its attempts, changes nothing, applies later")
    func tableHeldByAnotherSession() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                let (next, migrations) = Self.widerOutbox
                try await admin.withConnection { holder in
                    try await Self.holdOutbox(holder)
                    let started = ContinuousClock.now
                    do {
                        try await Migrator.migrate(
                            client: admin, appRole: nil, logger: logger, migrations: migrations,
                            tableLock: (.milliseconds(300), 2))
                        Issue.record("the migration ran past a held table")
                    } catch let error as MigrationError {
                        #expect(error.code == .tableLocked)
                        #expect(error.message.contains("migration \(next) (wider_outbox)"), "\(error)")
                        #expect(error.message.contains("within 300 ms in 2 attempts"), "\(error)")
                        #expect(error.message.contains("Nothing of it was applied;"), "\(error)")
                    }
                    #expect(ContinuousClock.now - started < .seconds(10))
                    // Nothing of it was applied.
                    let status = try await Migrator.status(client: app, logger: logger, migrations: migrations)
                    #expect(status.pending == [next])
                    try await holder.query("ROLLBACK", logger: logger)
                }
                #expect(
                    try await Migrator.migrate(
                        client: admin, appRole: nil, logger: logger, migrations: migrations,
                        tableLock: (.milliseconds(300), 2)) == [next])
            }
        }
    }

    /// The report ends while the migration waits between attempts: the next attempt applies it.
    @Test("a table released between attempts: the next attempt applies the migration")
    func tableReleasedBetweenAttempts() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { _, admin in
                let (next, migrations) = Self.widerOutbox
                let applied = try await admin.withConnection { holder in
                    try await Self.holdOutbox(holder)
                    async let migrated = Migrator.migrate(
                        client: admin, appRole: nil, logger: logger, migrations: migrations,
                        tableLock: (.milliseconds(400), 4))
                    // The first attempt gives up after 400 ms and pauses 400 ms; released in between.
                    try await Task.sleep(for: .milliseconds(600))
                    try await holder.query("ROLLBACK", logger: logger)
                    return try await migrated
                }
                #expect(applied == [next])
            }
        }
    }

    @Test("several instances migrating at once apply each migration once")
    func concurrentMigrators() async throws {
        try await TestDatabase.with(migrated: false) { database in
            try await database.withClients { _, admin in
                let results = try await withThrowingTaskGroup(of: [Int].self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            try await Migrator.migrate(client: admin, appRole: database.settings.user, logger: logger)
                        }
                    }
                    var all: [[Int]] = []
                    for try await applied in group { all.append(applied) }
                    return all
                }
                #expect(results.flatMap { $0 }.sorted() == Migrations.all.map(\.version))
                let rows = try await admin.query("SELECT count(*) FROM schema_migrations", logger: logger)
                #expect(try await rows.decode(Int.self).first(where: { _ in true }) == Migrations.all.count)
            }
        }
    }

    @Test("a role name that is not a plain identifier is refused before anything runs")
    func badRoleName() async throws {
        try await TestDatabase.with(migrated: false) { database in
            try await database.withClients { _, admin in
                do {
                    try await Migrator.migrate(client: admin, appRole: "app; DROP TABLE x", logger: logger)
                    Issue.record("accepted a hostile role name")
                } catch let error as MigrationError {
                    #expect(error.code == .invalidRoleName)
                }
                let status = try await Migrator.status(client: admin, logger: logger)
                #expect(status.applied.isEmpty)
            }
        }
    }

    @Test("CHECK constraints carry exactly the engine's raw values")
    func enumConstraintsMatchEngine() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { _, admin in
                let rows = try await admin.query(
                    """
                    SELECT pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE conrelid IN ('datasets'::regclass, 'requests'::regclass) AND contype = 'c'
                    """, logger: logger)
                var definitions = ""
                for try await definition in rows.decode(String.self) { definitions += definition + "\n" }
                for value in Classification.allCases.map(\.rawValue) + PersonalDataCategory.allCases.map(\.rawValue)
                    + ProtectionNeed.allCases.map(\.rawValue) + ReleaseKind.allCases.map(\.rawValue)
                    + Recipient.allCases.map(\.rawValue) + RequestPhase.allCases.map(\.rawValue)
                {
                    #expect(definitions.contains("'\(value)'::text"), "CHECK lacks \(value)")
                }
            }
        }
    }

    /// A new event type must come with a migration that widens the table's list: then the releases still
    /// running beside it see a newer schema and stand aside, instead of failing on rows they cannot read.
    @Test("audit_events takes exactly the event types this release writes")
    func auditEventTypesMatchTheCode() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                let definition = try await admin.query(
                    """
                    SELECT pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE conrelid = 'audit_events'::regclass AND conname = 'audit_events_known_event'
                    """, logger: logger
                ).decode(String.self).first(where: { _ in true })
                let listed = Set(
                    try #require(definition).matches(of: /'([a-z_]+)'::text/).map { String($0.output.1) })
                #expect(listed == Set(AuditEvent.allCases.map(\.rawValue)), "\(String(describing: definition))")
                do {
                    try await app.query(
                        "INSERT INTO audit_events (occurred_at, event) VALUES (now(), 'future_kind')", logger: logger)
                    Issue.record("an event type of no release was stored")
                } catch {
                    #expect(Database.sqlState(of: error) == "23514", "\(String(reflecting: error))")
                }
            }
        }
    }

    @Test("the application role may append to audit_events but never UPDATE, DELETE or TRUNCATE it")
    func appRoleCannotRewriteAudit() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                try await app.query(
                    "INSERT INTO audit_events (occurred_at, actor, event) VALUES (now(), 'anna', 'login_failed')",
                    logger: logger)
                for statement in [
                    "UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events",
                    "TRUNCATE audit_events",
                ] {
                    do {
                        try await app.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        Issue.record("the app role could run: \(statement)")
                    } catch {
                        #expect(Database.sqlState(of: error) == "42501", "\(statement): \(String(reflecting: error))")
                        #expect(Database.serverMessage(of: error)?.contains("permission denied") == true)
                    }
                }
                // Nor can it change other history or the schema.
                for statement in [
                    "DELETE FROM decisions", "UPDATE decisions SET comment = 'x'", "DELETE FROM requests",
                    "CREATE TABLE sneaky (id int)", "DROP TABLE audit_events",
                    "ALTER TABLE audit_events DISABLE TRIGGER USER",
                ] {
                    do {
                        try await app.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        Issue.record("the app role could run: \(statement)")
                    } catch {
                        #expect(
                            ["42501"].contains(Database.sqlState(of: error)),
                            "\(statement): \(String(reflecting: error))")
                    }
                }
                let rows = try await admin.query("SELECT count(*), min(actor) FROM audit_events", logger: logger)
                for try await (count, actor) in rows.decode((Int, String?).self) {
                    #expect(count == 1)
                    #expect(actor == "anna")
                }
            }
        }
    }

    @Test("the trigger stops even the owner from UPDATE, DELETE and TRUNCATE of audit_events")
    func triggerStopsOwner() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { _, admin in
                try await admin.query(
                    "INSERT INTO audit_events (occurred_at, actor, event) VALUES (now(), 'anna', 'login_failed')",
                    logger: logger)
                // TRUNCATE ... CASCADE would empty the seals too; their own trigger refuses.
                for (statement, refusal) in [
                    ("UPDATE audit_events SET actor = 'mallory'", "audit_events is append-only"),
                    ("DELETE FROM audit_events", "audit_events is append-only"),
                    ("TRUNCATE audit_events CASCADE", "is append-only"),
                ] {
                    do {
                        try await admin.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        Issue.record("the owner could run: \(statement)")
                    } catch {
                        #expect(
                            Database.serverMessage(of: error)?.contains(refusal) == true,
                            "\(statement): \(String(reflecting: error))")
                    }
                }
                let rows = try await admin.query("SELECT count(*) FROM audit_events", logger: logger)
                #expect(try await rows.decode(Int.self).first(where: { _ in true }) == 1)
            }
        }
    }
}
