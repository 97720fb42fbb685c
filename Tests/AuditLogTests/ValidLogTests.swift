import AuditLog
import Testing

@Suite("Valid logs") struct ValidLogTests {
    @Test("a 100,000-event log with checkpoints verifies")
    func hundredThousandEvents() throws {
        let log = LogFixture.make(count: 100_000, checkpointSizes: [1, 4096, 50_000, 65_536, 99_999, 100_000])
        let summary = try log.verify().get()
        #expect(summary.treeSize == 100_000)
        #expect(summary.coveredSize == 100_000)
        #expect(summary.checkpointCount == 6)
        #expect(
            summary.rootHash
                == (try Checkpoint(noteText: SignedNote(parsing: log.checkpoints[5].signedNote).text)).rootHash)
    }

    /// Two erasures, each recorded by its `payloads_redacted` event after the events it erased.
    static func erasedLog() -> (LogFixture, Redaction, Redaction) {
        var log = LogFixture.make(count: 60, checkpointSizes: [])
        let redaction = Redaction(
            redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_800_000_000_000_000), redactedBy: "dsb")
        let later = Redaction(
            redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_800_000_000_000_001), redactedBy: "revision")
        log.events[58] = LogFixture.erasureRecord(at: 58, redaction, count: 20)
        log.events[59] = LogFixture.erasureRecord(at: 59, later, count: 1)
        log.resealEvents()
        log.checkpoints = LogFixture.signedCheckpoints(over: log.events, sizes: [30, 60])
        for index in stride(from: 0, to: 58, by: 3) { log.events[index].payload = .redacted(redaction) }
        log.events[1].payload = .redacted(later)
        return (log, redaction, later)
    }

    @Test("erased payloads still verify, and are counted")
    func redactedPayloads() throws {
        let (log, redaction, later) = Self.erasedLog()
        let summary = try log.verify().get()
        #expect(summary.redactedEventCount == 21)
        // Who erased how many: what `audit verify` reports as "gelöscht am … von …".
        #expect(summary.redactions == [redaction: 20, later: 1])
    }

    /// The tail of a log read from a frontier: some events of an erasure lie before it, so its record's
    /// count is more than the markers in the tail, and that holds; a made-up marker in the tail still fails.
    @Test("an erasure whose first events lie before the frontier still verifies in the tail")
    func erasureAcrossTheFrontier() throws {
        let (whole, redaction, _) = Self.erasedLog()
        var log = whole
        let start = MerkleFrontier(leafHashes: log.events.prefix(30).map(\.event.leafHash))
        log.events.removeFirst(30)
        let summary = try log.verify(start: start).get()
        #expect(summary.redactions[redaction] == 10)
        log.events[5].payload = .redacted(
            Redaction(redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_451_606_400_000_000), redactedBy: "revision")
        )
        #expect(log.verify(start: start) == .failure(.erasureNotRecorded(position: 35)))
    }

    /// An erasure marker is text beside the event; only the signed `payloads_redacted` event makes it true.
    @Test("a made-up erasure marker is refused: unknown erasure, one event too many, an event after the record")
    func madeUpErasureMarkers() {
        let (log, redaction, _) = Self.erasedLog()
        var unknown = log
        unknown.events[10].payload = .redacted(
            Redaction(redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_451_606_400_000_000), redactedBy: "revision")
        )
        #expect(unknown.verify() == .failure(.erasureNotRecorded(position: 10)))
        var oneMore = log
        oneMore.events[10].payload = .redacted(redaction)
        #expect(oneMore.verify() == .failure(.erasureCountMismatch(position: 58, recorded: 20, marked: 21)))
        // The same erasure named on an event sealed after its record: it could not have erased it.
        var afterIt = LogFixture.make(count: 40, checkpointSizes: [])
        afterIt.events[20] = LogFixture.erasureRecord(at: 20, redaction, count: 1)
        afterIt.resealEvents()
        afterIt.checkpoints = LogFixture.signedCheckpoints(over: afterIt.events, sizes: [40])
        var honest = afterIt
        honest.events[5].payload = .redacted(redaction)
        #expect((try? honest.verify().get())?.redactedEventCount == 1)
        afterIt.events[30].payload = .redacted(redaction)
        #expect(afterIt.verify() == .failure(.erasureNotRecorded(position: 30)))
    }

    /// The `payloads_redacted` event's cut-off as PostgreSQL writes it into JSON (the session's offset, a
    /// fraction of up to six digits): every erased event must lie before it, and it at least the
    /// retention period before the erasure (a day's slack for the database's time zone). The newest
    /// event `erasedLog` erases is at 2023-11-14T22:14:30.370319Z; its erasure at 2027-01-15T08:00:00Z
    /// with three years' retention.
    @Test(
        "an erasure's cut-off is read in PostgreSQL's forms and bounds the erased events and the retention",
        arguments: [
            // Just after the newest erased event, in four spellings of the same offset.
            (#""erased_before": "2023-11-14T23:14:30.37032+01:00", "retention_years": 3"#, nil),
            (#""erased_before": "2023-11-14T22:14:30.370320Z", "retention_years": 3"#, nil),
            (#""erased_before": "2023-11-14T23:14:30.37032+01", "retention_years": 3"#, nil),
            (#""erased_before": "2023-11-14T21:44:30.37032-00:30:00", "retention_years": 3"#, nil),
            // The latest cut-off three years (and a day) allow; a microsecond more is within the period.
            (#""erased_before": "2024-01-16T08:00:00+00:00", "retention_years": 3"#, nil),
            (
                #""erased_before": "2024-01-16T08:00:00.000001+00:00", "retention_years": 3"#,
                VerificationFailure.erasureWithinRetention(
                    position: 58, erasedBefore: AuditTimestamp(microsecondsSinceEpoch: 1_705_392_000_000_001),
                    retentionYears: 3)
            ),
            (
                #""erased_before": "2024-01-16T08:00:00+00:00", "retention_years": 4"#,
                .erasureWithinRetention(
                    position: 58, erasedBefore: AuditTimestamp(microsecondsSinceEpoch: 1_705_392_000_000_000),
                    retentionYears: 4)
            ),
            // Exactly at the newest erased event: it did not happen before the cut-off.
            (
                #""erased_before": "2023-11-14T23:14:30.370319+01:00", "retention_years": 3"#,
                .erasedAfterCutOff(
                    position: 57, erasedBefore: AuditTimestamp(microsecondsSinceEpoch: 1_700_000_070_370_319))
            ),
            // Not PostgreSQL's form, or no retention: no cut-off on record.
            (#""erased_before": "2023-11-16", "retention_years": 3"#, .erasureCutOffMissing(position: 58)),
            (
                #""erased_before": "2023-11-16T00:00:00+01:00 ", "retention_years": 3"#,
                .erasureCutOffMissing(position: 58)
            ),
            (
                #""erased_before": "2023-11-16T00:00:00.1234567Z", "retention_years": 3"#,
                .erasureCutOffMissing(position: 58)
            ),
            (#""erased_before": "2023-02-29T00:00:00Z", "retention_years": 3"#, .erasureCutOffMissing(position: 58)),
            (
                #""erased_before": "2023-11-16T00:00:00+0100", "retention_years": 3"#,
                .erasureCutOffMissing(position: 58)
            ),
            (
                #""erased_before": "2023-11-16T00:00:00.+01:00", "retention_years": 3"#,
                .erasureCutOffMissing(position: 58)
            ),
            (#""erased_before": null, "retention_years": 3"#, .erasureCutOffMissing(position: 58)),
            (#""erased_before": "2023-11-16T00:00:00+01:00""#, .erasureCutOffMissing(position: 58)),
            (
                #""erased_before": "2023-11-16T00:00:00+01:00", "retention_years": 101"#,
                .erasureCutOffMissing(position: 58)
            ),
            (
                #""erased_before": "2023-11-16T00:00:00+01:00", "retention_years": "3""#,
                .erasureNotRecorded(position: 0)
            ),
        ] as [(String, VerificationFailure?)])
    func erasureCutOff(_ details: String, _ expected: VerificationFailure?) {
        var (log, redaction, _) = Self.erasedLog()
        log.events[58] = LogFixture.erasureRecord(at: 58, redaction, count: 20, details: details)
        log.resealEvents()
        log.checkpoints = LogFixture.signedCheckpoints(over: log.events, sizes: [30, 60])
        switch (log.verify(), expected) {
        case (.success, nil): break
        case (let result, let expected?): #expect(result == .failure(expected))
        case (let result, nil): Issue.record("expected to verify: \(result)")
        }
    }

    @Test("events after the last checkpoint are checked and reported as not yet covered")
    func uncoveredTail() throws {
        let log = LogFixture.make(count: 75, checkpointSizes: [40, 70])
        let summary = try log.verify().get()
        #expect(summary.coveredSize == 70)
        #expect(summary.uncoveredEventCount == 5)
    }

    @Test("an export that starts mid-log verifies from its frontier; earlier checkpoints by their proofs")
    func exportFromTheMiddle() throws {
        var log = LogFixture.make(count: 100, checkpointSizes: [40, 70, 100])
        let start = MerkleFrontier(leafHashes: log.events.prefix(50).map(\.event.leafHash))
        log.events.removeFirst(50)
        let summary = try log.verify(start: start).get()
        #expect(summary.startSize == 50)
        #expect(summary.coveredSize == 100)
    }

    @Test("an empty log with a checkpoint of size 0 verifies")
    func emptyLog() throws {
        let log = LogFixture.make(count: 0, checkpointSizes: [0])
        let summary = try log.verify().get()
        #expect(summary.rootHash == MerkleHashing.emptyRoot)
    }

    @Test("a checkpoint signed by the key and cosigned by an unknown witness verifies")
    func unknownCosignatureIgnored() throws {
        var log = LogFixture.make(count: 10, checkpointSizes: [10])
        var note = try SignedNote(parsing: log.checkpoints[0].signedNote)
        let witness = try NoteSigner(keyName: "witness.example", seed: Array(repeating: 3, count: 32))
        note.signatures += try witness.sign(text: note.text).signatures
        log.checkpoints[0].signedNote = note.serialized
        #expect(throws: Never.self) { try log.verify().get() }
    }
}
