import Dispatch
import Foundation

/// Checks a JSON Lines export (`FORMAT.md` §7) offline against checkpoints the auditor trusts and the
/// log's public key, and reports the first fault with its line.
///
/// A *complete* export is checked as the log itself is (``LogVerifier``: sequence from 0 without gaps,
/// payloads, recorded leaf hashes, the rebuilt tree against every trusted checkpoint it reaches) and
/// must end exactly at a trusted checkpoint. A *filtered* export is checked event by event: payload,
/// leaf hash, increasing sequence, and the inclusion proof against the trusted checkpoint of the
/// header's tree size. Every line must be byte for byte the canonical JSON of its content.
///
/// A CSV export (recognised by its first line) is handed to ``CSVExportVerifier``, which reads each row
/// back into its event and checks it the same way.
///
/// One pass over the lines, memory independent of their number: the lines may come from a stream.
public struct ExportVerifier: Sendable {
    /// The keys a checkpoint may be signed by: the signing key and those it replaced.
    public let keys: TrustedKeys
    public let origin: String

    /// Event lines of a complete export read ahead at a time (settable for the tests: the verdict must
    /// not depend on it).
    var readAheadLines = 2048
    /// How many walk the read-ahead lines at once: nil, one per core; 1, none besides the verifier.
    public var readers: Int?

    public init(key: NoteVerifierKey, origin: String? = nil) {
        self.init(keys: TrustedKeys(key), origin: origin)
    }

    public init(keys: TrustedKeys, origin: String? = nil) {
        self.keys = keys
        self.origin = origin ?? keys.logName
    }

    /// - Parameters:
    ///   - lines: The export's lines in order, each with its final newline (``ExportLines``).
    ///   - checkpoints: The trusted checkpoints (an outside copy), in any order: they are taken by tree
    ///     size (``CheckpointRecord/inTreeSizeOrder(_:)``).
    public func verify(
        lines: some Sequence<[UInt8]>, checkpoints given: [CheckpointRecord]
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        // Instances that share `audit.checkpoint_file` append after their commits, outside the sealer's
        // lock, so a larger note may precede a smaller one: the file's order is not the log's.
        let records = CheckpointRecord.inTreeSizeOrder(given)
        return verify(lines: lines, records: records).mapError { failure in
            // A checkpoint's fault names the note where the auditor finds it, not its place in the sorted list.
            guard case .log(let fault) = failure.problem, case .checkpoint(let index) = fault.location,
                records.indices.contains(index)
            else { return failure }
            var located = failure
            located.checkpointSource = records[index].source
            return located
        }
    }

    private func verify(
        lines: some Sequence<[UInt8]>, records: [CheckpointRecord]
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        let logVerifier = LogVerifier(keys: keys, origin: origin)
        let checkpoints: [Checkpoint]
        switch logVerifier.readCheckpoints(records) {
        case .success(let read): checkpoints = read
        case .failure(let failure): return .failure(ExportVerificationFailure(line: nil, problem: .log(failure)))
        }
        var iterator = lines.makeIterator()
        guard let firstLine = iterator.next() else {
            return .failure(ExportVerificationFailure(line: 1, problem: .missingHeader))
        }
        // A CSV export: the same checks on the events its rows show (CSVExportVerifier).
        if CSVExportLayout.isCSV(firstLine: firstLine) {
            return CSVExportVerifier(verifier: logVerifier, records: records, checkpoints: checkpoints).verify(
                firstLine: firstLine, rest: iterator
            ).map { $0.noting(laterThan: checkpoints) }
        }
        let feed = LineFeed(
            FirstThen(first: firstLine, rest: iterator), chunkSize: readAheadLines, workers: readers)
        let header: ExportHeader
        switch feed.next() {
        case .header(let read)?: header = read
        case .some: return .failure(ExportVerificationFailure(line: 1, problem: .missingHeader))
        case nil: return .failure(feed.failure ?? ExportVerificationFailure(line: 1, problem: .missingHeader))
        }
        if let problem = check(header, against: checkpoints) {
            return .failure(ExportVerificationFailure(line: 1, problem: problem))
        }
        let result: Result<ExportVerificationSummary, ExportVerificationFailure> =
            switch header.selection {
            // An export ends where the log stood when it was made; the copy of the checkpoints may have
            // grown since (all of them checked above). The events are checked against the checkpoints up
            // to the export's end, and the summary says how far the copy reaches beyond it.
            case .complete:
                verifyComplete(
                    header, feed: feed,
                    records: zip(records, checkpoints).filter { $0.1.treeSize <= header.treeSize }.map(\.0),
                    verifier: logVerifier)
            case .filtered: verifyFiltered(header, feed: feed, checkpoints: checkpoints)
            }
        guard case .success(let read) = result else { return result }
        let summary = read.noting(laterThan: checkpoints)
        // The end line must be the last line and count the events.
        guard let end = feed.end else {
            return .failure(ExportVerificationFailure(line: feed.lineNumber + 1, problem: .missingEnd))
        }
        guard end.eventCount == summary.eventCount else {
            return .failure(
                ExportVerificationFailure(
                    line: feed.lineNumber,
                    problem: .eventCountMismatch(stated: end.eventCount, found: summary.eventCount)))
        }
        if let failure = feed.failure { return .failure(failure) }
        if feed.hasMoreLines() {
            return .failure(ExportVerificationFailure(line: feed.lineNumber, problem: .contentAfterEnd))
        }
        return .success(summary)
    }

    private func check(_ header: ExportHeader, against checkpoints: [Checkpoint]) -> ExportVerificationFailure.Problem?
    {
        guard header.format == ExportHeader.currentFormat else { return .unsupportedFormat(header.format) }
        guard header.origin == origin else { return .originMismatch(header.origin) }
        guard let trusted = checkpoints.last(where: { $0.treeSize == header.treeSize }) else {
            return .noTrustedCheckpoint(treeSize: header.treeSize)
        }
        // The copy the export carries is not needed, but a wrong one must not pass unnoticed.
        if let embedded = header.checkpoint {
            guard let note = try? SignedNote(parsing: embedded), keys.verify(note) == .verified,
                let checkpoint = try? Checkpoint(noteText: note.text),
                checkpoint.treeSize == trusted.treeSize, checkpoint.rootHash == trusted.rootHash,
                checkpoint.origin == origin
            else { return .embeddedCheckpointDiffers }
        }
        return nil
    }

    private func verifyComplete(
        _ header: ExportHeader, feed: LineFeed, records: [CheckpointRecord], verifier: LogVerifier
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        let result: Result<VerificationSummary, VerificationFailure>
        switch verifier.begin(checkpoints: records) {
        case .failure(let failure): result = .failure(failure)
        case .success(var verification):
            var failure: VerificationFailure?
            // Each line the fast way when it is whole; any other line the slow way, which names the fault.
            reading: while failure == nil, let item = feed.nextEvent() {
                switch item {
                case .whole(let line): failure = verification.check(line)
                case .read(.event(let exported)):
                    guard exported.inclusionProof == nil else {
                        feed.fail(.unexpectedInclusionProof(sequence: exported.event.sequence))
                        break reading
                    }
                    failure = verification.check(exported.verifiable)
                case .read(.header):
                    feed.fail(.unexpectedHeader)
                    break reading
                case .read(.end):
                    break reading
                }
            }
            result = failure.map { .failure($0) } ?? verification.finish()
        }
        // The feed stops at the first unreadable line; the verifier had accepted everything before it.
        if let failure = feed.failure { return .failure(failure) }
        return Self.completeExport(result, treeSize: header.treeSize, endLine: feed.lineNumber) { Int($0) + 2 }
    }

    /// What ``LogVerification/finish()`` (or the first fault) says of a complete export of `treeSize`:
    /// every event of that tree, each checkpoint up to it reached. `eventLine` is where the event at a
    /// position was read, if known; `endLine` where the export ended.
    static func completeExport(
        _ result: Result<VerificationSummary, VerificationFailure>, treeSize: UInt64, endLine: Int,
        eventLine: (UInt64) -> Int?
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        switch result {
        case .failure(let failure):
            let line: Int? =
                switch failure.location {
                case .event(let position): eventLine(position)
                case .eventRange, .checkpoint: nil
                }
            return .failure(ExportVerificationFailure(line: line, problem: .log(failure)))
        case .success(let summary):
            guard summary.treeSize == treeSize else {
                return .failure(
                    ExportVerificationFailure(
                        line: endLine, problem: .treeSizeMismatch(header: treeSize, events: summary.treeSize)))
            }
            guard summary.coveredSize == summary.treeSize, let checkpoint = summary.latestCheckpoint else {
                return .failure(
                    ExportVerificationFailure(
                        line: nil, problem: .notCovered(coveredSize: summary.coveredSize, treeSize: summary.treeSize)))
            }
            return .success(
                ExportVerificationSummary(
                    selection: .complete, treeSize: summary.treeSize, eventCount: summary.treeSize - summary.startSize,
                    checkpoint: checkpoint, checkpointCount: summary.checkpointCount,
                    redactedEventCount: summary.redactedEventCount, redactions: summary.redactions,
                    erasureRecords: summary.erasureRecords))
        }
    }

    private func verifyFiltered(
        _ header: ExportHeader, feed: LineFeed, checkpoints: [Checkpoint]
    ) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        // `check(_:against:)` found it.
        var check = FilteredExportCheck(checkpoint: checkpoints.last { $0.treeSize == header.treeSize }!)
        while let line = feed.next() {
            guard case .event(let exported) = line else {
                return .failure(ExportVerificationFailure(line: feed.lineNumber, problem: .unexpectedHeader))
            }
            if let problem = check.check(exported) {
                return .failure(ExportVerificationFailure(line: feed.lineNumber, problem: problem))
            }
        }
        if let failure = feed.failure { return .failure(failure) }
        return .success(check.summary(checkpointCount: checkpoints.count))
    }
}

/// The events of a filtered export one by one, JSON Lines or CSV: each proves itself by its payload,
/// its re-encoded leaf and its inclusion proof in the trusted checkpoint's tree; their sequence numbers
/// increase.
struct FilteredExportCheck {
    let checkpoint: Checkpoint
    private var encoder = AuditEventEncoder()
    private var previous: UInt64?
    private var count: UInt64 = 0
    private var redacted: UInt64 = 0
    private var redactions: [Redaction: UInt64] = [:]

    init(checkpoint: Checkpoint) {
        self.checkpoint = checkpoint
    }

    /// The next event; the first problem ends the pass.
    mutating func check(_ exported: ExportedEvent) -> ExportVerificationFailure.Problem? {
        let sequence = exported.event.sequence
        guard sequence < checkpoint.treeSize else { return .sequenceOutsideTree(sequence: sequence) }
        if let previous, sequence <= previous {
            return .sequenceNotIncreasing(sequence: sequence, previous: previous)
        }
        switch exported.payload {
        case .present(let payload):
            guard payload.hash == exported.event.payloadHash else {
                return .log(.payloadHashMismatch(position: sequence))
            }
        case .redacted(let redaction):
            if let problem = ExportVerifier.erasureProblem(
                of: redaction, eventAt: exported.event.occurredAt, sequence: sequence, checkpoint: checkpoint)
            {
                return problem
            }
            redacted += 1
            redactions[redaction, default: 0] += 1
        }
        let leafHash = encoder.leafHash(of: exported.event)
        guard leafHash == exported.leafHash else { return .log(.leafHashMismatch(position: sequence)) }
        guard let proof = exported.inclusionProof else { return .missingInclusionProof(sequence: sequence) }
        guard
            MerkleProofVerifier.verifyInclusion(
                leafHash: leafHash, index: sequence, treeSize: checkpoint.treeSize, proof: proof,
                rootHash: checkpoint.rootHash)
        else { return .inclusionProofInvalid(sequence: sequence) }
        previous = sequence
        count += 1
        return nil
    }

    func summary(checkpointCount: Int) -> ExportVerificationSummary {
        ExportVerificationSummary(
            selection: .filtered, treeSize: checkpoint.treeSize, eventCount: count, checkpoint: checkpoint,
            checkpointCount: checkpointCount, redactedEventCount: redacted, redactions: redactions)
    }
}

extension ExportVerifier {
    /// What is wrong with an erasure marker of a filtered export, which carries no erasure record to hold
    /// it to (a complete export does: ``LogVerifier``): the marker is only text beside the event, and
    /// whoever hands over the file could put one in place of last week's payload. What the signed parts
    /// allow is checked: the erasure cannot be dated more than a day after the trusted checkpoint was
    /// signed (the export was made from a log that had it), and it cannot reach an event less than the
    /// shortest retention `audit redact` accepts (one year) older than itself.
    static func erasureProblem(
        of redaction: Redaction, eventAt occurredAt: AuditTimestamp, sequence: UInt64, checkpoint: Checkpoint
    ) -> ExportVerificationFailure.Problem? {
        if let signedAt = checkpoint.time, ErasureRecord.isDated(redaction.redactedAt, after: signedAt) {
            return .erasureUnproven(sequence: sequence, redactedAt: redaction.redactedAt)
        }
        let shortestRetention = ErasureRecord.retentionYearsRange.lowerBound
        guard
            occurredAt.microsecondsSinceEpoch
                <= redaction.redactedAt.subtractingYears(shortestRetention).microsecondsSinceEpoch + ErasureRecord.slack
        else { return .erasureUnproven(sequence: sequence, redactedAt: redaction.redactedAt) }
        return nil
    }
}

/// An iterator that gives `first`, then what `rest` gives: the line read to tell CSV from JSON Lines
/// is not lost.
private struct FirstThen<Rest: IteratorProtocol<[UInt8]>>: IteratorProtocol {
    var first: [UInt8]?
    var rest: Rest

    mutating func next() -> [UInt8]? {
        if let line = first {
            first = nil
            return line
        }
        return rest.next()
    }
}

/// What a verified export showed.
public struct ExportVerificationSummary: Sendable, Hashable {
    public var selection: ExportSelection
    /// The size of the signed tree the events belong to.
    public var treeSize: UInt64
    /// Event lines checked.
    public var eventCount: UInt64
    /// The trusted checkpoint the export was checked against.
    public var checkpoint: Checkpoint
    /// Trusted checkpoints given (each verified: signature, origin, extension of the one before).
    public var checkpointCount: Int
    public var redactedEventCount: UInt64
    /// Each erasure the export names (when and by whom; not signed, FORMAT.md §7) and its events.
    public var redactions: [Redaction: UInt64] = [:]
    /// The `payloads_redacted` events of a complete export, in order (``VerificationSummary``); empty for
    /// a filtered one, which does not check them.
    public var erasureRecords: [ErasureRecord] = []
    /// Which format was read; both are checked event by event.
    public var kind: ExportFileKind = .jsonLines
    /// The largest tree size of the trusted checkpoints when it is beyond the export's: the log had grown
    /// past what this export holds (an export made earlier, or one cut at an earlier checkpoint; the
    /// events after ``treeSize`` are not in it either way).
    public var laterCheckpointTreeSize: UInt64?

    func noting(laterThan checkpoints: [Checkpoint]) -> Self {
        var summary = self
        if let largest = checkpoints.map(\.treeSize).max(), largest > treeSize {
            summary.laterCheckpointTreeSize = largest
        }
        return summary
    }
}

/// The two export formats, as the verifier tells them apart by their first line.
public enum ExportFileKind: Sendable, Hashable {
    case jsonLines
    case csv
}

/// The first fault of an export, with its line (1-based) where there is one.
public struct ExportVerificationFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int?
    public var problem: Problem

    /// Where the faulty checkpoint's note was read (``CheckpointRecord/source``), for a checkpoint's fault.
    public var checkpointSource: String?

    public init(line: Int?, problem: Problem, checkpointSource: String? = nil) {
        self.line = line
        self.problem = problem
        self.checkpointSource = checkpointSource
    }

    public enum Problem: Sendable, Hashable {
        /// What ``LogVerifier`` found: a checkpoint, or an event of a complete export.
        case log(VerificationFailure)
        case unreadableLine(ExportLineError)
        /// The last line does not end with a newline: the export was cut off.
        case missingFinalNewline
        case missingHeader
        /// A header line after the first line.
        case unexpectedHeader
        /// An inclusion proof in a complete export, which rebuilds the tree instead.
        case unexpectedInclusionProof(sequence: UInt64)
        case unsupportedFormat(Int)
        case originMismatch(String)
        /// None of the trusted checkpoints has the export's tree size.
        case noTrustedCheckpoint(treeSize: UInt64)
        /// The checkpoint the export carries is not the trusted one of its size, or not validly signed.
        case embeddedCheckpointDiffers
        case treeSizeMismatch(header: UInt64, events: UInt64)
        case notCovered(coveredSize: UInt64, treeSize: UInt64)
        case sequenceOutsideTree(sequence: UInt64)
        case sequenceNotIncreasing(sequence: UInt64, previous: UInt64)
        case missingInclusionProof(sequence: UInt64)
        case inclusionProofInvalid(sequence: UInt64)
        /// A filtered export's event marked erased at `redactedAt`, which no erasure can have been: after
        /// the trusted checkpoint was signed, or within the shortest retention period of the event
        /// (``ExportVerifier/erasureProblem(of:eventAt:sequence:checkpoint:)``).
        case erasureUnproven(sequence: UInt64, redactedAt: AuditTimestamp)
        /// No end line: the export was cut off.
        case missingEnd
        case eventCountMismatch(stated: UInt64, found: UInt64)
        case contentAfterEnd
        /// A CSV export whose first record is not the exporter's columns.
        case csvHeader
        /// A CSV record the exporter does not write, and why.
        case csvMalformed(String)
        case csvFieldCount(expected: Int, found: Int)
        /// Rows (or the end record) of one CSV export name different tree sizes.
        case csvTreeSizeDiffers(found: UInt64, expected: UInt64)
        /// A CSV row that is not byte for byte what the exporter writes for the event it shows: a cell
        /// changed, quoted otherwise or re-formatted (as a spreadsheet does when it saves).
        case csvRowNotAsWritten
        /// The rows are those of one selection (inclusion proofs or not), the end record names the other.
        case csvSelectionDiffers(rows: ExportSelection, end: ExportSelection)
    }

    public var description: String {
        let place = line.map { "line \($0): " } ?? ""
        let text: String =
            switch problem {
            case .log(let failure): failure.description
            case .unreadableLine(let error): error.description
            case .missingFinalNewline: "the last line has no newline (the export was cut off)"
            case .missingHeader: "the export does not start with its header line"
            case .unexpectedHeader: "a second header line"
            case .unexpectedInclusionProof(let sequence):
                "event \(sequence) carries an inclusion proof, which a complete export has not"
            case .unsupportedFormat(let format): "export format \(format); this verifier knows format 1"
            case .originMismatch(let origin): "the export is of the log '\(origin)', not of the key's log"
            case .noTrustedCheckpoint(let size):
                "no trusted checkpoint has the export's tree size \(size): give the checkpoint the export was made against"
            case .embeddedCheckpointDiffers:
                "the checkpoint in the header is not the trusted checkpoint of that size signed by the key"
            case .treeSizeMismatch(let header, let events):
                "the header announces a tree of \(header) events, the export has \(events)"
            case .notCovered(let covered, let size):
                "only the first \(covered) of \(size) events match a trusted checkpoint; the rest are not covered"
            case .sequenceOutsideTree(let sequence): "event \(sequence) lies outside the exported tree"
            case .sequenceNotIncreasing(let sequence, let previous):
                "event \(sequence) follows event \(previous): lines were inserted or reordered"
            case .missingInclusionProof(let sequence): "event \(sequence) has no inclusion proof"
            case .inclusionProofInvalid(let sequence):
                "event \(sequence) is not in the signed tree (its inclusion proof fails): the event or the proof was changed"
            case .erasureUnproven(let sequence, let redactedAt):
                "event \(sequence) is marked erased on \(redactedAt.rfc3339 ?? "?"), which no erasure can have been (after the signed checkpoint, or within a year of the event): its payload was removed"
            case .missingEnd: "the export has no end line (it was cut off)"
            case .eventCountMismatch(let stated, let found):
                "the end line counts \(stated) events, the export has \(found): lines were removed or added"
            case .contentAfterEnd: "lines after the end line"
            case .csvHeader: "the CSV export does not start with the exporter's column names"
            case .csvMalformed(let reason): "not a record of a CSV export: \(reason)"
            case .csvFieldCount(let expected, let found):
                "a CSV row has \(found) cells instead of \(expected) (the export was cut off or changed)"
            case .csvTreeSizeDiffers(let found, let expected):
                "tree size \(found), where the export's rows name \(expected)"
            case .csvRowNotAsWritten:
                "the row is not as the exporter writes the event it shows: a cell was changed, quoted otherwise or re-formatted (a spreadsheet that saved the file does this)"
            case .csvSelectionDiffers(let rows, let end):
                "the rows are those of a \(rows.rawValue) export, the end record says \(end.rawValue)"
            }
        return place + text + (checkpointSource.map { " (\($0))" } ?? "")
    }
}

/// Splitting an export into lines that keep their newline, as ``ExportVerifier`` takes them.
public enum ExportLines {
    public static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            lines.append(Array(bytes[start...index]))
            start = index + 1
        }
        if start < bytes.count { lines.append(Array(bytes[start...])) }
        return lines
    }
}

/// Reads and decodes lines one at a time, remembering the first fault and the end line.
///
/// The event lines of a complete export are read ahead in chunks and each line of a chunk is walked by
/// ``CanonicalEventLineReader`` on every core (``wholeLines(_:)``): a line's reading depends on nothing
/// but its bytes. The lines are then served, and checked, one by one in their order exactly as without
/// the read-ahead; only the tree and the sequence are sequential.
private final class LineFeed {
    private var iterator: any IteratorProtocol<[UInt8]>
    private(set) var lineNumber = 0
    private(set) var failure: ExportVerificationFailure?
    private(set) var end: ExportEnd?
    /// Rewrites each line to compare it with its canonical form; kept to reuse its buffer.
    private var writer = ExportJSONWriter()
    /// Lines read ahead, not yet served, with what the fast path found in each (nil: not whole).
    private var ahead: [[UInt8]] = []
    private var aheadWhole: [CanonicalEventLine?] = []
    private var aheadIndex = 0
    /// Lines per chunk of the read-ahead, and how many walk them at once.
    private let chunkSize: Int
    private let workers: Int

    init(_ iterator: some IteratorProtocol<[UInt8]>, chunkSize: Int = 2048, workers: Int? = nil) {
        self.iterator = iterator
        self.chunkSize = max(chunkSize, 1)
        self.workers = max(workers ?? ProcessInfo.processInfo.activeProcessorCount, 1)
    }

    /// The next line: first those read ahead.
    private func nextLine() -> [UInt8]? {
        if aheadIndex < ahead.count {
            defer { aheadIndex += 1 }
            return ahead[aheadIndex]
        }
        return iterator.next()
    }

    /// The next header or event line; nil at the end line, at the end of input, or at a fault.
    func next() -> ExportLine? {
        guard failure == nil, end == nil, let bytes = nextLine() else { return nil }
        lineNumber += 1
        guard bytes.last == UInt8(ascii: "\n") else {
            failure = ExportVerificationFailure(line: lineNumber, problem: .missingFinalNewline)
            return nil
        }
        return decode(bytes)
    }

    /// A line with its newline, the slow way: parsed, then compared with its canonical form.
    private func decode(_ line: [UInt8]) -> ExportLine? {
        var bytes = line
        bytes.removeLast()
        do throws(ExportLineError) {
            let line = try ExportLine.decode(bytes, writer: &writer)
            if case .end(let read) = line {
                end = read
                return nil
            }
            return line
        } catch {
            failure = ExportVerificationFailure(line: lineNumber, problem: .unreadableLine(error))
            return nil
        }
    }

    enum EventItem {
        /// Read whole by the fast path.
        case whole(CanonicalEventLine)
        /// Read by the slow path (``ExportLine/decode(_:writer:)``).
        case read(ExportLine)
    }

    /// ``next()`` for the events of a complete export: a line the fast path finds whole is not decoded
    /// again.
    func nextEvent() -> EventItem? {
        guard failure == nil, end == nil else { return nil }
        if aheadIndex == ahead.count { readAhead() }
        guard aheadIndex < ahead.count else { return nil }
        let bytes = ahead[aheadIndex]
        let whole = aheadWhole[aheadIndex]
        aheadIndex += 1
        lineNumber += 1
        guard bytes.last == UInt8(ascii: "\n") else {
            failure = ExportVerificationFailure(line: lineNumber, problem: .missingFinalNewline)
            return nil
        }
        if let whole { return .whole(whole) }
        return decode(bytes).map { .read($0) }
    }

    /// The next chunk of lines, each walked by the fast path.
    private func readAhead() {
        ahead.removeAll(keepingCapacity: true)
        aheadIndex = 0
        while ahead.count < chunkSize, let line = iterator.next() { ahead.append(line) }
        aheadWhole = Self.wholeLines(ahead, workers: workers)
    }

    /// What ``CanonicalEventLineReader`` finds in each line that ends with its newline (read without
    /// it), the lines split into `workers` runs walked at once, each with its own reader.
    static func wholeLines(_ lines: [[UInt8]], workers: Int) -> [CanonicalEventLine?] {
        var results = [CanonicalEventLine?](repeating: nil, count: lines.count)
        let runs = min(workers, lines.count)
        results.withUnsafeMutableBufferPointer { buffer in
            guard runs > 1 else { return read(lines, lines.indices, into: DisjointWrites(buffer: buffer)) }
            let shared = DisjointWrites(buffer: buffer)
            DispatchQueue.concurrentPerform(iterations: runs) { run in
                read(lines, lines.count * run / runs..<lines.count * (run + 1) / runs, into: shared)
            }
        }
        return results
    }

    /// The fast path over `lines[range]`, with a reader of its own.
    @Sendable private static func read(_ lines: [[UInt8]], _ range: Range<Int>, into results: DisjointWrites) {
        var reader = CanonicalEventLineReader()
        for index in range {
            let line = lines[index]
            guard line.last == UInt8(ascii: "\n") else { continue }
            results.buffer[index] = line.withUnsafeBufferPointer {
                reader.read(UnsafeBufferPointer(rebasing: $0.dropLast()))
            }
        }
    }

    /// The results of ``wholeLines(_:workers:)``, shared by its runs. Unchecked, and safe: each run
    /// writes only the indices of its own range, the ranges do not overlap, nobody reads before
    /// `concurrentPerform` returns (when every run has ended), and the buffer outlives the call.
    private struct DisjointWrites: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<CanonicalEventLine?>
    }

    /// Records a fault found by the consumer of the lines.
    func fail(_ problem: ExportVerificationFailure.Problem) {
        failure = ExportVerificationFailure(line: lineNumber, problem: problem)
    }

    func hasMoreLines() -> Bool {
        guard nextLine() != nil else { return false }
        lineNumber += 1
        return true
    }
}

extension CheckpointRecord {
    /// The tree size the note's text states (its second line), without checking anything else: nil when
    /// there is none to read.
    public var statedTreeSize: UInt64? {
        let lines = signedNote.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        return lines.count >= 2 ? UInt64(lines[1]) : nil
    }

    /// `records` by the tree size each states, stable (notes of one size keep their order, so a fork, two
    /// roots of one size, still fails), each identical note once. A note whose size cannot be read comes
    /// first, where the check of the checkpoints refuses it.
    public static func inTreeSizeOrder(_ records: [CheckpointRecord]) -> [CheckpointRecord] {
        var seen: Set<String> = []
        let distinct = records.filter { seen.insert($0.signedNote).inserted }
        return distinct.enumerated()
            .map {
                (
                    readable: $0.element.statedTreeSize == nil ? 0 : 1, size: $0.element.statedTreeSize ?? 0,
                    index: $0.offset, record: $0.element
                )
            }
            .sorted { ($0.readable, $0.size, $0.index) < ($1.readable, $1.size, $1.index) }
            .map(\.record)
    }
}

/// A file of checkpoints as the sealer appends them (`audit.checkpoint_file`): signed notes, each
/// followed by an empty line.
public enum CheckpointFile {
    /// The notes in the file, in order, each as it was signed (text, empty line, signature lines).
    public static func notes(in text: String) -> [String] {
        numberedNotes(in: text).map(\.note)
    }

    /// ``notes(in:)``, each with the number of its first line in `text` (from 1).
    public static func numberedNotes(in text: String) -> [(line: Int, note: String)] {
        var notes: [(line: Int, note: String)] = []
        var current: [Substring] = []
        var start = 1
        var inSignatures = false
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty {
                if inSignatures {
                    notes.append((start, current.map { $0 + "\n" }.joined()))
                    current = []
                    inSignatures = false
                } else if !current.isEmpty {
                    current.append(line)
                    inSignatures = true
                }
                continue
            }
            if current.isEmpty { start = index + 1 }
            current.append(line)
        }
        if !current.isEmpty { notes.append((start, current.map { $0 + "\n" }.joined())) }
        return notes
    }

    /// The whole notes in a piece of the file that may begin anywhere inside a note (the sealer reads
    /// only the file's tail). Whatever precedes the first note boundary — an empty line followed by a
    /// line that is not a signature (`— `) — is a cut note and is dropped; counting empty lines from
    /// an arbitrary start would pair every later note's text with the next one's signatures.
    public static func notes(inTail tail: String) -> [String] {
        var rest = Substring(tail)
        while let blank = rest.range(of: "\n\n") {
            let next = rest[blank.upperBound...]
            if !next.hasPrefix(SignedNote.signaturePrefix) { return notes(in: String(next)) }
            rest = next
        }
        return []
    }
}
