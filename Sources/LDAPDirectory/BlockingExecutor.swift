import CLDAP
import Logging
import NIOPosix
import Synchronization

/// Runs blocking libldap work on a `NIOThreadPool` with a pooled connection.
///
/// Bounds: libldap's own network and operation timeouts end every call (that is what tests check).
/// On top of that the caller stops waiting after `hardDeadline`, so that even a libldap call stuck
/// where no timeout applies (a DNS lookup, a write into a full socket buffer) cannot hang a login;
/// the stuck job then finishes on its own and closes its connection.
///
/// Failing directories: a call waits at most `poolWaitTimeout` for a connection, and the circuit
/// `breaker` fails calls at once (before they queue) while the directory keeps failing. Every job
/// asks the breaker before it touches the directory and reports its outcome to it, on the thread pool
/// thread, so that neither depends on the caller still waiting.
struct BlockingExecutor: Sendable {
    let threadPool: NIOThreadPool
    let settings: ConnectionSettings
    let hardDeadline: Duration
    let poolWaitTimeout: Duration
    let breaker: CircuitBreaker
    /// Every pool of the directory: when the breaker opens, the calls queued in any of them fail.
    let pools: [LDAPConnectionPool]
    let logger: Logger

    /// Runs `body` with a connection of `pool` (opening one, with `serviceAccount` bound, when the
    /// slot has none). A reused connection that turns out to have been dropped by the server is
    /// replaced and `body` retried once.
    func run<T: Sendable>(
        _ pool: LDAPConnectionPool,
        serviceAccount: LDAPConfiguration.ServiceAccount?,
        operation: String,
        _ body: @escaping @Sendable (LDAPConnection) throws -> T
    ) async throws -> T {
        let failureMark = try self.breaker.checkNotOpen(operation: operation)
        // The job stops where its caller stops waiting (``LDAPConnection/jobDeadline``).
        let deadline = ContinuousClock.now + self.hardDeadline
        return try await withDeadline(self.hardDeadline, operation: operation) {
            let lease = try await pool.acquire(waitingAtMost: self.poolWaitTimeout)
            // No suspension point between acquiring and submitting: the job owns the lease from here
            // and always returns it, whether or not anybody still waits for the result.
            let completion = Completion<T>()
            let settings = self.settings
            let logger = self.logger
            let breaker = self.breaker
            let pools = self.pools
            self.threadPool.submit { state in
                guard case .active = state else {
                    pool.release(lease.connection)?.close()
                    completion.complete(.failure(LDAPDirectoryError.shutDown))
                    return
                }
                do {
                    // The breaker may have opened, or a call failed, while this one waited for its
                    // connection: then it fails at once instead of spending a timeout of its own.
                    try breaker.admit(operation: operation, failureMark: failureMark)
                } catch {
                    pool.release(lease.connection)?.close()
                    completion.complete(.failure(error))
                    return
                }
                let (result, connection) = Self.perform(
                    lease: lease, settings: settings, serviceAccount: serviceAccount, pool: pool.name,
                    operation: operation, deadline: deadline, logger: logger, body)
                // Before the slot is released: a breaker that opens here fails the queued calls, so
                // that none of them gets this slot and waits for a failing directory in turn.
                if breaker.record(result, operation: operation) {
                    let error = LDAPDirectoryError.circuitOpen(
                        "\(operation) failed and opened the circuit breaker while this call waited for a connection")
                    for pool in pools {
                        pool.failWaiters(with: error)
                    }
                }
                pool.release(connection)?.close()
                completion.complete(result)
            }
            return try await completion.value()
        }
    }

    /// Runs on a thread pool thread. Returns the result and the connection to give back (`nil` when
    /// it broke and was closed).
    private static func perform<T>(
        lease: LDAPConnectionPool.Lease,
        settings: ConnectionSettings,
        serviceAccount: LDAPConfiguration.ServiceAccount?,
        pool: String,
        operation: String,
        deadline: ContinuousClock.Instant,
        logger: Logger,
        _ body: (LDAPConnection) throws -> T
    ) -> (Result<T, any Error>, LDAPConnection?) {
        var connection = lease.connection
        defer { connection?.jobDeadline = nil }
        do {
            if connection == nil {
                connection = try LDAPConnection.open(settings: settings, serviceAccount: serviceAccount)
                logger.debug("opened directory connection", metadata: ["ldap.pool": "\(pool)"])
                connection?.jobDeadline = deadline
                return (.success(try body(connection!)), connection)
            }
            connection?.jobDeadline = deadline
            do {
                return (.success(try body(connection!)), connection)
            } catch let error as LDAPDirectoryError where error.resultCode == LDAP_SERVER_DOWN {
                // The server closed the idle connection (idle timeout, restart, load balancer).
                logger.debug(
                    "directory connection was dropped, reconnecting",
                    metadata: ["ldap.pool": "\(pool)", "ldap.operation": "\(operation)"])
                connection?.close()
                connection = nil
                // No new connection for a caller who has stopped waiting.
                guard ContinuousClock.now < deadline else { throw error }
                connection = try LDAPConnection.open(settings: settings, serviceAccount: serviceAccount)
                connection?.jobDeadline = deadline
                return (.success(try body(connection!)), connection)
            }
        } catch let error as LDAPDirectoryError {
            if error.invalidatesConnection {
                connection?.close()
                connection = nil
            }
            return (.failure(error), connection)
        } catch {
            connection?.close()
            return (.failure(error), nil)
        }
    }
}

extension LDAPDirectoryError {
    /// Whether the connection that produced this error must not be reused: client-side failures
    /// (negative libldap codes: server down, timeout with a request still outstanding, decoding
    /// errors) and an unavailable server.
    var invalidatesConnection: Bool {
        guard let resultCode = self.resultCode else {
            return true
        }
        return resultCode < 0 || self.code == .directoryUnavailable || self.code == .tlsFailure
    }
}

/// The result of one thread pool job, awaited by at most one task, which may stop waiting
/// (cancellation, deadline) before the job finishes.
final class Completion<T: Sendable>: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<T, any Error>)
        case finished(Result<T, any Error>)
        case consumed
    }

    private let state = Mutex(State.pending)

    func complete(_ result: Result<T, any Error>) {
        let continuation = self.state.withLock { state -> CheckedContinuation<T, any Error>? in
            switch state {
            case .pending:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .consumed
                return continuation
            case .finished, .consumed:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    func value() async throws -> T {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let ready = self.state.withLock { state -> Result<T, any Error>? in
                    switch state {
                    case .pending:
                        if Task.isCancelled {
                            state = .consumed
                            return .failure(CancellationError())
                        }
                        state = .waiting(continuation)
                        return nil
                    case .finished(let result):
                        state = .consumed
                        return result
                    case .consumed:
                        return .failure(CancellationError())
                    case .waiting:
                        preconditionFailure("Completion awaited twice")
                    }
                }
                if let ready {
                    continuation.resume(with: ready)
                }
            }
        } onCancel: {
            let continuation = self.state.withLock { state -> CheckedContinuation<T, any Error>? in
                guard case .waiting(let continuation) = state else {
                    return nil
                }
                state = .consumed
                return continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }
}

/// Runs `body`, giving up with a ``LDAPDirectoryError/Code-swift.struct/timeout`` after `limit`.
func withDeadline<T: Sendable>(
    _ limit: Duration,
    operation: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await body()
        }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer {
            group.cancelAll()
        }
        guard let first = try await group.next(), let value = first else {
            throw LDAPDirectoryError(
                code: .timeout,
                message: "The directory did not answer in time.",
                details: "\(operation) exceeded the hard deadline of \(limit)"
            )
        }
        return value
    }
}
