import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// What `audit verify` checks before it reads the log: a sealer that stopped, and append-only triggers
/// that are there by name but no longer protect anything.
@Suite("Decision log: guards of audit verify")
struct AuditGuardTests {
    let logger = StoreTestSupport.logger

    func verify(_ admin: PostgresClient, grace: Duration = .seconds(300)) async throws -> AuditVerification.Report {
        var verification = AuditVerification(
            client: admin, keys: TrustedKeys(AuditSealTests.signer.verifierKey), appRole: "freigabe_app")
        verification.sealingGrace = grace
        return try await verification.run(logger: logger)
    }

    /// Events written `minutes` ago (both times), as the engine writes a security event.
    func insertEvents(_ client: PostgresClient, count: Int, minutesAgo minutes: Int) async throws {
        for index in 0..<count {
            try await client.query(
                """
                INSERT INTO audit_events (occurred_at, recorded_at, actor, event)
                VALUES (now() - make_interval(mins => \(Int32(minutes))), now() - make_interval(mins => \(Int32(minutes))),
                        \("user\(index)"), 'login_failed')
                """, logger: logger)
        }
    }

    /// A restore made as the application role (or with `pg_restore --no-owner` connected as it) gives
    /// it the log's tables, and with them the right to switch their triggers off; a restore without the
    /// privileges leaves it unable to read: neither is "unreachable" or "protected".
    @Test(
        "/ready: log tables owned by the application role, and privileges missing, are named as such", .runsAlone)
    func restoredOwnershipAndPrivileges() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                let ready = ReadinessCheck.database(app)
                #expect(await ready(logger: logger).auditLog == .protected)
                let role = try #require(
                    try await app.query("SELECT current_user::text", logger: logger).decode(String.self)
                        .first(where: { _ in true }))
                let owner = try #require(
                    try await admin.query("SELECT current_user::text", logger: logger).decode(String.self)
                        .first(where: { _ in true }))
                // The application role made a member of the owner role (as good as owning the tables:
                // it may switch their triggers off); alone, since every test database shares the roles.
                // Without inheriting the owner's rights: `SET ROLE` is still open to it.
                try await admin.query("GRANT \(unescaped: owner) TO \(unescaped: role)", logger: logger)
                try await admin.query("ALTER ROLE \(unescaped: role) NOINHERIT", logger: logger)
                let owned = await ready(logger: logger)
                let verified = try await verify(admin)
                try await admin.query("ALTER ROLE \(unescaped: role) INHERIT", logger: logger)
                try await admin.query("REVOKE \(unescaped: owner) FROM \(unescaped: role)", logger: logger)
                let memberships = try await admin.query(
                    "SELECT count(*) FROM pg_auth_members WHERE member = \(role)::regrole", logger: logger
                ).decode(Int64.self).first(where: { _ in true })
                #expect(memberships == 0, "the application role is left a member of a role")
                #expect(owned.auditLog == .ownedByApplicationRole, "\(owned)")
                #expect(
                    verified.problems.contains { $0.contains("table audit_events is owned by \(owner)") },
                    "\(verified.problems)")
                #expect(await ready(logger: logger).auditLog == .protected)

                try await admin.query("REVOKE SELECT ON schema_migrations FROM \(unescaped: role)", logger: logger)
                let refused = await ready(logger: logger)
                try await admin.query("GRANT SELECT ON schema_migrations TO \(unescaped: role)", logger: logger)
                #expect(refused.database == .permissionDenied && !refused.isReady, "\(refused)")
                let body = String(decoding: try JSONEncoder().encode(refused), as: UTF8.self)
                #expect(body.contains(#""database":"permission_denied""#), "\(body)")
                #expect(await ready(logger: logger).database == .ok)
            }
        }
    }

    @Test("/ready tells whether the signed checkpoints reach the outside copy; absent without one")
    func outsideCopyOnReady() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("outside-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // The file's directory is gone (a lost mount): every append fails, as on a full disk.
        let mount = folder.appendingPathComponent("mount")
        let file = mount.appendingPathComponent("checkpoints.txt")
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                let status = OutsideCopyStatus()
                let rounds = AuditSealService(
                    sealer: AuditSealer(client: app, signer: AuditSealTests.signer, checkpointFile: file.path),
                    interval: .seconds(1), logger: logger, metrics: nil, outsideCopy: status)
                let ready = ReadinessCheck.database(app, outsideCopy: status)
                #expect(await ready(logger: logger).auditCheckpointFile == .written, "nothing due yet")
                try await insertEvents(admin, count: 1, minutesAgo: 0)
                _ = await rounds.round()
                let failing = await ready(logger: logger)
                #expect(failing.auditCheckpointFile == .failing)
                #expect(failing.isReady, "reported, not a reason to leave the load balancer")
                let body = String(decoding: try JSONEncoder().encode(failing), as: UTF8.self)
                #expect(body.contains(#""audit_checkpoint_file":"failing""#), "\(body)")
                // The operator mounts it again: the next checkpoint reaches the file.
                try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
                try await insertEvents(admin, count: 1, minutesAgo: 0)
                _ = await rounds.round()
                #expect(await ready(logger: logger).auditCheckpointFile == .written)
                #expect(FileManager.default.fileExists(atPath: file.path))
                let without = await ReadinessCheck.database(app)(logger: logger)
                #expect(without.auditCheckpointFile == nil)
                let plain = String(decoding: try JSONEncoder().encode(without), as: UTF8.self)
                #expect(!plain.contains("audit_checkpoint_file"))
            }
        }
    }

    @Test("a sealer that stopped is named: the unsealed events older than the grace, and the oldest one's time")
    func stalledSealer() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                let sealer = AuditSealer(client: app, signer: AuditSealTests.signer, checkpointFile: nil)
                try await insertEvents(admin, count: 2, minutesAgo: 180)
                _ = try await sealer.sealAll(now: Date(), logger: logger)
                #expect(try await verify(admin).problems == [])
                let ready = ReadinessCheck.database(app)
                #expect(await ready(logger: logger).auditLog == .protected)
                // The sealer stops; events keep coming. Two are an hour old, one is new.
                try await insertEvents(admin, count: 2, minutesAgo: 60)
                try await insertEvents(admin, count: 1, minutesAgo: 0)
                // /ready says so too (reported, the instance stays in service).
                let stalled = await ready(logger: logger)
                #expect(stalled.auditLog == .sealingStalled)
                #expect(stalled.isReady)
                let report = try await verify(admin)
                #expect(report.problems.count == 1, "\(report.problems)")
                let problem = try #require(report.problems.first)
                #expect(problem.hasPrefix("2 audit events written more than 300 s ago are not sealed"), "\(problem)")
                #expect(problem.hasSuffix("the sealer is not running"))
                // The first is named by its row, the oldest by its time.
                let rows = try await admin.query(
                    """
                    SELECT min(e.id), min(occurred_at) FROM audit_events e
                    WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id)
                    """, logger: logger)
                for try await (first, oldest) in rows.decode((Int64, Date).self) {
                    #expect(
                        problem.contains(
                            "(the first is row \(first); the oldest happened at \(AuditTimestamp(oldest)), written at "),
                        "\(problem)")
                }
                // A longer grace takes them in; sealed, nothing is left.
                #expect(try await verify(admin, grace: .seconds(7200)).problems == [])
                _ = try await sealer.sealAll(now: Date(), logger: logger)
                #expect(try await verify(admin).problems == [])
                #expect(await ready(logger: logger).auditLog == .protected)
            }
        }
    }

    @Test("every append-only trigger function's body is read from the migrations")
    func functionBodiesFromTheMigrations() {
        let bodies = AuditTriggerGuard.functionBodies
        for function in Set(AuditTriggerGuard.expected.map(\.function)) where function != "audit_redactions_stamp" {
            #expect(bodies[function]?.contains("RAISE EXCEPTION") == true, "\(function)")
        }
        // Migration 18's stamp refuses nothing: it sets the erasure's time whatever the INSERT gave.
        #expect(bodies["audit_redactions_stamp"]?.contains("NEW.redacted_at := now();") == true)
        // Migration 13 replaced migration 10's body: the last one counts.
        #expect(bodies["audit_events_erasure_only"]?.contains("OLD.as_escalation") == true)
        #expect(bodies["audit_redact"] == nil)
        #expect(
            AuditTriggerGuard.functionBodies(in: [
                "CREATE TRIGGER x BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();\nCREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $$ body $$;"
            ]) == ["g": " body "])
    }

    /// Each a change the tables' owner can make that keeps every trigger's name and its "enabled", and
    /// with which the owner's UPDATE of an event then goes through.
    /// A rolling update: a newer release's migration replaced a trigger function's body (as migrations
    /// 13 and 18 did), and the older instances still answer `/ready`. They must not page the operator with
    /// "triggers disabled"; what they can still check (enabled, events, function, no condition) they do.
    @Test("after a newer release replaced a trigger function, an older instance's /ready says newer_release")
    func newerReleasesFunctionBody() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                try await insertEvents(admin, count: 1, minutesAgo: 0)
                _ = try await AuditSealer(client: app, signer: AuditSealTests.signer, checkpointFile: nil)
                    .sealAll(now: Date(), logger: logger)
                let body = try #require(
                    try await admin.query(
                        "SELECT prosrc FROM pg_proc WHERE proname = 'audit_events_erasure_only'", logger: logger
                    ).decode(String.self).first(where: { _ in true }))
                // The same function with another body text (a comment more), as a newer migration writes it.
                try await admin.query(
                    PostgresQuery(
                        unsafeSQL:
                            "CREATE OR REPLACE FUNCTION audit_events_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$"
                            + "\n-- rewritten by a newer release" + body + "$$"), logger: logger)
                #expect(await ReadinessCheck.database(app)(logger: logger).auditLog == .triggersDisabled)
                let newest = Migrations.newest
                try await admin.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(newest + 1), 'future', 'x')",
                    logger: logger)
                #expect(await ReadinessCheck.database(app)(logger: logger).auditLog == .newerRelease)
                // Still checked: a trigger disabled is reported whatever release migrated last.
                try await admin.query(
                    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete", logger: logger)
                #expect(await ReadinessCheck.database(app)(logger: logger).auditLog == .triggersDisabled)
            }
        }
    }

    @Test(
        "a trigger that no longer protects is found by verify and by /ready, though enabled and named as before",
        arguments: [
            (
                "CREATE OR REPLACE FUNCTION audit_events_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$",
                "trigger audit_events_no_update_delete on audit_events: the function audit_events_erasure_only is not the one the migrations wrote (its body was replaced)"
            ),
            (
                """
                CREATE FUNCTION let_through() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$;
                DROP TRIGGER audit_events_no_update_delete ON audit_events;
                CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
                    FOR EACH ROW EXECUTE FUNCTION let_through()
                """,
                "trigger audit_events_no_update_delete on audit_events calls let_through, not audit_events_erasure_only"
            ),
            (
                """
                DROP TRIGGER audit_events_no_update_delete ON audit_events;
                CREATE TRIGGER audit_events_no_update_delete BEFORE DELETE ON audit_events
                    FOR EACH ROW EXECUTE FUNCTION audit_events_erasure_only()
                """,
                "trigger audit_events_no_update_delete on audit_events no longer fires BEFORE UPDATE OR DELETE FOR EACH ROW (tgtype 11, not 27)"
            ),
            (
                """
                DROP TRIGGER audit_events_no_update_delete ON audit_events;
                CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
                    FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_events_erasure_only()
                """,
                "trigger audit_events_no_update_delete on audit_events has a WHEN condition, a column list or arguments: it may not fire"
            ),
            (
                """
                DROP TRIGGER audit_events_no_update_delete ON audit_events;
                CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OF decision OR DELETE ON audit_events
                    FOR EACH ROW EXECUTE FUNCTION audit_events_erasure_only()
                """,
                "trigger audit_events_no_update_delete on audit_events has a WHEN condition, a column list or arguments: it may not fire"
            ),
            (
                "ALTER TABLE audit_events ENABLE REPLICA TRIGGER audit_events_no_update_delete",
                "trigger audit_events_no_update_delete on audit_events fires only in replication (ENABLE REPLICA TRIGGER): it is off"
            ),
            (
                "DROP TRIGGER audit_events_no_update_delete ON audit_events",
                "table audit_events has no append-only trigger audit_events_no_update_delete"
            ),
        ])
    func changedTrigger(_ sql: String, _ expected: String) async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                try await insertEvents(admin, count: 1, minutesAgo: 0)
                _ = try await AuditSealer(client: app, signer: AuditSealTests.signer, checkpointFile: nil)
                    .sealAll(now: Date(), logger: logger)
                #expect(try await verify(admin).problems == [])
                #expect(await ReadinessCheck.database(app)(logger: logger).auditLog == .protected)

                for statement in sql.components(separatedBy: ";\n") {
                    try await admin.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                // The hole is real: the owner changes a sealed event with every trigger "enabled".
                try await admin.query("UPDATE audit_events SET actor = 'mallory'", logger: logger)

                let report = try await verify(admin)
                #expect(report.problems.first == expected, "\(report.problems)")
                #expect(await ReadinessCheck.database(app)(logger: logger).auditLog == .triggersDisabled)
            }
        }
    }
}
