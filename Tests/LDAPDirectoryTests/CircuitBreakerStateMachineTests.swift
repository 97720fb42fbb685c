import Testing

@testable import LDAPDirectory

/// The breaker's state machine alone: no sockets, no clock (time is a parameter). Every state ×
/// event, written down from the rules in `CircuitBreaker.swift`'s comment (not read from the code).
@Suite("circuit breaker state machine")
struct CircuitBreakerStateMachineTests {
    typealias Machine = CircuitBreakerStateMachine

    static let t0 = ContinuousClock.now
    static let settings = Machine.Settings(failureThreshold: 3, coolDown: .seconds(5), probeTimeout: .seconds(30))

    /// Where an event arrives: a state, reached through the machine's own events, and the time then.
    enum Start: String, CaseIterable, CustomTestStringConvertible {
        case closed
        case closedOneFailureShort
        case openCooling
        case openCooledDown
        case halfOpenProbing
        case halfOpenProbeLost

        var testDescription: String { self.rawValue }

        func make() -> (Machine, ContinuousClock.Instant) {
            let t0 = CircuitBreakerStateMachineTests.t0
            var machine = Machine(settings: CircuitBreakerStateMachineTests.settings)
            switch self {
            case .closed:
                return (machine, t0)
            case .closedOneFailureShort:
                _ = machine.failed(now: t0)
                _ = machine.failed(now: t0)
                return (machine, t0)
            case .openCooling, .openCooledDown:
                for _ in 0..<3 {
                    _ = machine.failed(now: t0)
                }
                return (machine, self == .openCooling ? t0 + .seconds(1) : t0 + .seconds(5))
            case .halfOpenProbing, .halfOpenProbeLost:
                for _ in 0..<3 {
                    _ = machine.failed(now: t0)
                }
                _ = machine.admit(now: t0 + .seconds(5))
                return (machine, self == .halfOpenProbing ? t0 + .seconds(6) : t0 + .seconds(35))
            }
        }
    }

    enum Event: String, CaseIterable {
        case admit
        case succeeded
        case failed
    }

    enum Output: Hashable {
        case admission(Machine.Admission)
        case action(Machine.Action)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var start: Start
        var event: Event
        var output: Output
        var state: Machine.State

        var testDescription: String { "\(self.start) + \(self.event)" }
    }

    static func at(_ seconds: Int) -> ContinuousClock.Instant {
        t0 + .seconds(seconds)
    }

    static let matrix: [Row] = [
        // closed: calls proceed; a success resets the count, a failure adds one.
        Row(start: .closed, event: .admit, output: .admission(.proceed), state: .closed(consecutiveFailures: 0)),
        Row(start: .closed, event: .succeeded, output: .action(.none), state: .closed(consecutiveFailures: 0)),
        Row(start: .closed, event: .failed, output: .action(.none), state: .closed(consecutiveFailures: 1)),
        // One failure short of the threshold: the next failure opens for the cool-down, a success resets.
        Row(
            start: .closedOneFailureShort, event: .admit, output: .admission(.proceed),
            state: .closed(consecutiveFailures: 2)),
        Row(
            start: .closedOneFailureShort, event: .succeeded, output: .action(.none),
            state: .closed(consecutiveFailures: 0)),
        Row(
            start: .closedOneFailureShort, event: .failed, output: .action(.opened(failures: 3, until: at(5))),
            state: .open(until: at(5))),
        // Open, cooling down: calls are rejected until the end of the cool-down; late outcomes of calls
        // admitted before it opened change nothing (the cool-down is neither cut short nor extended).
        Row(
            start: .openCooling, event: .admit, output: .admission(.reject(retryAt: at(5))), state: .open(until: at(5))),
        Row(start: .openCooling, event: .succeeded, output: .action(.none), state: .open(until: at(5))),
        Row(start: .openCooling, event: .failed, output: .action(.none), state: .open(until: at(5))),
        // Open, cooled down: the next call is the probe; outcomes still change nothing until it runs.
        Row(start: .openCooledDown, event: .admit, output: .admission(.probe), state: .halfOpen(probeDeadline: at(35))),
        Row(start: .openCooledDown, event: .succeeded, output: .action(.none), state: .open(until: at(5))),
        Row(start: .openCooledDown, event: .failed, output: .action(.none), state: .open(until: at(5))),
        // Half-open with a probe under way: other calls are rejected; success closes, failure reopens.
        Row(
            start: .halfOpenProbing, event: .admit, output: .admission(.reject(retryAt: at(35))),
            state: .halfOpen(probeDeadline: at(35))),
        Row(
            start: .halfOpenProbing, event: .succeeded, output: .action(.closed), state: .closed(consecutiveFailures: 0)
        ),
        Row(
            start: .halfOpenProbing, event: .failed, output: .action(.reopened(until: at(11))),
            state: .open(until: at(11))),
        // Half-open, the probe never reported: the next call probes in its place.
        Row(
            start: .halfOpenProbeLost, event: .admit, output: .admission(.probe),
            state: .halfOpen(probeDeadline: at(65))),
        Row(
            start: .halfOpenProbeLost, event: .succeeded, output: .action(.closed),
            state: .closed(consecutiveFailures: 0)),
        Row(
            start: .halfOpenProbeLost, event: .failed, output: .action(.reopened(until: at(40))),
            state: .open(until: at(40))),
    ]

    @Test("every state × event", arguments: matrix)
    func transition(row: Row) {
        let (start, now) = row.start.make()
        var machine = start
        let output: Output =
            switch row.event {
            case .admit: .admission(machine.admit(now: now))
            case .succeeded: .action(machine.succeeded(now: now))
            case .failed: .action(machine.failed(now: now))
            }
        #expect(output == row.output)
        #expect(machine.state == row.state)
    }

    @Test("the matrix covers every state × event exactly once")
    func coverage() {
        var seen: [String: Int] = [:]
        for row in Self.matrix {
            seen["\(row.start) \(row.event)", default: 0] += 1
        }
        for start in Start.allCases {
            for event in Event.allCases {
                #expect(seen["\(start) \(event)"] == 1, "\(start) × \(event)")
            }
        }
        #expect(seen.count == Start.allCases.count * Event.allCases.count)
    }

    @Test(
        "the public state and the read-only rejection agree with admit",
        arguments: [
            (Start.closed, LDAPDirectory.CircuitState.closed, nil as Int?),
            (.closedOneFailureShort, .closed, nil),
            (.openCooling, .open, 5),
            (.openCooledDown, .halfOpen, nil),
            (.halfOpenProbing, .halfOpen, 35),
            (.halfOpenProbeLost, .halfOpen, nil),
        ])
    func publicStateAndRejection(start: Start, state: LDAPDirectory.CircuitState, retryAt: Int?) {
        let (initial, now) = start.make()
        var machine = initial
        #expect(machine.publicState(now: now) == state)
        #expect(machine.rejection(now: now) == retryAt.map(Self.at))
        // Admit rejects exactly when the read-only query said so.
        switch machine.admit(now: now) {
        case .reject(let at): #expect(at == retryAt.map(Self.at))
        case .proceed, .probe: #expect(retryAt == nil)
        }
    }

    @Test("only failures in a row open it: a success in between starts the count again")
    func consecutiveFailuresOnly() {
        var machine = Machine(settings: Self.settings)
        let now = Self.t0
        for _ in 0..<10 {
            #expect(machine.failed(now: now) == .none)
            #expect(machine.failed(now: now) == .none)
            #expect(machine.succeeded(now: now) == .none)
        }
        #expect(machine.state == .closed(consecutiveFailures: 0))
    }

    @Test("a threshold of one opens on the first failure")
    func thresholdOne() {
        var machine = Machine(
            settings: .init(failureThreshold: 1, coolDown: .seconds(2), probeTimeout: .seconds(10)))
        #expect(machine.failed(now: Self.t0) == .opened(failures: 1, until: Self.at(2)))
        #expect(machine.admit(now: Self.at(1)) == .reject(retryAt: Self.at(2)))
    }

    @Test("a whole outage: open, failed probe, open again, successful probe, closed")
    func outageCycle() {
        var machine = Machine(settings: Self.settings)
        var now = Self.t0
        for failure in 1...3 {
            #expect(machine.admit(now: now) == .proceed)
            let action = machine.failed(now: now)
            #expect(action == (failure == 3 ? .opened(failures: 3, until: Self.at(5)) : .none))
        }
        now = Self.at(4)
        #expect(machine.admit(now: now) == .reject(retryAt: Self.at(5)))
        now = Self.at(6)
        #expect(machine.admit(now: now) == .probe)
        #expect(machine.admit(now: now) == .reject(retryAt: Self.at(36)))
        now = Self.at(8)
        #expect(machine.failed(now: now) == .reopened(until: Self.at(13)))
        #expect(machine.admit(now: Self.at(12)) == .reject(retryAt: Self.at(13)))
        #expect(machine.admit(now: Self.at(13)) == .probe)
        #expect(machine.succeeded(now: Self.at(14)) == .closed)
        #expect(machine.state == .closed(consecutiveFailures: 0))
        #expect(machine.admit(now: Self.at(14)) == .proceed)
    }

    @Test(
        "transport failures count, answers of the directory do not",
        arguments: [
            (LDAPDirectoryError.Code.timeout, true),
            (.directoryUnavailable, true),
            (.tlsFailure, true),
            (.invalidCredentials, false),
            (.userNotFound, false),
            (.ambiguousUser, false),
            (.invalidUsername, false),
            (.invalidPassword, false),
            (.operationFailed, false),
            (.configuration, false),
            (.shutDown, false),
            (.poolTimeout, false),
            (.circuitOpen, false),
        ])
    func classification(code: LDAPDirectoryError.Code, counts: Bool) {
        let result = Result<Void, any Error>.failure(LDAPDirectoryError(code: code, message: "x"))
        #expect(CircuitBreaker.isTransportFailure(result) == counts)
    }

    @Test("success and errors other than the directory's are no transport failures")
    func classificationOfOthers() {
        #expect(!CircuitBreaker.isTransportFailure(Result<Int, any Error>.success(1)))
        #expect(!CircuitBreaker.isTransportFailure(Result<Int, any Error>.failure(CancellationError())))
    }
}
