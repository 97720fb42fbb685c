import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The tamper test at scale: events sealed by the real sealer, verified, one byte of one event changed by
/// the tables' owner, found at its position.
///
/// 10,000 events here: in a debug build PostgresNIO's row decoding costs about 0.3 ms per event, and
/// 100,000 took 107 s on this shared 2-core machine (load 7). The verifier itself is tried at 100,000
/// events against every broken log of the corpus (`BrokenLogCorpusTests`, pure), and `make bench-audit`
/// seals and verifies 100,000 and more through the database in a release build.
@Suite("Decision log: sealing and verifying at scale")
struct AuditScaleTests {
    let logger = StoreTestSupport.logger
    static let events = 10_000
    /// The changed event: its comment "Begründung 7205: …" becomes "Begründung 7206: …".
    static let changed = 7_205

    @Test("10,000 sealed events verify; one changed byte is found at its event")
    func hundredThousand() async throws {
        try await TestDatabase.with { database in
            // The verification streams the whole log in one statement, as `freigabe audit verify` does.
            var settings = database.settings
            settings.timeouts.statement = .seconds(600)
            let long = settings
            try await database.withClients { _, admin in
                try await AuditBulk.insert(events: Self.events, client: admin, logger: logger)
                try await Database.withClient(long, logger: logger) { app in
                    let signer = AuditSealTests.signer
                    let size = try await AuditSealer(client: app, signer: signer, checkpointFile: nil)
                        .sealAll(now: Clock.start, logger: logger)
                    #expect(size == UInt64(Self.events))
                    let verification = AuditVerification(
                        client: app, keys: TrustedKeys(signer.verifierKey), appRole: "freigabe_app")
                    let report = try await verification.run(logger: logger)
                    #expect(report.problems == [])
                    #expect(report.summary?.coveredSize == UInt64(Self.events))

                    // One byte, as the tables' owner with the trigger disabled.
                    try await admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
                    try await admin.query(
                        """
                        UPDATE audit_events
                        SET comment = replace(comment, \("Begründung \(Self.changed):"), \("Begründung \(Self.changed + 1):"))
                        WHERE comment LIKE \("Begründung \(Self.changed):%")
                        """, logger: logger)
                    try await admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
                    // Events were inserted one a second and sealed in insertion order.
                    let position = try #require(
                        try await admin.query(
                            """
                            SELECT s.sequence FROM audit_seals s JOIN audit_events e ON e.id = s.event_row
                            WHERE e.occurred_at = timestamptz '2026-01-01 00:00:00Z' + \(Self.changed) * interval '1 second'
                            """, logger: logger
                        ).decode(Int64.self).first(where: { _ in true }))
                    #expect(position == Int64(Self.changed))
                    let broken = try await verification.run(logger: logger)
                    #expect(broken.summary == nil)
                    #expect(
                        broken.problems == [
                            "event(\(position)): event at position \(position) does not match the leaf hash recorded when it was sealed (the event was changed)"
                        ])
                }
            }
        }
    }
}
