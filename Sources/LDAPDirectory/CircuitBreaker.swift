import Logging
import Synchronization

extension LDAPDirectory {
    /// The circuit breaker's state, for metrics and readiness (see ``LDAPConfiguration/CircuitBreaker``).
    public enum CircuitState: String, Sendable, Hashable, CaseIterable {
        /// Calls go to the directory.
        case closed
        /// The directory failed repeatedly: calls fail at once with
        /// ``LDAPDirectoryError/Code-swift.struct/circuitOpen`` until the cool-down is over.
        case open
        /// The cool-down is over: the next call probes the directory (the others still fail at once
        /// while it does); its success closes the breaker, its failure opens it again.
        case halfOpen
    }
}

/// The circuit breaker's rules, as a pure state machine: no clock (time is a parameter), no I/O, no
/// locks. ``CircuitBreaker`` runs it under a `Mutex` and performs the actions it returns.
///
/// - closed: calls go to the directory. `failureThreshold` transport failures in a row (timeouts,
///   refused or dropped connections, TLS failures; never wrong passwords or unknown users, which
///   prove that the directory answers) open it.
/// - open: calls fail at once, without waiting for a connection, until `coolDown` has passed.
/// - half-open: the first call after the cool-down is let through as a probe, the others still fail
///   at once. The probe's success closes the breaker, its failure opens it for another cool-down. A
///   probe that has not reported after `probeTimeout` (its job hung, or never ran) is replaced by the
///   next call.
///
/// An outcome counts in the state it arrives in, whichever call it belongs to: a late answer from a
/// call admitted before the breaker opened decides a half-open breaker as a probe would (the
/// directory did or did not answer), but is ignored while open, so the cool-down always runs out.
struct CircuitBreakerStateMachine: Sendable, Hashable {
    struct Settings: Sendable, Hashable {
        var failureThreshold: Int
        var coolDown: Duration
        var probeTimeout: Duration
    }

    enum State: Sendable, Hashable {
        case closed(consecutiveFailures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen(probeDeadline: ContinuousClock.Instant)
    }

    /// What to do with a call that is about to use the directory.
    enum Admission: Sendable, Hashable {
        case proceed
        /// Proceed; this call is the half-open breaker's probe.
        case probe
        /// Fail the call at once; the breaker lets a probe through at `retryAt` at the earliest.
        case reject(retryAt: ContinuousClock.Instant)
    }

    /// A transition the caller acts on (logging, failing waiters).
    enum Action: Sendable, Hashable {
        case none
        /// Closed → open, after `failures` transport failures in a row.
        case opened(failures: Int, until: ContinuousClock.Instant)
        /// The probe (or a late call) failed: half-open → open.
        case reopened(until: ContinuousClock.Instant)
        /// The directory answered again: half-open → closed.
        case closed
    }

    let settings: Settings
    private(set) var state: State = .closed(consecutiveFailures: 0)

    init(settings: Settings) {
        precondition(settings.failureThreshold >= 1)
        self.settings = settings
    }

    /// The public view: an open breaker whose cool-down is over reads as half-open, because the next
    /// call will be its probe.
    func publicState(now: ContinuousClock.Instant) -> LDAPDirectory.CircuitState {
        switch self.state {
        case .closed: .closed
        case .open(let until): now < until ? .open : .halfOpen
        case .halfOpen: .halfOpen
        }
    }

    /// Read-only: whether a call arriving now would be rejected. Lets a caller fail before it queues
    /// for a connection; the decision that counts is ``admit(now:)``'s.
    func rejection(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        switch self.state {
        case .closed: nil
        case .open(let until): now < until ? until : nil
        case .halfOpen(let probeDeadline): now < probeDeadline ? probeDeadline : nil
        }
    }

    /// A call is about to use the directory (it holds a connection slot).
    mutating func admit(now: ContinuousClock.Instant) -> Admission {
        switch self.state {
        case .closed:
            return .proceed
        case .open(let until):
            guard now >= until else {
                return .reject(retryAt: until)
            }
            self.state = .halfOpen(probeDeadline: now + self.settings.probeTimeout)
            return .probe
        case .halfOpen(let probeDeadline):
            guard now >= probeDeadline else {
                return .reject(retryAt: probeDeadline)
            }
            self.state = .halfOpen(probeDeadline: now + self.settings.probeTimeout)
            return .probe
        }
    }

    /// A call got an answer from the directory (a result or an LDAP error such as wrong credentials).
    mutating func succeeded(now: ContinuousClock.Instant) -> Action {
        switch self.state {
        case .closed:
            self.state = .closed(consecutiveFailures: 0)
            return .none
        case .open:
            return .none
        case .halfOpen:
            self.state = .closed(consecutiveFailures: 0)
            return .closed
        }
    }

    /// A call failed on the way to the directory: timeout, connection refused or dropped, TLS.
    mutating func failed(now: ContinuousClock.Instant) -> Action {
        switch self.state {
        case .closed(let consecutiveFailures):
            let failures = consecutiveFailures + 1
            guard failures >= self.settings.failureThreshold else {
                self.state = .closed(consecutiveFailures: failures)
                return .none
            }
            let until = now + self.settings.coolDown
            self.state = .open(until: until)
            return .opened(failures: failures, until: until)
        case .open:
            return .none
        case .halfOpen:
            let until = now + self.settings.coolDown
            self.state = .open(until: until)
            return .reopened(until: until)
        }
    }
}

/// The directory's circuit breaker: ``CircuitBreakerStateMachine`` under a lock, with the clock, the
/// errors it throws and the logging of its transitions. Shared by both connection pools.
///
/// One rule besides the machine's: a call that queued for a connection while another call failed on
/// the way to the directory does not try the directory itself when it gets a connection; it fails at
/// once (`directoryUnavailable`). Otherwise a slot freed by a timeout could pass to a waiter before
/// enough failures opened the breaker, and that waiter would spend a second timeout behind the first.
final class CircuitBreaker: Sendable {
    private struct Guarded {
        var machine: CircuitBreakerStateMachine
        /// Transport failures recorded so far, in any state: the mark calls compare at admission.
        var transportFailures: UInt64 = 0
    }

    private let guarded: Mutex<Guarded>
    private let now: @Sendable () -> ContinuousClock.Instant
    private let logger: Logger

    init(
        settings: CircuitBreakerStateMachine.Settings,
        logger: Logger,
        now: @escaping @Sendable () -> ContinuousClock.Instant
    ) {
        self.guarded = Mutex(Guarded(machine: CircuitBreakerStateMachine(settings: settings)))
        self.logger = logger
        self.now = now
    }

    var state: LDAPDirectory.CircuitState {
        let now = self.now()
        return self.guarded.withLock { $0.machine.publicState(now: now) }
    }

    /// Throws ``LDAPDirectoryError/Code-swift.struct/circuitOpen`` when a call arriving now would be
    /// rejected (read-only; see ``admit(operation:failureMark:)``). Returns the call's failure mark.
    func checkNotOpen(operation: String) throws(LDAPDirectoryError) -> UInt64 {
        let now = self.now()
        let (retryAt, mark) = self.guarded.withLock { ($0.machine.rejection(now: now), $0.transportFailures) }
        if let retryAt {
            throw Self.openError(operation: operation, retryIn: retryAt - now)
        }
        return mark
    }

    /// Lets a call that holds a connection slot use the directory, or throws
    /// ``LDAPDirectoryError/Code-swift.struct/circuitOpen`` (or `directoryUnavailable` when a transport
    /// failure was recorded since `failureMark`, taken by ``checkNotOpen(operation:)`` before the
    /// call queued for its connection).
    func admit(operation: String, failureMark: UInt64) throws(LDAPDirectoryError) {
        let now = self.now()
        let admission = self.guarded.withLock { guarded -> CircuitBreakerStateMachine.Admission? in
            guard guarded.transportFailures == failureMark else {
                return nil
            }
            return guarded.machine.admit(now: now)
        }
        switch admission {
        case nil:
            throw LDAPDirectoryError(
                code: .directoryUnavailable,
                message: "The directory cannot be reached.",
                details: "\(operation) queued for a connection while another call failed on the way to the "
                    + "directory; not tried again"
            )
        case .proceed:
            return
        case .probe:
            self.logger.notice(
                "directory circuit breaker half-open: probing the directory",
                metadata: ["ldap.operation": "\(operation)"])
        case .reject(let retryAt):
            throw Self.openError(operation: operation, retryIn: retryAt - now)
        }
    }

    /// Records the outcome of a call that was admitted. Returns true when the breaker opened (the
    /// caller then fails the calls queued for a connection).
    func record<T>(_ result: Result<T, any Error>, operation: String) -> Bool {
        let now = self.now()
        if case .failure(let error as LDAPDirectoryError) = result, error.endedByJobDeadline {
            // The caller's time ran out, not the directory: neither a failure nor an answer.
            return false
        }
        let failed = Self.isTransportFailure(result)
        let action = self.guarded.withLock { guarded in
            guard failed else {
                return guarded.machine.succeeded(now: now)
            }
            guarded.transportFailures += 1
            return guarded.machine.failed(now: now)
        }
        switch action {
        case .none:
            return false
        case .opened(let failures, let until):
            self.logger.error(
                "directory circuit breaker opened: calls fail at once until the cool-down is over",
                metadata: [
                    "ldap.operation": "\(operation)", "ldap.consecutive_failures": "\(failures)",
                    "ldap.cool_down": "\(until - now)",
                ])
            return true
        case .reopened(let until):
            self.logger.error(
                "directory circuit breaker probe failed: open again",
                metadata: ["ldap.operation": "\(operation)", "ldap.cool_down": "\(until - now)"])
            return true
        case .closed:
            self.logger.notice(
                "directory circuit breaker closed: the directory answers again",
                metadata: ["ldap.operation": "\(operation)"])
            return false
        }
    }

    /// Failures of the way to the directory. Everything else, including wrong passwords, unknown
    /// users and refused operations, is an answer from a working directory.
    static func isTransportFailure<T>(_ result: Result<T, any Error>) -> Bool {
        guard case .failure(let error) = result, let error = error as? LDAPDirectoryError else {
            return false
        }
        return error.code == .timeout || error.code == .directoryUnavailable || error.code == .tlsFailure
    }

    private static func openError(operation: String, retryIn: Duration) -> LDAPDirectoryError {
        .circuitOpen("\(operation) refused by the open circuit breaker; retry after \(max(retryIn, .zero))")
    }
}
