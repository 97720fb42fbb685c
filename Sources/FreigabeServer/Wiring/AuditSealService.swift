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
    /// Counts what went wrong (`freigabe_audit_seal_failures_total`), so that an alert fires before
    /// `/ready`'s `sealing_stalled` grace has passed.
    var metrics: AppMetrics?

    func run() async throws {
        // Ends on graceful shutdown after the batch in flight (``Rounds``).
        while Rounds.goOn {
            // A full batch may leave more: go on at once.
            if await round() { continue }
            if Task.isCancelled { return }
            await Rounds.pause(interval)
        }
    }

    /// One batch; true when it was full, so more may be waiting.
    func round() async -> Bool {
        do {
            guard let batch = try await sealer.sealBatch(now: Date(), logger: logger) else { return false }
            if batch.outsideCopyFailed { metrics?.auditSealFailure(.checkpointFile) }
            return batch.sealed >= AuditSealer.batchSize
        } catch {
            if Task.isCancelled { return false }
            metrics?.auditSealFailure(error is AuditSealer.HistoryRewritten ? .historyDiffers : .error)
            // The events wait in the table; the next round seals them.
            logger.error("Sealing the decision log failed", metadata: ["error": "\(String(reflecting: error))"])
            return false
        }
    }
}
