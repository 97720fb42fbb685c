import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Sends the outbox's mail. Every instance runs one; rows are claimed with `FOR UPDATE SKIP LOCKED`
/// under a lease, so instances share the work and each row goes out once.
///
/// Woken by `LISTEN freigabe_outbox` (the trigger of migration 5 notifies on every commit that wrote
/// outbox rows), so mail leaves within a second of the decision; besides that it looks every
/// ``MailSettings/pollInterval`` and when the earliest scheduled retry is due. The listening connection
/// is one of the pool's, held for as long as the service runs; when it breaks it is taken again.
struct OutboxDispatcherService: Service {
    let dispatcher: OutboxDispatcher
    let logger: Logger
    let now: @Sendable () -> Date

    init(dispatcher: OutboxDispatcher, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) {
        self.dispatcher = dispatcher
        self.logger = logger
        self.now = now
    }

    func run() async throws {
        let doorbell = Doorbell()
        // Ends on graceful shutdown after the round in flight (``Rounds``); only a cancellation cuts a
        // round short, whose rows then come back after the lease and are sent with the same Message-IDs.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await OutboxListener(client: self.dispatcher.client, logger: self.logger).listen(ringing: doorbell)
            }
            await self.dispatch(woken: doorbell)
            group.cancelAll()
        }
    }

    private func dispatch(woken doorbell: Doorbell) async {
        let settings = dispatcher.settings
        var failedSessions = 0
        while Rounds.goOn {
            var pause = settings.pollInterval
            do {
                let report = try await dispatcher.runRound(now: now())
                failedSessions = report.sessionFailed ? failedSessions + 1 : 0
                if failedSessions > 0 {
                    // This instance could not reach the mail server (its network path, its credentials
                    // during a rolling update): it waits 2 s, doubling up to 30 s, not woken by new rows,
                    // so that an instance that can send takes the due rows instead of this one using up
                    // their attempts batch after batch, failing faster than the other can send.
                    await Rounds.pause(Rounds.pause(afterFailures: failedSessions, interval: .zero))
                    continue
                }
                // A full batch may leave more due rows: go on at once.
                if report.claimed >= settings.batchSize { continue }
                if let next = try await OutboxStore.nextDue(client: dispatcher.client, logger: logger) {
                    let seconds = max(next.timeIntervalSince(now()), 0.05)
                    pause = min(pause, .milliseconds(Int64(seconds * 1000)))
                }
            } catch {
                if Task.isCancelled { return }
                // A database or directory outage must not stop the mail for good; the next round retries.
                logger.error("Sending the outbox failed", metadata: ["error": "\(String(reflecting: error))"])
                pause = min(pause, .seconds(5))
            }
            await doorbell.waitUnlessShuttingDown(atMost: pause)
        }
    }
}
