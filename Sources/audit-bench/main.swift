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
        fields: ["actor_name": "Erika Mustermann", "comment": "Freigabe nach Prüfung, Schritt \(sequence)"])
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
