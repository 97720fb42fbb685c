import Foundation
import Testing

@testable import AuditLog

/// The offline verifier walks the event lines of a complete export in chunks, on every core, and checks
/// them in order afterwards: the verdict, and the line it names, must be the same for every chunk size
/// and number of readers, also when the fault sits at a chunk's first or last line or between two
/// readers' runs.
@Suite("Complete exports read ahead on several cores")
struct ExportReadAheadTests {
    /// Chunk sizes (lines) and readers: one line a chunk, chunks that end right before, on and after the
    /// faults of the corpus, more readers than lines, and the default.
    static let settings: [(lines: Int, readers: Int?)] = [
        (1, 1), (1, 2), (2, 2), (3, 2), (7, 3), (11, 2), (50, 2), (51, 4), (56, 2), (57, 2), (101, 2), (2048, 8),
        (2048, nil),
    ]

    static func verify(
        _ bytes: [UInt8], checkpoints: [CheckpointRecord], key: NoteVerifierKey = LogFixture.signer.verifierKey,
        lines: Int, readers: Int?
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        var verifier = ExportVerifier(key: key)
        verifier.readAheadLines = lines
        verifier.readers = readers
        return verifier.verify(lines: ExportLines.split(bytes), checkpoints: checkpoints)
    }

    @Test("each named broken export gets the same fault at the same line for every read-ahead")
    func namedCorpus() {
        for (name, expected, make) in BrokenExportTests.named {
            let (bytes, trusted, key) = make()
            for (lines, readers) in Self.settings {
                let result = Self.verify(bytes, checkpoints: trusted, key: key, lines: lines, readers: readers)
                #expect(
                    result == .failure(expected),
                    "\(name), \(lines) lines, \(readers.map(String.init) ?? "all") readers")
            }
        }
    }

    @Test("the sound export verifies with the same summary for every read-ahead")
    func soundExport() throws {
        let expected = try ExportFixture.verify(BrokenExportTests.complete, checkpoints: BrokenExportTests.checkpoints)
            .get()
        for (lines, readers) in Self.settings {
            let summary = try Self.verify(
                BrokenExportTests.complete, checkpoints: BrokenExportTests.checkpoints, lines: lines, readers: readers
            ).get()
            #expect(summary == expected)
        }
    }

    /// Every changed byte of every event line (the first, a middle and the last, which with small chunks
    /// are a chunk's first and last line) is refused at its own line, as without the read-ahead.
    @Test("a changed byte in the first, a middle and the last event line is found at that line")
    func changedBytes() {
        let lines = ExportLines.split(BrokenExportTests.complete)
        for index in [1, 50, 51, 100] {
            for position in stride(from: 0, to: lines[index].count - 1, by: 7) {
                var changed = lines
                changed[index][position] ^= 0x01
                let bytes = changed.flatMap { $0 }
                let expected = ExportFixture.verify(bytes, checkpoints: BrokenExportTests.checkpoints)
                #expect(!expected.isSuccess, "line \(index + 1), byte \(position)")
                for (lines, readers) in [(1, 2), (3, 2), (50, 2), (51, 3)] {
                    let result = Self.verify(
                        bytes, checkpoints: BrokenExportTests.checkpoints, lines: lines, readers: readers)
                    #expect(result == expected, "line \(index + 1), byte \(position), \(lines) lines")
                }
            }
        }
    }
}
