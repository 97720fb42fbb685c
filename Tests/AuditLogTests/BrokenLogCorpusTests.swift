import AuditLog
import Testing

/// The corpus of broken logs: each case is a sealed log (100 events, checkpoints at 40, 70 and 100; and
/// the same at 1,000 times the size) changed the way someone with write access to the database would,
/// named, with the exact failure the verifier must report. A verifier that accepts any of these is the
/// worst bug this module can have.
struct BrokenLog: Sendable, CustomTestStringConvertible {
    let name: String
    let expected: @Sendable (Scale) -> VerificationFailure
    let tamper: @Sendable (inout Attempt, Scale) -> Void

    init(
        name: String, expected: @escaping @Sendable (Scale) -> VerificationFailure,
        tamper: @escaping @Sendable (inout Attempt, Scale) -> Void
    ) {
        self.name = name
        self.expected = expected
        self.tamper = tamper
    }

    struct Attempt {
        var log: LogFixture
        var key = LogFixture.signer.verifierKey
        var start = MerkleFrontier()
    }

    var testDescription: String { name }

    /// Where a case's changes fall: positions and sizes are written for the 100-event log and multiplied
    /// for the larger one, so that each case breaks the same place relative to its checkpoints.
    struct Scale: Sendable, CustomTestStringConvertible {
        let factor: Int

        /// The 100-event log.
        static let small = Scale(factor: 1)
        /// The 100,000-event log the issue asks the tamper tests to hold at.
        static let large = Scale(factor: 1_000)

        var eventCount: Int { 100 * factor }
        var checkpointSizes: [UInt64] { BrokenLog.checkpointSizes.map { $0 * UInt64(factor) } }
        /// An index into the log's events.
        func callAsFunction(_ index: Int) -> Int { index * factor }
        /// A position or size as the verifier reports it.
        func at(_ index: Int) -> UInt64 { UInt64(index * factor) }

        var testDescription: String { "\(eventCount) events" }
    }

    static let checkpointSizes: [UInt64] = [40, 70, 100]
    static func sealed() -> LogFixture { sealed(.small) }
    static func sealed(_ scale: Scale) -> LogFixture {
        scale.factor == 1 ? smallLog : largeLog
    }
    private static let smallLog = LogFixture.make(count: 100, checkpointSizes: checkpointSizes)
    // Built once and shared: each case changes its own copy.
    private static let largeLog = LogFixture.make(
        count: Scale.large.eventCount, checkpointSizes: Scale.large.checkpointSizes)

    static let all: [BrokenLog] = [
        BrokenLog(
            name: "a payload replaced by a made-up erasure marker",
            expected: { .erasureNotRecorded(position: $0.at(55)) }
        ) {
            $0.log.events[$1(55)].payload = .redacted(
                Redaction(
                    redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_451_606_400_000_000), redactedBy: "revision"))
        },
        // The database owner's erasure inside the retention period: a two-month-old event's payload blanked,
        // marked with an erasure of their own and a `payloads_redacted` record appended, which the sealer
        // then seals and signs like any other event. Count, time and uid all fit.
        BrokenLog(
            name: "an event erased inside the retention period, the record naming no cut-off",
            expected: { .erasureCutOffMissing(position: $0.at(100)) }
        ) {
            erasedByOwnRecord(&$0, $1, details: "")
        },
        BrokenLog(
            name: "an event erased inside the retention period, the record's cut-off ten years back",
            expected: { .erasedAfterCutOff(position: $0.at(55), erasedBefore: ownCutOff) }
        ) {
            erasedByOwnRecord(
                &$0, $1, details: #", "erased_before": "2014-01-13T23:13:20+01:00", "retention_years": 10"#)
        },
        BrokenLog(
            name: "an event erased inside the retention period, the record's cut-off at the erasure",
            expected: {
                .erasureWithinRetention(position: $0.at(100), erasedBefore: ownErasure.redactedAt, retentionYears: 10)
            }
        ) {
            erasedByOwnRecord(
                &$0, $1, details: #", "erased_before": "2024-01-13T23:13:20+01:00", "retention_years": 10"#)
        },
        BrokenLog(
            name: "an event erased inside the retention period, the record's cut-off after the erasure, no retention",
            expected: { .erasureCutOffMissing(position: $0.at(100)) }
        ) {
            erasedByOwnRecord(
                &$0, $1, details: #", "erased_before": "2099-01-01T00:00:00+00:00", "retention_years": 0"#)
        },
        BrokenLog(
            name: "an event erased inside the retention period, the record's cut-off not a time",
            expected: { .erasureCutOffMissing(position: $0.at(100)) }
        ) {
            erasedByOwnRecord(&$0, $1, details: #", "erased_before": "2014-01-13", "retention_years": 10"#)
        },
        // The owner dates the record twenty years ahead with a cut-off ten years ahead (the database's
        // clock is theirs): its retention check passes and the two-month-old event lies before the cut-off.
        // The sealer's clock is not theirs: the checkpoint that covers the record was signed in 2030.
        BrokenLog(
            name: "an event erased inside the retention period, the record dated after the checkpoint covering it",
            expected: {
                .erasureAfterCheckpoint(
                    position: $0.at(100), occurredAt: futureErasure.redactedAt, checkpoint: 3,
                    signedAt: LogFixture.checkpointTime)
            }
        ) {
            erasedByOwnRecord(
                &$0, $1, erasure: futureErasure,
                details: #", "erased_before": "2034-01-13T23:13:20+01:00", "retention_years": 10"#)
        },
        BrokenLog(name: "one byte changed in one event", expected: { .leafHashMismatch(position: $0.at(55)) }) {
            $0.log.events[$1(55)].event.actor = $0.log.events[$1(55)].event.actor.map(oneByteChanged)
        },
        BrokenLog(
            name: "one byte changed, no recorded leaf hashes",
            expected: { .rootMismatch(checkpoint: 1, treeSize: $0.at(70), lastVerifiedSize: $0.at(40)) }
        ) {
            $0.log.events[$1(55)].event.actor = $0.log.events[$1(55)].event.actor.map(oneByteChanged)
            $0.log.dropRecordedLeafHashes()
        },
        BrokenLog(name: "decision changed", expected: { .leafHashMismatch(position: $0.at(61)) }) {
            $0.log.events[$1(61)].event.decision = "rejected"
        },
        BrokenLog(
            name: "middle event deleted", expected: { .sequenceMismatch(position: $0.at(50), found: $0.at(50) + 1) }
        ) {
            $0.log.events.remove(at: $1(50))
        },
        BrokenLog(
            name: "middle event deleted, later events renumbered and every hash recomputed",
            expected: { .rootMismatch(checkpoint: 1, treeSize: $0.at(70), lastVerifiedSize: $0.at(40)) }
        ) {
            $0.log.events.remove(at: $1(50))
            renumber(&$0.log)
        },
        BrokenLog(
            name: "event inserted with a repeated number",
            expected: { .sequenceMismatch(position: $0.at(60) + 1, found: $0.at(60)) }
        ) {
            var forged = LogFixture.event(at: $1.at(60))
            forged.event.actor = "mallory"
            forged.recordedLeafHash = forged.event.leafHash
            $0.log.events.insert(forged, at: $1(60))
        },
        BrokenLog(
            name: "event inserted, later events renumbered and every hash recomputed",
            expected: { .rootMismatch(checkpoint: 1, treeSize: $0.at(70), lastVerifiedSize: $0.at(40)) }
        ) {
            var forged = LogFixture.event(at: $1.at(60))
            forged.event.actor = "mallory"
            $0.log.events.insert(forged, at: $1(60))
            renumber(&$0.log)
        },
        BrokenLog(
            name: "two events reordered", expected: { .sequenceMismatch(position: $0.at(20), found: $0.at(20) + 1) }
        ) {
            $0.log.events.swapAt($1(20), $1(20) + 1)
        },
        BrokenLog(
            name: "two events' contents swapped, numbers and hashes made to fit",
            expected: { .rootMismatch(checkpoint: 0, treeSize: $0.at(40), lastVerifiedSize: 0) }
        ) {
            $0.log.events.swapAt($1(20), $1(20) + 1)
            renumber(&$0.log)
        },
        BrokenLog(
            name: "tail truncated after a checkpoint",
            expected: { .logShorterThanCheckpoint(checkpoint: 2, treeSize: $0.at(100), eventCount: $0.at(70)) }
        ) {
            $0.log.events.removeLast($1(30))
        },
        BrokenLog(
            name: "tail truncated inside the last checkpoint's range",
            expected: { .logShorterThanCheckpoint(checkpoint: 2, treeSize: $0.at(100), eventCount: $0.at(85)) }
        ) {
            $0.log.events.removeLast($1(15))
        },
        BrokenLog(
            name: "every hash recomputed after a change (caught by the signed checkpoint)",
            expected: { .rootMismatch(checkpoint: 2, treeSize: $0.at(100), lastVerifiedSize: $0.at(70)) }
        ) {
            $0.log.events[$1(75)].event.decision = "approved"
            $0.log.events[$1(75)].event.type = "approved"
            $0.log.resealEvents()
        },
        BrokenLog(
            name: "checkpoint replaced, old signature kept",
            expected: { _ in .checkpointSignatureInvalid(checkpoint: 1) }
        ) {
            $0.log.events[$1(55)].event.actor = "mallory"
            $0.log.resealEvents()
            let forged = LogFixture.signedCheckpoints(over: $0.log.events, sizes: $1.checkpointSizes)
            $0.log.checkpoints[1].signedNote = replacingText(of: $0.log.checkpoints[1].signedNote, with: forged[1])
        },
        BrokenLog(
            name: "checkpoints re-signed with a forged key of the same name",
            expected: { _ in .checkpointNotSignedByKey(checkpoint: 0) }
        ) {
            $0.log.events[$1(10)].event.actor = "mallory"
            $0.log.resealEvents()
            $0.log.checkpoints = LogFixture.signedCheckpoints(
                over: $0.log.events, sizes: $1.checkpointSizes, signer: LogFixture.attacker)
        },
        BrokenLog(
            name: "checkpoint (validly signed) does not extend its predecessor",
            expected: { .checkpointInconsistent(checkpoint: 2, treeSize: $0.at(100), previousTreeSize: $0.at(70)) }
        ) {
            // A fork: the signer was made to sign a history that differs at event 10.
            var fork = $0.log
            fork.events[$1(10)].event.actor = "mallory"
            $0.log.checkpoints[2] = LogFixture.signedCheckpoints(over: fork.events, sizes: $1.checkpointSizes)[2]
        },
        BrokenLog(
            name: "checkpoint smaller than its predecessor",
            expected: { .checkpointShrinks(checkpoint: 2, treeSize: $0.at(70), previousTreeSize: $0.at(100)) }
        ) { attempt, _ in
            attempt.log.checkpoints.swapAt(1, 2)
            attempt.log.checkpoints[1].consistencyProof = nil
            attempt.log.checkpoints[2].consistencyProof = nil
        },
        BrokenLog(
            name: "two checkpoints of one size with different roots",
            expected: { .checkpointInconsistent(checkpoint: 2, treeSize: $0.at(70), previousTreeSize: $0.at(70)) }
        ) {
            var fork = $0.log
            fork.events[$1(5)].event.actor = "mallory"
            $0.log.checkpoints.insert(LogFixture.signedCheckpoints(over: fork.events, sizes: [$1.at(70)])[0], at: 2)
        },
        BrokenLog(
            name: "checkpoint of another log",
            expected: { _ in .checkpointOriginMismatch(checkpoint: 0, origin: "other.example/log") }
        ) {
            $0.log.checkpoints[0] =
                LogFixture.signedCheckpoints(
                    over: $0.log.events, sizes: [$1.at(40)], origin: "other.example/log")[0]
        },
        BrokenLog(
            name: "checkpoint is not a signed note",
            expected: { _ in
                .checkpointUnreadable(checkpoint: 1, reason: "the note has no empty line followed by signature lines")
            }
        ) {
            $0.log.checkpoints[1].signedNote = "freigabe.test/audit\n\($1.at(70))\n"
        },
        BrokenLog(name: "payload changed", expected: { .payloadHashMismatch(position: $0.at(30)) }) {
            guard case .present(var payload) = $0.log.events[$1(30)].payload else { return }
            payload.fields["comment"] = "Abgelehnt."
            $0.log.events[$1(30)].payload = .present(payload)
        },
        BrokenLog(
            name: "redacted event whose payload hash no longer matches",
            expected: { .leafHashMismatch(position: $0.at(30)) }
        ) {
            // Erase the payload and swap in the hash of another text, as if to back a rewritten story.
            $0.log.events[$1(30)].payload = .redacted(redaction)
            $0.log.events[$1(30)].event.payloadHash = AuditPayload(salt: [], fields: ["comment": "Abgelehnt."]).hash
        },
        BrokenLog(
            name: "redacted event whose payload hash no longer matches, no recorded leaf hashes",
            expected: { .rootMismatch(checkpoint: 0, treeSize: $0.at(40), lastVerifiedSize: 0) }
        ) {
            $0.log.events[$1(30)].payload = .redacted(redaction)
            $0.log.events[$1(30)].event.payloadHash = AuditPayload(salt: [], fields: ["comment": "Abgelehnt."]).hash
            $0.log.dropRecordedLeafHashes()
        },
        BrokenLog(name: "wrong public key", expected: { _ in .checkpointNotSignedByKey(checkpoint: 0) }) { attempt, _ in
            attempt.key = LogFixture.attacker.verifierKey
        },
        BrokenLog(
            name: "unknown encoding version", expected: { .unsupportedFormatVersion(position: $0.at(12), version: 2) }
        ) {
            $0.log.events[$1(12)].formatVersion = 2
        },
        BrokenLog(
            name: "export whose starting frontier is forged",
            expected: { .rootMismatch(checkpoint: 1, treeSize: $0.at(70), lastVerifiedSize: $0.at(50)) }
        ) {
            let forged = LogFixture.event(at: 3).event.leafHash
            $0.start = MerkleFrontier(leafHashes: Array(repeating: forged, count: $1(50)))
            $0.log.events.removeFirst($1(50))
        },
    ]

    static let redaction = Redaction(
        redactedAt: AuditTimestamp(microsecondsSinceEpoch: 2_050_000_000_000_000), redactedBy: "dsb")

    /// The owner's own erasure, sixty days after the events (2024-01-13T22:13:20Z).
    static let ownErasure = Redaction(
        redactedAt: AuditTimestamp(microsecondsSinceEpoch: 1_705_184_000_000_000), redactedBy: "owner")
    /// The owner's erasure dated twenty years after ``ownErasure`` (2044-01-13T22:13:20Z), after the
    /// fixture's checkpoints were signed.
    static let futureErasure = Redaction(
        redactedAt: AuditTimestamp(microsecondsSinceEpoch: 2_336_336_000_000_000), redactedBy: "owner")
    /// Ten years before it: what a record that passes the retention check must state.
    static let ownCutOff = AuditTimestamp(microsecondsSinceEpoch: 1_389_651_200_000_000)

    /// Event 55's payload erased under ``ownErasure``, its `payloads_redacted` record (with `details`
    /// after the count) appended and sealed, and a checkpoint over it signed with the log's own key, as
    /// the sealer does for anything in the table.
    static func erasedByOwnRecord(
        _ attempt: inout Attempt, _ scale: Scale, erasure: Redaction = ownErasure, details: String
    ) {
        let end = scale.at(100)
        attempt.log.events[scale(55)].payload = .redacted(erasure)
        var record = LogFixture.erasureRecord(at: end, erasure, count: 1, details: #""by": "owner""# + details)
        record.recordedLeafHash = record.event.leafHash
        attempt.log.events.append(record)
        let sizes = scale.checkpointSizes + [end + 1]
        attempt.log.checkpoints = LogFixture.signedCheckpoints(over: attempt.log.events, sizes: sizes)
    }

    /// The text with its last byte raised by one ("user4" becomes "user5").
    static func oneByteChanged(_ text: String) -> String {
        var bytes = Array(text.utf8)
        bytes[bytes.count - 1] += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sequence numbers and recorded leaf hashes made to fit again: the careful attacker.
    static func renumber(_ log: inout LogFixture) {
        for index in log.events.indices { log.events[index].event.sequence = UInt64(index) }
        log.resealEvents()
    }

    /// The forged checkpoint's text under the original signature lines.
    static func replacingText(of original: String, with forged: CheckpointRecord) -> String {
        let originalNote = try! SignedNote(parsing: original)
        let forgedNote = try! SignedNote(parsing: forged.signedNote)
        return SignedNote(text: forgedNote.text, signatures: originalNote.signatures).serialized
    }
}

@Suite("Broken logs") struct BrokenLogCorpusTests {
    @Test("the sealed log the corpus starts from verifies", arguments: [BrokenLog.Scale.small, .large])
    func sealedLogVerifies(_ scale: BrokenLog.Scale) throws {
        let summary = try BrokenLog.sealed(scale).verify().get()
        #expect(summary.treeSize == scale.at(100))
        #expect(summary.coveredSize == scale.at(100))
        #expect(summary.checkpointCount == 3)
        #expect(summary.latestCheckpoint?.time == LogFixture.checkpointTime)
    }

    @Test(
        "each broken log is refused at the right position, at 100 and at 100,000 events",
        arguments: BrokenLog.all, [BrokenLog.Scale.small, .large])
    func brokenLogIsRefused(_ broken: BrokenLog, _ scale: BrokenLog.Scale) {
        var attempt = BrokenLog.Attempt(log: BrokenLog.sealed(scale))
        broken.tamper(&attempt, scale)
        let result = attempt.log.verify(key: attempt.key, start: attempt.start)
        #expect(result == .failure(broken.expected(scale)))
    }

    @Test("corpus names are unique")
    func namesAreUnique() {
        #expect(Set(BrokenLog.all.map(\.name)).count == BrokenLog.all.count)
    }

    @Test("where the changed events are, the reported range contains them")
    func rangesContainTheChange() {
        var log = BrokenLog.sealed()
        log.events[55].event.actor = "mallory"
        log.resealEvents()
        guard case .failure(let failure) = log.verify(), case .eventRange(let range) = failure.location else {
            Issue.record("expected a range")
            return
        }
        #expect(range.contains(55))
        #expect(range == 40..<70)
    }
}
