import Crypto
import Foundation
import LDAPDirectory

/// Remembers successful logins for a short time, so that a script or a busy API client does not cost
/// an LDAP search and bind on every request.
///
/// Never the password: an entry holds the person and an HMAC-SHA256 of user name and password under a
/// key made at start and never written anywhere, compared in constant time. A changed password, a
/// disabled account or a removed group takes effect after at most `ttl`, the same bound the directory's
/// own person cache already sets for roles.
public actor LoginCache {
    private struct Entry {
        var person: Person
        var code: HashedAuthenticationCode<SHA256>
        var expires: ContinuousClock.Instant
    }

    private let key = SymmetricKey(size: .bits256)
    private let ttl: Duration
    private let capacity: Int
    private var entries: [String: Entry] = [:]

    public init(ttl: Duration = .seconds(60), capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The person, if this user name logged in with exactly this password within the last `ttl`.
    public func person(username: String, password: String, now: ContinuousClock.Instant = .now) -> Person? {
        guard let entry = entries[Self.key(username)] else { return nil }
        guard now < entry.expires else {
            entries[Self.key(username)] = nil
            return nil
        }
        let valid = HMAC<SHA256>.isValidAuthenticationCode(
            entry.code, authenticating: Self.message(username, password), using: key)
        return valid ? entry.person : nil
    }

    public func remember(username: String, password: String, person: Person, now: ContinuousClock.Instant = .now) {
        guard ttl > .zero else { return }
        if entries.count >= capacity {
            entries = entries.filter { $0.value.expires > now }
            if entries.count >= capacity { entries.removeAll() }
        }
        let code = HMAC<SHA256>.authenticationCode(for: Self.message(username, password), using: key)
        entries[Self.key(username)] = Entry(person: person, code: code, expires: now + ttl)
    }

    /// Drops the user's entry. The authenticator does not call it on a refused login: a guesser could
    /// otherwise push a user out of the cache and into the throttle.
    public func forget(username: String) {
        entries[Self.key(username)] = nil
    }

    var count: Int { entries.count }

    /// LDAP matches user names case-insensitively (and the directory insists on the exact name up to case).
    private static func key(_ username: String) -> String { username.lowercased() }

    private static func message(_ username: String, _ password: String) -> Data {
        Data(key(username).utf8) + Data([0]) + Data(password.utf8)
    }
}
