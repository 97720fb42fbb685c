import Foundation
import Logging
import ServiceLifecycle
import Synchronization

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
    /// Whether the last signed checkpoint reached `audit.checkpoint_file`, for `/ready`.
    var outsideCopy: OutsideCopyStatus?
    /// What the rounds last said of a round that sealed nothing on purpose (a newer release seals, the
    /// history differs from the outside copy): said once, not every second until it changes.
    private let lastSaid = LastText()
    /// Rounds that failed in a row: the pause grows with them (``Rounds/pause(afterFailures:interval:)``),
    /// and only the first is an error in the log, so an hour without a database is one line, not 3,600.
    private let failures = FailedRounds()
    /// The kind of the streak's last failure.
    private let lastFailure = LastText()

    func run() async throws {
        // Ends on graceful shutdown after the batch in flight (``Rounds``).
        while Rounds.goOn {
            // A full batch may leave more: go on at once.
            if await round() { continue }
            if Task.isCancelled { return }
            await Rounds.pause(Rounds.pause(afterFailures: failures.count, interval: interval))
        }
    }

    /// One batch; true when it was full, so more may be waiting.
    func round() async -> Bool {
        do {
            let sealed = try await sealer.sealBatch(now: Date(), logger: logger)
            resumed()
            guard let batch = sealed else { return false }
            lastSaid.clear()
            if batch.outsideCopyFailed { metrics?.auditSealFailure(.checkpointFile) }
            if batch.wroteCheckpoint { outsideCopy?.record(failed: batch.outsideCopyFailed, at: Date()) }
            return batch.sealed >= AuditSealer.batchSize
        } catch let newer as AuditSealer.NewerRelease {
            // Not a failure: the newer instances seal. Said once, not every second until this one stops.
            if lastSaid.changed(to: newer.description) {
                logger.warning("Sealing left to a newer release", metadata: ["error": "\(newer)"])
            }
            return false
        } catch {
            if Task.isCancelled { return false }
            switch error {
            case let refusal as AuditSealer.HistoryRewritten:
                metrics?.auditSealFailure(.historyDiffers)
                // Critical once per refusal, not every second until an operator has acted: the metric
                // counts the rounds, `/ready` says `sealing_stalled`.
                if lastSaid.changed(to: refusal.description) {
                    logger.critical("\(refusal.headline)", metadata: refusal.metadata)
                }
                return false
            case let missing as AuditSealer.OutsideCopyMissing:
                // Not a fault that passes: an operator must bring the file back or begin a new one.
                metrics?.auditSealFailure(.checkpointFile)
                outsideCopy?.record(failed: true, at: Date())
                if lastSaid.changed(to: missing.description) {
                    logger.critical(
                        "refusing to seal: the outside copy of the checkpoints is missing",
                        metadata: ["error": "\(missing)"])
                }
                return false
            case is CheckpointFileUnusable:
                // Its tail could not be read to check the batch against: the outside copy has gone dark.
                metrics?.auditSealFailure(.checkpointFile)
                outsideCopy?.record(failed: true, at: Date())
            default:
                metrics?.auditSealFailure(.error)
            }
            // The events wait in the table; the next round seals them. The metric counts every round.
            let metadata: Logger.Metadata = ["error": "\(String(reflecting: error))"]
            failures.add()
            // An error line for the first failure and for each other kind of failure within the streak (the
            // database came back, but now the disk of the checkpoint file is full).
            if lastFailure.changed(to: String(describing: type(of: error))) {
                logger.error(
                    "Sealing the decision log failed; trying again less often until it works", metadata: metadata)
            } else {
                logger.debug("Sealing the decision log failed again", metadata: metadata)
            }
            return false
        }
    }

    /// A round worked: after failed ones, says so once.
    private func resumed() {
        let failed = failures.reset()
        lastFailure.clear()
        if failed > 0 {
            logger.notice("Sealing the decision log works again", metadata: ["failed_rounds": "\(failed)"])
        }
    }
}

/// Whether this instance's signed checkpoints reach `audit.checkpoint_file`, the copy that reveals a
/// rewritten history: set by the sealing rounds, reported by `/api/v1/ready` (`audit_checkpoint_file`),
/// so that an operator who only looks there learns that the outside copy has gone dark (a full disk, a
/// lost mount) while the database's own checks still hold.
final class OutsideCopyStatus: Sendable {
    private let failingSince = Mutex<Date?>(nil)

    /// A checkpoint was appended (`failed` false) or could not be; the first failure of a run is kept.
    func record(failed: Bool, at now: Date) {
        failingSince.withLock { since in since = failed ? (since ?? now) : nil }
    }

    /// Since when appending fails; nil while the last checkpoint reached the file.
    var failing: Date? { failingSince.withLock { $0 } }
}

/// The last text told, to tell a text once until another comes: `changed(to:)` is true when it differs
/// from the one before (or ``clear()`` came in between).
final class LastText: Sendable {
    private let last = Mutex<String?>(nil)

    func changed(to text: String) -> Bool {
        last.withLock { last in
            defer { last = text }
            return last != text
        }
    }

    func clear() {
        last.withLock { $0 = nil }
    }
}
