import Foundation
import LDAPDirectory
import Logging
import WorkflowEngine

/// The people behind the roles a request waits for, with their deputies in force, named from the
/// directory: „Dora Datenschutz (Vertretung: Paul Vertretung)“.
///
/// Which roles must act is the engine's answer (``RequestStatus/waitingFor``); who holds a role is the
/// same answer the mail to them uses (``EffectWriter/recipient(_:_:)`` and ``ResolvedRecipients``), and
/// those separation of duties keeps from deciding are left out (``RequestStatus/keptFromDeciding``), as
/// the task mail leaves them out: a page never names someone the mail would not ask.
struct ActingPeople: Sendable, Hashable {
    struct Person: Sendable, Hashable {
        var uid: String
        var name: String
        /// Whether the directory has a mail address: without one the task mail cannot reach them.
        var hasMail: Bool
        /// Names of their deputies in force now.
        var deputies: [String]
    }

    /// Role identifier → the people who hold it for this request and may decide it.
    var byRole: [String: [Person]]
    /// The roles whose every holder separation of duties keeps from deciding (the requester holds the
    /// role, or its holders decided another step): the task mail asks none of them either.
    var onlyKeptOut: Set<String> = []

    /// „Dora Datenschutz“, „Dora D.“ with `short`.
    static func name(_ displayName: String, short: Bool) -> String {
        let words = displayName.split(separator: " ")
        guard short, words.count > 1, let last = words.last?.first else { return displayName }
        return words.dropLast().joined(separator: " ") + " " + String(last) + "."
    }
}

/// Looks up ``ActingPeople`` with a deadline: when the directory is missing, down or slow, the answer is
/// nil and the page names the roles only (a status page never fails because of the directory).
struct ActingPeopleLookup: Sendable {
    let directory: LDAPDirectory?
    let service: RequestService
    /// The whole lookup of one page, all roles and deputies together.
    var deadline: Duration = .seconds(2)
    /// Who holds each role, kept for a short time (the deputies in force are read on every call).
    var holders = RoleHoldersCache()

    /// The people who may decide for the roles `status` waits for, on a request on `dataset`, or nil when
    /// the directory did not answer in time. With `facts` (read with the request) no transaction of its
    /// own is taken for the steward group and the deputies in force.
    func people(
        for status: RequestStatus, dataset: DatasetView, facts: ActingFacts? = nil, now: Date, logger: Logger
    ) async -> ActingPeople? {
        guard let directory, !status.waitingFor.isEmpty else { return nil }
        return await withinDeadline("the acting people", logger: logger) {
            try await resolve(status, dataset: dataset, facts: facts, directory: directory, now: now, logger: logger)
        }
    }

    /// The directory's names of `uids` (the principals deputies decided for), under the same deadline;
    /// a uid the directory does not know, or does not name in time, is missing (the page shows the uid).
    func names(of uids: [String], logger: Logger) async -> [String: String] {
        let wanted = Array(Set(uids)).sorted()
        guard let directory, !wanted.isEmpty else { return [:] }
        let mail = LDAPMailDirectory(directory: directory)
        return await withinDeadline("names", logger: logger) {
            var names: [String: String] = [:]
            for uid in wanted {
                if let person = try await mail.person(uid: uid) { names[uid] = person.displayName }
            }
            return names
        } ?? [:]
    }

    /// `lookup`'s answer, or nil when it fails or takes longer than ``deadline``: a page never waits for a
    /// slow directory, nor fails because of it.
    private func withinDeadline<Value: Sendable>(
        _ what: String, logger: Logger, _ lookup: @escaping @Sendable () async throws -> Value
    ) async -> Value? {
        let deadline = deadline
        do {
            return try await withThrowingTaskGroup(of: Value?.self) { group in
                group.addTask { try await lookup() }
                group.addTask {
                    try await Task.sleep(for: deadline)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                if first == nil { logger.notice("Directory lookup of \(what) timed out") }
                return first
            }
        } catch {
            logger.notice("Directory lookup of \(what) failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    private func resolve(
        _ status: RequestStatus, dataset: DatasetView, facts: ActingFacts?, directory: LDAPDirectory, now: Date,
        logger: Logger
    ) async throws -> ActingPeople {
        let mail = LDAPMailDirectory(directory: directory)
        var byRole: [String: [ActingPeople.Person]] = [:]
        var onlyKeptOut: Set<String> = []
        var everyone: [MailPerson] = []
        // Directory uids and the uids a request stores may differ in case; the mail compares them so too.
        var keptOut: [String: Set<String>] = [:]
        for role in status.waitingFor {
            let kept = Set((status.keptFromDeciding?[role] ?? []).map { $0.lowercased() })
            keptOut[role] = kept
            let holding = try await holders.people(for: RoleHoldersCache.Key(role: role, dataset: dataset)) {
                try await holdersNow(
                    of: role, dataset: dataset, stewardGroup: facts?.stewardGroup, directory: mail, now: now,
                    logger: logger)
            }
            let people = holding.filter { !kept.contains($0.uid.lowercased()) }
            if people.isEmpty, !holding.isEmpty { onlyKeptOut.insert(role) }
            everyone += people
            byRole[role] = people.map {
                ActingPeople.Person(uid: $0.uid, name: $0.displayName, hasMail: $0.mail != nil, deputies: [])
            }
        }
        let principals = everyone.map(\.uid)
        let deputies: [(deputy: String, principal: String)]
        if let known = facts?.deputies(of: principals) {
            deputies = known
        } else {
            deputies = try await OutboxStore.deputies(
                of: principals, at: now, stillAt: now, client: service.client, logger: logger)
        }
        var names: [String: String] = [:]
        for (deputy, _) in deputies where names[deputy] == nil {
            names[deputy] = (try? await mail.person(uid: deputy))??.displayName ?? deputy
        }
        for (role, people) in byRole {
            let kept = keptOut[role] ?? []
            byRole[role] = people.map { person in
                var person = person
                person.deputies = deputies.filter {
                    $0.principal.lowercased() == person.uid.lowercased() && !kept.contains($0.deputy.lowercased())
                }
                .map { names[$0.deputy] ?? $0.deputy }
                return person
            }
        }
        return ActingPeople(byRole: byRole, onlyKeptOut: onlyKeptOut)
    }

    /// Who holds `role` for a request on `dataset`, asked now: the recipients the task mail would have.
    private func holdersNow(
        of role: String, dataset: DatasetView, stewardGroup known: String?, directory: LDAPMailDirectory, now: Date,
        logger: Logger
    ) async throws -> [MailPerson] {
        // The steward group is the domain's; the dataset's view names only the domain.
        let stewardGroup: String?
        if role != Role.dataSteward.identifier {
            stewardGroup = nil
        } else if let known {
            stewardGroup = known
        } else {
            stewardGroup = try await service.domains(logger: logger).first { $0.id == dataset.domain }?.stewardGroup
        }
        let record = DatasetRecord(
            view: dataset, ownerGroupKey: nil, stewardGroup: stewardGroup ?? "", stewardGroupKey: "")
        let context = EffectContext(
            requestID: UUID(), number: "", kind: .sharedData, dataset: record, requester: "", now: now)
        var recipient = EffectWriter.recipient(Role(identifier: role), context)
        if recipient.group == "" { recipient.group = nil }
        return try await ResolvedRecipients.resolve([recipient], in: directory).people
    }
}
