import Foundation
import Logging
import ServiceLifecycle

/// Fires due reminders, escalations and expiries. Every instance runs one; the store claims each timer
/// with `FOR UPDATE SKIP LOCKED`, so several instances never fire the same timer twice.
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

    func run() async throws {
        // Ends on graceful shutdown: the sleep is cancelled and the loop checks for it.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let fired = try await requests.fireDueTimers(now: now(), logger: logger)
                    if fired > 0 { logger.info("Timers fired", metadata: ["timers.fired": "\(fired)"]) }
                } catch {
                    // Shutting down cancels the round in flight: that is no failure worth an error line.
                    if Task.isCancelled { return }
                    // A database outage must not stop the timers for good; the next round retries.
                    logger.error("Firing timers failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
