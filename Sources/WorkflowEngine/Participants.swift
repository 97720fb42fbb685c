import Foundation

/// A deputyship (Vertretung): `deputy` may act for `principal` from `validFrom` (inclusive) until
/// `validUntil` (exclusive). Deputyships are data in Freigabe, not in LDAP.
public struct Deputyship: Hashable, Sendable, Codable {
    public var principal: String
    public var deputy: String
    public var validFrom: Date
    public var validUntil: Date

    public init(principal: String, deputy: String, validFrom: Date, validUntil: Date) {
        self.principal = principal
        self.deputy = deputy
        self.validFrom = validFrom
        self.validUntil = validUntil
    }

    public func isActive(at instant: Date) -> Bool { validFrom <= instant && instant < validUntil }
}

/// The person who acts, with the roles they hold for this request, resolved by the server from LDAP
/// and the catalogue (Data Owner of this dataset, Data Steward of its domain, DSB, ...).
public struct Decider: Hashable, Sendable {
    public var person: String
    public var roles: Set<Role>
    /// The people this person deputises for, with the roles those principals hold for this request.
    /// The engine checks the dates; the server passes every deputyship the person has.
    public var deputising: [DeputyAuthority]

    public init(person: String, roles: Set<Role>, deputising: [DeputyAuthority] = []) {
        self.person = person
        self.roles = roles
        self.deputising = deputising
    }
}

public struct DeputyAuthority: Hashable, Sendable {
    public var deputyship: Deputyship
    public var principalRoles: Set<Role>

    public init(deputyship: Deputyship, principalRoles: Set<Role>) {
        self.deputyship = deputyship
        self.principalRoles = principalRoles
    }
}

/// Details an approval may carry; some steps require them (`approve_requires`).
public struct ApprovalDetails: Hashable, Sendable, Codable {
    public var licence: String?
    public var portalURL: String?

    public init(licence: String? = nil, portalURL: String? = nil) {
        self.licence = licence
        self.portalURL = portalURL
    }
}

/// One recorded decision: who, in which capacity, on which branch, with what outcome.
public struct Decision: Hashable, Sendable, Codable {
    public enum Outcome: String, Hashable, Sendable, Codable, CaseIterable {
        case approved, rejected
        case changesRequested = "changes_requested"
        case revoked
        /// The escalation instance closed a request nobody moved on as withdrawn.
        case discontinued
    }

    public var person: String
    /// Set when the person acted as deputy; the principal is who the decision counts for.
    public var actingFor: String?
    public var role: Role
    /// Set when the person decided as the escalation instance of an overdue step.
    public var asEscalation: Bool
    public var step: String
    public var branch: String
    public var outcome: Outcome
    public var at: Date
    public var comment: String?
    /// Every step this one decision covers: two in the Owner+Steward Personalunion, else one.
    public var covers: [String]
    public var details: ApprovalDetails?
    /// Taken while its step was escalated, so that its escalation instance could have taken it too: who of
    /// them comes after hears who decided (409), not "forbidden". Absent (nil) otherwise, and in snapshots
    /// written before 2026-12-05; not a fact of the log (a changed flag changes only that answer).
    public var stepEscalated: Bool? = nil

    /// Everyone this decision is attributed to, for separation of duties.
    var identities: Set<String> { Set([person] + (actingFor.map { [$0] } ?? [])) }
}
