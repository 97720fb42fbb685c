/// The words the workflow definitions, the catalogue and the engine share.
///
/// Raw values are the identifiers used in YAML, the database and the JSON API; they are English and
/// stable. German labels for people live in the templates' strings files, not here.

/// What the requester wants to do with a dataset.
public enum ReleaseKind: String, CaseIterable, Sendable, Codable, Hashable {
    /// Give the data to a named recipient, for a purpose and a limited time.
    case sharedData = "shared_data"
    /// Publish the data for everyone under an open licence.
    case openData = "open_data"
}

/// The dataset's classification (offen / intern / vertraulich / streng vertraulich), in rising order.
public enum Classification: String, CaseIterable, Sendable, Codable, Hashable, Comparable {
    case `public`, `internal`, confidential
    case strictlyConfidential = "strictly_confidential"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
    private var rank: Int { Self.allCases.firstIndex(of: self)! }
}

/// How personal the data is, in rising order of sensitivity (GDPR Art. 4, 9).
public enum PersonalDataCategory: String, CaseIterable, Sendable, Codable, Hashable, Comparable {
    case none, anonymised, pseudonymised, personal
    case specialCategory = "special_category"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
    private var rank: Int { Self.allCases.firstIndex(of: self)! }
}

/// The BSI IT-Grundschutz protection need (Schutzbedarf), in rising order.
public enum ProtectionNeed: String, CaseIterable, Sendable, Codable, Hashable, Comparable {
    case normal, high
    case veryHigh = "very_high"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
    private var rank: Int { Self.allCases.firstIndex(of: self)! }
}

/// Whether a Shared Data recipient belongs to the city administration.
public enum Recipient: String, CaseIterable, Sendable, Codable, Hashable {
    case `internal`, external
}

/// Who decides a step. Built-in roles are resolved by the server from the catalogue (owner, steward)
/// and from LDAP groups (the others); `custom` names an LDAP-group role declared in configuration.
public enum Role: Hashable, Sendable, Codable, CustomStringConvertible {
    case dataOwner
    case dataSteward
    case dsb
    case isb
    case openDataOfficer
    case governance
    case custom(String)

    public static let builtIn: [Role] = [.dataOwner, .dataSteward, .dsb, .isb, .openDataOfficer, .governance]

    public init(identifier: String) {
        switch identifier {
        case "data_owner": self = .dataOwner
        case "data_steward": self = .dataSteward
        case "dsb": self = .dsb
        case "isb": self = .isb
        case "open_data_officer": self = .openDataOfficer
        case "governance": self = .governance
        default: self = .custom(identifier)
        }
    }

    public var identifier: String {
        switch self {
        case .dataOwner: "data_owner"
        case .dataSteward: "data_steward"
        case .dsb: "dsb"
        case .isb: "isb"
        case .openDataOfficer: "open_data_officer"
        case .governance: "governance"
        case .custom(let name): name
        }
    }

    /// DSB and ISB are independent controllers: nobody may decide in their place, not even the
    /// escalation instance.
    public var isIndependentController: Bool {
        switch self {
        case .dsb, .isb: true
        case .dataOwner, .dataSteward, .openDataOfficer, .governance, .custom: false
        }
    }

    public var description: String { identifier }

    public init(from decoder: any Decoder) throws {
        self.init(identifier: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(identifier)
    }
}

/// A text in German (always) and English (optional; German is shown where it is missing).
public struct LocalizedText: Hashable, Sendable, Codable {
    public var de: String
    public var en: String?

    public init(de: String, en: String? = nil) {
        self.de = de
        self.en = en
    }
}
