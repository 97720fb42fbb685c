import Foundation
import Logging
import ServiceLifecycle

/// Seals the decision log every `interval` (``AuditSealer``): new audit events get their place in the
/// Merkle tree and a signed checkpoint, usually within a second of their commit. Every instance runs
/// one; an advisory lock lets one seal at a time, the others skip the round.
struct AuditSealService: Service {
    let sealer: AuditSealer
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Ends on graceful shutdown after the batch in flight (``Rounds``).
        while Rounds.goOn {
            do {
                // A full batch may leave more: go on at once.
                if let batch = try await sealer.sealBatch(now: Date(), logger: logger),
                    batch.sealed >= AuditSealer.batchSize
                {
                    continue
                }
            } catch {
                if Task.isCancelled { return }
                // The events wait in the table; the next round seals them.
                logger.error("Sealing the decision log failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            await Rounds.pause(interval)
        }
    }
}
