import Foundation
import Logging
import ServiceLifecycle

/// Fires due reminders, escalations and expiries. Every instance runs one; the store claims each timer
/// with `FOR UPDATE SKIP LOCKED`, so several instances never fire the same timer twice. A timer that
/// fails is retried by the store after a back-off and does not hold up the others; only a database that
/// cannot be reached ends a round early (the next round retries).
struct TimerService: Service {
    let requests: RequestService
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    init(
        requests: RequestService, interval: Duration = .seconds(30), logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.requests = requests
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    /// Timers per round at most; a full round is followed by the next at once.
    static let roundSize = 100

    func run() async throws {
        // Ends on graceful shutdown after the round in flight (``Rounds``).
        while Rounds.goOn {
            do {
                let report = try await requests.fireDueTimerRound(now: now(), limit: Self.roundSize, logger: logger)
                if report.failed > 0 {
                    logger.warning(
                        "Some timers failed and will be retried",
                        metadata: [
                            "timers.fired": "\(report.fired)", "timers.failed": "\(report.failed)",
                            "timers.conflicts": "\(report.conflicts)",
                        ])
                } else if report.fired > 0 {
                    logger.info("Timers fired", metadata: ["timers.fired": "\(report.fired)"])
                }
                // A full round may leave more due timers: go on at once instead of sleeping.
                if report.handled >= Self.roundSize { continue }
            } catch {
                // A cancellation cuts the round in flight short: that is no failure worth an error line.
                if Task.isCancelled { return }
                // A database outage must not stop the timers for good; the next round retries.
                logger.error("Firing timers failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            await Rounds.pause(interval)
        }
    }
}
