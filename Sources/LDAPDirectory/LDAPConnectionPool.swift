import Synchronization

/// A bounded set of connections to one directory. A caller leases a slot (with an open connection,
/// or none yet, which the job then opens) and returns it with the connection, or `nil` when the
/// connection broke. Waiters are served first come, first served, and wait a bounded time: a
/// directory that swallows packets holds every slot until its timeout, and callers queueing behind
/// those would wait that timeout several times over.
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

    /// Takes a free slot, or waits for one at most `timeout`. Throws
    /// ``LDAPDirectoryError/Code-swift.struct/poolTimeout`` when none became free in time,
    /// `CancellationError` when the task is cancelled while waiting, the error of
    /// ``failWaiters(with:)`` and ``LDAPDirectoryError/Code-swift.struct/shutDown`` after ``shutdown()``.
    ///
    /// Exactly one of a hand-over by ``release(_:)``, the timeout, cancellation, ``failWaiters(with:)``
    /// and ``shutdown()`` removes a waiter from the queue, under the lock, and resumes it: a slot handed
    /// over is never lost, and a waiter that gave up holds none.
    func acquire(waitingAtMost timeout: Duration) async throws -> Lease {
        let deadline = ContinuousClock.now + timeout
        let (id, immediate) = self.state.withLock { state -> (UInt64, Result<Lease, any Error>?) in
            state.nextWaiterID += 1
            if Task.isCancelled {
                return (state.nextWaiterID, .failure(CancellationError()))
            }
            return (state.nextWaiterID, self.takeSlot(&state))
        }
        if let immediate {
            return try immediate.get()
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                } catch {
                    return  // Served, failed or cancelled before the deadline.
                }
                self.expire(waiter: id, timeout: timeout)
            }
            defer {
                group.cancelAll()
            }
            return try await self.wait(id: id, deadline: deadline, timeout: timeout)
        }
    }

    /// A lease when a slot is free now, the reason when there will be none, `nil`: wait.
    private func takeSlot(_ state: inout State) -> Result<Lease, any Error>? {
        if state.isShutDown {
            return .failure(LDAPDirectoryError.shutDown)
        }
        if let connection = state.idle.popLast() {
            state.leased += 1
            return .success(Lease(connection: connection))
        }
        if state.leased < self.capacity {
            state.leased += 1
            return .success(Lease(connection: nil))
        }
        return nil
    }

    private func wait(id: UInt64, deadline: ContinuousClock.Instant, timeout: Duration) async throws -> Lease {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                let immediate: Result<Lease, any Error>? = self.state.withLock { state in
                    // The cancellation flag is set before the handler below takes the lock, so either
                    // the handler finds this waiter in the queue or this check sees the flag.
                    if Task.isCancelled {
                        return .failure(CancellationError())
                    }
                    if let result = self.takeSlot(&state) {
                        return result
                    }
                    // Likewise the timer only fires after the deadline: either it finds this waiter
                    // or this check sees the deadline passed.
                    if ContinuousClock.now >= deadline {
                        return .failure(self.timeoutError(timeout))
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                }
            }
        } onCancel: {
            self.removeWaiter(id)?.continuation.resume(throwing: CancellationError())
        }
    }

    private func expire(waiter id: UInt64, timeout: Duration) {
        self.removeWaiter(id)?.continuation.resume(throwing: self.timeoutError(timeout))
    }

    private func removeWaiter(_ id: UInt64) -> Waiter? {
        self.state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                return nil
            }
            return state.waiters.remove(at: index)
        }
    }

    private func timeoutError(_ timeout: Duration) -> LDAPDirectoryError {
        LDAPDirectoryError(
            code: .poolTimeout,
            message: "The directory is busy: no connection became free in time.",
            details: "waited \(timeout) for one of the \(self.capacity) connections of the \(self.name) pool"
        )
    }

    /// Fails every call waiting for a slot with `error` (the circuit breaker opened: the slots they
    /// wait for are held by calls that are failing). Calls holding a slot are not affected.
    func failWaiters(with error: LDAPDirectoryError) {
        let waiters = self.state.withLock { state -> [Waiter] in
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: error)
        }
    }

    /// For tests: slots leased, connections idle, calls waiting.
    var usage: (leased: Int, idle: Int, waiting: Int) {
        self.state.withLock { ($0.leased, $0.idle.count, $0.waiters.count) }
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
