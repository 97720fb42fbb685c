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

    @Test("erased payloads still verify, and are counted")
    func redactedPayloads() throws {
        var log = LogFixture.make(count: 60, checkpointSizes: [30, 60])
        let redaction = Redaction(redactedAt: AuditTimestamp(microsecondsSinceEpoch: 0), redactedBy: "dsb")
        let later = Redaction(redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1), redactedBy: "revision")
        for index in stride(from: 0, to: 60, by: 3) { log.events[index].payload = .redacted(redaction) }
        log.events[1].payload = .redacted(later)
        let summary = try log.verify().get()
        #expect(summary.redactedEventCount == 21)
        // Who erased how many: what `audit verify` reports as "gelöscht am … von …".
        #expect(summary.redactions == [redaction: 20, later: 1])
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
