import PostgresNIO
import Synchronization

/// What the deadlines of one ``Database/transaction(_:logger:scope:timeouts:_:)`` need to know about
/// the task running it: whether it still waits for a pooled connection, or which connection it runs on.
///
/// Two tasks report here: the transaction (``startLeasing()``, ``begin(on:)``, ``end()``) and its one
/// timer (``leaseDeadlinePassed()``, ``deadlinePassed()``). Each event switches over the state under
/// the lock; what it implies (cancel the waiting task, close the connection) the caller does after it.
final class TransactionWatch: Sendable {
    private enum State {
        /// Waiting for the pool (again, after a lease the server had closed).
        case leasing
        /// A deadline passed while waiting: the waiting task is cancelled, a late lease goes unused.
        case leaseGivenUp
        /// The body runs on this connection.
        case running(PostgresConnection)
        /// The transaction deadline closed the connection under the body.
        case closedAtDeadline
        /// Between two leases, or done.
        case ended
    }

    /// The timer's order at the transaction deadline.
    enum AtDeadline {
        /// Close this connection: the statement in flight fails, the server rolls back.
        case close(PostgresConnection)
        /// Stop waiting for the pool (cancel the transaction's task).
        case stopLeasing
        case nothing
    }

    /// A lease arrived after a deadline gave it up: it goes back unused.
    struct LeaseGivenUp: Error {}

    private let state = Mutex<State>(.ended)

    func startLeasing() {
        state.withLock { state in
            if case .ended = state { state = .leasing }
        }
    }

    /// The lease arrived: the body may run on `connection`, unless a deadline gave the lease up.
    func begin(on connection: PostgresConnection) throws(LeaseGivenUp) {
        try state.withLock { (state) throws(LeaseGivenUp) in
            guard case .leasing = state else { throw LeaseGivenUp() }
            state = .running(connection)
        }
    }

    func end() {
        state.withLock { state in
            if case .running = state { state = .ended }
        }
    }

    /// Whether the task waiting for a lease must be cancelled.
    func leaseDeadlinePassed() -> Bool {
        state.withLock { state in
            guard case .leasing = state else { return false }
            state = .leaseGivenUp
            return true
        }
    }

    func deadlinePassed() -> AtDeadline {
        state.withLock { state in
            switch state {
            case .leasing:
                state = .leaseGivenUp
                return .stopLeasing
            case .running(let connection):
                state = .closedAtDeadline
                return .close(connection)
            case .leaseGivenUp, .closedAtDeadline, .ended:
                return .nothing
            }
        }
    }

    /// Whether the lease was given up by a deadline (before the body began).
    var leaseWasGivenUp: Bool {
        state.withLock { state in
            if case .leaseGivenUp = state { return true }
            return false
        }
    }

    /// Whether the body has not begun on the current lease: an error now is the pool's.
    var isLeasing: Bool {
        state.withLock { state in
            if case .leasing = state { return true }
            return false
        }
    }

    /// Whether the deadline closed the connection under the body.
    var closedAtDeadline: Bool {
        state.withLock { state in
            if case .closedAtDeadline = state { return true }
            return false
        }
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
