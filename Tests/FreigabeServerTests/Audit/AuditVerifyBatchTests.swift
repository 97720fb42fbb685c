import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// `audit verify` reads the log in keyset batches: the verdict must not depend on where the batches
/// end, also when the tampering sits right at a batch boundary.
@Suite("Decision log: verify in batches")
struct AuditVerifyBatchTests {
    let logger = StoreTestSupport.logger
    static let signer = AuditSealTests.signer
    static let batchSizes = [1, 2, 3, 4, 5, 10_000]

    func verify(_ fixture: ServiceFixture, batchSize: Int) async throws -> AuditVerification.Report {
        try await AuditVerification(
            client: fixture.admin, keys: TrustedKeys(Self.signer.verifierKey), appRole: "freigabe_app",
            batchSize: batchSize
        ).run(logger: logger)
    }

    @Test("a sound log holds for every batch size, with the same summary")
    func soundLogHolds() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditExportTests().lifecycles(fixture)
            #expect(size > 10)
            for batchSize in Self.batchSizes {
                let report = try await verify(fixture, batchSize: batchSize)
                #expect(report.problems == [], "batch size \(batchSize)")
                #expect(report.summary?.treeSize == size)
                #expect(report.summary?.coveredSize == size)
            }
        }
    }

    @Test(
        "a changed event, a deleted seal and a doubled sequence number are found at the same place for every batch size"
    )
    func tamperingIsFoundAcrossBatches() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditExportTests().lifecycles(fixture)
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_seals DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                """
                UPDATE audit_events SET comment = 'Geändert'
                WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = 6)
                """, logger: logger)
            for batchSize in Self.batchSizes {
                let problems = try await verify(fixture, batchSize: batchSize).problems
                #expect(
                    problems.contains { $0.contains("event at position 6 does not match") },
                    "batch size \(batchSize): \(problems)")
            }
            // Event 4 removed from the tree: position 4 then holds sequence 5 (with batch size 4, the
            // first row of the second batch).
            try await fixture.admin.query("DELETE FROM audit_seals WHERE sequence = 4", logger: logger)
            for batchSize in Self.batchSizes {
                let problems = try await verify(fixture, batchSize: batchSize).problems
                #expect(
                    problems.contains { $0.contains("position 4 has sequence number 5") },
                    "batch size \(batchSize): \(problems)")
            }
            // The owner drops the primary key and gives a new event the sequence number 3 a second
            // time: a keyset on the sequence alone would skip one of the two at a batch boundary.
            try await fixture.admin.query("ALTER TABLE audit_seals DROP CONSTRAINT audit_seals_pkey", logger: logger)
            try await fixture.admin.query(
                """
                WITH e AS (INSERT INTO audit_events (occurred_at, actor, event) VALUES (now(), 'mallory', 'login_failed')
                           RETURNING id)
                INSERT INTO audit_seals (sequence, event_row, event_id, format_version, payload_salt, leaf_hash, sealed_at)
                SELECT 3, e.id, gen_random_uuid(), 1, s.payload_salt, s.leaf_hash, now()
                FROM e, audit_seals s WHERE s.sequence = 3
                """, logger: logger)
            for batchSize in Self.batchSizes {
                let problems = try await verify(fixture, batchSize: batchSize).problems
                #expect(
                    problems.contains { $0.contains("position 4 has sequence number 3") },
                    "batch size \(batchSize): \(problems)")
            }
            #expect(size > 6)
        }
    }
}
