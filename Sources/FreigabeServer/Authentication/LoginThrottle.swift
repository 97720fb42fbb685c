import Foundation

/// Slows down repeated failed logins per user name and per client address, without ever locking a
/// city employee out for good: after a few free attempts each further failure doubles the wait, up to
/// a ceiling, and failures older than the memory window are forgotten.
///
/// The state is per server instance. With several instances an attacker gets at most one budget per
/// instance, which still caps guessing at a few attempts per minute; LDAP's own password policy
/// (ppolicy / AD lockout) remains the directory's last line.
public actor LoginThrottle {
    public struct Policy: Sendable, Hashable {
        /// Failures allowed before any delay.
        public var freeAttempts: Int
        /// Wait after the first failure beyond the free ones; doubles with each further failure.
        public var baseDelay: Duration
        public var maximumDelay: Duration
        /// Failures older than this are forgotten.
        public var window: Duration
        /// Bound on remembered keys, so a flood of random user names cannot exhaust memory.
        public var maximumTrackedKeys: Int

        public init(
            freeAttempts: Int = 3, baseDelay: Duration = .seconds(2), maximumDelay: Duration = .seconds(300),
            window: Duration = .seconds(900), maximumTrackedKeys: Int = 10_000
        ) {
            self.freeAttempts = freeAttempts
            self.baseDelay = baseDelay
            self.maximumDelay = maximumDelay
            self.window = window
            self.maximumTrackedKeys = maximumTrackedKeys
        }
    }

    public enum Verdict: Sendable, Hashable {
        case allowed
        /// Try again after this many seconds (for `Retry-After`).
        case retryAfter(seconds: Int)
    }

    private struct Record {
        var failures: Int
        var lastFailure: Date
    }

    private enum Key: Hashable {
        case user(String)
        case address(String)
    }

    private let policy: Policy
    private var records: [Key: Record] = [:]

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Whether a login for `username` from `address` may be tried at `now`.
    public func verdict(username: String, address: String?, now: Date) -> Verdict {
        let waits = keys(username: username, address: address).compactMap { key -> TimeInterval? in
            guard let record = live(records[key], now: now) else { return nil }
            let remaining = delay(after: record.failures) - now.timeIntervalSince(record.lastFailure)
            return remaining > 0 ? remaining : nil
        }
        guard let longest = waits.max() else { return .allowed }
        return .retryAfter(seconds: Int(longest.rounded(.up)))
    }

    public func recordFailure(username: String, address: String?, now: Date) {
        let keys = keys(username: username, address: address)
        evictIfNeeded(now: now, making: keys.count)
        for key in keys {
            var record = live(records[key], now: now) ?? Record(failures: 0, lastFailure: now)
            record.failures += 1
            record.lastFailure = now
            records[key] = record
        }
    }

    /// A successful login clears the user's count; the address keeps its count, since one address
    /// may guess many users.
    public func recordSuccess(username: String) {
        records[.user(Self.normalised(username))] = nil
    }

    var trackedKeys: Int { records.count }

    private func keys(username: String, address: String?) -> [Key] {
        [.user(Self.normalised(username))] + (address.map { [.address($0)] } ?? [])
    }

    /// LDAP compares user names case-insensitively, so the throttle must too.
    private static func normalised(_ username: String) -> String { username.lowercased() }

    private func live(_ record: Record?, now: Date) -> Record? {
        guard let record, now.timeIntervalSince(record.lastFailure) < policy.window.seconds else { return nil }
        return record
    }

    private func delay(after failures: Int) -> TimeInterval {
        let excess = failures - policy.freeAttempts
        guard excess > 0 else { return 0 }
        let doubled = policy.baseDelay.seconds * pow(2, Double(min(excess - 1, 30)))
        return min(doubled, policy.maximumDelay.seconds)
    }

    /// Keeps the table within `maximumTrackedKeys`, with room for `room` more keys: first the expired
    /// records go; if that is not enough, the ones with the fewest failures (then the oldest). An
    /// address flooding random user names has the most failures, so it is the last to be forgotten.
    private func evictIfNeeded(now: Date, making room: Int) {
        guard records.count + room > policy.maximumTrackedKeys else { return }
        records = records.filter { live($0.value, now: now) != nil }
        guard records.count + room > policy.maximumTrackedKeys else { return }
        let keep = records.sorted {
            ($0.value.failures, $0.value.lastFailure) > ($1.value.failures, $1.value.lastFailure)
        }.prefix(policy.maximumTrackedKeys / 2)
        records = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}

extension Duration {
    fileprivate var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
