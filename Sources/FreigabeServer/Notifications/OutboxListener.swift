import Logging
import PostgresNIO
import Synchronization

/// `LISTEN freigabe_outbox` (the trigger of migration 5 notifies on every commit that wrote outbox
/// rows) on one of the pool's connections, held while the dispatcher runs and taken again when it
/// breaks; every notification rings the dispatcher's doorbell. Used by the mail and the webhook
/// dispatcher.
struct OutboxListener: Sendable {
    let client: PostgresClient
    let logger: Logger

    func listen(ringing doorbell: Doorbell) async {
        // While the database is down every attempt fails at once: wait longer each time (up to 30 s,
        // the poll goes on meanwhile) and say so once per outage, not every few seconds.
        var failures = 0
        let listening = Mutex(false)
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
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
