import Synchronization
import Testing

@testable import FreigabeServer

/// ``OrderedReads`` hands over results in the parts' order whatever order the reads finish in, never
/// has more than `width` parts read or waiting, stops when told, and passes a read's error on.
@Suite("Ordered reads")
struct OrderedReadsTests {
    /// How many reads run at once, and the most there ever were.
    final class Gauge: Sendable {
        private let state = Mutex((now: 0, most: 0))
        func enter() {
            state.withLock {
                $0.now += 1; $0.most = max($0.most, $0.now)
            }
        }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var running: Int { state.withLock { $0.now } }
    }

    /// Later parts finish first: part `n` of 20 sleeps (20 - n) ms.
    static func slowerFirst(_ gauge: Gauge) -> @Sendable (Int) async throws -> String {
        { part in
            gauge.enter()
            defer { gauge.leave() }
            try await Task.sleep(for: .milliseconds(20 - part))
            return "part \(part)"
        }
    }

    @Test("results come in the parts' order, with at most width parts at once", arguments: [1, 2, 5, 40])
    func inOrder(width: Int) async throws {
        let gauge = Gauge()
        var consumed: [String] = []
        try await OrderedReads(width: width, read: Self.slowerFirst(gauge)).run(0..<20) { part, result in
            #expect(result == "part \(part)")
            consumed.append(result)
            return true
        }
        #expect(consumed == (0..<20).map { "part \($0)" })
        #expect(gauge.most <= width)
        #expect(gauge.most == min(width, 20), "the reads did run at once")
    }

    @Test("the consumer stops it: no later result is handed over, no read is left running")
    func stops() async throws {
        let gauge = Gauge()
        var consumed: [Int] = []
        try await OrderedReads(width: 4, read: Self.slowerFirst(gauge)).run(0..<20) { part, _ in
            consumed.append(part)
            return part < 6
        }
        #expect(consumed == Array(0...6))
        #expect(gauge.most <= 4)
        #expect(gauge.running == 0, "every read started has finished by the time run returns")
    }

    /// The parts after the stop would take a minute each; they are cancelled instead of waited for.
    @Test("stopping cancels the reads in flight instead of waiting for them")
    func stopCancelsReadsInFlight() async throws {
        let cancelled = Mutex(0)
        var consumed: [Int] = []
        try await OrderedReads(width: 4) { (part: Int) -> Int in
            guard part > 2 else { return part }
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cancelled.withLock { $0 += 1 }
                throw error
            }
            return part
        }.run(0..<20) { part, _ in
            consumed.append(part)
            return part < 2
        }
        #expect(consumed == [0, 1, 2])
        #expect(cancelled.withLock { $0 } >= 1, "reads were in flight when it stopped, and were cancelled")
    }

    struct Refused: Error, Equatable { var part: Int }

    @Test("a read's error ends it and is thrown; nothing after the failed part is handed over")
    func passesErrorsOn() async throws {
        var consumed: [Int] = []
        await #expect(throws: Refused(part: 5)) {
            try await OrderedReads(width: 3) { (part: Int) -> Int in
                if part == 5 { throw Refused(part: 5) }
                try await Task.sleep(for: .milliseconds(1))
                return part
            }.run(0..<20) { part, _ in
                consumed.append(part)
                return true
            }
        }
        #expect(consumed.allSatisfy { $0 < 5 })
    }

    @Test("no parts: nothing is read or consumed")
    func empty() async throws {
        var consumed = 0
        try await OrderedReads(width: 2) { (part: Int) in part }.run([]) { _, _ in
            consumed += 1
            return true
        }
        #expect(consumed == 0)
    }
}
