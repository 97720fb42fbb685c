import AuditLog
import Testing

/// The corpus of broken logs: each case is a sealed log (100 events, checkpoints at 40, 70 and 100)
/// changed the way someone with write access to the database would, named, with the exact failure
/// the verifier must report. A verifier that accepts any of these is the worst bug this module can have.
struct BrokenLog: Sendable, CustomTestStringConvertible {
    let name: String
    let expected: VerificationFailure
    let tamper: @Sendable (inout Attempt) -> Void

    struct Attempt {
        var log: LogFixture
        var key = LogFixture.signer.verifierKey
        var start = MerkleFrontier()
    }

    var testDescription: String { name }

    static let checkpointSizes: [UInt64] = [40, 70, 100]
    static func sealed() -> LogFixture { LogFixture.make(count: 100, checkpointSizes: checkpointSizes) }

    static let all: [BrokenLog] = [
        BrokenLog(name: "one byte changed in one event", expected: .leafHashMismatch(position: 55)) {
            $0.log.events[55].event.actor = "user5"  // was "user4": one byte
        },
        BrokenLog(
            name: "one byte changed, no recorded leaf hashes",
            expected: .rootMismatch(checkpoint: 1, treeSize: 70, lastVerifiedSize: 40)
        ) {
            $0.log.events[55].event.actor = "user5"
            $0.log.dropRecordedLeafHashes()
        },
        BrokenLog(name: "decision changed", expected: .leafHashMismatch(position: 61)) {
            $0.log.events[61].event.decision = "rejected"
        },
        BrokenLog(name: "middle event deleted", expected: .sequenceMismatch(position: 50, found: 51)) {
            $0.log.events.remove(at: 50)
        },
        BrokenLog(
            name: "middle event deleted, later events renumbered and every hash recomputed",
            expected: .rootMismatch(checkpoint: 1, treeSize: 70, lastVerifiedSize: 40)
        ) {
            $0.log.events.remove(at: 50)
            renumber(&$0.log)
        },
        BrokenLog(name: "event inserted with a repeated number", expected: .sequenceMismatch(position: 61, found: 60)) {
            var forged = LogFixture.event(at: 60)
            forged.event.actor = "mallory"
            forged.recordedLeafHash = forged.event.leafHash
            $0.log.events.insert(forged, at: 60)
        },
        BrokenLog(
            name: "event inserted, later events renumbered and every hash recomputed",
            expected: .rootMismatch(checkpoint: 1, treeSize: 70, lastVerifiedSize: 40)
        ) {
            var forged = LogFixture.event(at: 60)
            forged.event.actor = "mallory"
            $0.log.events.insert(forged, at: 60)
            renumber(&$0.log)
        },
        BrokenLog(name: "two events reordered", expected: .sequenceMismatch(position: 20, found: 21)) {
            $0.log.events.swapAt(20, 21)
        },
        BrokenLog(
            name: "two events' contents swapped, numbers and hashes made to fit",
            expected: .rootMismatch(checkpoint: 0, treeSize: 40, lastVerifiedSize: 0)
        ) {
            $0.log.events.swapAt(20, 21)
            renumber(&$0.log)
        },
        BrokenLog(
            name: "tail truncated after a checkpoint",
            expected: .logShorterThanCheckpoint(checkpoint: 2, treeSize: 100, eventCount: 70)
        ) {
            $0.log.events.removeLast(30)
        },
        BrokenLog(
            name: "tail truncated inside the last checkpoint's range",
            expected: .logShorterThanCheckpoint(checkpoint: 2, treeSize: 100, eventCount: 85)
        ) {
            $0.log.events.removeLast(15)
        },
        BrokenLog(
            name: "every hash recomputed after a change (caught by the signed checkpoint)",
            expected: .rootMismatch(checkpoint: 2, treeSize: 100, lastVerifiedSize: 70)
        ) {
            $0.log.events[75].event.decision = "approved"
            $0.log.events[75].event.type = "approved"
            $0.log.resealEvents()
        },
        BrokenLog(name: "checkpoint replaced, old signature kept", expected: .checkpointSignatureInvalid(checkpoint: 1))
        {
            $0.log.events[55].event.actor = "mallory"
            $0.log.resealEvents()
            let forged = LogFixture.signedCheckpoints(over: $0.log.events, sizes: checkpointSizes)
            $0.log.checkpoints[1].signedNote = replacingText(of: $0.log.checkpoints[1].signedNote, with: forged[1])
        },
        BrokenLog(
            name: "checkpoints re-signed with a forged key of the same name",
            expected: .checkpointNotSignedByKey(checkpoint: 0)
        ) {
            $0.log.events[10].event.actor = "mallory"
            $0.log.resealEvents()
            $0.log.checkpoints = LogFixture.signedCheckpoints(
                over: $0.log.events, sizes: checkpointSizes, signer: LogFixture.attacker)
        },
        BrokenLog(
            name: "checkpoint (validly signed) does not extend its predecessor",
            expected: .checkpointInconsistent(checkpoint: 2, treeSize: 100, previousTreeSize: 70)
        ) {
            // A fork: the signer was made to sign a history that differs at event 10.
            var fork = $0.log
            fork.events[10].event.actor = "mallory"
            $0.log.checkpoints[2] = LogFixture.signedCheckpoints(over: fork.events, sizes: checkpointSizes)[2]
        },
        BrokenLog(
            name: "checkpoint smaller than its predecessor",
            expected: .checkpointShrinks(checkpoint: 2, treeSize: 70, previousTreeSize: 100)
        ) {
            $0.log.checkpoints.swapAt(1, 2)
            $0.log.checkpoints[1].consistencyProof = nil
            $0.log.checkpoints[2].consistencyProof = nil
        },
        BrokenLog(
            name: "two checkpoints of one size with different roots",
            expected: .checkpointInconsistent(checkpoint: 2, treeSize: 70, previousTreeSize: 70)
        ) {
            var fork = $0.log
            fork.events[5].event.actor = "mallory"
            $0.log.checkpoints.insert(LogFixture.signedCheckpoints(over: fork.events, sizes: [70])[0], at: 2)
        },
        BrokenLog(
            name: "checkpoint of another log",
            expected: .checkpointOriginMismatch(checkpoint: 0, origin: "other.example/log")
        ) {
            $0.log.checkpoints[0] =
                LogFixture.signedCheckpoints(
                    over: $0.log.events, sizes: [40], origin: "other.example/log")[0]
        },
        BrokenLog(
            name: "checkpoint is not a signed note",
            expected: .checkpointUnreadable(
                checkpoint: 1, reason: "the note has no empty line followed by signature lines")
        ) {
            $0.log.checkpoints[1].signedNote = "freigabe.test/audit\n70\n"
        },
        BrokenLog(name: "payload changed", expected: .payloadHashMismatch(position: 30)) {
            guard case .present(var payload) = $0.log.events[30].payload else { return }
            payload.fields["comment"] = "Abgelehnt."
            $0.log.events[30].payload = .present(payload)
        },
        BrokenLog(
            name: "redacted event whose payload hash no longer matches",
            expected: .leafHashMismatch(position: 30)
        ) {
            // Erase the payload and swap in the hash of another text, as if to back a rewritten story.
            $0.log.events[30].payload = .redacted(redaction)
            $0.log.events[30].event.payloadHash = AuditPayload(salt: [], fields: ["comment": "Abgelehnt."]).hash
        },
        BrokenLog(
            name: "redacted event whose payload hash no longer matches, no recorded leaf hashes",
            expected: .rootMismatch(checkpoint: 0, treeSize: 40, lastVerifiedSize: 0)
        ) {
            $0.log.events[30].payload = .redacted(redaction)
            $0.log.events[30].event.payloadHash = AuditPayload(salt: [], fields: ["comment": "Abgelehnt."]).hash
            $0.log.dropRecordedLeafHashes()
        },
        BrokenLog(name: "wrong public key", expected: .checkpointNotSignedByKey(checkpoint: 0)) {
            $0.key = LogFixture.attacker.verifierKey
        },
        BrokenLog(name: "unknown encoding version", expected: .unsupportedFormatVersion(position: 12, version: 2)) {
            $0.log.events[12].formatVersion = 2
        },
        BrokenLog(
            name: "export whose starting frontier is forged",
            expected: .rootMismatch(checkpoint: 1, treeSize: 70, lastVerifiedSize: 50)
        ) {
            let forged = LogFixture.event(at: 3).event.leafHash
            $0.start = MerkleFrontier(leafHashes: Array(repeating: forged, count: 50))
            $0.log.events.removeFirst(50)
        },
    ]

    static let redaction = Redaction(
        redactedAt: AuditTimestamp(microsecondsSinceEpoch: 2_050_000_000_000_000), redactedBy: "dsb")

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
    @Test("the sealed log the corpus starts from verifies")
    func sealedLogVerifies() throws {
        let summary = try BrokenLog.sealed().verify().get()
        #expect(summary.treeSize == 100)
        #expect(summary.coveredSize == 100)
        #expect(summary.checkpointCount == 3)
        #expect(summary.latestCheckpoint?.time == LogFixture.checkpointTime)
    }

    @Test("each broken log is refused at the right position", arguments: BrokenLog.all)
    func brokenLogIsRefused(_ broken: BrokenLog) {
        var attempt = BrokenLog.Attempt(log: BrokenLog.sealed())
        broken.tamper(&attempt)
        let result = attempt.log.verify(key: attempt.key, start: attempt.start)
        #expect(result == .failure(broken.expected))
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
