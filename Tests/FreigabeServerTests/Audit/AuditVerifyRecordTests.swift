import AuditLog
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import FreigabeServer

/// `audit verify` first reads each batch as one record per row (``SealedEvent/recordColumn``) and takes
/// the batch's leaves only when every row's record gives the recorded leaf; a batch with any other row
/// is read again as cells and goes the way it always went. The record must give exactly the cells'
/// leaf on sound rows, nothing on changed or hostile ones, and a change must be named at its place
/// wherever it sits in a batch.
@Suite("Decision log: verify's record path")
struct AuditVerifyRecordTests {
    let logger = StoreTestSupport.logger

    func verify(_ fixture: ServiceFixture, batchSize: Int) async throws -> AuditVerification.Report {
        try await AuditVerification(
            client: fixture.admin, keys: TrustedKeys(AuditSealTests.signer.verifierKey), appRole: "freigabe_app",
            batchSize: batchSize
        ).run(logger: logger)
    }

    /// Each sealed row read as cells and as its record, in log order: both fast-path answers.
    func bothWays(
        _ fixture: ServiceFixture, record: String = SealedEvent.recordColumn
    ) async throws -> [(
        cells: (leaf: RecomputedLeaf, key: SealedRowEncoder.Key)?,
        record: (leaf: RecomputedLeaf, key: SealedRowEncoder.Key)?
    )] {
        var encoder = SealedRowEncoder()
        var cells: [(leaf: RecomputedLeaf, key: SealedRowEncoder.Key)?] = []
        for try await row in try await fixture.admin.query(
            "SELECT \(unescaped: SealedEvent.columns) FROM \(unescaped: SealedEvent.tables) ORDER BY s.sequence",
            logger: logger)
        {
            #expect(row.count == SealedEvent.columnCount)
            cells.append(encoder.leaf(of: row))
        }
        var records: [(leaf: RecomputedLeaf, key: SealedRowEncoder.Key)?] = []
        for try await row in try await fixture.admin.query(
            "SELECT \(unescaped: record) FROM \(unescaped: SealedEvent.tables) ORDER BY s.sequence", logger: logger)
        {
            records.append(encoder.leaf(ofRecord: row))
        }
        #expect(cells.count == records.count)
        return Array(zip(cells, records)).map { (cells: $0.0, record: $0.1) }
    }

    @Test("every sound row's record gives the cells' leaf and key; a sound log reads no batch twice")
    func recordAgreesWithCells() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditVerifyFastPathTests.sealedLog(fixture)
            let rows = try await bothWays(fixture)
            #expect(rows.count == Int(size))
            for (index, row) in rows.enumerated() {
                #expect(row.cells != nil, "\(index)")
                #expect(row.record?.leaf == row.cells?.leaf, "\(index)")
                #expect(row.record?.key == row.cells?.key, "\(index)")
                #expect(row.record?.leaf.sequence == UInt64(index))
            }
            for batchSize in [1, 4, 10_000] {
                let report = try await verify(fixture, batchSize: batchSize)
                #expect(report.problems == [], "batch size \(batchSize)")
                #expect(report.rangesWalkedAgain == 0, "batch size \(batchSize)")
                #expect(report.slowPathEvents == 0)
                #expect(report.summary?.coveredSize == size)
            }
        }
    }

    @Test("a changed row's record gives no leaf, every other row's still does")
    func changedRowsGiveNoRecordLeaf() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditVerifyFastPathTests.sealedLog(fixture)
            let changes: [(sequence: Int64, set: String)] = [
                (0, "occurred_at = occurred_at + interval '1 microsecond'"), (5, "actor = 'mallory'"),
                (9, "comment = 'Paßt so ✓'"), (12, #"details = '{"request_number": "X"}'"#), (14, "role = 'dsб'"),
                (Int64(size) - 1, "as_escalation = true"), (Int64(size) - 2, "client_address = '192.0.2.8'"),
            ]
            try await AuditVerifyFastPathTests.forge(changes, in: fixture)
            let rows = try await bothWays(fixture)
            let missed = Set(rows.indices.filter { rows[$0].record == nil }.map { Int64($0) })
            #expect(missed == Set(changes.map(\.sequence)))
            #expect(Set(rows.indices.filter { rows[$0].cells == nil }.map { Int64($0) }) == missed)
        }
    }

    /// With 4 rows a batch: the log's first row, a batch's last, the next batch's first, a middle one and
    /// the log's last. The batch is read again as cells and the slow path names the place.
    @Test("a change is named at its place wherever it sits in a batch, for every batch size")
    func changeAtEveryPlaceOfABatch() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditVerifyFastPathTests.sealedLog(fixture)
            #expect(size > 10)
            for position in [0, 3, 4, 6, Int64(size) - 1] {
                try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
                try await fixture.admin.query(
                    """
                    UPDATE audit_events SET details = details || '{"x": 1}'
                    WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = \(position))
                    """, logger: logger)
                try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
                for batchSize in [1, 3, 4, 5, 10_000] {
                    let report = try await verify(fixture, batchSize: batchSize)
                    #expect(
                        report.problems.first
                            == "event(\(position)): event at position \(position) does not match the leaf hash recorded when it was sealed (the event was changed)",
                        "position \(position), batch size \(batchSize): \(report.problems)")
                    #expect(report.rangesWalkedAgain == 1, "position \(position), batch size \(batchSize)")
                    #expect(report.slowPathEvents == 1)
                }
                // Put back (jsonb keeps no trace of the key once removed): the log holds again, no batch read twice.
                try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
                try await fixture.admin.query(
                    """
                    UPDATE audit_events SET details = details - 'x'
                    WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = \(position))
                    """, logger: logger)
                try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
                let report = try await verify(fixture, batchSize: 4)
                #expect(report.problems == [], "position \(position) put back")
                #expect(report.rangesWalkedAgain == 0)
            }
        }
    }

    /// The fast path reads ranges of places several at a time and takes a range only when it holds
    /// exactly its places. A place moved far beyond the log's end (a range plan of 10^11 ranges), a
    /// place removed from the middle and the log's first place moved behind its last each end in the
    /// exact walk, which names the fault; however many ranges are read at once, the verdict is the same.
    @Test("moved places end the ranges in the exact walk, for every batch size and number of reads at once")
    func movedPlacesEndTheRanges() async throws {
        try await ServiceFixture.with { fixture in
            let size = Int64(try await AuditVerifyFastPathTests.sealedLog(fixture))
            #expect(size > 10)
            let moves: [(from: Int64, to: Int64)] = [(size - 1, 400_000_000_000), (6, size + 3), (0, size)]
            for move in moves {
                try await moveSeal(from: move.from, to: move.to, in: fixture)
                var verdicts: Set<[String]> = []
                for batchSize in [1, 4, 10_000] {
                    for reads in [1, 3] {
                        var verification = AuditVerification(
                            client: fixture.admin, keys: TrustedKeys(AuditSealTests.signer.verifierKey),
                            appRole: "freigabe_app",
                            batchSize: batchSize)
                        verification.concurrentReads = reads
                        let report = try await verification.run(logger: logger)
                        #expect(
                            report.problems.first?.hasPrefix(
                                "event(\(move.from)): event at position \(move.from) has sequence number ") == true,
                            "\(move), batch size \(batchSize), \(reads) at once: \(report.problems)")
                        verdicts.insert(report.problems)
                    }
                }
                #expect(verdicts.count == 1, "\(move): \(verdicts)")
                try await moveSeal(from: move.to, to: move.from, in: fixture)
                #expect(try await verify(fixture, batchSize: 4).holds, "\(move) put back")
            }
        }
    }

    /// The tables' owner drops the primary key of `audit_events` and inserts a second row with the id of
    /// the event at place 3. The join then gives place 3 twice with the same key; where a batch of the
    /// walk ends on it (batch size 4), the keyset skips the second, so the chain alone holds. The guard
    /// names the missing key, and the count of sealed rows finds the extra one whatever the batch size.
    @Test("an event row doubled under a dropped key is found at every batch size", arguments: [1, 2, 4, 10_000])
    func doubledEventRowIsFound(batchSize: Int) async throws {
        try await ServiceFixture.with { fixture in
            _ = try await AuditVerifyFastPathTests.sealedLog(fixture)
            #expect(try await verify(fixture, batchSize: batchSize).holds)
            try await fixture.admin.query(
                "ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey CASCADE", logger: logger)
            try await fixture.admin.query("CREATE INDEX ON audit_events (id)", logger: logger)
            try await fixture.admin.query(
                """
                INSERT INTO audit_events
                SELECT * FROM audit_events WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = 3)
                """, logger: logger)
            for reads in [1, 3] {
                var verification = AuditVerification(
                    client: fixture.admin, keys: TrustedKeys(AuditSealTests.signer.verifierKey),
                    appRole: "freigabe_app",
                    batchSize: batchSize)
                verification.concurrentReads = reads
                let problems = try await verification.run(logger: logger).problems
                #expect(
                    problems.contains("table audit_events has no key on id: a place or an event could be there twice"),
                    "\(reads) at once: \(problems)")
                // Found by the log's own checks too, not only by the guard.
                #expect(
                    problems.contains {
                        $0.hasPrefix("event(4): event at position 4 has sequence number 3")
                            || $0.hasPrefix("the log holds ")
                    }, "\(reads) at once: \(problems)")
            }
        }
    }

    /// The tables' owner drops the primary key of `audit_seals`, lets `sequence` be NULL and seals a forged
    /// event (mallory's copy of the event at place 3) with no place: no range and no batch of the walk
    /// reads a NULL place, and the event counts as sealed for the guard of unsealed events.
    @Test("a forged event sealed without a place is found")
    func sealWithoutPlaceIsFound() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditVerifyFastPathTests.sealedLog(fixture)
            try await fixture.admin.query(
                "ALTER TABLE audit_seals DROP CONSTRAINT audit_seals_pkey CASCADE", logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_seals ALTER COLUMN sequence DROP NOT NULL", logger: logger)
            try await fixture.admin.query(
                """
                WITH forged AS (
                    INSERT INTO audit_events (occurred_at, actor, event, decision, request_id, dataset_id, details)
                    SELECT occurred_at, 'mallory', event, 'approved', request_id, dataset_id, details
                    FROM audit_events WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = 3)
                    RETURNING id)
                INSERT INTO audit_seals (sequence, event_row, event_id, format_version, payload_salt, leaf_hash,
                    sealed_at)
                SELECT NULL, forged.id, gen_random_uuid(), 1, s.payload_salt, s.leaf_hash, s.sealed_at
                FROM forged, audit_seals s WHERE s.sequence = 3
                """, logger: logger)
            for batchSize in [4, 10_000] {
                let problems = try await verify(fixture, batchSize: batchSize).problems
                #expect(
                    problems.contains(
                        "table audit_seals has no key on sequence: a place or an event could be there twice"),
                    "batch size \(batchSize): \(problems)")
                #expect(
                    problems.contains(
                        "the log holds \(size + 1) sealed events at positions below \(size) or without a position, "
                            + "but \(size) were checked: an event or a place is there twice, or a seal has no position"),
                    "batch size \(batchSize): \(problems)")
            }
        }
    }

    @Test("ranges of places never overflow, wherever the places lie")
    func rangesOfPlaces() {
        func ranges(_ places: Range<Int64>, _ size: Int64) -> [Range<Int64>] {
            Array(AuditVerification.ranges(of: places, size: size))
        }
        let top = Int64.max
        #expect(ranges(0..<10, 4) == [0..<4, 4..<8, 8..<10])
        #expect(ranges(0..<8, 4) == [0..<4, 4..<8])
        #expect(ranges(5..<6, 10_000) == [5..<6])
        #expect(ranges(3..<3, 4).isEmpty)
        #expect(ranges((top - 5)..<(top - 1), 3) == [(top - 5)..<(top - 2), (top - 2)..<(top - 1)])
        #expect(ranges((top - 5)..<(top - 1), top) == [(top - 5)..<(top - 1)])
        #expect(
            ranges(Int64.min..<(Int64.min + 2), 1) == [Int64.min..<(Int64.min + 1), (Int64.min + 1)..<(Int64.min + 2)])
        #expect(AuditVerification.count(of: Int64.min..<(top - 1)) == UInt64.max - 1)
        #expect(AuditVerification.count(of: 7..<7) == 0)
        #expect(AuditVerification.count(of: -3..<4) == 7)
    }

    /// Whoever runs `freigabe audit verify` over millions of events sees it moving: the count of checked
    /// events grows to the log's size, against the places there were at the start.
    @Test("verify tells its progress: counts that grow to the log's size, in German on the command line")
    func tellsProgress() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await AuditVerifyFastPathTests.sealedLog(fixture)
            for (batchSize, reads) in [(4, 1), (4, 3), (10_000, 2)] {
                let told = Mutex<[(checked: UInt64, of: UInt64)]>([])
                var verification = AuditVerification(
                    client: fixture.admin, keys: TrustedKeys(AuditSealTests.signer.verifierKey),
                    appRole: "freigabe_app",
                    batchSize: batchSize)
                verification.concurrentReads = reads
                verification.progressInterval = .zero
                verification.progress = { checked, of in told.withLock { $0.append((checked, of)) } }
                #expect(try await verification.run(logger: logger).holds)
                let counts = told.withLock { $0 }
                #expect(counts.count >= (batchSize == 4 ? Int(size) / 4 : 1), "batch size \(batchSize)")
                #expect(counts.map(\.checked) == counts.map(\.checked).sorted())
                #expect(counts.last?.checked == size)
                #expect(counts.allSatisfy { $0.of == size })
            }
        }
        #expect(
            AuditTool.progressLine(checked: 1_230_000, of: 10_020_000)
                == "1.230.000 von 10.020.000 Ereignissen geprüft (12 %) …")
        #expect(AuditTool.progressLine(checked: 0, of: 0) == "0 von 0 Ereignissen geprüft (100 %) …")
        #expect(AuditTool.progressLine(checked: 999, of: 998) == "999 von 998 Ereignissen geprüft (100 %) …")
    }

    /// Gives a seal another place, as the tables' owner could (the append-only trigger off and on again).
    func moveSeal(from: Int64, to: Int64, in fixture: ServiceFixture) async throws {
        try await fixture.admin.query("ALTER TABLE audit_seals DISABLE TRIGGER USER", logger: logger)
        try await fixture.admin.query(
            "UPDATE audit_seals SET sequence = \(to) WHERE sequence = \(from)", logger: logger)
        try await fixture.admin.query("ALTER TABLE audit_seals ENABLE TRIGGER USER", logger: logger)
    }

    /// A forger who changes an event and writes its new leaf hash into the seal: the record gives a leaf
    /// equal to the (forged) recorded one, so the batch is taken, and the signed checkpoint's root refuses it.
    @Test("a change with its recorded leaf hash recomputed is caught by the checkpoint's root")
    func forgedRecordedLeafIsCaughtByTheRoot() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await AuditExportTests().lifecycles(fixture)
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_seals DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                """
                UPDATE audit_events SET actor = 'mallory'
                WHERE id = (SELECT event_row FROM audit_seals WHERE sequence = 7)
                """, logger: logger)
            let rows = try await fixture.admin.query(
                """
                SELECT \(unescaped: SealedEvent.columns) FROM \(unescaped: SealedEvent.tables) WHERE s.sequence = 7
                """, logger: logger)
            var forged: [UInt8] = []
            for try await row in rows { forged = try SealedEvent(row).leaf.leafHash.bytes }
            #expect(forged.count == 32)
            try await fixture.admin.query(
                "UPDATE audit_seals SET leaf_hash = \(ByteBuffer(bytes: forged)) WHERE sequence = 7", logger: logger)
            for batchSize in [1, 4, 10_000] {
                let report = try await verify(fixture, batchSize: batchSize)
                #expect(report.rangesWalkedAgain == 0, "the forged row is taken by the record's fast path")
                #expect(
                    report.problems.contains { $0.contains("do not match the root hash of checkpoint") },
                    "batch size \(batchSize): \(report.problems)")
                #expect(!report.holds)
            }
        }
    }

    /// An owner who changes a column's type gives records of another shape: each goes the slow way.
    @Test("records of another shape give no leaf: column types, count, a row that is no record")
    func hostileRecordShapes() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await AuditVerifyFastPathTests.sealedLog(fixture)
            let record = SealedEvent.recordColumn
            let variants = [
                record.replacingOccurrences(of: "s.sequence,", with: "s.sequence::integer,"),
                record.replacingOccurrences(of: "s.event_id,", with: "s.event_id::text,"),
                record.replacingOccurrences(of: "s.format_version,", with: "s.format_version::integer,"),
                record.replacingOccurrences(of: "s.payload_salt,", with: "encode(s.payload_salt, 'hex'),"),
                record.replacingOccurrences(of: "s.leaf_hash,", with: "s.leaf_hash || '\\x00'::bytea,"),
                record.replacingOccurrences(of: "e.occurred_at,", with: "e.occurred_at::timestamp,"),
                record.replacingOccurrences(of: "e.as_escalation,", with: "e.as_escalation::integer,"),
                record.replacingOccurrences(of: "e.details::text", with: "e.details"),
                record.replacingOccurrences(of: "e.details::text", with: "e.details::text, 1"),
                record.replacingOccurrences(of: "s.sequence, ", with: ""),
                "ROW(s.sequence, s.event_row)", "s.sequence",
                "(" + record + ")::text",
            ]
            #expect(variants.allSatisfy { $0 != record })
            for variant in variants {
                let rows = try await bothWays(fixture, record: variant)
                #expect(!rows.isEmpty)
                #expect(rows.allSatisfy { $0.cells != nil && $0.record == nil }, "\(variant)")
            }
        }
    }

    @Test("the binary record reader refuses a wrong count, truncated columns, bad lengths and trailing bytes")
    func recordColumnsRefuseHostileBytes() throws {
        func record(_ count: Int32, _ columns: [(UInt32, Int32, [UInt8])], trailing: [UInt8] = []) -> [UInt8] {
            var bytes = withUnsafeBytes(of: count.bigEndian) { Array($0) }
            for (type, length, value) in columns {
                bytes += withUnsafeBytes(of: type.bigEndian) { Array($0) }
                bytes += withUnsafeBytes(of: length.bigEndian) { Array($0) }
                bytes += value
            }
            return bytes + trailing
        }
        /// The columns read as (type, bytes), or nil where the reader refuses.
        func read(_ bytes: [UInt8], expected: Int) -> [(UInt32, [UInt8]?)]? {
            bytes.withUnsafeBytes { raw in
                guard var columns = RecordColumns(record: raw, expected: expected) else { return nil }
                var read: [(UInt32, [UInt8]?)] = []
                for _ in 0..<expected {
                    guard let column = try? columns.next({ ($0.rawValue, $1.map { Array($0) }) }) else { return nil }
                    read.append(column)
                }
                // One more is refused.
                guard (try? columns.next({ _, _ in () })) == nil, columns.isAtEnd else { return nil }
                return read
            }
        }
        let sound = record(2, [(20, 8, [0, 0, 0, 0, 0, 0, 0, 7]), (25, -1, [])])
        let columns = try #require(read(sound, expected: 2))
        #expect(columns.map(\.0) == [20, 25])
        #expect(columns[0].1 == [0, 0, 0, 0, 0, 0, 0, 7])
        #expect(columns[1].1 == nil)
        // An empty text is present, not NULL.
        #expect(read(record(1, [(25, 0, [])]), expected: 1)?.first?.1 == [])

        #expect(read(sound, expected: 3) == nil)
        #expect(read(sound, expected: 1) == nil)
        #expect(read(record(2, [(20, 8, [0, 0, 0, 0, 0, 0, 0, 7]), (25, -1, [])], trailing: [0]), expected: 2) == nil)
        #expect(read(record(1, [(25, 9, [1, 2, 3])]), expected: 1) == nil)
        #expect(read(record(1, [(25, -2, [])]), expected: 1) == nil)
        #expect(read(record(1, [(25, Int32.min, [])]), expected: 1) == nil)
        #expect(read([0, 0, 0], expected: 0) == nil)
        for cut in 0..<sound.count {
            #expect(read(Array(sound.prefix(cut)), expected: 2) == nil, "cut at \(cut)")
        }
    }
}
