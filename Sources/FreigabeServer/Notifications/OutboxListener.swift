import Logging
import PostgresNIO
import Synchronization

/// `LISTEN` on one of the pool's connections, held while a dispatcher runs and taken again when it
/// breaks: by default `freigabe_outbox` (the trigger of migration 5 notifies on every commit that wrote
/// outbox rows), and every notification rings the dispatcher's doorbell. Used by the mail and the webhook
/// dispatcher; the webhook dispatcher listens on the same connection to `freigabe_webhook_retry` too
/// (``WebhookStore/retryChannel``) and tells the channels apart (``listen(handling:)``).
///
/// A connection dropped without a word (a firewall's idle timeout, a failover) would never end the
/// wait for notifications: TCP notices a dead peer only when something is sent. So the listener asks
/// the connection every ``livenessInterval``; no answer within ``livenessDeadline`` closes it, which
/// ends the listening and takes the reconnect path (a warning, polling meanwhile). The `LISTEN`s
/// themselves must be answered within ``livenessDeadline`` too: a connection that fell silent while it
/// sat in the pool would otherwise hold the listener before its first check.
struct OutboxListener: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// The channels listened to, all on the one connection.
    var channels: [String] = [OutboxStore.channel]
    var livenessInterval: Duration = .seconds(60)
    var livenessDeadline: Duration = .seconds(10)

    /// The statement of the liveness check; its comment names it in `pg_stat_activity`.
    static let livenessCheck = "SELECT 1 /* freigabe_outbox listener */"

    /// The listening connection did not answer the liveness check in time, or failed it.
    struct NoAnswer: Error, CustomStringConvertible {
        var description: String
    }

    /// What the listener hands on.
    enum Wake: Sendable, Hashable {
        /// Listening (again) on every channel: whatever was notified while nobody listened (start,
        /// reconnect) may be due now.
        case listening
        /// A notification on `channel`.
        case notified(channel: String, payload: String)
    }

    /// Rings `doorbell` when listening starts and at every notification, on whichever channel.
    func listen(ringing doorbell: Doorbell) async {
        await listen { _ in doorbell.ring() }
    }

    /// Listens until cancelled, handing every ``Wake`` to `handle` (which must return at once).
    func listen(handling handle: @escaping @Sendable (Wake) -> Void) async {
        // While the database is down every attempt fails at once: wait longer each time (up to 30 s,
        // the poll goes on meanwhile) and say so once per outage, not every few seconds.
        var failures = 0
        let listening = Mutex(false)
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    let started = OneWayFlag()
                    let givenUp = OneWayFlag()
                    let watchdog = Task { [livenessDeadline] in
                        guard (try? await Task.sleep(for: livenessDeadline)) != nil, !started.isSet else { return }
                        givenUp.set()
                        await Self.close(connection)
                    }
                    defer { watchdog.cancel() }
                    try await self.listen(on: self.channels[...], connection: connection, listening: []) { streams in
                        started.set()
                        guard !givenUp.isSet else {
                            throw NoAnswer(description: "LISTEN was not answered within \(livenessDeadline)")
                        }
                        listening.withLock { $0 = true }
                        handle(.listening)
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            let closing = OneWayFlag()
                            group.addTask { try await self.checkLiveness(of: connection, closing: closing) }
                            for (channel, notifications) in streams {
                                group.addTask {
                                    do {
                                        for try await notification in notifications {
                                            handle(.notified(channel: channel, payload: notification.payload))
                                        }
                                    } catch  where closing.isSet {
                                        // The check is closing the connection; its error says why.
                                    }
                                }
                            }
                            // Until the check throws or a channel's notifications end. While the check closes
                            // the connection, its end is awaited: the connection goes back to the pool only
                            // once closed, so that nobody is handed it meanwhile.
                            while try await group.next() != nil {
                                if !closing.isSet { break }
                            }
                            group.cancelAll()
                        }
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
            try? await Task.sleep(for: Rounds.pause(afterFailures: failures, interval: .zero))
        }
    }

    /// `LISTEN` on each of `channels` in turn (every `listen(on:)` ends with its `UNLISTEN`), then `body`
    /// with the notifications of all of them.
    private func listen(
        on channels: ArraySlice<String>, connection: PostgresConnection,
        listening streams: [(String, PostgresNotificationSequence)],
        _ body: @Sendable ([(String, PostgresNotificationSequence)]) async throws -> Void
    ) async throws {
        guard let channel = channels.first else { return try await body(streams) }
        try await connection.listen(on: channel) { notifications in
            try await self.listen(
                on: channels.dropFirst(), connection: connection, listening: streams + [(channel, notifications)],
                body)
        }
    }

    /// Asks `connection` every ``livenessInterval`` until it fails to answer within ``livenessDeadline``;
    /// then closes it (which ends the wait for notifications, and the statement if it still waits:
    /// PostgresNIO's queries do not react to cancellation) and throws ``NoAnswer``.
    private func checkLiveness(of connection: PostgresConnection, closing: OneWayFlag) async throws {
        let logger = self.logger
        while true {
            try await Task.sleep(for: livenessInterval)
            let outcome = await withTimeout(livenessDeadline) {
                for try await _ in try await connection.query(
                    PostgresQuery(unsafeSQL: Self.livenessCheck), logger: logger)
                {}
            }
            try Task.checkCancellation()
            guard case .failure(let error) = outcome else { continue }
            closing.set()
            await Self.close(connection)
            if error is TimeoutError {
                throw NoAnswer(description: "the listening connection did not answer within \(livenessDeadline)")
            }
            throw NoAnswer(
                description: "the listening connection failed its liveness check: \(String(reflecting: error))")
        }
    }

    /// Closes a connection given up on, before the pool gets it back, so that nobody else is handed it.
    /// Bounded, as nothing here may wait for a peer that is gone: with TLS, NIOSSL waits up to 5 s for its
    /// close_notify.
    private static func close(_ connection: PostgresConnection) async {
        _ = await withTimeout(.seconds(10)) { try await connection.close() }
    }
}

/// Set once, never cleared: the liveness check's "closing it now", the watchdog's "LISTEN answered", the
/// sealer's "checkpoint file noted".
final class OneWayFlag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}
