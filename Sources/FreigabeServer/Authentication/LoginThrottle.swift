import Foundation
import Synchronization

/// Slows down guessing of passwords without ever locking a city employee out for good, and without
/// letting one guesser lock out everybody who shares their address (behind a reverse proxy or NAT all
/// colleagues may arrive from one address).
///
/// Three counts of failed logins, each forgotten after ``Policy/window``:
/// - per user name and client address: after ``Policy/freeFailuresPerUserAndAddress`` failures each
///   further attempt of that user name from that address waits, doubling up to ``Policy/maximumDelay``;
/// - per user name, from any address: the same after ``Policy/freeFailuresPerUser`` failures, so
///   guessing from many addresses is slowed too;
/// - per client address, over all user names: it never stops valid credentials (another person's
///   correct password from that address logs in); beyond ``Policy/freeFailuresPerAddress`` its further
///   failures are answered with 429 and `Retry-After` instead of 401, and logged, so a script spraying
///   one password over many names is told to back off and shows up for the operator.
///
/// The first two are checked *before* the directory is asked, in one step with reserving the attempt
/// (``reserve(username:address:now:)``): of a concurrent burst of wrong passwords exactly the free
/// ones reach the directory. The reservation counts as a failure until ``succeeded(_:)`` or
/// ``released(_:)`` says otherwise.
///
/// The state lives in this instance's memory: with several server instances each keeps its own
/// counts, so a guesser gets one allowance per instance (see README, "Betrieb").
public final class LoginThrottle: Sendable {
    public struct Policy: Sendable, Hashable {
        /// Failures of one user name from one address before any wait.
        public var freeFailuresPerUserAndAddress: Int
        /// Failures of one user name from all addresses together before any wait.
        public var freeFailuresPerUser: Int
        /// Failures from one address over all user names before failures get 429 instead of 401.
        public var freeFailuresPerAddress: Int
        /// Wait after the first failure beyond the free ones; doubles with each further failure.
        public var baseDelay: Duration
        public var maximumDelay: Duration
        /// Failures older than this are forgotten.
        public var window: Duration
        /// Bound on remembered keys, so a flood of random user names cannot exhaust memory.
        public var maximumTrackedKeys: Int

        public init(
            freeFailuresPerUserAndAddress: Int = 5, freeFailuresPerUser: Int = 20, freeFailuresPerAddress: Int = 50,
            baseDelay: Duration = .seconds(2), maximumDelay: Duration = .seconds(300), window: Duration = .seconds(900),
            maximumTrackedKeys: Int = 10_000
        ) {
            self.freeFailuresPerUserAndAddress = freeFailuresPerUserAndAddress
            self.freeFailuresPerUser = freeFailuresPerUser
            self.freeFailuresPerAddress = freeFailuresPerAddress
            self.baseDelay = baseDelay
            self.maximumDelay = maximumDelay
            self.window = window
            self.maximumTrackedKeys = maximumTrackedKeys
        }
    }

    public enum Verdict: Sendable, Hashable {
        /// The attempt may go to the directory; report its outcome with the reservation.
        case allowed(Reservation)
        /// Try again after this many seconds (for `Retry-After`).
        case retryAfter(seconds: Int)
    }

    /// An attempt that was let through and counted in advance as a failure.
    public struct Reservation: Sendable, Hashable {
        fileprivate let username: String
        fileprivate let address: String
    }

    /// How a refused login is to be answered.
    public enum FailureVerdict: Sendable, Hashable {
        /// 401: wrong credentials.
        case refused
        /// 429 with `Retry-After`: the address has failed too often (the attempt itself was checked).
        case retryAfter(seconds: Int)
    }

    fileprivate enum Key: Hashable {
        case user(String)
        case userAtAddress(String, String)
        case address(String)
    }

    fileprivate struct Record {
        var failures: Int
        var lastFailure: Date
    }

    private let policy: Policy
    private let records = Mutex<[Key: Record]>([:])

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Whether a login for `username` from `address` may be tried at `now`; if so, the attempt is
    /// counted as a failure in the same step, so concurrent attempts cannot all pass one check.
    public func reserve(username: String, address: String?, now: Date) -> Verdict {
        let username = Self.normalised(username)
        // Without a peer address (only in-process tests) all such requests count as one address.
        let address = address ?? Self.unknownAddress
        let limits = limitedKeys(username: username, address: address)
        return records.withLock { (records) -> Verdict in
            let waits = limits.map { key, free in wait(records[key], free: free, now: now) }
            if let longest = waits.max(), longest > 0 {
                return .retryAfter(seconds: Int(longest.rounded(.up)))
            }
            evictIfNeeded(&records, now: now, making: limits.count)
            for (key, _) in limits {
                var record = live(records[key], now: now) ?? Record(failures: 0, lastFailure: now)
                record.failures += 1
                record.lastFailure = now
                records[key] = record
            }
            return .allowed(Reservation(username: username, address: address))
        }
    }

    /// The directory refused the credentials: the reservation stays counted, and the address's count
    /// decides between 401 and 429.
    public func failed(_ reservation: Reservation, now: Date) -> FailureVerdict {
        let address = reservation.address
        return records.withLock { (records) -> FailureVerdict in
            evictIfNeeded(&records, now: now, making: 1)
            var record = live(records[.address(address)], now: now) ?? Record(failures: 0, lastFailure: now)
            record.failures += 1
            record.lastFailure = now
            records[.address(address)] = record
            let remaining = wait(record, free: policy.freeFailuresPerAddress, now: now)
            return remaining > 0 ? .retryAfter(seconds: Int(remaining.rounded(.up))) : .refused
        }
    }

    /// The credentials were valid: the user's counts are cleared (everywhere: the person has proven
    /// who they are); the address keeps its count, since one address may guess many users.
    public func succeeded(_ reservation: Reservation) {
        records.withLock { records in
            for key in limitedKeys(username: reservation.username, address: reservation.address).map(\.key) {
                records[key] = nil
            }
        }
    }

    /// The credentials could not be checked (directory unavailable): the reservation is given back.
    public func released(_ reservation: Reservation) {
        records.withLock { records in
            for key in limitedKeys(username: reservation.username, address: reservation.address).map(\.key) {
                guard var record = records[key] else { continue }
                record.failures -= 1
                records[key] = record.failures > 0 ? record : nil
            }
        }
    }

    var trackedKeys: Int { records.withLock { $0.count } }

    /// The keys checked before an attempt, with their free failures.
    private func limitedKeys(username: String, address: String) -> [(key: Key, free: Int)] {
        [
            (.user(username), policy.freeFailuresPerUser),
            (.userAtAddress(username, address), policy.freeFailuresPerUserAndAddress),
        ]
    }

    private static let unknownAddress = "-"

    /// LDAP compares user names case-insensitively, so the throttle must too.
    private static func normalised(_ username: String) -> String { username.lowercased() }

    private func live(_ record: Record?, now: Date) -> Record? {
        guard let record, now.timeIntervalSince(record.lastFailure) < policy.window.seconds else { return nil }
        return record
    }

    /// Seconds still to wait before the next attempt on a key with `free` free failures.
    private func wait(_ record: Record?, free: Int, now: Date) -> TimeInterval {
        guard let record = live(record, now: now), record.failures >= free else { return 0 }
        let doubled = policy.baseDelay.seconds * pow(2, Double(min(record.failures - free, 30)))
        return min(doubled, policy.maximumDelay.seconds) - now.timeIntervalSince(record.lastFailure)
    }

    /// Keeps the table within `maximumTrackedKeys`, with room for `room` more keys: first the expired
    /// records go; if that is not enough, the ones with the fewest failures (then the oldest). An
    /// address flooding random user names has the most failures, so it is the last to be forgotten.
    private func evictIfNeeded(_ records: inout [Key: Record], now: Date, making room: Int) {
        guard records.count + room > policy.maximumTrackedKeys else { return }
        records = records.filter { live($0.value, now: now) != nil }
        guard records.count + room > policy.maximumTrackedKeys else { return }
        let keep = records.sorted {
            ($0.value.failures, $0.value.lastFailure) > ($1.value.failures, $1.value.lastFailure)
        }.prefix(policy.maximumTrackedKeys / 2)
        records = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}
