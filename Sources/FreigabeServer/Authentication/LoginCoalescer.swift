import Crypto
import Foundation
import LDAPDirectory
import Synchronization

/// Lets logins with the same user name and password that arrive while one of them is being checked
/// wait for that check instead of asking the directory again.
///
/// Without it, a client that opens sixteen requests at once before the login cache knows it would
/// make sixteen binds and sixteen throttle reservations, and the throttle (which counts pending
/// attempts, so that a burst of wrong passwords cannot slip through) would answer some of them 429.
/// In flight, an entry is keyed by an HMAC of the credentials under a key made at start, never by the
/// password; it is removed as soon as the check has ended.
final class LoginCoalescer: Sendable {
    enum Outcome: Sendable {
        case authenticated(Person)
        case refused
        case throttled(Int)
        case unavailable
    }

    private let key = SymmetricKey(size: .bits256)
    private let inFlight = Mutex<[Data: Task<Outcome, Never>]>([:])

    func run(
        username: String, password: String, _ check: @escaping @Sendable () async -> Outcome
    ) async -> Outcome {
        let credentials = Data(
            HMAC<SHA256>.authenticationCode(for: Data((username + "\u{0}" + password).utf8), using: key))
        let (task, leads) = inFlight.withLock { running -> (Task<Outcome, Never>, Bool) in
            if let task = running[credentials] { return (task, false) }
            let task = Task { await check() }
            running[credentials] = task
            return (task, true)
        }
        let outcome = await task.value
        if leads { _ = inFlight.withLock { $0.removeValue(forKey: credentials) } }
        return outcome
    }
}
