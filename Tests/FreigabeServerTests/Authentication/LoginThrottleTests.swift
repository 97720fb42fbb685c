import Foundation
import Testing

@testable import FreigabeServer

@Suite("Login throttle")
struct LoginThrottleTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("three free attempts, then the wait doubles up to the ceiling")
    func backoff() async {
        let throttle = LoginThrottle()
        var waits: [LoginThrottle.Verdict] = []
        for attempt in 0..<12 {
            await throttle.recordFailure(username: "otto", address: nil, now: start)
            waits.append(await throttle.verdict(username: "otto", address: nil, now: start))
            _ = attempt
        }
        #expect(Array(waits.prefix(3)) == [.allowed, .allowed, .allowed])
        #expect(waits[3] == .retryAfter(seconds: 2))
        #expect(waits[4] == .retryAfter(seconds: 4))
        #expect(waits[5] == .retryAfter(seconds: 8))
        #expect(waits[11] == .retryAfter(seconds: 300), "the ceiling: never locked out for good")
    }

    @Test("the wait passes, and old failures are forgotten after the window")
    func waitPasses() async {
        let throttle = LoginThrottle()
        for _ in 0..<4 { await throttle.recordFailure(username: "otto", address: nil, now: start) }
        #expect(
            await throttle.verdict(username: "otto", address: nil, now: start.addingTimeInterval(1))
                == .retryAfter(seconds: 1))
        #expect(await throttle.verdict(username: "otto", address: nil, now: start.addingTimeInterval(2)) == .allowed)
        // Within the window the count remains: the next failure waits longer.
        await throttle.recordFailure(username: "otto", address: nil, now: start.addingTimeInterval(3))
        #expect(
            await throttle.verdict(username: "otto", address: nil, now: start.addingTimeInterval(3))
                == .retryAfter(seconds: 4))
        // After the window (15 minutes) everything is forgotten.
        await throttle.recordFailure(username: "otto", address: nil, now: start.addingTimeInterval(3 + 901))
        #expect(
            await throttle.verdict(username: "otto", address: nil, now: start.addingTimeInterval(3 + 901)) == .allowed)
    }

    @Test("user names count case-insensitively; a success clears the user but not the address")
    func keys() async {
        let throttle = LoginThrottle()
        for name in ["Otto", "OTTO", "otto", "oTTo"] {
            await throttle.recordFailure(username: name, address: "192.0.2.7", now: start)
        }
        #expect(await throttle.verdict(username: "otto", address: nil, now: start) == .retryAfter(seconds: 2))
        #expect(await throttle.verdict(username: "anna", address: "192.0.2.7", now: start) == .retryAfter(seconds: 2))
        #expect(await throttle.verdict(username: "anna", address: "192.0.2.8", now: start) == .allowed)
        await throttle.recordSuccess(username: "OTTO")
        #expect(await throttle.verdict(username: "otto", address: nil, now: start) == .allowed)
        #expect(await throttle.verdict(username: "otto", address: "192.0.2.7", now: start) == .retryAfter(seconds: 2))
    }

    @Test("a flood of random user names cannot grow memory without bound")
    func boundedMemory() async {
        let throttle = LoginThrottle(policy: .init(maximumTrackedKeys: 100))
        for index in 0..<1_000 {
            await throttle.recordFailure(username: "random-\(index)", address: "198.51.100.1", now: start)
        }
        #expect(await throttle.trackedKeys <= 100)
        // The flooding address has the most failures, so it is kept and stays throttled.
        #expect(await throttle.verdict(username: "anna", address: "198.51.100.1", now: start) != .allowed)
    }
}
