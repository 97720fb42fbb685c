/// The attributes of a request and its dataset that routing conditions may look at.
///
/// The server fills this from the catalogue and the request form when the request is submitted; the
/// engine keeps the copy it routed on, so a later catalogue change does not re-route a request in flight.
public struct RequestFacts: Hashable, Sendable, Codable {
    public var kind: ReleaseKind
    public var classification: Classification
    public var personalData: PersonalDataCategory
    public var protectionNeed: ProtectionNeed
    /// Only Shared Data has a recipient; Open Data goes to everyone.
    public var recipient: Recipient?
    /// EU implementing regulation 2023/138 high-value dataset.
    public var highValue: Bool
    /// Whether the requester stated how personal data was anonymised (required for Open Data of data
    /// that was ever personal).
    public var hasAnonymisationStatement: Bool
    /// Whether the requester named the legal basis for processing personal data (GDPR Art. 6).
    public var hasLegalBasis: Bool
    /// Whether the requester answered the questions of the Open Data check (§ 12a EGovG: rights of third
    /// parties, security, confidentiality).
    public var hasOpenDataCheck: Bool

    public init(
        kind: ReleaseKind,
        classification: Classification,
        personalData: PersonalDataCategory,
        protectionNeed: ProtectionNeed,
        recipient: Recipient? = nil,
        highValue: Bool = false,
        hasAnonymisationStatement: Bool = false,
        hasLegalBasis: Bool = false,
        hasOpenDataCheck: Bool = false
    ) {
        self.kind = kind
        self.classification = classification
        self.personalData = personalData
        self.protectionNeed = protectionNeed
        self.recipient = recipient
        self.highValue = highValue
        self.hasAnonymisationStatement = hasAnonymisationStatement
        self.hasLegalBasis = hasLegalBasis
        self.hasOpenDataCheck = hasOpenDataCheck
    }

    private enum CodingKeys: String, CodingKey {
        case kind, classification, personalData, protectionNeed, recipient, highValue, hasAnonymisationStatement
        case hasLegalBasis, hasOpenDataCheck
    }

    /// Decodes stored snapshots, also those written before `hasOpenDataCheck` existed (they lack the key;
    /// such requests were submitted when the server still checked the Open Data check itself).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try container.decode(ReleaseKind.self, forKey: .kind),
            classification: try container.decode(Classification.self, forKey: .classification),
            personalData: try container.decode(PersonalDataCategory.self, forKey: .personalData),
            protectionNeed: try container.decode(ProtectionNeed.self, forKey: .protectionNeed),
            recipient: try container.decodeIfPresent(Recipient.self, forKey: .recipient),
            highValue: try container.decode(Bool.self, forKey: .highValue),
            hasAnonymisationStatement: try container.decode(Bool.self, forKey: .hasAnonymisationStatement),
            hasLegalBasis: try container.decode(Bool.self, forKey: .hasLegalBasis),
            hasOpenDataCheck: try container.decodeIfPresent(Bool.self, forKey: .hasOpenDataCheck) ?? false)
    }
}

/// An attribute a condition can test, with the values it can take.
public enum Attribute: String, CaseIterable, Sendable, Codable, Hashable {
    case kind
    case classification
    case personalData = "personal_data"
    case protectionNeed = "protection_need"
    case recipient
    case highValue = "high_value"
    case anonymisationStatement = "anonymisation_statement"

    /// The values, in rising order where `isOrdered`.
    public var values: [String] {
        switch self {
        case .kind: ReleaseKind.allCases.map(\.rawValue)
        case .classification: Classification.allCases.map(\.rawValue)
        case .personalData: PersonalDataCategory.allCases.map(\.rawValue)
        case .protectionNeed: ProtectionNeed.allCases.map(\.rawValue)
        case .recipient: Recipient.allCases.map(\.rawValue) + ["none"]
        case .highValue, .anonymisationStatement: ["false", "true"]
        }
    }

    /// Whether `at_least` / `at_most` make sense for this attribute.
    public var isOrdered: Bool {
        switch self {
        case .classification, .personalData, .protectionNeed: true
        case .kind, .recipient, .highValue, .anonymisationStatement: false
        }
    }
}

extension RequestFacts {
    /// The value of an attribute as its identifier (one of `attribute.values`).
    public func value(of attribute: Attribute) -> String {
        switch attribute {
        case .kind: kind.rawValue
        case .classification: classification.rawValue
        case .personalData: personalData.rawValue
        case .protectionNeed: protectionNeed.rawValue
        case .recipient: recipient?.rawValue ?? "none"
        case .highValue: String(highValue)
        case .anonymisationStatement: String(hasAnonymisationStatement)
        }
    }
}
