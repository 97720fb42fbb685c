import Logging
import Synchronization
import Testing

@testable import FreigabeServer

/// A database that blinked after the SMTP session made the dispatcher throw the outcomes away: the
/// batch went out again to everybody once the lease ran out.
@Suite("Recording a round's outcome")
struct OutcomeRecordingTests {
    let logger = Logger(label: "test")

    struct Blink: Error {}

    @Test("tried again with growing pauses until it is recorded, while the lease has time")
    func triedAgain() async throws {
        let attempts = Mutex(0)
        let started = ContinuousClock.now
        let written = try await OutcomeRecording.retrying(
            until: started + .seconds(10), firstPause: .milliseconds(50), logger: logger
        ) {
            let attempt = attempts.withLock { count in
                count += 1
                return count
            }
            if attempt < 3 { throw Blink() }
            return 20
        }
        #expect(written == 20)
        #expect(attempts.withLock { $0 } == 3)
        // 50 ms, then 100 ms.
        #expect(ContinuousClock.now - started >= .milliseconds(150))
    }

    @Test("given up, with the last error, when the next try would start after the lease's end")
    func givenUpAtTheEnd() async throws {
        let tries = Mutex<[ContinuousClock.Instant]>([])
        let end = ContinuousClock.now + .milliseconds(400)
        await #expect(throws: Blink.self) {
            try await OutcomeRecording.retrying(until: end, firstPause: .milliseconds(100), logger: logger) {
                () async throws -> Int in
                tries.withLock { $0.append(ContinuousClock.now) }
                throw Blink()
            }
        }
        // Tried again after the pause (how many times depends on how loaded the machine is), never
        // after the end.
        let started = tries.withLock { $0 }
        #expect(started.count >= 1 && started.count <= 3, "\(started.count)")
        #expect(started.allSatisfy { $0 < end })
    }
}
