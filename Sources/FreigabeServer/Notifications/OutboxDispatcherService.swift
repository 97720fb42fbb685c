import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

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
        // Ends on graceful shutdown: the wait and the listener are cancelled. A round cut short leaves
        // its rows claimed; they come back after the lease and are sent with the same Message-IDs.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listen(ringing: doorbell) }
                await self.dispatch(woken: doorbell)
                group.cancelAll()
            }
        }
    }

    private func dispatch(woken doorbell: Doorbell) async {
        let settings = dispatcher.settings
        while !Task.isCancelled {
            var pause = settings.pollInterval
            do {
                let report = try await dispatcher.runRound(now: now())
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
            await doorbell.wait(atMost: pause)
        }
    }

    private func listen(ringing doorbell: Doorbell) async {
        // While the database is down every attempt fails at once: wait longer each time (up to 30 s,
        // the poll goes on meanwhile) and say so once per outage, not every few seconds.
        var failures = 0
        let listening = Mutex(false)
        while !Task.isCancelled {
            do {
                try await dispatcher.client.withConnection { connection in
                    try await connection.listen(on: OutboxStore.channel) { notifications in
                        listening.withLock { $0 = true }
                        // Rows written while nobody listened (start, reconnect) are due now.
                        doorbell.ring()
                        for try await _ in notifications { doorbell.ring() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                if listening.withLock({ $0 }) { failures = 0 }
                listening.withLock { $0 = false }
                failures += 1
                let metadata: Logger.Metadata = ["error": "\(String(reflecting: error))"]
                if failures == 1 {
                    logger.warning("Listening for new outbox rows failed; polling until it is back", metadata: metadata)
                } else {
                    logger.debug("Listening for new outbox rows failed again", metadata: metadata)
                }
            }
            try? await Task.sleep(for: .seconds(min(1 << min(failures, 5), 30)))
        }
    }
}
