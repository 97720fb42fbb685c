import Foundation
import Testing

@testable import FreigabeServer

@Suite("Login throttle")
struct LoginThrottleTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Reserves and fails one attempt; the verdict of the reservation.
    @discardableResult
    func fail(_ throttle: LoginThrottle, _ user: String, from address: String?, at now: Date) -> LoginThrottle.Verdict {
        let verdict = throttle.reserve(username: user, address: address, now: now)
        if case .allowed(let reservation) = verdict { _ = throttle.failed(reservation, now: now) }
        return verdict
    }

    func isAllowed(_ verdict: LoginThrottle.Verdict) -> Bool {
        if case .allowed = verdict { return true }
        return false
    }

    @Test("five free failures per user and address, then the wait doubles up to the ceiling")
    func backoff() {
        let throttle = LoginThrottle()
        var verdicts: [LoginThrottle.Verdict] = []
        var now = start
        for _ in 0..<40 {
            let verdict = fail(throttle, "otto", from: "192.0.2.7", at: now)
            verdicts.append(verdict)
            if case .retryAfter(let seconds) = verdict { now += TimeInterval(seconds) }
        }
        #expect(verdicts.prefix(5).allSatisfy(isAllowed))
        #expect(verdicts[5] == .retryAfter(seconds: 2))
        #expect(isAllowed(verdicts[6]), "after waiting 2 s the next attempt may go")
        #expect(verdicts[7] == .retryAfter(seconds: 4), "and its failure doubles the wait")
        #expect(verdicts[9] == .retryAfter(seconds: 8))
        let waits = verdicts.compactMap { verdict -> Int? in
            if case .retryAfter(let seconds) = verdict { return seconds }
            return nil
        }
        #expect(waits.max() == 300, "the ceiling: never locked out for good")
    }

    @Test("the check reserves the attempt: of a burst only the free attempts pass")
    func reservationIsAtomic() async {
        let throttle = LoginThrottle()
        let now = start
        let passed = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<30 {
                group.addTask { isAllowed(throttle.reserve(username: "otto", address: "192.0.2.7", now: now)) }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(passed == 5)
    }

    @Test("a success clears the user; an unreachable directory gives the reservation back")
    func successAndRelease() {
        let throttle = LoginThrottle()
        for _ in 0..<5 { fail(throttle, "otto", from: "192.0.2.7", at: start) }
        #expect(!isAllowed(throttle.reserve(username: "otto", address: "192.0.2.7", now: start)))

        for _ in 0..<4 { fail(throttle, "anna", from: "192.0.2.8", at: start) }
        guard case .allowed(let last) = throttle.reserve(username: "anna", address: "192.0.2.8", now: start) else {
            Issue.record("the fifth attempt is free")
            return
        }
        throttle.released(last)
        guard case .allowed(let again) = throttle.reserve(username: "anna", address: "192.0.2.8", now: start) else {
            Issue.record("a released reservation is not a failure")
            return
        }
        throttle.succeeded(again)
        for _ in 0..<5 { #expect(isAllowed(fail(throttle, "ANNA", from: "192.0.2.8", at: start))) }
    }

    @Test("user names count case-insensitively, per address and over all addresses")
    func userCounts() {
        let throttle = LoginThrottle()
        for name in ["Otto", "OTTO", "otto", "oTTo", "otto"] { fail(throttle, name, from: "192.0.2.7", at: start) }
        #expect(throttle.reserve(username: "otto", address: "192.0.2.7", now: start) == .retryAfter(seconds: 2))
        // The same user from another address is not slowed by one guesser ...
        #expect(isAllowed(fail(throttle, "otto", from: "192.0.2.8", at: start)))
        // ... until the user's failures over all addresses pass their allowance (20).
        for index in 0..<14 { fail(throttle, "otto", from: "198.51.100.\(index)", at: start) }
        #expect(!isAllowed(throttle.reserve(username: "otto", address: "203.0.113.1", now: start)))
        // Another user from the guesser's address is not slowed at all.
        #expect(isAllowed(throttle.reserve(username: "anna", address: "192.0.2.7", now: start)))
    }

    @Test("an address's failures over many user names answer 429 but never stop valid credentials")
    func addressCount() {
        let throttle = LoginThrottle(policy: .init(freeFailuresPerAddress: 3))
        var failures: [LoginThrottle.FailureVerdict] = []
        for index in 0..<5 {
            guard
                case .allowed(let reservation) = throttle.reserve(
                    username: "user\(index)", address: "192.0.2.9", now: start)
            else {
                Issue.record("each user name has its own allowance")
                return
            }
            failures.append(throttle.failed(reservation, now: start))
        }
        #expect(
            failures == [.refused, .refused, .retryAfter(seconds: 2), .retryAfter(seconds: 4), .retryAfter(seconds: 8)])
        #expect(isAllowed(throttle.reserve(username: "anna", address: "192.0.2.9", now: start)))
    }

    @Test("the wait passes, and old failures are forgotten after the window")
    func waitPasses() {
        let throttle = LoginThrottle()
        for _ in 0..<5 { fail(throttle, "otto", from: nil, at: start) }
        // Requests without an address (in-process tests) count as one address of their own.
        #expect(throttle.reserve(username: "otto", address: nil, now: start) == .retryAfter(seconds: 2))
        #expect(isAllowed(throttle.reserve(username: "otto", address: "192.0.2.7", now: start)))
        for _ in 0..<4 { fail(throttle, "otto", from: "192.0.2.7", at: start) }
        #expect(throttle.reserve(username: "otto", address: "192.0.2.7", now: start + 1) == .retryAfter(seconds: 1))
        #expect(isAllowed(throttle.reserve(username: "otto", address: "192.0.2.7", now: start + 2)))
        #expect(isAllowed(throttle.reserve(username: "otto", address: "192.0.2.7", now: start + 3 + 901)))
    }

    @Test("a flood of random user names cannot grow memory without bound")
    func boundedMemory() {
        let throttle = LoginThrottle(policy: .init(freeFailuresPerAddress: 3, maximumTrackedKeys: 100))
        for index in 0..<1_000 { fail(throttle, "random-\(index)", from: "198.51.100.1", at: start) }
        #expect(throttle.trackedKeys <= 100)
        // The flooding address has the most failures, so it is kept and its failures still get 429.
        guard case .allowed(let reservation) = throttle.reserve(username: "x", address: "198.51.100.1", now: start)
        else {
            Issue.record("a new user name is allowed")
            return
        }
        #expect(throttle.failed(reservation, now: start) != .refused)
    }
}
