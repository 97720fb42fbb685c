import Logging
import ServiceLifecycle
import Synchronization

/// How the background services that work in rounds (mail, webhooks, timers, sealing) stop: at a
/// graceful shutdown (SIGTERM) the round in flight finishes — its mail recorded as sent, its timers as
/// fired, its batch sealed — and the service ends at its next pause. Cancelling the round instead left
/// its rows claimed until their lease ran out (five minutes for mail), and then sent them again: a second
/// mail to the people the first had reached, for receivers that do not drop duplicate Message-IDs.
enum Rounds {
    /// Whether another round may start: neither cancelled nor shutting down.
    static var goOn: Bool { !Task.isCancelled && !Task.isShuttingDownGracefully }

    /// Sleeps `duration`, or less when a graceful shutdown begins.
    static func pause(_ duration: Duration) async {
        await cancelWhenGracefulShutdown { try? await Task.sleep(for: duration) }
    }

    /// The pause after `failures` failed rounds in a row: `interval` while all is well, then doubling from
    /// 2 s up to 30 s, so that a database that is down is asked a few times a minute, not every second.
    static func pause(afterFailures failures: Int, interval: Duration) -> Duration {
        guard failures > 0 else { return interval }
        return max(interval, .seconds(min(1 << min(failures, 5), 30)))
    }

    /// Housekeeping: `round` now and then every `interval` until shutdown. A failed round is logged at
    /// warning level as `failure` and tried again at the next (the database may be back by then).
    static func repeating(
        every interval: Duration, logger: Logger, failure: Logger.Message, _ round: () async throws -> Void
    ) async {
        while goOn {
            do {
                try await round()
            } catch {
                if !goOn { return }
                logger.warning(failure, metadata: ["error": "\(String(reflecting: error))"])
            }
            await pause(interval)
        }
    }
}

/// Rounds of a service that failed in a row (``Rounds/pause(afterFailures:interval:)``).
final class FailedRounds: Sendable {
    private let failures = Mutex(0)

    var count: Int { failures.withLock { $0 } }

    /// One more failed round.
    func add() {
        failures.withLock { $0 += 1 }
    }

    /// A round worked; the failed rounds before it.
    func reset() -> Int {
        failures.withLock { count in
            defer { count = 0 }
            return count
        }
    }
}

extension Doorbell {
    /// ``wait(atMost:)``, ended early by a graceful shutdown (between rounds is where a service stops).
    func waitUnlessShuttingDown(atMost timeout: Duration) async {
        await cancelWhenGracefulShutdown { await self.wait(atMost: timeout) }
    }
}
