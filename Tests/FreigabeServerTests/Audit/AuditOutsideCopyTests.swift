import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The outside copy of the checkpoints is what a rewritten history cannot get past. A copy that is
/// missing or empty while the database holds signed checkpoints is a copy that is gone (a mount not
/// there yet, a restore onto a new server), not a new one: the sealer signs nothing until it is back or
/// an operator begins a new one on purpose.
@Suite("Decision log: the outside copy of the checkpoints goes missing")
struct AuditOutsideCopyTests {
    let logger = StoreTestSupport.logger

    @Test("missing or empty: nothing is sealed; --start-checkpoint-file begins it with the newest signed note")
    func missingCopyStopsSealing() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("outside-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let keyFile = folder.appendingPathComponent("audit.key").path
        let generated = AuditTool.keygen(name: "stadt.example/freigabe", path: keyFile)
        let publicKey = folder.appendingPathComponent("audit.pub").path
        try (generated.standardOutput.last ?? "").write(toFile: publicKey, atomically: true, encoding: .utf8)
        let file = folder.appendingPathComponent("checkpoints.txt").path
        try await ServiceFixture.with { fixture in
            let rows = try await fixture.app.query("SELECT current_database()", logger: logger)
            var environment = try StoreTestSupport.environment()
            environment["FREIGABE_DB_NAME"] = try #require(
                try await rows.decode(String.self).first(where: { _ in true }))
            let database = environment
            let settings = try await AuditSealTests.sealSettings([
                "FREIGABE_AUDIT_KEY_FILE": keyFile, "FREIGABE_AUDIT_CHECKPOINT_FILE": file,
            ])
            @Sendable func seal(start: Bool = false) async -> ToolOutput {
                await AuditTool.seal(reader: settings, environment: database, startCheckpointFile: start)
            }
            func seals() async throws -> Int64? {
                try await fixture.admin.query("SELECT count(*) FROM audit_seals", logger: logger)
                    .decode(Int64.self).first(where: { _ in true })
            }
            func newEvent() async throws {
                try await fixture.admin.query(
                    "INSERT INTO audit_events (occurred_at, actor, event) VALUES (now(), 'anna', 'login_failed')",
                    logger: logger)
            }
            // A log without signed checkpoints: the first seal begins the file.
            _ = try await fixture.shared("baumkataster")
            let first = await seal()
            #expect(first.succeeded, "\(first)")
            let firstNotes = try String(contentsOfFile: file, encoding: .utf8)
            #expect(firstNotes.contains("stadt.example/freigabe"))

            // The mount is not there: the sealer refuses, nothing is sealed, the operator is told what to do.
            try FileManager.default.removeItem(atPath: file)
            try await newEvent()
            let before = try await seals()
            let refused = await seal()
            #expect(!refused.succeeded)
            #expect(refused.standardError.first?.contains("fehlt, ist leer") == true, "\(refused)")
            #expect(refused.standardError.first?.contains("--start-checkpoint-file") == true)
            #expect(try await seals() == before)
            #expect(!FileManager.default.fileExists(atPath: file), "no new file was begun unasked")
            // The server's sealer refuses the same way, also for an empty file, a blank line or zeros after a
            // power loss (another key's sealer: the database's signed checkpoints are what count).
            let server = AuditSealer(client: fixture.app, signer: AuditSealTests.signer, checkpointFile: file)
            for content in [Data(), Data("\n".utf8), Data(repeating: 0, count: 4096)] {
                FileManager.default.createFile(atPath: file, contents: content)
                await #expect(throws: AuditSealer.OutsideCopyMissing.self, "\(content.count) bytes") {
                    _ = try await server.sealBatch(now: Clock.days(1), logger: logger)
                }
            }
            #expect(try await seals() == before)

            // Hostile: a new file over one that holds other notes is refused, the file unchanged.
            let other = try AuditSealTests.signer.sign(
                Checkpoint(
                    origin: "stadt.example/freigabe", treeSize: 1, rootHash: SHA256Hash.digest(of: [1]),
                    time: AuditTimestamp(Clock.start))
            ).serialized
            let otherNotes = firstNotes + other + "\n"
            try otherNotes.write(toFile: file, atomically: true, encoding: .utf8)
            let overwrite = await seal(start: true)
            #expect(!overwrite.succeeded)
            #expect(overwrite.standardError.first?.contains("ist nicht leer") == true, "\(overwrite)")
            #expect(try String(contentsOfFile: file, encoding: .utf8) == otherNotes)

            // Begun on purpose (the old copy put aside): the database's newest signed note first, then
            // sealing goes on, and verify holds with the new copy.
            try FileManager.default.moveItem(atPath: file, toPath: file + ".old")
            let newest = try #require(
                try await fixture.admin.query(
                    "SELECT signed_note FROM audit_checkpoints WHERE signed_note IS NOT NULL ORDER BY tree_size DESC LIMIT 1",
                    logger: logger
                ).decode(String.self).first(where: { _ in true }))
            let begun = await seal(start: true)
            #expect(begun.succeeded, "\(begun)")
            #expect(begun.standardOutput.first?.contains("begonnen") == true, "\(begun)")
            #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix(newest))
            #expect(try await seals() ?? 0 > before ?? 0)
            let verified = await AuditTool.verify(publicKeyFile: publicKey, checkpointFile: file, environment: database)
            #expect(verified.succeeded, "\(verified)")

            // Begun, but the seal found another instance sealing: said so, and the same command again goes on.
            try FileManager.default.moveItem(atPath: file, toPath: file + ".second")
            try await newEvent()
            let busy = try await Database.transaction(fixture.admin, logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(AuditSealer.lockKey))", logger: logger)
                return await seal(start: true)
            }
            #expect(!busy.succeeded && busy.standardOutput.first?.contains("begonnen") == true, "\(busy)")
            let again = await seal(start: true)
            #expect(again.succeeded, "\(again)")
        }
    }
}
