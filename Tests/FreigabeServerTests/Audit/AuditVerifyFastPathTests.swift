import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// `audit verify` recomputes each leaf from the cells' bytes (``SealedRowEncoder``) and reads a row the
/// slow way (``SealedEvent``) only when that leaf does not match: on real rows both must give the same
/// leaf, every sound row must take the fast path (or the speed is not real), and every changed row the
/// slow one, which names the fault.
@Suite("Decision log: verify's fast path against the slow path")
struct AuditVerifyFastPathTests {
    let logger = StoreTestSupport.logger

    func verify(_ fixture: ServiceFixture) async throws -> AuditVerification.Report {
        try await AuditVerification(
            client: fixture.admin, keys: TrustedKeys(AuditSealTests.signer.verifierKey), appRole: "freigabe_app",
            batchSize: 7
        ).run(logger: logger)
    }

    /// The row of each sealed event, in log order, read both ways.
    func rows(
        _ fixture: ServiceFixture
    ) async throws -> [(fast: SealedRowEncoder.Key?, slow: SealedEvent, leaf: RecomputedLeaf?)] {
        var fast = SealedRowEncoder()
        var read: [(fast: SealedRowEncoder.Key?, slow: SealedEvent, leaf: RecomputedLeaf?)] = []
        let rows = try await fixture.admin.query(
            "SELECT \(unescaped: SealedEvent.columns) FROM \(unescaped: SealedEvent.tables) ORDER BY s.sequence",
            logger: logger)
        for try await row in rows {
            let leaf = fast.leaf(of: row)
            read.append((leaf?.key, try SealedEvent(row), leaf?.leaf))
        }
        return read
    }

    /// Real lifecycles and, besides them, texts beyond ASCII (2-, 3- and 4-byte UTF-8, a quote in the
    /// details), a deputy with a client address, the escalation instance and a time before 1970, all
    /// sealed by the real sealer; returns the log's size.
    static func sealedLog(_ fixture: ServiceFixture) async throws -> UInt64 {
        _ = try await AuditExportTests().lifecycles(fixture)
        try await fixture.admin.query(
            """
            INSERT INTO audit_events (occurred_at, actor, acting_for, role, as_escalation, dataset_id, event,
                decision, step, state, comment, client_address, details)
            VALUES ('2026-03-09 10:00:00.123456Z', 'dora', 'otto', 'data_owner', false, 'baumkataster',
                    'approved', 'approved', 'owner_review', 'in_review', 'Prüfung ✓ Übermittlung 𝄞', '192.0.2.7',
                    '{"notiz": "Größe \\"zitiert\\"", "request_number": "FG-2026-000001"}'),
                   ('2026-03-10 11:00:00Z', 'gerd', NULL, 'governance', true, 'baumkataster', 'approved',
                    'approved', 'steward_review', 'granted', NULL, '2001:db8::1', '{}'),
                   ('1969-07-20 20:17:40.000001Z', NULL, NULL, NULL, false, NULL, 'approved', NULL, NULL, NULL, '',
                    NULL, '{}')
            """, logger: StoreTestSupport.logger)
        return try await AuditSealer(client: fixture.app, signer: AuditSealTests.signer, checkpointFile: nil)
            .sealAll(now: Clock.days(8), logger: StoreTestSupport.logger)
    }

    @Test("every sealed row of real lifecycles takes the fast path, with the slow path's leaf and key")
    func fastPathAgreesOnRealRows() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await Self.sealedLog(fixture)
            let rows = try await rows(fixture)
            #expect(rows.count == Int(size))
            var encoder = AuditLog.AuditEventEncoder()
            for (key, sealed, leaf) in rows {
                let slowLeaf = encoder.leafHash(of: sealed.leaf)
                #expect(slowLeaf == sealed.leafHash)
                #expect(leaf?.sequence == sealed.sequence, "\(sealed.sequence)")
                #expect(leaf?.leafHash == slowLeaf, "\(sealed.sequence)")
                #expect(key == SealedRowEncoder.Key(sequence: Int64(sealed.sequence), eventRow: sealed.stored.id))
            }
            // Umlauts, deputies and client addresses are among them: the fast path is not only for ASCII.
            #expect(rows.contains { $0.slow.stored.row.comment?.unicodeScalars.contains { !$0.isASCII } == true })
            #expect(rows.contains { $0.slow.stored.row.actingFor != nil && $0.slow.stored.row.clientAddress != nil })
            #expect(rows.contains { $0.slow.stored.row.asEscalation })
            let report = try await verify(fixture)
            #expect(report.problems == [])
            #expect(report.slowPathEvents == 0)
            #expect(report.summary?.coveredSize == size)
        }
    }

    @Test("changed rows go the slow way and the first is named; the others still take the fast path")
    func changedRowsGoTheSlowWay() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditExportTests().lifecycles(fixture)
            // A comment with another umlaut, an actor, the details' JSON, a role now with a non-ASCII
            // letter: each at its own place.
            let changes: [(sequence: Int64, set: String)] = [
                (9, "comment = 'Paßt so ✓'"), (5, "actor = 'mallory'"), (12, #"details = '{"request_number": "X"}'"#),
                (14, "role = 'dsб'"),
            ]
            try await Self.forge(changes, in: fixture)
            let rows = try await rows(fixture)
            let slow = Set(rows.filter { $0.leaf == nil }.map { Int64($0.slow.sequence) })
            #expect(slow == Set(changes.map(\.sequence)))
            #expect(rows.count == Int(size))
            let report = try await verify(fixture)
            #expect(report.slowPathEvents == changes.count)
            #expect(
                report.problems.first
                    == "event(5): event at position 5 does not match the leaf hash recorded when it was sealed (the event was changed)"
            )
        }
    }

    @Test("an unknown event type still stops the verification with the slow path's error")
    func unknownEventTypeThrows() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await AuditExportTests().lifecycles(fixture)
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "ALTER TABLE audit_events DROP CONSTRAINT audit_events_known_event", logger: logger)
            try await fixture.admin.query(
                """
                UPDATE audit_events SET event = 'bogus_event' WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = 3)
                """, logger: logger)
            await #expect(throws: ServiceError.self) { try await verify(fixture) }
        }
    }

    /// Without the table's CHECKs (an owner's doing) the slow path once trapped on these: a negative
    /// place (`UInt64(_:)`) and a salt no payload can encode (`AuditPayload`'s precondition).
    @Test("a negative place or an overlong salt stops the verification with an error, not a trap")
    func hostileSealsThrow() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await AuditExportTests().lifecycles(fixture)
            try await fixture.admin.query("ALTER TABLE audit_seals DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "ALTER TABLE audit_seals DROP CONSTRAINT audit_seals_payload_salt_check", logger: logger)
            try await fixture.admin.query(
                "UPDATE audit_seals SET payload_salt = decode(repeat('ab', 300), 'hex') WHERE sequence = 4",
                logger: logger)
            await #expect(throws: ServiceError.self) { try await verify(fixture) }
            try await fixture.admin.query(
                "ALTER TABLE audit_seals DROP CONSTRAINT audit_seals_sequence_check", logger: logger)
            try await fixture.admin.query("UPDATE audit_seals SET sequence = -1 WHERE sequence = 2", logger: logger)
            await #expect(throws: ServiceError.self) { try await verify(fixture) }
        }
    }

    /// Rewrites sealed events as an owner with the append-only trigger disabled would: each `set` (SQL
    /// assignments) applied to the event at `sequence`.
    static func forge(_ changes: [(sequence: Int64, set: String)], in fixture: ServiceFixture) async throws {
        let logger = StoreTestSupport.logger
        try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
        for change in changes {
            try await fixture.admin.query(
                PostgresQuery(
                    unsafeSQL: """
                        UPDATE audit_events SET \(change.set)
                        WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = \(change.sequence))
                        """), logger: logger)
        }
        try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
    }
}
