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

/// The open licences data is published under (DOMAIN.md: Datenlizenz Deutschland and Creative Commons);
/// the identifiers are those of the catalogue and the DCAT output.
public enum OpenLicence: String, CaseIterable, Sendable, Codable, Hashable {
    /// Datenlizenz Deutschland – Namensnennung – Version 2.0.
    case dlDeBy = "dl-de-by-2.0"
    /// Datenlizenz Deutschland – Zero – Version 2.0.
    case dlDeZero = "dl-de-zero-2.0"
    /// Creative Commons Namensnennung 4.0 International.
    case ccBy = "cc-by-4.0"
    /// Creative Commons Zero 1.0 Universal.
    case cc0 = "cc0-1.0"

    /// The licence a text names: its identifier, a usual spelling of it ("DL-DE/BY-2-0", "CC BY 4.0"),
    /// its German or English name, or its DCAT-AP.de URI; nil for any other licence.
    public init?(named text: String) {
        // Letters and digits only, lower case: "DL-DE/BY-2-0", "dl-de-by-2.0" and "dl by de 2.0" are one key.
        let key = String(
            text.lowercased().replacingOccurrences(of: "http://dcat-ap.de/def/licenses/", with: "")
                .unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains(Character($0)) }
                .map(Character.init))
        switch key {
        case "dldeby20", "dlbyde20", "dldeby2", "datenlizenzdeutschlandnamensnennung20",
            "datenlizenzdeutschlandnamensnennungversion20", "datalicencegermanyattributionversion20",
            "datalicensegermanyattributionversion20":
            self = .dlDeBy
        case "dldezero20", "dlzerode20", "dldezero2", "datenlizenzdeutschlandzero20",
            "datenlizenzdeutschlandzeroversion20", "datalicencegermanyzeroversion20", "datalicensegermanyzeroversion20":
            self = .dlDeZero
        case "ccby40", "ccby4", "creativecommonsnamensnennung40", "creativecommonsattribution40",
            "creativecommonsnamensnennung40international", "creativecommonsattribution40international",
            "creativecommonsnamensnennung40internationalccby40", "creativecommonsattribution40internationalccby40":
            self = .ccBy
        case "cc010", "cc0", "cczero", "ccbyzero", "cc010universal", "creativecommonszero", "creativecommonscczero",
            "creativecommonscc0", "creativecommonszero10", "creativecommonszero10cc010",
            "creativecommonszero10universal":
            self = .cc0
        default:
            return nil
        }
    }
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
/// and from LDAP groups (the others); `custom` names a role a parser's caller declares
/// (``DefinitionParser/customRoles``). Freigabe declares none (there is no setting for one, and the
/// directory's role groups, the pages and the API know only the six): a workflow naming another role is
/// refused at its line, at start and by `freigabe workflow validate`.
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
