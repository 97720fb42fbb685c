import Synchronization

/// A bounded set of connections to one directory. A caller leases a slot (with an open connection,
/// or none yet, which the job then opens) and returns it with the connection, or `nil` when the
/// connection broke. Waiters are served first come, first served.
///
/// The pool only does bookkeeping; it never calls libldap, so it can be used from any thread.
final class LDAPConnectionPool: Sendable {
    struct Lease: Sendable {
        /// An open connection, or `nil`: the holder opens one.
        var connection: LDAPConnection?
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Lease, any Error>
    }

    private struct State {
        /// Open connections not leased. Used last in, first out: the most recently used connection
        /// is the least likely to have been closed by the server for idleness.
        var idle: [LDAPConnection] = []
        var leased = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var isShutDown = false
    }

    let name: String
    let capacity: Int
    private let state = Mutex(State())

    init(name: String, capacity: Int) {
        precondition(capacity > 0)
        self.name = name
        self.capacity = capacity
    }

    /// Waits for a free slot. Throws `CancellationError` when the task is cancelled while waiting
    /// and ``LDAPDirectoryError/Code-swift.struct/shutDown`` after ``shutdown()``.
    func acquire() async throws -> Lease {
        let id = self.state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                let immediate: Result<Lease, any Error>? = self.state.withLock { state in
                    if state.isShutDown {
                        return .failure(LDAPDirectoryError.shutDown)
                    }
                    // The cancellation flag is set before the handler below takes the lock, so either
                    // the handler finds this waiter in the queue or this check sees the flag.
                    if Task.isCancelled {
                        return .failure(CancellationError())
                    }
                    if let connection = state.idle.popLast() {
                        state.leased += 1
                        return .success(Lease(connection: connection))
                    }
                    if state.leased < self.capacity {
                        state.leased += 1
                        return .success(Lease(connection: nil))
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                    return nil
                }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Returns a lease. Returns the connection when the pool is shut down: the caller (on a thread
    /// that may block) closes it.
    func release(_ connection: LDAPConnection?) -> LDAPConnection? {
        let (waiter, toClose) = self.state.withLock { state -> (Waiter?, LDAPConnection?) in
            if state.isShutDown {
                state.leased -= 1
                return (nil, connection)
            }
            if !state.waiters.isEmpty {
                // The slot passes to the waiter; `leased` stays the same.
                return (state.waiters.removeFirst(), nil)
            }
            state.leased -= 1
            if let connection {
                state.idle.append(connection)
            }
            return (nil, nil)
        }
        waiter?.continuation.resume(returning: Lease(connection: connection))
        return toClose
    }

    /// Fails all waiters and returns the idle connections for the caller to close.
    func shutdown() -> [LDAPConnection] {
        let (waiters, idle) = self.state.withLock { state -> ([Waiter], [LDAPConnection]) in
            state.isShutDown = true
            defer {
                state.waiters = []
                state.idle = []
            }
            return (state.waiters, state.idle)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: LDAPDirectoryError.shutDown)
        }
        return idle
    }
}
