import AuditLog
import Testing

@Suite("Signed notes, keys and checkpoints") struct NoteTests {
    // The example of Go's golang.org/x/mod/sumdb/note documentation: key, text and the exact note.
    static let goSignerKey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let goVerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let goText =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let goNote =
        goText
        + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    @Test("signing the reference text with the reference key gives the reference note, byte for byte")
    func goKnownAnswer() throws {
        let signer = try NoteSigner(privateKeyFile: Self.goSignerKey)
        #expect(signer.keyName == "PeterNeumann")
        #expect(signer.keyID == 0xc74f_20a3)
        #expect(signer.verifierKey.vkey == Self.goVerifierKey)
        #expect(try signer.sign(text: Self.goText).serialized == Self.goNote)
        #expect(signer.privateKeyFileContents == Self.goSignerKey + "\n")
        let key = try NoteVerifierKey(parsing: Self.goVerifierKey)
        #expect(key.verify(try SignedNote(parsing: Self.goNote)) == .verified)
    }

    @Test("the signed-note spec's example verifies with its vkey")
    func c2spExample() throws {
        let key = try NoteVerifierKey(parsing: "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
        let note = try SignedNote(
            parsing: "This is an example message.\n\n\u{2014} example.com/foo "
                + "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
        #expect(note.text == "This is an example message.\n")
        #expect(key.verify(note) == .verified)
        var changed = note
        changed.text = "This is an example massage.\n"
        #expect(key.verify(changed) == .invalidSignature)
    }

    @Test("a generated key survives its files and signs what the other half verifies")
    func generatedKeyRoundTrip() throws {
        let signer = try NoteSigner.generate(keyName: "freigabe.stadt.example/audit")
        let restored = try NoteSigner(privateKeyFile: signer.privateKeyFileContents)
        #expect(restored.verifierKey == signer.verifierKey)
        let key = try NoteVerifierKey(parsing: signer.verifierKey.vkey + "\n")
        let checkpoint = Checkpoint(
            origin: signer.keyName, treeSize: 3, rootHash: MerkleHashing.emptyRoot,
            time: AuditTimestamp(microsecondsSinceEpoch: 0))
        let note = try SignedNote(parsing: try restored.sign(checkpoint).serialized)
        #expect(key.verify(note) == .verified)
        #expect(try Checkpoint(noteText: note.text) == checkpoint)
        let other = try NoteSigner.generate(keyName: "freigabe.stadt.example/audit")
        #expect(other.verifierKey.verify(note) == .noSignatureFromKey)
        #expect(throws: NoteKeyError.invalidKeyName) { try NoteSigner.generate(keyName: "with space") }
        #expect(throws: NoteKeyError.invalidKeyName) { try NoteSigner.generate(keyName: "a+b") }
    }

    @Test("every truncation and every changed byte of a key string is refused")
    func mangledKeys() {
        for key in [Self.goVerifierKey, Self.goSignerKey] {
            let bytes = Array(key.utf8)
            let parse: (String) -> Bool = { text in
                key == Self.goVerifierKey
                    ? (try? NoteVerifierKey(parsing: text)) != nil : (try? NoteSigner(privateKeyFile: text)) != nil
            }
            #expect(parse(key))
            for start in 0..<bytes.count {
                for end in (start + 1)...bytes.count where start != 0 || end != bytes.count {
                    let part = String(decoding: bytes[start..<end], as: UTF8.self)
                    #expect(!parse(part), "accepted \(part)")
                }
            }
            for index in bytes.indices {
                var changed = bytes
                changed[index] &+= 1
                let text = String(decoding: changed, as: UTF8.self)
                #expect(!parse(text), "accepted \(text)")
            }
        }
    }

    @Test("malformed notes are refused with the reason")
    func malformedNotes() {
        let cases: [(String, NoteFormatError)] = [
            ("text\n", .missingSignatureBlock),
            ("text\n\n", .missingSignatureBlock),
            ("text\n\n\u{2014} name AAAAAA==\n", .malformedSignatureLine),  // only a key ID, no signature
            ("text\n\n- name AAAAAAAAAA==\n", .malformedSignatureLine),
            ("text\n\n\u{2014} name AAAAAAAAAA==", .missingFinalNewline),
            ("te\u{7}xt\n\n\u{2014} name AAAAAAAAAA==\n", .controlCharacter),
            ("\n\n\u{2014} name AAAAAAAAAA==\n", .emptyText),
        ]
        for (text, error) in cases {
            #expect(throws: error, "\(text)") { try SignedNote(parsing: text) }
        }
        let many = "text\n\n" + String(repeating: "\u{2014} name AAAAAAAAAA==\n", count: 17)
        #expect(throws: NoteFormatError.tooManySignatures) { try SignedNote(parsing: many) }
        // The text may contain empty lines: the last empty line separates the signatures.
        let withBlankLine = "a\n\nb\n\n\u{2014} name AAAAAAAAAA==\n"
        #expect((try? SignedNote(parsing: withBlankLine))?.text == "a\n\nb\n")
    }

    @Test("checkpoint texts parse strictly")
    func checkpointText() throws {
        let root = MerkleHashing.emptyRoot.base64
        let parsed = try Checkpoint(
            noteText: "example.com/log\n20852163\n\(root)\ntime 2025-06-01T12:00:00.000000Z\nx\n")
        #expect(parsed.treeSize == 20_852_163)
        #expect(parsed.time == AuditTimestamp(rfc3339: "2025-06-01T12:00:00.000000Z"))
        #expect(parsed.extensionLines == ["time 2025-06-01T12:00:00.000000Z", "x"])
        #expect(try Checkpoint(noteText: "o\n0\n\(root)\n").treeSize == 0)
        let cases: [(String, CheckpointFormatError)] = [
            ("o\n01\n\(root)\n", .invalidTreeSize),
            ("o\n-1\n\(root)\n", .invalidTreeSize),
            ("o\n\n\(root)\n", .invalidTreeSize),
            ("o\n18446744073709551616\n\(root)\n", .invalidTreeSize),
            ("o\n1\nV3JvbmdSb290\n", .invalidRootHash),
            ("o\n1\n", .tooFewLines),
            ("\n1\n\(root)\n", .emptyOrigin),
            ("o\n1\n\(root)\n\nx\n", .emptyExtensionLine),
            ("o\n1\n\(root)", .missingFinalNewline),
        ]
        for (text, error) in cases {
            #expect(throws: error, "\(text)") { try Checkpoint(noteText: text) }
        }
    }
}
