import Synchronization
import Testing

@testable import LDAPDirectory

/// The pool's bookkeeping alone (leases without connections: no sockets). What matters: a waiter
/// waits a bounded time, can be cancelled or failed, and no slot is ever lost or handed out twice.
@Suite("connection pool: bounded waits")
struct ConnectionPoolTests {
    @Test("a waiter gives up after its timeout with poolTimeout; the slot it waited for is not lost")
    func waiterTimesOut() async throws {
        let pool = LDAPConnectionPool(name: "test", capacity: 1)
        let held = try await pool.acquire(waitingAtMost: .seconds(1))
        let started = ContinuousClock.now
        let error = await #expect(throws: LDAPDirectoryError.self) {
            try await pool.acquire(waitingAtMost: .milliseconds(200))
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .poolTimeout, "\(String(reflecting: error))")
        #expect(error?.description.contains("test") == false, "details stay in debugDescription")
        #expect(String(reflecting: error).contains("test pool"))
        #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(1), "\(elapsed)")
        #expect(pool.usage == (leased: 1, idle: 0, waiting: 0))
        #expect(pool.release(held.connection) == nil)
        #expect(pool.usage == (leased: 0, idle: 0, waiting: 0))
        _ = try await pool.acquire(waitingAtMost: .milliseconds(1))
        #expect(pool.usage.leased == 1)
    }

    @Test("a released slot goes to the first waiter, in time")
    func handOver() async throws {
        let pool = LDAPConnectionPool(name: "test", capacity: 1)
        let held = try await pool.acquire(waitingAtMost: .seconds(1))
        let waiter = Task { try await pool.acquire(waitingAtMost: .seconds(10)) }
        try await waitUntil { pool.usage.waiting == 1 }
        _ = pool.release(held.connection)
        _ = try await waiter.value
        #expect(pool.usage == (leased: 1, idle: 0, waiting: 0))
    }

    @Test("a cancelled waiter leaves the queue and holds nothing")
    func cancelledWaiter() async throws {
        let pool = LDAPConnectionPool(name: "test", capacity: 1)
        let held = try await pool.acquire(waitingAtMost: .seconds(1))
        let waiter = Task { try await pool.acquire(waitingAtMost: .seconds(30)) }
        try await waitUntil { pool.usage.waiting == 1 }
        let started = ContinuousClock.now
        waiter.cancel()
        await #expect(throws: CancellationError.self) {
            try await waiter.value
        }
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(pool.usage == (leased: 1, idle: 0, waiting: 0))
        _ = pool.release(held.connection)
        #expect(pool.usage == (leased: 0, idle: 0, waiting: 0))
    }

    @Test("failWaiters fails every queued call at once, and not the holders")
    func failWaiters() async throws {
        let pool = LDAPConnectionPool(name: "test", capacity: 2)
        let held = [
            try await pool.acquire(waitingAtMost: .seconds(1)), try await pool.acquire(waitingAtMost: .seconds(1)),
        ]
        let waiters = (0..<5).map { _ in Task { try await pool.acquire(waitingAtMost: .seconds(30)) } }
        try await waitUntil { pool.usage.waiting == 5 }
        let started = ContinuousClock.now
        pool.failWaiters(with: LDAPDirectoryError(code: .directoryUnavailable, message: "test"))
        for waiter in waiters {
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await waiter.value
            }
            #expect(error?.code == .directoryUnavailable)
        }
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(pool.usage == (leased: 2, idle: 0, waiting: 0))
        for lease in held {
            _ = pool.release(lease.connection)
        }
        #expect(pool.usage == (leased: 0, idle: 0, waiting: 0))
    }

    @Test("shutdown fails waiters; acquiring afterwards fails at once")
    func shutdown() async throws {
        let pool = LDAPConnectionPool(name: "test", capacity: 1)
        let held = try await pool.acquire(waitingAtMost: .seconds(1))
        let waiter = Task { try await pool.acquire(waitingAtMost: .seconds(30)) }
        try await waitUntil { pool.usage.waiting == 1 }
        #expect(pool.shutdown().isEmpty)
        let error = await #expect(throws: LDAPDirectoryError.self) {
            try await waiter.value
        }
        #expect(error?.code == .shutDown)
        let after = await #expect(throws: LDAPDirectoryError.self) {
            try await pool.acquire(waitingAtMost: .seconds(1))
        }
        #expect(after?.code == .shutDown)
        _ = pool.release(held.connection)
        #expect(pool.usage == (leased: 0, idle: 0, waiting: 0))
    }

    @Test("under contention with timeouts and cancellations no slot is lost or handed out twice")
    func contention() async throws {
        let capacity = 3
        let pool = LDAPConnectionPool(name: "test", capacity: capacity)
        let inUse = Counter()
        let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<300 {
                group.addTask {
                    let task = Task { () throws -> String in
                        do {
                            let lease = try await pool.acquire(waitingAtMost: .milliseconds(Int64(1 + index % 20)))
                            let now = inUse.add(1)
                            #expect(now <= capacity, "more leases than slots")
                            try? await Task.sleep(for: .microseconds(Int64(index % 7) * 300))
                            _ = inUse.add(-1)
                            _ = pool.release(lease.connection)
                            return "served"
                        } catch let error as LDAPDirectoryError {
                            return "\(error.code)"
                        } catch is CancellationError {
                            return "cancelled"
                        }
                    }
                    if index % 5 == 0 {
                        try? await Task.sleep(for: .microseconds(Int64(index % 11) * 100))
                        task.cancel()
                    }
                    return try await task.value
                }
            }
            var outcomes: [String: Int] = [:]
            for try await outcome in group {
                outcomes[outcome, default: 0] += 1
            }
            return outcomes
        }
        #expect(Set(outcomes.keys).isSubset(of: ["served", "poolTimeout", "cancelled"]), "\(outcomes)")
        #expect(outcomes["served", default: 0] > 0, "\(outcomes)")
        #expect(pool.usage == (leased: 0, idle: 0, waiting: 0), "\(outcomes)")
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "condition not reached")
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

private final class Counter: Sendable {
    private let value = Mutex(0)

    func add(_ delta: Int) -> Int {
        self.value.withLock {
            $0 += delta
            return $0
        }
    }
}
