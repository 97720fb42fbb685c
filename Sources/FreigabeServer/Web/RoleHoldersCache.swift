import Foundation
import Synchronization

/// The people who hold a role for a request on a dataset (the ``ResolvedRecipients`` of the role's
/// ``OutboxRecipient``), kept for a short time for the pages that name them.
///
/// The directory stays the source: an entry is asked again after ``ttl``, and only answers are kept (a
/// failed or slow lookup is not). It exists because `LDAPDirectory.memberUsernames(ofGroup:)` is
/// deliberately uncached (a mail must not reach someone who left a group), so without it every view of a
/// request page or start page searched the directory for the group's members again. A page may name a
/// person up to ``ttl`` after they left the group, or a domain's former steward group up to ``ttl``
/// after an administrator changed it; the task mail never reads from here.
final class RoleHoldersCache: Sendable {
    /// What the answer depends on: the role and the dataset's owner, owning group and domain (whose
    /// steward group the steward role asks for). Which of them a role reads stays with
    /// ``EffectWriter/recipient(_:_:)``. Compared field by field, so a uid or DN with any characters in
    /// it cannot stand for another dataset's entry.
    struct Key: Sendable, Hashable {
        var role: String
        var owner: String?
        var ownerGroup: String?
        var domain: String

        init(role: String, dataset: DatasetView) {
            self.init(role: role, owner: dataset.owner, ownerGroup: dataset.ownerGroup, domain: dataset.domain)
        }

        init(role: String, owner: String?, ownerGroup: String?, domain: String) {
            self.role = role
            self.owner = owner
            self.ownerGroup = ownerGroup
            self.domain = domain
        }
    }

    private struct Entry {
        var people: [MailPerson]
        var storedAt: ContinuousClock.Instant
    }

    let ttl: Duration
    /// At most this many entries (datasets with their own owner times roles); when full, expired entries
    /// go first, then everything: a burst of distinct datasets cannot grow the process.
    let capacity: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private let entries = Mutex<[Key: Entry]>([:])

    init(
        ttl: Duration = .seconds(30), capacity: Int = 2_000,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.ttl = ttl
        self.capacity = max(capacity, 1)
        self.now = now
    }

    /// The kept people for `key` while younger than ``ttl``, else `resolve()`'s answer, which is kept.
    func people(
        for key: Key, resolve: () async throws -> [MailPerson]
    ) async throws -> [MailPerson] {
        let asked = now()
        if let kept = entries.withLock({ $0[key] }), asked - kept.storedAt < ttl { return kept.people }
        let people = try await resolve()
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= capacity {
                entries = entries.filter { asked - $0.value.storedAt < ttl }
                if entries.count >= capacity { entries.removeAll() }
            }
            entries[key] = Entry(people: people, storedAt: asked)
        }
        return people
    }

    /// Number of kept entries (for tests).
    var count: Int { entries.withLock { $0.count } }
}
