import AuditLog
import Foundation
import Testing

/// A city rotates the checkpoint signing key: a new key under the log's name signs from then on, and the
/// checkpoints before stay signed by the old one. Auditors trust both (``TrustedKeys``), nothing else.
@Suite("Key rotation: checkpoints of the old and the new key")
struct KeyRotationTests {
    static let rotated = try! NoteSigner(keyName: LogFixture.origin, seed: Array(repeating: 11, count: 32))

    /// 50 events, checkpoints at 10, 20, 30 by the old key, at 40 and 50 by the new one.
    static func rotatedLog() -> LogFixture {
        var fixture = LogFixture.make(count: 50, checkpointSizes: [10, 20, 30])
        let after = LogFixture.signedCheckpoints(over: fixture.events, sizes: [30, 40, 50], signer: rotated)
        fixture.checkpoints += after.dropFirst()
        return fixture
    }

    @Test("the log verifies with both keys; with either alone it fails at the first checkpoint of the other")
    func bothKeys() throws {
        let log = Self.rotatedLog()
        let both = try TrustedKeys([LogFixture.signer.verifierKey, Self.rotated.verifierKey])
        let summary = try LogVerifier(keys: both).verify(events: log.events, checkpoints: log.checkpoints).get()
        #expect(summary.checkpointCount == 5 && summary.coveredSize == 50)
        #expect(log.verify() == .failure(.checkpointNotSignedByKey(checkpoint: 3)))
        #expect(log.verify(key: Self.rotated.verifierKey) == .failure(.checkpointNotSignedByKey(checkpoint: 0)))
        // The attacker's key under the same name is still nobody's.
        let withAttacker = try TrustedKeys([LogFixture.signer.verifierKey, LogFixture.attacker.verifierKey])
        #expect(
            LogVerifier(keys: withAttacker).verify(events: log.events, checkpoints: log.checkpoints)
                == .failure(.checkpointNotSignedByKey(checkpoint: 3)))
    }

    @Test("a note changed after the old key signed it fails, whichever key is trusted beside it")
    func forgedUnderTheOldKey() throws {
        let note = try #require(LogFixture.make(count: 10, checkpointSizes: [10]).checkpoints.first).signedNote
        let changed = note.replacingOccurrences(of: "\n10\n", with: "\n11\n")
        #expect(changed != note)
        let both = try TrustedKeys([Self.rotated.verifierKey, LogFixture.signer.verifierKey])
        #expect(both.verify(try SignedNote(parsing: changed)) == .invalidSignature)
        #expect(both.verify(try SignedNote(parsing: note)) == .verified)
    }

    @Test("a key file: one key per line, comments and empty lines skipped; none, or another log's, refused")
    func keyFiles() throws {
        let old = LogFixture.signer.verifierKey.vkey
        let new = Self.rotated.verifierKey.vkey
        let keys = try TrustedKeys(parsing: "# ersetzt am 4. Dezember 2026\n\(old)\n\n  \(new)  \n\(old)\n")
        #expect(keys.keys == [LogFixture.signer.verifierKey, Self.rotated.verifierKey], "each once")
        #expect(keys.logName == LogFixture.origin)
        #expect(throws: NoteKeyError.noKey) { try TrustedKeys(parsing: "# nur ein Kommentar\n\n") }
        let elsewhere = try NoteSigner(keyName: "elsewhere.example/log", seed: Array(repeating: 5, count: 32))
        #expect(throws: NoteKeyError.differentLogNames) {
            try TrustedKeys(parsing: "\(old)\n\(elsewhere.verifierKey.vkey)\n")
        }
        #expect(throws: NoteKeyError.malformedKey) { try TrustedKeys(parsing: "\(old)\nkein Schlüssel\n") }
    }
}
