import Foundation
import WorkflowEngine

// Inputs of the RequestService commands: plain values the HTTP layer decodes from JSON or forms. The
// service trims every text, refuses control characters other than \n \r \t, checks the limits
// (`InputLimits`) and the rules of the domain, and reports every problem at once
// (`ServiceError.fieldErrors`, keyed by the JSON field names given in the doc comments).
//
// All inputs and views are `Codable` with their Swift property names; the JSON API encodes and decodes
// them with `.convertToSnakeCase` / `.convertFromSnakeCase` (so `datasetID` is `dataset_id`).

/// Length limits, in characters (grapheme clusters).
public enum InputLimits {
    /// purpose, legal basis, anonymisation statement, open data check notes.
    public static let longText = 4000
    /// comments, reasons, questions.
    public static let comment = 4000
    /// names: recipient, licence, format, ids.
    public static let name = 200
    /// portal URL.
    public static let url = 2000
}

/// A Shared Data recipient.
public struct RecipientInput: Sendable, Hashable, Codable {
    /// `recipient.name`: who receives the data, e.g. "Stadtwerke Beispielstadt GmbH".
    public var name: String
    /// `recipient.type`: `internal` (a unit of the administration) or `external`.
    public var type: Recipient

    public init(name: String, type: Recipient) {
        self.name = name
        self.type = type
    }
}

/// One answer of the Open Data release check: does the exception apply (`true` = "ja")? A "ja" needs
/// a note explaining why publication is still possible.
public struct CheckAnswer: Sendable, Hashable, Codable {
    public var applies: Bool
    public var note: String?

    public init(applies: Bool, note: String? = nil) {
        self.applies = applies
        self.note = note
    }
}

/// The answers to the Open Data release check (DOMAIN.md, § 12a EGovG). JSON field `open_data_check`.
public struct OpenDataCheck: Sendable, Hashable, Codable {
    /// Can anyone be re-identified?
    public var personalReference: CheckAnswer
    /// Trade or business secrets of third parties?
    public var tradeSecrets: CheckAnswer
    /// Third-party copyright or usage rights (does the city lack the right to publish)?
    public var thirdPartyRights: CheckAnswer
    /// Security-relevant content (critical infrastructure, locations that must stay secret)?
    public var security: CheckAnswer
    /// Confidentiality duties, ongoing proceedings, internal deliberation?
    public var confidentiality: CheckAnswer

    /// The exclusions answered with "applies", for routing.
    public var applying: Set<CheckExclusion> {
        let answers: [(CheckExclusion, CheckAnswer)] = [
            (.personalReference, personalReference), (.tradeSecrets, tradeSecrets),
            (.thirdPartyRights, thirdPartyRights), (.security, security), (.confidentiality, confidentiality),
        ]
        return Set(answers.filter { $0.1.applies }.map(\.0))
    }

    public init(
        personalReference: CheckAnswer, tradeSecrets: CheckAnswer, thirdPartyRights: CheckAnswer,
        security: CheckAnswer, confidentiality: CheckAnswer
    ) {
        self.personalReference = personalReference
        self.tradeSecrets = tradeSecrets
        self.thirdPartyRights = thirdPartyRights
        self.security = security
        self.confidentiality = confidentiality
    }
    /// The check from ``namedAnswers``' names; nil unless all five are there (and nothing else).
    init?(named answers: [String: CheckAnswer]) {
        guard answers.count == 5, let personal = answers["personal_reference"],
            let secrets = answers["trade_secrets"], let rights = answers["third_party_rights"],
            let security = answers["security"], let confidentiality = answers["confidentiality"]
        else { return nil }
        self.init(
            personalReference: personal, tradeSecrets: secrets, thirdPartyRights: rights, security: security,
            confidentiality: confidentiality)
    }

    /// The five answers under their API names (`personal_reference`, ...), in the form's order.
    var namedAnswers: [(name: String, answer: CheckAnswer)] {
        [
            ("personal_reference", personalReference), ("trade_secrets", tradeSecrets),
            ("third_party_rights", thirdPartyRights), ("security", security), ("confidentiality", confidentiality),
        ]
    }
}

/// A new request (`createRequest`). Field names of errors in brackets.
public struct NewRequest: Sendable, Hashable, Codable {
    /// [`kind`] Shared Data or Open Data.
    public var kind: ReleaseKind
    /// [`dataset_id`] A dataset of the catalogue.
    public var datasetID: String
    /// What the requester states; the JSON body carries these fields beside `kind` and `dataset_id`.
    public var details: RequestDetails
    /// Submit at once instead of saving a draft.
    public var submit: Bool

    public init(kind: ReleaseKind, datasetID: String, details: RequestDetails, submit: Bool = false) {
        self.kind = kind
        self.datasetID = datasetID
        self.details = details
        self.submit = submit
    }
}

/// The requester's answer to a question (`resubmit`): a comment and any changed fields. Changing a field
/// that routing looks at (recipient type, facts) restarts the workflow.
public struct Resubmission: Sendable, Hashable, Codable {
    /// [`comment`] The answer to the question.
    public var comment: String?
    public var changes: RequestDetails.Patch

    public init(comment: String? = nil, changes: RequestDetails.Patch = RequestDetails.Patch()) {
        self.comment = comment
        self.changes = changes
    }
}

/// A decision on the current step (`decide`).
public enum DecisionInput: Sendable, Hashable, Codable {
    /// [`comment`, `licence`, `portal_url`] The publishing step requires licence and portal URL.
    case approve(comment: String?, licence: String?, portalURL: String?)
    /// [`reason`] Required.
    case reject(reason: String)
    /// [`question`] Required.
    case requestChanges(question: String)

    /// `approve`, `reject`, `request_changes`.
    public var name: String {
        switch self {
        case .approve: "approve"
        case .reject: "reject"
        case .requestChanges: "request_changes"
        }
    }
}

/// A new deputyship (`createDeputyship`): `deputy` may act for `principal` from `validFrom` (inclusive)
/// to `validUntil` (exclusive).
public struct NewDeputyship: Sendable, Hashable, Codable {
    /// [`principal`] nil: the caller. Only administrators may name someone else.
    public var principal: String?
    /// [`deputy`] A uid; not the principal.
    public var deputy: String
    /// [`valid_from`]
    public var validFrom: Date
    /// [`valid_until`] After `validFrom` and in the future.
    public var validUntil: Date

    public init(principal: String? = nil, deputy: String, validFrom: Date, validUntil: Date) {
        self.principal = principal
        self.deputy = deputy
        self.validFrom = validFrom
        self.validUntil = validUntil
    }
}

/// A filter for the catalogue (`datasets`).
public struct DatasetQuery: Sendable, Hashable, Codable {
    /// Words searched in id, title and description (case-insensitive; all must occur).
    public var text: String?
    public var domain: String?
    public var classification: Classification?
    /// Only datasets this person owns (their uid, case-insensitive; not those of an owner group).
    public var owner: String?
    public var limit: Int
    public var offset: Int

    public init(
        text: String? = nil, domain: String? = nil, classification: Classification? = nil, owner: String? = nil,
        limit: Int = 50, offset: Int = 0
    ) {
        self.text = text
        self.domain = domain
        self.classification = classification
        self.owner = owner
        self.limit = limit
        self.offset = offset
    }
}

/// A filter for `myRequests`.
public struct RequestQuery: Sendable, Hashable, Codable {
    /// Only requests in this phase.
    public var phase: RequestPhase?
    public var limit: Int
    public var offset: Int

    public init(phase: RequestPhase? = nil, limit: Int = 50, offset: Int = 0) {
        self.phase = phase
        self.limit = limit
        self.offset = offset
    }
}

/// A security-relevant event the HTTP layer reports (failed login, forbidden page, CSRF failure, ...).
public struct SecurityEvent: Sendable, Hashable {
    /// e.g. `.loginFailed`, `.forbidden`.
    public var event: AuditEvent
    /// The user name given or authenticated, if any.
    public var actor: String?
    public var requestID: UUID?
    public var datasetID: String?
    public var clientAddress: String?
    /// Anything useful for an investigation, never a password.
    public var details: [String: String]

    public init(
        event: AuditEvent, actor: String? = nil, requestID: UUID? = nil, datasetID: String? = nil,
        clientAddress: String? = nil, details: [String: String] = [:]
    ) {
        self.event = event
        self.actor = actor
        self.requestID = requestID
        self.datasetID = datasetID
        self.clientAddress = clientAddress
        self.details = details
    }
}
