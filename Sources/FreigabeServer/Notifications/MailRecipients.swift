import Foundation
import LDAPDirectory

/// A person a notification goes to, as the directory knows them.
struct MailPerson: Sendable, Hashable {
    var uid: String
    var displayName: String
    /// nil: the directory has no address for them (recorded on the row, never silently skipped).
    var mail: String?
    /// `de` or `en`: the catalogue the mail is written from.
    var language: String

    /// „Maria Müller (mmueller)“: the name the directory gives, which a reader knows, and the uid the
    /// pages and the audit log show; the uid alone when the directory has no other name. A control
    /// character in the entry (a CR/LF) becomes a space: the name stays one line of the text part, and
    /// cannot start a line that looks like a link or a fact of the mail.
    var nameWithUID: String {
        let name = String(
            String.UnicodeScalarView(
                displayName.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 })
        ).split(separator: " ").joined(separator: " ")
        guard !name.isEmpty, name != uid else { return uid }
        return "\(name) (\(uid))"
    }

    /// The mail's language from the directory's `preferredLanguage` (RFC 2798: the syntax of
    /// `Accept-Language`): `en`, `en-GB`, `EN_us`, `en, de;q=0.5` → `en`; everything else (also nothing)
    /// → `de`, the language of the city.
    static func language(preferred: String?) -> String {
        mailLanguages.language(forAcceptLanguage: preferred?.replacingOccurrences(of: "_", with: "-"))
    }

    private static let mailLanguages = LanguageNegotiation(supported: ["de", "en"])
}

/// What the dispatcher asks the directory: people by uid, the members of a group, the groups of a role.
protocol MailDirectory: Sendable {
    /// nil when the directory has no such person.
    func person(uid: String) async throws -> MailPerson?
    func memberUIDs(ofGroup dn: String) async throws -> [String]
    /// The group DNs configured for a directory role (`ldap.roles.dsb`, ...); empty for other roles.
    func groups(ofRole identifier: String) -> [String]
    /// The group DNs `ldap.stewards` maps a data domain to.
    func stewardGroups(ofDomain domain: String) -> [String]
}

/// The city's LDAP / Active Directory (through the directory's cache for people).
struct LDAPMailDirectory: MailDirectory {
    let directory: LDAPDirectory

    func person(uid: String) async throws -> MailPerson? {
        do {
            let person = try await directory.person(username: uid)
            return MailPerson(
                uid: person.uid, displayName: person.displayName, mail: person.mail,
                language: MailPerson.language(preferred: person.preferredLanguage))
        } catch let error as LDAPDirectoryError where error.code == .userNotFound || error.code == .invalidUsername {
            return nil
        }
    }

    func memberUIDs(ofGroup dn: String) async throws -> [String] {
        try await directory.memberUsernames(ofGroup: dn)
    }

    func groups(ofRole identifier: String) -> [String] {
        DirectoryRole(rawValue: identifier).map { directory.configuration.roleGroups[$0] ?? [] } ?? []
    }

    func stewardGroups(ofDomain domain: String) -> [String] {
        directory.configuration.stewardGroups[domain] ?? []
    }
}

/// The people behind a message's recipients (people, a role's groups, a dataset's owner or steward
/// group), each once, and what could not be resolved, in words for `last_error` and the log.
struct ResolvedRecipients: Sendable, Hashable {
    var people: [MailPerson] = []
    var problems: [String] = []

    /// Throws when the directory cannot be asked (the row is retried later); a person or group that does
    /// not exist, a uid two entries hold and a group that is no DN are problems of that recipient (the
    /// others get their mail), not errors.
    static func resolve(
        _ recipients: [OutboxRecipient], in directory: any MailDirectory
    ) async throws
        -> ResolvedRecipients
    {
        var result = ResolvedRecipients()
        var uids: [String] = []
        for recipient in recipients {
            var found: [String] = []
            if let uid = recipient.uid { found.append(uid) }
            var groups = recipient.group.map { [$0] } ?? []
            // The directory makes the members of these stewards of the domain as well (the engine lets
            // them decide): they are told as the catalogue's steward group is. One of them empty is no
            // problem of the mail as long as someone gets it.
            var mapped: [String] = []
            for group in recipient.domain.map(directory.stewardGroups(ofDomain:)) ?? []
            where !groups.contains(where: { $0.lowercased() == group.lowercased() }) {
                groups.append(group)
                mapped.append(group)
            }
            if recipient.uid == nil && groups.isEmpty {
                groups = directory.groups(ofRole: recipient.role)
                if groups.isEmpty {
                    result.problems.append("Rolle \(recipient.role): keine Gruppe konfiguriert")
                }
            }
            for group in groups {
                let members: [String]
                do {
                    members = try await directory.memberUIDs(ofGroup: group)
                } catch let error as LDAPDirectoryError where error.code == .configuration {
                    // A catalogue's group that is no DN: asking again will not help.
                    result.problems.append("Rolle \(recipient.role): Gruppe \(group) ist kein Name im Verzeichnis")
                    continue
                }
                if members.isEmpty && !mapped.contains(group) {
                    result.problems.append("Rolle \(recipient.role): Gruppe \(group) ist leer")
                }
                found += members
            }
            for uid in found where !uids.contains(where: { $0.lowercased() == uid.lowercased() }) {
                uids.append(uid)
            }
        }
        for uid in uids {
            let person: MailPerson?
            do {
                person = try await directory.person(uid: uid)
            } catch let error as LDAPDirectoryError where error.code == .ambiguousUser {
                // Two entries with this uid: which one is meant the directory must say, not a retry.
                result.problems.append("\(uid): mehrdeutig im Verzeichnis (mehrere Einträge)")
                continue
            }
            guard let person else {
                result.problems.append("\(uid): nicht im Verzeichnis")
                continue
            }
            result.people.append(person)
        }
        return result
    }
}

extension OutboxTopic {
    /// Whether the mail asks its reader to decide, with links to approve, reject and ask: the task, the
    /// reminder, and the escalation to an instance that may decide itself.
    func carriesDecisionLinks(mayDecide: Bool?) -> Bool {
        switch self {
        case .requestDecision, .reminder: true
        case .escalated: mayDecide ?? false
        case .withdrawn, .submitted, .changesRequested, .granted, .published, .rejected, .revoked, .expiring, .expired,
            .accessGranted, .accessExpiring, .accessExpired, .accessRevoked, .discontinued, .stepDiscontinued,
            .questionUnanswered,
            .deputyDecided, .stepTakenOver, .stepRejected, .webhook:
            false
        }
    }

    /// The task, its reminder and the escalation: mails about a decision still to be taken, which show
    /// everything the request states.
    var asksToDecide: Bool {
        switch self {
        case .requestDecision, .reminder, .escalated: true
        case .withdrawn, .submitted, .changesRequested, .granted, .published, .rejected, .revoked, .expiring, .expired,
            .accessGranted, .accessExpiring, .accessExpired, .accessRevoked, .discontinued, .stepDiscontinued,
            .questionUnanswered,
            .deputyDecided, .stepTakenOver, .stepRejected, .webhook:
            false
        }
    }

    /// Mails that show everything the request states: those about a decision still to be taken, and the
    /// Data Owner's about granted access ending, ended or revoked, who must know which recipient has the data
    /// (and must delete it) among the grants of their dataset.
    var showsTheDetails: Bool {
        asksToDecide || self == .accessGranted || self == .accessExpiring || self == .accessExpired
            || self == .accessRevoked
    }

    /// Mails that name who filed the request (by the directory's name): those showing its details, the
    /// withdrawal, which the requester made, the discontinuation of a request the reader waited on, the
    /// unanswered question (has the requester left?), a decision taken in the reader's place (by their
    /// deputy, or by the escalation instance), and the rejection of another part of the reader's step.
    var namesTheRequester: Bool {
        showsTheDetails || self == .withdrawn || self == .stepDiscontinued || self == .questionUnanswered
            || self == .deputyDecided || self == .stepTakenOver || self == .stepRejected
    }

    /// Topics that ask someone to decide in their role (or tell them they need not any more): their
    /// deputies get a copy, as the engine lets a deputy decide in the principal's role, the escalation
    /// role included (its copy's links decide as the escalation instance, acting for the member). The
    /// unanswered question goes to them too: what it offers, closing the request, such a deputy may do. So
    /// does the news that the escalation instance decided an overdue branch, or that another part of the
    /// step was rejected: the deputies were asked too.
    var goesToDeputies: Bool {
        switch self {
        case .requestDecision, .reminder, .escalated, .withdrawn, .stepDiscontinued, .questionUnanswered,
            .stepTakenOver, .stepRejected:
            true
        case .submitted, .changesRequested, .granted, .published, .rejected, .revoked, .expiring, .expired,
            .accessGranted, .accessExpiring, .accessExpired, .accessRevoked, .discontinued, .deputyDecided, .webhook:
            false
        }
    }
}
