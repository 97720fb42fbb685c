// Measures how many events per second `LogVerifier` checks on one core: the issue's goal is
// 500,000/s. Run with `swift run -c release audit-bench [event count]`; the log (payloads present,
// recorded leaf hashes, a checkpoint every 10,000 events) is built first and not timed.
import AuditLog
import Foundation

let count = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1_000_000
let signer = try NoteSigner(keyName: "bench.freigabe/audit", seed: Array(repeating: 1, count: 32))

var events: [VerifiableEvent] = []
events.reserveCapacity(count)
var frontier = MerkleFrontier()
var checkpoints: [CheckpointRecord] = []
let start = AuditTimestamp(Date())
for sequence in 0..<UInt64(count) {
    let payload = AuditPayload(
        salt: AuditPayload.generateSalt(),
        // As the server's payloads: `details` is stored JSON, so every line has escaped quotes.
        fields: [
            "actor_name": "Erika Mustermann", "comment": "Freigabe nach Prüfung, Schritt \(sequence)",
            "details": "{\"request_number\": \"FG-2026-\(sequence / 6)\"}",
        ])
    let event = AuditEvent(
        sequence: sequence, id: UUID(), occurredAt: AuditTimestamp(microsecondsSinceEpoch: Int64(sequence) * 1000),
        type: "approved", requestID: UUID(), actor: "user\(sequence % 97)", capacity: "principal",
        role: "data_owner", step: "owner", decision: "approved", datasetID: "ds-\(sequence % 1000)",
        workflow: WorkflowReference(id: "shared-data", version: 3), state: "in_review", payloadHash: payload.hash)
    let leafHash = event.leafHash
    events.append(VerifiableEvent(event: event, payload: .present(payload), recordedLeafHash: leafHash))
    frontier.append(leafHash: leafHash)
    if frontier.size % 10_000 == 0 || frontier.size == UInt64(count) {
        let checkpoint = Checkpoint(
            origin: signer.keyName, treeSize: frontier.size, rootHash: frontier.rootHash, time: start)
        checkpoints.append(CheckpointRecord(signedNote: try signer.sign(checkpoint).serialized))
    }
}

let verifier = LogVerifier(key: signer.verifierKey)
let clock = ContinuousClock()
var best = Duration.seconds(1_000)
for _ in 0..<3 {
    let elapsed = clock.measure {
        guard case .success(let summary) = verifier.verify(events: events, checkpoints: checkpoints),
            summary.coveredSize == UInt64(count)
        else { fatalError("the benchmark log does not verify") }
    }
    best = min(best, elapsed)
}
let seconds = Double(best.components.seconds) + Double(best.components.attoseconds) / 1e18
print(
    "verified \(count) events with \(checkpoints.count) checkpoints in \(String(format: "%.3f", seconds)) s (best of 3)"
)
print("\(Int(Double(count) / seconds)) events/s")

// The export's two hot loops without the database (the issue's goal: 200,000 rows/s for the export,
// 500,000 events/s for the verification): the hand-written JSON Lines writer, then
// `ExportVerifier` over the written lines (parse, canonical check, payloads, leaf hashes, tree).
// The first 200,000 events at most, so that the lines fit in memory.
let exported = min(count, 200_000) / 10_000 * 10_000
if exported > 0 {
    let trusted = [checkpoints[exported / 10_000 - 1]]
    var lines: [[UInt8]] = []
    lines.reserveCapacity(exported + 2)
    var writer = ExportJSONWriter()
    let writing = try clock.measure {
        try writer.writeLine(
            .header(
                ExportHeader(
                    origin: signer.keyName, treeSize: UInt64(exported), selection: .complete,
                    checkpoint: trusted[0].signedNote)))
        lines.append(writer.bytes)
        for verifiable in events.prefix(exported) {
            writer.reset()
            try writer.writeLine(
                .event(
                    ExportedEvent(
                        event: verifiable.event, payload: verifiable.payload,
                        leafHash: verifiable.recordedLeafHash!)))
            lines.append(writer.bytes)
        }
        writer.reset()
        try writer.writeLine(.end(ExportEnd(eventCount: UInt64(exported))))
        lines.append(writer.bytes)
    }
    let bytes = lines.reduce(0) { $0 + $1.count }
    let exportVerifier = ExportVerifier(key: signer.verifierKey)
    let reading = clock.measure {
        guard case .success(let summary) = exportVerifier.verify(lines: lines, checkpoints: trusted),
            summary.eventCount == UInt64(exported)
        else { fatalError("the benchmark export does not verify") }
    }
    func perSecond(_ duration: Duration) -> Int {
        Int(Double(exported) / (Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18))
    }
    print("export lines written: \(exported) events, \(bytes / 1_000_000) MB, \(perSecond(writing)) events/s")
    print("export verified offline (parse, canonical check, hashes, tree): \(perSecond(reading)) events/s")
}
