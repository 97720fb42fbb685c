import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// What `audit verify` checks before it reads the log: a sealer that stopped.
@Suite("Decision log: guards of audit verify")
struct AuditGuardTests {
    let logger = StoreTestSupport.logger

    func verify(_ admin: PostgresClient, grace: Duration = .seconds(300)) async throws -> AuditVerification.Report {
        var verification = AuditVerification(
            client: admin, key: AuditSealTests.signer.verifierKey, appRole: "freigabe_app")
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

    @Test("a sealer that stopped is named: the unsealed events older than the grace, and the oldest one's time")
    func stalledSealer() async throws {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                let sealer = AuditSealer(client: app, signer: AuditSealTests.signer, checkpointFile: nil)
                try await insertEvents(admin, count: 2, minutesAgo: 180)
                _ = try await sealer.sealAll(now: Date(), logger: logger)
                #expect(try await verify(admin).problems == [])
                // The sealer stops; events keep coming. Two are an hour old, one is new.
                try await insertEvents(admin, count: 2, minutesAgo: 60)
                try await insertEvents(admin, count: 1, minutesAgo: 0)
                let report = try await verify(admin)
                #expect(report.problems.count == 1, "\(report.problems)")
                let problem = try #require(report.problems.first)
                #expect(problem.hasPrefix("2 audit events written more than 300 s ago are not sealed"), "\(problem)")
                #expect(problem.hasSuffix("the sealer is not running"))
                // The oldest is named by its time.
                let oldest = try await admin.query(
                    """
                    SELECT min(occurred_at) FROM audit_events e
                    WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = e.id)
                    """, logger: logger
                ).decode(Date.self).first(where: { _ in true })
                #expect(
                    problem.contains("(the oldest happened at \(AuditTimestamp(try #require(oldest))), written at "))
                // A longer grace takes them in; sealed, nothing is left.
                #expect(try await verify(admin, grace: .seconds(7200)).problems == [])
                _ = try await sealer.sealAll(now: Date(), logger: logger)
                #expect(try await verify(admin).problems == [])
            }
        }
    }
}
