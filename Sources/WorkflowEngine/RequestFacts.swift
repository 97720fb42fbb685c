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
    /// The exclusions of the Open Data check the requester said apply (each with a note why the data may
    /// still be published): routing can send such a request to whoever must weigh them.
    public var checkExclusions: Set<CheckExclusion>

    public init(
        kind: ReleaseKind,
        classification: Classification,
        personalData: PersonalDataCategory,
        protectionNeed: ProtectionNeed,
        recipient: Recipient? = nil,
        highValue: Bool = false,
        hasAnonymisationStatement: Bool = false,
        hasLegalBasis: Bool = false,
        hasOpenDataCheck: Bool = false,
        checkExclusions: Set<CheckExclusion> = []
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
        self.checkExclusions = checkExclusions
    }

    private enum CodingKeys: String, CodingKey {
        case kind, classification, personalData, protectionNeed, recipient, highValue, hasAnonymisationStatement
        case hasLegalBasis, hasOpenDataCheck, checkExclusions
    }

    /// The exclusions only when one applies, in a fixed order: a request without them is stored exactly
    /// as before they existed.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(classification, forKey: .classification)
        try container.encode(personalData, forKey: .personalData)
        try container.encode(protectionNeed, forKey: .protectionNeed)
        try container.encodeIfPresent(recipient, forKey: .recipient)
        try container.encode(highValue, forKey: .highValue)
        try container.encode(hasAnonymisationStatement, forKey: .hasAnonymisationStatement)
        try container.encode(hasLegalBasis, forKey: .hasLegalBasis)
        try container.encode(hasOpenDataCheck, forKey: .hasOpenDataCheck)
        if !checkExclusions.isEmpty {
            try container.encode(CheckExclusion.allCases.filter(checkExclusions.contains), forKey: .checkExclusions)
        }
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
            hasOpenDataCheck: try container.decodeIfPresent(Bool.self, forKey: .hasOpenDataCheck) ?? false,
            checkExclusions: Set(try container.decodeIfPresent([CheckExclusion].self, forKey: .checkExclusions) ?? []))
    }
}

/// An exclusion of the Open Data check (§ 12a EGovG and the state laws modelled on it).
public enum CheckExclusion: String, CaseIterable, Sendable, Codable, Hashable {
    /// Can anyone be re-identified?
    case personalReference = "personal_reference"
    /// Trade or business secrets of third parties.
    case tradeSecrets = "trade_secrets"
    /// Third-party copyright or usage rights.
    case thirdPartyRights = "third_party_rights"
    /// Security-relevant content (critical infrastructure, locations that must stay secret).
    case security
    /// Confidentiality duties, ongoing proceedings, internal deliberation.
    case confidentiality
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
    /// Whether the requester said this exclusion of the Open Data check applies (`check_security`, ...).
    case checkPersonalReference = "check_personal_reference"
    case checkTradeSecrets = "check_trade_secrets"
    case checkThirdPartyRights = "check_third_party_rights"
    case checkSecurity = "check_security"
    case checkConfidentiality = "check_confidentiality"

    /// The exclusion a `check_…` attribute asks about.
    public var exclusion: CheckExclusion? {
        switch self {
        case .checkPersonalReference: .personalReference
        case .checkTradeSecrets: .tradeSecrets
        case .checkThirdPartyRights: .thirdPartyRights
        case .checkSecurity: .security
        case .checkConfidentiality: .confidentiality
        case .kind, .classification, .personalData, .protectionNeed, .recipient, .highValue, .anonymisationStatement:
            nil
        }
    }

    /// The kinds whose requests give the attribute a value of their own: the recipient is Shared Data's
    /// (Open Data's is always `none`), the Open Data check's answers are Open Data's (Shared Data's
    /// always `false`).
    public var variesIn: Set<ReleaseKind> {
        switch self {
        case .recipient: [.sharedData]
        case .checkPersonalReference, .checkTradeSecrets, .checkThirdPartyRights, .checkSecurity, .checkConfidentiality:
            [.openData]
        case .kind, .classification, .personalData, .protectionNeed, .highValue, .anonymisationStatement:
            [.sharedData, .openData]
        }
    }

    /// Whether the attribute's values are `true` and `false`.
    public var isBoolean: Bool { self == .highValue || self == .anonymisationStatement || exclusion != nil }

    /// The values, in rising order where `isOrdered`.
    public var values: [String] {
        switch self {
        case .kind: ReleaseKind.allCases.map(\.rawValue)
        case .classification: Classification.allCases.map(\.rawValue)
        case .personalData: PersonalDataCategory.allCases.map(\.rawValue)
        case .protectionNeed: ProtectionNeed.allCases.map(\.rawValue)
        case .recipient: Recipient.allCases.map(\.rawValue) + ["none"]
        case _ where isBoolean: ["false", "true"]
        default: []
        }
    }

    /// Whether `at_least` / `at_most` make sense for this attribute.
    public var isOrdered: Bool {
        switch self {
        case .classification, .personalData, .protectionNeed: true
        default: false
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
        case .checkPersonalReference, .checkTradeSecrets, .checkThirdPartyRights, .checkSecurity, .checkConfidentiality:
            String(attribute.exclusion.map(checkExclusions.contains) ?? false)
        }
    }
}
