import AuditLog
import Configuration
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The decision log sealed into its Merkle tree after commit, with signed checkpoints, and verified in
/// the database, also after someone with the tables' owner role tampered with it.
@Suite("Decision log: sealing and verification")
struct AuditSealTests {
    let logger = StoreTestSupport.logger
    static let signer: NoteSigner = {
        do {
            return try NoteSigner.generate(keyName: "freigabe.test/audit")
        } catch {
            fatalError("no key: \(error)")
        }
    }()

    /// A granted Shared Data request (several decisions and audit events), sealed.
    func sealedLifecycle(
        _ fixture: ServiceFixture, checkpointFile: String? = nil
    ) async throws -> (AuditSealer, UInt64) {
        let created = try await fixture.shared("baumkataster")
        let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
        _ = try await fixture.decide(
            owner, by: People.stefan, .approve(comment: "Passt so", licence: nil, portalURL: nil), at: Clock.days(2))
        let sealer = AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: checkpointFile)
        let size = try await sealer.sealAll(now: Clock.days(2), logger: logger)
        return (sealer, size)
    }

    func verify(_ fixture: ServiceFixture) async throws -> AuditVerification.Report {
        try await AuditVerification(
            client: fixture.admin, keys: TrustedKeys(Self.signer.verifierKey), appRole: "freigabe_app"
        )
        .run(logger: logger)
    }

    @Test("every event is sealed once, in batches, with a signed checkpoint per batch; the log verifies")
    func sealsAndVerifies() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoints-\(UUID()).txt").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await ServiceFixture.with { fixture in
            let (sealer, size) = try await sealedLifecycle(fixture, checkpointFile: file)
            let events = try await fixture.admin.query("SELECT count(*) FROM audit_events", logger: logger)
                .decode(Int.self).first(where: { _ in true })
            #expect(size > 5)
            #expect(Int(size) == events)
            // Nothing new: no new batch, no new checkpoint.
            #expect(try await sealer.sealBatch(now: Clock.days(2), logger: logger)?.sealed == 0)
            let report = try await verify(fixture)
            #expect(report.problems == [])
            #expect(report.summary?.treeSize == size)
            #expect(report.summary?.coveredSize == size)
            // New events join the same tree; the next checkpoint extends the first.
            _ = try await fixture.shared("baumkataster")
            let grown = try await sealer.sealAll(now: Clock.days(3), logger: logger)
            #expect(grown > size)
            let again = try await verify(fixture)
            #expect(again.problems == [])
            #expect(again.summary?.checkpointCount == 2)
            // The outside copy holds both signed checkpoints.
            let copy = try String(contentsOfFile: file, encoding: .utf8)
            #expect(copy.components(separatedBy: "— freigabe.test/audit ").count == 3)
        }
    }

    /// Several instances may share one checkpoint file on a network file system, where `O_APPEND` is no
    /// atomic append: a note is written under the sealing lock, so no other instance seals (and reads the
    /// file's tail) or appends meanwhile.
    @Test("a checkpoint note is appended under the sealing lock: no other sealer runs meanwhile")
    func noteIsAppendedUnderTheLock() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoints-\(UUID()).txt").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await ServiceFixture.with { fixture in
            _ = try await fixture.shared("baumkataster")
            let writing = DispatchSemaphore(value: 0)
            let goOn = DispatchSemaphore(value: 0)
            var holding = AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: file)
            holding.writeBytes = { descriptor, bytes in
                writing.signal()
                goOn.wait()
                return write(descriptor, bytes.baseAddress, bytes.count)
            }
            let sealing = Task { try await holding.sealBatch(now: Clock.days(1), logger: logger) }
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    writing.wait()
                    continuation.resume()
                }
            }
            // Its batch is committed; its note is being written. Another instance finds the lock taken.
            let other = AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: file)
            _ = try await fixture.shared("baumkataster")
            let meanwhile = try await other.sealBatch(now: Clock.days(1), logger: logger)
            goOn.signal()
            let first = try #require(try await sealing.value)
            #expect(first.sealed > 0 && !first.outsideCopyFailed)
            #expect(meanwhile == nil, "\(String(describing: meanwhile))")
            // Afterwards the other one seals, and both notes stand whole in the file.
            #expect(try await other.sealBatch(now: Clock.days(1), logger: logger)?.sealed ?? 0 > 0)
            let copy = try String(contentsOfFile: file, encoding: .utf8)
            #expect(CheckpointFile.numberedNotes(in: copy).count == 2, "\(copy)")
            #expect(try await verify(fixture).problems == [])
        }
    }

    @Test("tampering as the tables' owner is found: a rewritten comment, a disabled trigger, a forged checkpoint")
    func tamperingIsFound() async throws {
        try await ServiceFixture.with { fixture in
            let (_, size) = try await sealedLifecycle(fixture)
            // The owner disables the trigger and rewrites one comment.
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "UPDATE audit_events SET comment = 'Geändert' WHERE comment = 'Passt so'", logger: logger)
            var report = try await verify(fixture)
            #expect(
                report.problems.contains { $0.contains("audit_events_no_update_delete") && $0.contains("disabled") })
            #expect(report.problems.contains { $0.contains("leaf hash") || $0.contains("event") })
            #expect(!report.holds)
            // Even with the trigger enabled again, the changed event stays found.
            try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
            report = try await verify(fixture)
            // The event itself, and the request whose decision now disagrees with the log's comment.
            #expect(report.problems.count == 2, "\(report.problems)")
            #expect(report.problems.last?.contains("the decision log says approved by stefan") == true)
            #expect(report.summary == nil)
            #expect(size > 0)
        }
        try await ServiceFixture.with { fixture in
            _ = try await sealedLifecycle(fixture)
            // A checkpoint signed with another key replaces the real one.
            let forger = try NoteSigner.generate(keyName: "freigabe.test/audit")
            let row = try await fixture.admin.query(
                "SELECT tree_size, root_hash FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1", logger: logger
            ).decode((Int64, ByteBuffer).self).first(where: { _ in true })
            let (treeSize, root) = try #require(row)
            let forged = try forger.sign(
                Checkpoint(
                    origin: "freigabe.test/audit", treeSize: UInt64(treeSize),
                    rootHash: try #require(SHA256Hash(bytes: root.readableBytesView)),
                    time: AuditTimestamp(Clock.days(2))))
            try await fixture.admin.query("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "UPDATE audit_checkpoints SET signed_note = \(forged.serialized) WHERE tree_size = \(treeSize)",
                logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER", logger: logger)
            let report = try await verify(fixture)
            #expect(!report.holds)
            #expect(report.summary == nil)
        }
    }

    /// The owner rewrites the history after a checkpoint: the seals from its size on and the checkpoints
    /// after it deleted (triggers off for a moment), an awkward event deleted, and the rest sealed and
    /// signed again by a sealer that knows no outside copy. The database's own checks hold; the outside
    /// copy finds it: `audit verify --checkpoint`, and the sealer that appends to it refuses to sign.
    @Test("a history rewritten after a checkpoint is found by verify with the outside copy; the sealer refuses")
    func rewrittenHistory() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoints-\(UUID()).txt").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await ServiceFixture.with { fixture in
            let (sealer, first) = try await sealedLifecycle(fixture, checkpointFile: file)
            try await fixture.admin.query(
                "INSERT INTO audit_events (occurred_at, actor, event, comment) VALUES (now(), 'mallory', 'login_failed', 'x')",
                logger: logger)
            _ = try await fixture.shared("meldestatistik", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
            let second = try await sealer.sealAll(now: Clock.days(3), logger: logger)
            #expect(second > first + 1)
            func verify(withCopy: Bool) async throws -> AuditVerification.Report {
                var verification = AuditVerification(
                    client: fixture.admin, keys: TrustedKeys(Self.signer.verifierKey), appRole: "freigabe_app")
                if withCopy {
                    let (notes, refusal) = AuditTool.checkpoints(in: file)
                    #expect(refusal == nil)
                    verification.outsideCheckpoints = notes
                }
                return try await verification.run(logger: logger)
            }
            #expect(try await verify(withCopy: true).problems == [])

            let tables = ["audit_events", "audit_seals", "audit_checkpoints"]
            for table in tables {
                try await fixture.admin.query("ALTER TABLE \(unescaped: table) DISABLE TRIGGER USER", logger: logger)
            }
            try await fixture.admin.query("DELETE FROM audit_seals WHERE sequence >= \(Int64(first))", logger: logger)
            try await fixture.admin.query(
                "DELETE FROM audit_checkpoints WHERE tree_size > \(Int64(first))", logger: logger)
            try await fixture.admin.query("DELETE FROM audit_events WHERE actor = 'mallory'", logger: logger)
            for table in tables {
                try await fixture.admin.query("ALTER TABLE \(unescaped: table) ENABLE TRIGGER USER", logger: logger)
            }
            // The sealer that keeps the outside copy signs nothing of it, and says why.
            let sealsBefore = try await fixture.admin.query("SELECT count(*) FROM audit_seals", logger: logger)
                .decode(Int64.self).first(where: { _ in true })
            await #expect(throws: AuditSealer.HistoryRewritten.self) {
                _ = try await sealer.sealBatch(now: Clock.days(4), logger: logger)
            }
            let sealsAfter = try await fixture.admin.query("SELECT count(*) FROM audit_seals", logger: logger)
                .decode(Int64.self).first(where: { _ in true })
            #expect(sealsAfter == sealsBefore)
            // A sealer without it (the owner's own `audit seal`) signs the rewritten history.
            let resealed = try await AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil)
                .sealAll(now: Clock.days(4), logger: logger)
            #expect(resealed == second - 1)
            #expect(try await verify(withCopy: false).problems == [], "the database alone cannot tell")
            let found = try await verify(withCopy: true)
            #expect(!found.holds)
            #expect(found.problems.contains { $0.contains("checkpoint #") }, "\(found.problems)")
            // Nor does the sealer with the copy sign anything on top of it.
            try await fixture.admin.query(
                "INSERT INTO audit_events (occurred_at, actor, event) VALUES (now(), 'anna', 'login_failed')",
                logger: logger)
            do {
                _ = try await sealer.sealBatch(now: Clock.days(5), logger: logger)
                Issue.record("the sealer extended a rewritten history")
            } catch let refusal as AuditSealer.HistoryRewritten {
                #expect(refusal.outside.treeSize == second)
                // Shorter than the outside copy: what a restore from an older backup looks like too.
                #expect(refusal.isBehind)
                #expect(refusal.description.contains("is beyond the database's log, which ends at"), "\(refusal)")
            }
            // The server's sealing rounds count the refusal for the operator's alert, and say it once.
            let metrics = AppMetrics()
            let (captured, lines) = JSONLogTests.capturingLogger(level: .info)
            let rounds = AuditSealService(sealer: sealer, interval: .seconds(1), logger: captured, metrics: metrics)
            #expect(await rounds.round() == false)
            #expect(await rounds.round() == false)
            let text = metrics.registry.emitToString()
            #expect(text.contains(#"freigabe_audit_seal_failures_total{reason="history_differs"} 2"#), "\(text)")
            let said = try lines.objects()
            #expect(said.count == 1 && said.allSatisfy { $0["level"] == "critical" }, "\(said)")
            #expect(said.first?["message"]?.contains("ends before the outside copy") == true, "\(said)")
        }
    }

    /// A rolling update: a newer release migrated the database and writes events with sealed fields this
    /// binary does not know. Sealed by this one, their leaves would lack those fields for good.
    @Test("an instance of an older release leaves sealing to the newer one, said once; then seals again")
    func olderReleaseDoesNotSeal() async throws {
        try await ServiceFixture.with { fixture in
            let (sealer, size) = try await sealedLifecycle(fixture)
            _ = try await fixture.shared("baumkataster")
            let newest = Migrations.newest
            try await fixture.admin.query(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(newest + 1), 'future', 'x')",
                logger: logger)
            do {
                _ = try await sealer.sealBatch(now: Clock.days(3), logger: logger)
                Issue.record("an older release sealed a newer release's events")
            } catch let newer as AuditSealer.NewerRelease {
                #expect(newer.applied == newest + 1 && newer.known == newest)
            }
            let (captured, lines) = JSONLogTests.capturingLogger(level: .info)
            let metrics = AppMetrics()
            let rounds = AuditSealService(sealer: sealer, interval: .seconds(1), logger: captured, metrics: metrics)
            #expect(await rounds.round() == false)
            #expect(await rounds.round() == false)
            #expect(try lines.objects().map { $0["message"] } == ["Sealing left to a newer release"])
            #expect(try lines.objects().first?["level"] == "warning")
            #expect(!metrics.registry.emitToString().contains("freigabe_audit_seal_failures_total{"), "no failure")
            let unsealed = try await fixture.admin.query(
                "SELECT count(*) FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id)",
                logger: logger
            ).decode(Int.self).first(where: { _ in true })
            #expect(unsealed == 2, "the new request's events wait")
            // The newer release gone again (its migration rolled back by hand): this one seals.
            try await fixture.admin.query("DELETE FROM schema_migrations WHERE version = \(newest + 1)", logger: logger)
            #expect(try await sealer.sealAll(now: Clock.days(3), logger: logger) == size + 2)
        }
    }

    @Test("the sealer finds the newest note in the checkpoint file's tail wherever the tail's start cuts a note")
    func outsideCopyTailCutAnywhere() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoints-\(UUID()).txt").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let checkpoints: [Checkpoint] = (1...6).map { (size: Int) in
            Checkpoint(
                origin: "freigabe.test/audit", treeSize: UInt64(size * 10),
                rootHash: SHA256Hash.digest(of: Array("root \(size)".utf8)),
                time: AuditTimestamp(Clock.days(Double(size))))
        }
        let notes: [String] = try checkpoints.map { try Self.signer.sign($0).serialized + "\n" }
        try notes.joined().write(toFile: file, atomically: true, encoding: .utf8)
        // Tails from the last note with the empty line before it to the last three notes, every byte: a start
        // inside a signature line used to pair each later note's text with the next one's signatures (nil).
        let last = notes.last!.utf8.count + 2
        for tail in last...(last + 2 * notes[0].utf8.count) {
            let newest = try AuditSealer.newestNote(
                inTailOf: file, key: Self.signer.verifierKey, tail: tail, logger: logger)
            #expect(newest == .note(checkpoints[checkpoints.count - 1]), "tail of \(tail) bytes")
        }
    }

    @Test("a checkpoint missing from the outside copy is counted; /metrics shows how long the oldest event waits")
    func sealingFiguresForTheOperator() async throws {
        try await ServiceFixture.with { fixture in
            let metrics = AppMetrics()
            let figures = MetricsRoutes(metrics: metrics, token: nil, directory: nil, database: fixture.app)
            func unsealedAge() async throws -> Double? {
                await figures.sample(logger: logger)
                let line = metrics.registry.emitToString().split(separator: "\n")
                    .first { $0.hasPrefix("freigabe_audit_unsealed_age_seconds ") }
                return line.flatMap { Double($0.split(separator: " ")[1]) }
            }
            _ = try await fixture.shared("baumkataster")
            // Not sealed yet: the gauge is the age of the oldest of them.
            try await fixture.admin.query(
                "INSERT INTO audit_events (occurred_at, actor, event) VALUES (now(), 'anna', 'login_failed')",
                logger: logger)
            let waiting = try #require(try await unsealedAge())
            #expect(waiting > 0)
            // A checkpoint file in a folder that does not exist: the database has the checkpoint, the outside
            // copy does not, and the operator is told by a counter, not only by the log.
            let missing = "/nonexistent-\(UUID())/checkpoints.txt"
            let rounds = AuditSealService(
                sealer: AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: missing),
                interval: .seconds(1), logger: logger, metrics: metrics)
            #expect(await rounds.round() == false)
            let text = metrics.registry.emitToString()
            #expect(text.contains(#"freigabe_audit_seal_failures_total{reason="checkpoint_file"} 1"#), "\(text)")
            #expect(!text.contains("history_differs"))
            #expect(try await unsealedAge() == 0)
        }
    }

    /// A checkpoint file on a mount that hangs blocked a thread of the cooperative pool per round, until
    /// nothing async ran (HTTP included), while `/ready` said `written`. A FIFO nobody writes to blocks
    /// an open for reading as such a mount does.
    @Test("a checkpoint file that hangs fails the round within its deadline, the next at once; the server goes on")
    func hangingCheckpointFile() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hang-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("checkpoints.txt").path
        #expect(mkfifo(fifo, 0o600) == 0)
        try await ServiceFixture.with { fixture in
            let metrics = AppMetrics()
            let outsideCopy = OutsideCopyStatus()
            _ = try await fixture.shared("baumkataster")
            let rounds = AuditSealService(
                sealer: AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: fifo),
                interval: .seconds(1), logger: logger, metrics: metrics, outsideCopy: outsideCopy)
            let started = ContinuousClock.now
            #expect(await rounds.round() == false)
            let first = ContinuousClock.now - started
            #expect(first >= CheckpointFileIO.deadline && first < CheckpointFileIO.deadline + .seconds(3), "\(first)")
            // The file still hangs: the next round does not wait for it again, nor leave another thread.
            let again = ContinuousClock.now
            #expect(await rounds.round() == false)
            #expect(ContinuousClock.now - again < .seconds(1))
            #expect(outsideCopy.failing != nil, "/ready reports the outside copy failing")
            let text = metrics.registry.emitToString()
            #expect(text.contains(#"freigabe_audit_seal_failures_total{reason="checkpoint_file"} 2"#), "\(text)")
            // Nothing was sealed or signed unchecked, and the database still answers.
            func seals() async throws -> Int {
                let rows = try await fixture.admin.query("SELECT count(*)::int FROM audit_seals", logger: logger)
                return try await rows.decode(Int.self).first(where: { _ in true }) ?? -1
            }
            #expect(try await seals() == 0)
            // The mount answers again (a writer opens and closes the FIFO: the stuck read ends) and the file
            // is a plain one from now on: the next rounds seal and append the checkpoint.
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            #expect(writer >= 0)
            close(writer)
            try FileManager.default.removeItem(atPath: fifo)
            var sealed = false
            for _ in 0..<50 where !sealed {
                try await Task.sleep(for: .milliseconds(100))
                _ = await rounds.round()
                sealed = try await seals() > 0
            }
            #expect(sealed)
            #expect(outsideCopy.failing == nil, "the checkpoint reached the file again")
        }
    }

    /// A tail that cannot be read (here a directory; on a mount that went away, EIO or ESTALE) is the
    /// outside copy's failure too, not an unspecified one that left `/ready` saying `written`.
    @Test("a checkpoint file that cannot be read fails the round as the outside copy's failure")
    func unreadableCheckpointFile() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("unreadable-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await ServiceFixture.with { fixture in
            let metrics = AppMetrics()
            let outsideCopy = OutsideCopyStatus()
            _ = try await fixture.shared("baumkataster")
            let rounds = AuditSealService(
                sealer: AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: folder.path),
                interval: .seconds(1), logger: logger, metrics: metrics, outsideCopy: outsideCopy)
            #expect(await rounds.round() == false)
            #expect(outsideCopy.failing != nil)
            let text = metrics.registry.emitToString()
            #expect(text.contains(#"freigabe_audit_seal_failures_total{reason="checkpoint_file"} 1"#), "\(text)")
        }
    }

    /// The sealer retried every second and logged an error each time: an hour's outage was 3,600 error
    /// lines. Now the first failure is the error, the next ones wait longer, and the recovery is said once.
    @Test("failed rounds: one error line, a growing pause up to 30 s, one notice when sealing works again")
    func failingRoundsBackOff() async throws {
        #expect(
            (0...7).map { Rounds.pause(afterFailures: $0, interval: .seconds(1)) }
                == [1, 2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
        #expect(Rounds.pause(afterFailures: 1, interval: .seconds(60)) == .seconds(60), "never below the interval")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("backoff-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await ServiceFixture.with { fixture in
            let (logger, lines) = JSONLogTests.capturingLogger(level: .info)
            let metrics = AppMetrics()
            _ = try await fixture.shared("baumkataster")
            // A directory where the checkpoint file should be: every round fails until it is gone.
            let rounds = AuditSealService(
                sealer: AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: folder.path),
                interval: .seconds(1), logger: logger, metrics: metrics)
            for _ in 0..<3 { #expect(await rounds.round() == false) }
            #expect(
                metrics.registry.emitToString().contains(
                    #"freigabe_audit_seal_failures_total{reason="checkpoint_file"} 3"#),
                "the metric counts every failed round")
            try FileManager.default.removeItem(at: folder)
            _ = await rounds.round()
            let said = try lines.objects().map { "\($0["level"] ?? ""): \($0["message"] ?? "")" }
            #expect(
                said == [
                    "error: Sealing the decision log failed; trying again less often until it works",
                    "notice: Sealing the decision log works again",
                ], "\(said)")
        }
    }

    @Test("the application role can neither change seals, checkpoints nor decisions")
    func appRoleCannotRewrite() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await sealedLifecycle(fixture)
            for statement in [
                "UPDATE audit_seals SET leaf_hash = leaf_hash", "DELETE FROM audit_checkpoints",
                "UPDATE decisions SET person = 'mallory'", "DELETE FROM decisions",
            ] {
                do {
                    try await fixture.app.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    Issue.record("the app role could run: \(statement)")
                } catch {
                    #expect(Database.sqlState(of: error) == "42501", "\(statement): \(String(reflecting: error))")
                }
            }
            // The owner is stopped by the triggers.
            do {
                try await fixture.admin.query("UPDATE decisions SET person = 'mallory'", logger: logger)
                Issue.record("the owner could rewrite decisions")
            } catch {
                #expect(Database.sqlState(of: error) == "42501")
            }
        }
    }

    static func sealSettings(_ environment: [String: String]) async throws -> ConfigReader {
        try await ConfigurationSources.reader(environment: environment)
    }

    @Test("freigabe audit keygen, seal and verify as an operator runs them; verify fails after tampering")
    func commandLine() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let keyFile = folder.appendingPathComponent("audit.key").path
        let generated = AuditTool.keygen(name: "stadt.example/freigabe", path: keyFile)
        #expect(generated.succeeded)
        let permissions = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        #expect(!AuditTool.keygen(name: "x", path: keyFile).succeeded, "a key is never overwritten")
        // A link pointing nowhere is not written through (fileExists calls it absent).
        let planted = folder.appendingPathComponent("planted").path
        let link = folder.appendingPathComponent("link.key").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: planted)
        #expect(!AuditTool.keygen(name: "x", path: link).succeeded)
        #expect(!FileManager.default.fileExists(atPath: planted), "no key was written where the link points")
        #expect(!AuditTool.keygen(name: "x", path: folder.appendingPathComponent("no/such/dir.key").path).succeeded)
        let publicKey = folder.appendingPathComponent("audit.pub").path
        try (generated.standardOutput.last ?? "").write(toFile: publicKey, atomically: true, encoding: .utf8)

        try await TestDatabase.with { database in
            var settings = try StoreTestSupport.environment()
            settings["FREIGABE_DB_NAME"] = database.name
            let environment = settings
            try await database.withClients { _, admin in
                for actor in ["anna", "otto", "dora"] {
                    try await admin.query(
                        "INSERT INTO audit_events (occurred_at, actor, event, comment) VALUES (now(), \(actor), 'login_failed', 'x')",
                        logger: logger)
                }
                // Another instance holds the sealing lock: nothing done, and the exit status says so.
                let busy = try await Database.transaction(admin, logger: logger) { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(AuditSealer.lockKey))", logger: logger)
                    return await AuditTool.seal(
                        reader: try await Self.sealSettings(["FREIGABE_AUDIT_KEY_FILE": keyFile]),
                        environment: environment)
                }
                #expect(!busy.succeeded && busy.standardError.first?.contains("andere Instanz") == true, "\(busy)")
                // The outside copy cannot be written: the events are sealed, but the status fails.
                let unwritable = await AuditTool.seal(
                    reader: try await Self.sealSettings([
                        "FREIGABE_AUDIT_KEY_FILE": keyFile,
                        "FREIGABE_AUDIT_CHECKPOINT_FILE": folder.appendingPathComponent("no/such/cp.txt").path,
                    ]), environment: environment)
                #expect(!unwritable.succeeded, "\(unwritable)")
                #expect(unwritable.standardOutput.first?.contains("3 Ereignisse") == true, "\(unwritable)")
                // The key from the environment (not only --key-file): signed, so verify holds.
                let sealed = await AuditTool.seal(
                    reader: try await Self.sealSettings(["FREIGABE_AUDIT_KEY_FILE": keyFile]), environment: environment)
                #expect(sealed.succeeded, "\(sealed)")
                #expect(sealed.standardOutput.first?.contains("ohne Signatur") == false, "\(sealed)")
                let verified = await AuditTool.verify(publicKeyFile: publicKey, environment: environment)
                #expect(verified.succeeded, "\(verified)")
                #expect(verified.standardOutput.first?.hasPrefix("Ereignisse: 3") == true)

                // The key is rotated (a new keygen under the log's name): the old checkpoints stay the old
                // key's. Either key alone fails now; the file with both, as README says to keep it, holds.
                let rotatedFile = folder.appendingPathComponent("rotated.key").path
                let rotated = AuditTool.keygen(name: "stadt.example/freigabe", path: rotatedFile)
                try await admin.query(
                    "INSERT INTO audit_events (occurred_at, actor, event, comment) VALUES (now(), 'ingo', 'login_failed', 'x')",
                    logger: logger)
                #expect(
                    await AuditTool.seal(
                        reader: try await Self.sealSettings(["FREIGABE_AUDIT_KEY_FILE": rotatedFile]),
                        environment: environment
                    ).succeeded)
                let oldOnly = await AuditTool.verify(publicKeyFile: publicKey, environment: environment)
                #expect(!oldOnly.succeeded, "\(oldOnly)")
                let newOnlyFile = folder.appendingPathComponent("rotated.pub").path
                try (rotated.standardOutput.last ?? "").write(toFile: newOnlyFile, atomically: true, encoding: .utf8)
                #expect(!(await AuditTool.verify(publicKeyFile: newOnlyFile, environment: environment)).succeeded)
                let bothFile = folder.appendingPathComponent("trusted.pub").path
                try "# bis 2026-12-04\n\(generated.standardOutput.last ?? "")\n\(rotated.standardOutput.last ?? "")\n"
                    .write(toFile: bothFile, atomically: true, encoding: .utf8)
                let both = await AuditTool.verify(publicKeyFile: bothFile, environment: environment)
                #expect(both.succeeded, "\(both)")
                #expect(both.standardOutput.first?.hasPrefix("Ereignisse: 4") == true, "\(both)")
                // Hostile: a key of another log in the file is refused, not trusted beside the others.
                let otherLog = AuditTool.keygen(
                    name: "elsewhere.example/log", path: folder.appendingPathComponent("o.key").path)
                try "\(generated.standardOutput.last ?? "")\n\(otherLog.standardOutput.last ?? "")\n"
                    .write(toFile: bothFile, atomically: true, encoding: .utf8)
                let mixed = await AuditTool.verify(publicKeyFile: bothFile, environment: environment)
                #expect(!mixed.succeeded && mixed.standardError.first?.contains("different logs") == true, "\(mixed)")
                // The rest of this test goes on with one key again: the rotated key's checkpoint goes.
                for table in ["audit_events", "audit_seals", "audit_checkpoints"] {
                    try await admin.query("ALTER TABLE \(unescaped: table) DISABLE TRIGGER USER", logger: logger)
                }
                try await admin.query("DELETE FROM audit_checkpoints WHERE tree_size = 4", logger: logger)
                try await admin.query("DELETE FROM audit_seals WHERE sequence = 3", logger: logger)
                try await admin.query("DELETE FROM audit_events WHERE actor = 'ingo'", logger: logger)
                for table in ["audit_events", "audit_seals", "audit_checkpoints"] {
                    try await admin.query("ALTER TABLE \(unescaped: table) ENABLE TRIGGER USER", logger: logger)
                }

                // The outside copy: one more event sealed with a checkpoint file, then the tail cut off in the
                // database as its owner could (triggers off for a moment). The database alone still holds;
                // `audit verify --checkpoint FILE` does not.
                let copy = folder.appendingPathComponent("checkpoints.txt").path
                try await admin.query(
                    "INSERT INTO audit_events (occurred_at, actor, event, comment) VALUES (now(), 'paul', 'login_failed', 'x')",
                    logger: logger)
                let copied = await AuditTool.seal(
                    reader: try await Self.sealSettings([
                        "FREIGABE_AUDIT_KEY_FILE": keyFile, "FREIGABE_AUDIT_CHECKPOINT_FILE": copy,
                    ]), environment: environment)
                #expect(copied.succeeded, "\(copied)")
                let withCopy = await AuditTool.verify(
                    publicKeyFile: publicKey, checkpointFile: copy, environment: environment)
                #expect(withCopy.succeeded, "\(withCopy)")
                #expect(withCopy.standardOutput.first?.hasPrefix("Ereignisse: 4") == true, "\(withCopy)")
                let tables = ["audit_events", "audit_seals", "audit_checkpoints"]
                for table in tables {
                    try await admin.query("ALTER TABLE \(unescaped: table) DISABLE TRIGGER USER", logger: logger)
                }
                try await admin.query("DELETE FROM audit_checkpoints WHERE tree_size = 4", logger: logger)
                try await admin.query("DELETE FROM audit_seals WHERE sequence = 3", logger: logger)
                try await admin.query("DELETE FROM audit_events WHERE actor = 'paul'", logger: logger)
                for table in tables {
                    try await admin.query("ALTER TABLE \(unescaped: table) ENABLE TRIGGER USER", logger: logger)
                }
                let alone = await AuditTool.verify(publicKeyFile: publicKey, environment: environment)
                #expect(alone.succeeded, "the database alone cannot tell: \(alone)")
                let truncated = await AuditTool.verify(
                    publicKeyFile: publicKey, checkpointFile: copy, environment: environment)
                #expect(!truncated.succeeded, "\(truncated)")
                #expect(truncated.standardError.contains { $0.contains("checkpoint #") }, "\(truncated)")
                let nowhere = await AuditTool.verify(
                    publicKeyFile: publicKey, checkpointFile: folder.appendingPathComponent("missing.txt").path,
                    environment: environment)
                #expect(!nowhere.succeeded && !nowhere.standardError.isEmpty, "\(nowhere)")

                try await admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
                try await admin.query("UPDATE audit_events SET actor = 'mallory' WHERE actor = 'otto'", logger: logger)
                let broken = await AuditTool.verify(publicKeyFile: publicKey, environment: environment)
                #expect(!broken.succeeded)
                #expect(broken.standardError.contains { $0.contains("disabled") })
                // Both triggers of audit_events disabled, and the changed event.
                #expect(broken.standardError.count == 3, "\(broken.standardError)")
                #expect(broken.standardError.last?.contains("1") == true, "the changed event is the second, position 1")
            }
        }
    }
}
