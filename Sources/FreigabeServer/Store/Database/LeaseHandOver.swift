import PostgresNIO
import Synchronization

/// Hands a pooled connection from the child task that holds its lease to the task that runs the
/// transaction, and tells the lease holder when to give it back (``Database/transaction(_:logger:_:)``).
///
/// Events arrive from three tasks (lease holder, deadline timer, transaction). Each is a method that
/// switches over the state under the lock and resumes continuations after it, as async-http-client's
/// `Transaction` does.
final class LeaseHandOver: Sendable {
    enum Failure: Error {
        /// No connection within the pool-wait deadline.
        case timedOut
        /// The pool could not lease one (shut down, circuit breaker open), or the waiting task was
        /// cancelled.
        case failed(any Error)
    }

    private typealias Waiter = CheckedContinuation<PostgresConnection, any Error>
    private typealias Release = CheckedContinuation<Void, Never>

    private enum State {
        /// Nobody waits yet, no connection yet.
        case idle
        /// The transaction waits for a connection.
        case waiting(Waiter)
        /// The connection arrived before the transaction asked for it.
        case leased(PostgresConnection, Release)
        /// The lease failed or timed out before the transaction asked.
        case failed(Failure)
        /// The transaction uses the connection; the holder waits for `release`.
        case inUse(PostgresConnection, Release, timedOut: Bool)
        /// The transaction is over or gave up; a connection that arrives now goes straight back.
        case finished(timedOut: Bool)
    }

    private let state = Mutex<State>(.idle)

    /// The transaction's side: the leased connection, or a ``Failure``. Cancelling the waiting task
    /// fails the wait.
    func connection() async throws -> PostgresConnection {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: Waiter) in
                let outcome: Result<PostgresConnection, Failure>? = state.withLock { state in
                    switch state {
                    case .idle:
                        state = .waiting(waiter)
                        return nil
                    case .leased(let connection, let release):
                        state = .inUse(connection, release, timedOut: false)
                        return .success(connection)
                    case .failed(let failure):
                        state = .finished(timedOut: false)
                        return .failure(failure)
                    case .waiting, .inUse, .finished:
                        // Asked twice, or after finishing: a bug in Database.transaction.
                        return .failure(.failed(CancellationError()))
                    }
                }
                if let outcome { waiter.resume(with: outcome) }
            }
        } onCancel: {
            fail(.failed(CancellationError()))
        }
    }

    /// The lease holder's side, inside `withConnection`: returns when the transaction is done with the
    /// connection (at once if it gave up already). Not cancellable on purpose: the lease must not go
    /// back to the pool while a statement may still run on the connection.
    func hold(_ connection: PostgresConnection) async {
        await withCheckedContinuation { (release: Release) in
            enum Action {
                case keep
                case handOver(Waiter)
                case giveBack
            }
            let action: Action = state.withLock { state in
                switch state {
                case .idle:
                    state = .leased(connection, release)
                    return .keep
                case .waiting(let waiter):
                    state = .inUse(connection, release, timedOut: false)
                    return .handOver(waiter)
                case .failed, .finished, .leased, .inUse:
                    return .giveBack
                }
            }
            switch action {
            case .keep: break
            case .handOver(let waiter): waiter.resume(returning: connection)
            case .giveBack: release.resume()
            }
        }
    }

    func leaseFailed(_ error: any Error) { fail(.failed(error)) }

    func leaseDeadlinePassed() { fail(.timedOut) }

    private func fail(_ failure: Failure) {
        let waiter: Waiter? = state.withLock { state in
            switch state {
            case .idle:
                state = .failed(failure)
                return nil
            case .waiting(let waiter):
                state = .finished(timedOut: false)
                return waiter
            case .leased, .failed, .inUse, .finished:
                return nil
            }
        }
        waiter?.resume(throwing: failure)
    }

    /// The timer's side at the transaction deadline: the connection to close, if the transaction still
    /// runs on one.
    func deadlinePassed() -> PostgresConnection? {
        state.withLock { state in
            guard case .inUse(let connection, let release, _) = state else { return nil }
            state = .inUse(connection, release, timedOut: true)
            return connection
        }
    }

    /// Whether the deadline closed the connection under the transaction.
    var didTimeOut: Bool {
        state.withLock { state in
            switch state {
            case .inUse(_, _, let timedOut), .finished(let timedOut): timedOut
            case .idle, .waiting, .leased, .failed: false
            }
        }
    }

    /// The transaction is over: the lease goes back to the pool.
    func finish() {
        let release: Release? = state.withLock { state in
            switch state {
            case .inUse(_, let release, let timedOut):
                state = .finished(timedOut: timedOut)
                return release
            case .leased(_, let release):
                state = .finished(timedOut: false)
                return release
            case .idle, .failed:
                state = .finished(timedOut: false)
                return nil
            case .waiting, .finished:
                return nil
            }
        }
        release?.resume()
    }
}

extension Database {
    /// The deadlines of clients made by ``DatabaseSettings/makeClient(admin:logger:)``, by identity. A
    /// client made otherwise gets the defaults.
    private static let registry = Mutex<[ObjectIdentifier: RegisteredClient]>([:])

    private struct RegisteredClient: @unchecked Sendable {
        // @unchecked: only `weak var` (not Sendable by itself) to a Sendable class, written once at
        // init and read only to compare identity.
        weak var client: PostgresClient?
        let timeouts: DatabaseSettings.Timeouts
    }

    static func register(_ client: PostgresClient, timeouts: DatabaseSettings.Timeouts) {
        registry.withLock { clients in
            clients = clients.filter { $0.value.client != nil }
            clients[ObjectIdentifier(client)] = RegisteredClient(client: client, timeouts: timeouts)
        }
    }

    static func unregister(_ client: PostgresClient) {
        _ = registry.withLock { $0.removeValue(forKey: ObjectIdentifier(client)) }
    }

    static func timeouts(for client: PostgresClient) -> DatabaseSettings.Timeouts {
        registry.withLock { clients in
            guard let entry = clients[ObjectIdentifier(client)], entry.client === client else {
                return DatabaseSettings.Timeouts()
            }
            return entry.timeouts
        }
    }
}

/// A value delivered once by whichever task comes first, awaited by one task.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, Never>)
        case delivered(Value)
        case done
    }

    private let state = Mutex<State>(.empty)

    /// - Returns: whether this value was the first (the one delivered).
    @discardableResult
    func deliver(_ value: Value) -> Bool {
        let (first, waiter): (Bool, CheckedContinuation<Value, Never>?) = state.withLock { state in
            switch state {
            case .empty:
                state = .delivered(value)
                return (true, nil)
            case .waiting(let waiter):
                state = .done
                return (true, waiter)
            case .delivered, .done:
                return (false, nil)
            }
        }
        waiter?.resume(returning: value)
        return first
    }

    func value() async -> Value {
        await withCheckedContinuation { continuation in
            let ready: Value? = state.withLock { state in
                switch state {
                case .empty:
                    state = .waiting(continuation)
                    return nil
                case .delivered(let value):
                    state = .done
                    return value
                case .waiting, .done:
                    preconditionFailure("OneShot awaited twice")
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
