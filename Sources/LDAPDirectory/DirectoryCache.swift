import Synchronization

/// Person entries (by username) and group lists (by user DN) with a time to live.
///
/// An entry younger than `refreshAfter` (¾ of the TTL) is fresh. Between that and the TTL it is
/// still served, and a background refresh is requested once. At the TTL it is gone and the caller
/// fetches synchronously, so a removed membership stops granting its role within the TTL even when
/// no background refresh runs. Passwords and bind results are never stored here.
final class DirectoryCache: Sendable {
    enum Lookup<Value> {
        case fresh(Value)
        /// Still valid; the caller should request a background refresh.
        case refreshDue(Value)
        case missing
    }

    private struct Stored<Value> {
        var value: Value
        var storedAt: ContinuousClock.Instant
        var refreshRequested = false
    }

    private struct State {
        var people: [String: Stored<LDAPEntry>] = [:]
        var groups: [String: Stored<[String]>] = [:]
    }

    let ttl: Duration
    let refreshAfter: Duration
    let capacity: Int
    private let state = Mutex(State())

    init(ttl: Duration, capacity: Int) {
        self.ttl = ttl
        self.refreshAfter = ttl * 3 / 4
        self.capacity = capacity
    }

    var isEnabled: Bool {
        self.ttl > .zero
    }

    /// Key for people: the username as typed, lowercased (directories match login names
    /// case-insensitively).
    static func personKey(_ username: String) -> String {
        username.lowercased()
    }

    /// Key for group lists: the normalised user DN.
    static func groupsKey(_ dn: String) -> String {
        DistinguishedName.normalize(dn) ?? dn.lowercased()
    }

    func person(_ key: String, now: ContinuousClock.Instant) -> Lookup<LDAPEntry> {
        self.state.withLock { state in
            Self.lookup(&state.people, key, now: now, ttl: self.ttl, refreshAfter: self.refreshAfter)
        }
    }

    func groups(_ key: String, now: ContinuousClock.Instant) -> Lookup<[String]> {
        self.state.withLock { state in
            Self.lookup(&state.groups, key, now: now, ttl: self.ttl, refreshAfter: self.refreshAfter)
        }
    }

    func storePerson(_ entry: LDAPEntry, key: String, now: ContinuousClock.Instant) {
        guard self.isEnabled else {
            return
        }
        self.state.withLock { state in
            Self.store(&state.people, key, entry, now: now, ttl: self.ttl, capacity: self.capacity)
        }
    }

    func storeGroups(_ groups: [String], key: String, now: ContinuousClock.Instant) {
        guard self.isEnabled else {
            return
        }
        self.state.withLock { state in
            Self.store(&state.groups, key, groups, now: now, ttl: self.ttl, capacity: self.capacity)
        }
    }

    /// Drops a person the directory no longer knows: the next lookup asks it.
    func forgetPerson(key: String) {
        self.state.withLock { state in
            state.people[key] = nil
        }
    }

    /// Forgets a failed background refresh request so that a later lookup asks again.
    func refreshFailed(personKey: String? = nil, groupsKey: String? = nil) {
        self.state.withLock { state in
            if let personKey {
                state.people[personKey]?.refreshRequested = false
            }
            if let groupsKey {
                state.groups[groupsKey]?.refreshRequested = false
            }
        }
    }

    func removeAll() {
        self.state.withLock { state in
            state = State()
        }
    }

    var count: (people: Int, groups: Int) {
        self.state.withLock { ($0.people.count, $0.groups.count) }
    }

    private static func lookup<Value>(
        _ storage: inout [String: Stored<Value>],
        _ key: String,
        now: ContinuousClock.Instant,
        ttl: Duration,
        refreshAfter: Duration
    ) -> Lookup<Value> {
        guard let stored = storage[key] else {
            return .missing
        }
        let age = stored.storedAt.duration(to: now)
        if age >= ttl || age < .zero {
            storage[key] = nil
            return .missing
        }
        if age >= refreshAfter && !stored.refreshRequested {
            storage[key]?.refreshRequested = true
            return .refreshDue(stored.value)
        }
        return .fresh(stored.value)
    }

    private static func store<Value>(
        _ storage: inout [String: Stored<Value>],
        _ key: String,
        _ value: Value,
        now: ContinuousClock.Instant,
        ttl: Duration,
        capacity: Int
    ) {
        storage[key] = Stored(value: value, storedAt: now)
        guard storage.count > capacity else {
            return
        }
        // Over capacity: drop what has expired, then the oldest tenth. Rare, so O(n log n) is fine.
        storage = storage.filter { $0.value.storedAt.duration(to: now) < ttl }
        if storage.count > capacity {
            let oldest = storage.sorted { $0.value.storedAt < $1.value.storedAt }
                .prefix(max(1, capacity / 10) + storage.count - capacity)
            for (key, _) in oldest {
                storage[key] = nil
            }
        }
    }
}
