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
    /// `recipient.name`: who receives the data, e.g. "Stadtwerke Beispielstadt GmbH". Required to submit;
    /// a draft may keep the type without it (nil).
    public var name: String?
    /// `recipient.type`: `internal` (a unit of the administration) or `external`. Required to submit; a
    /// draft may keep the name without it (nil), and routing then sees no recipient.
    public var type: Recipient?

    public init(name: String?, type: Recipient?) {
        self.name = name
        self.type = type
    }
}

/// One answer of the Open Data release check: does the exception apply (`true` = "ja")? A "ja" needs
/// a note explaining why publication is still possible (checked at submission).
///
/// A draft may hold a question not answered yet (`applies` nil), with or without a note written ahead:
/// the note is kept, the question counts as unanswered.
public struct CheckAnswer: Sendable, Hashable, Codable {
    /// nil: not answered yet (only in a draft; submission demands every answer).
    public var applies: Bool?
    public var note: String?

    public init(applies: Bool?, note: String? = nil) {
        self.applies = applies
        self.note = note
    }

    /// Neither answered nor noted: the question as an empty form leaves it.
    public static let unanswered = CheckAnswer(applies: nil)

    var isUnanswered: Bool { applies == nil && note == nil }
}

/// The answers to the Open Data release check (DOMAIN.md, § 12a EGovG). JSON field `open_data_check`.
///
/// A draft may hold part of the check: a question not answered is ``CheckAnswer/unanswered`` here and
/// absent from the JSON (stored and API alike; a complete check encodes as it always did). Everything
/// that decides (`submit_requires` and the routing by exclusions) sees only a ``complete`` check.
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

    /// Every question answered "ja" or "nein".
    public var isComplete: Bool { namedAnswers.allSatisfy { $0.answer.applies != nil } }

    /// The check as the engine may see it: itself when every question is answered, else nil (a partial
    /// check is no check given, and routes on no exclusion).
    public var complete: OpenDataCheck? { isComplete ? self : nil }

    /// Nothing answered and nothing noted.
    var isEmpty: Bool { namedAnswers.allSatisfy { $0.answer.isUnanswered } }

    /// The exclusions answered with "applies", for routing (of a ``complete`` check).
    public var applying: Set<CheckExclusion> {
        let answers: [(CheckExclusion, CheckAnswer)] = [
            (.personalReference, personalReference), (.tradeSecrets, tradeSecrets),
            (.thirdPartyRights, thirdPartyRights), (.security, security), (.confidentiality, confidentiality),
        ]
        return Set(answers.filter { $0.1.applies == true }.map(\.0))
    }

    public init(
        personalReference: CheckAnswer = .unanswered, tradeSecrets: CheckAnswer = .unanswered,
        thirdPartyRights: CheckAnswer = .unanswered, security: CheckAnswer = .unanswered,
        confidentiality: CheckAnswer = .unanswered
    ) {
        self.personalReference = personalReference
        self.tradeSecrets = tradeSecrets
        self.thirdPartyRights = thirdPartyRights
        self.security = security
        self.confidentiality = confidentiality
    }

    /// The check from ``namedAnswers``' names (a name missing is unanswered); nil for any other name.
    init?(named answers: [String: CheckAnswer]) {
        guard Set(answers.keys).isSubset(of: Self.questions) else { return nil }
        self.init(
            personalReference: answers["personal_reference"] ?? .unanswered,
            tradeSecrets: answers["trade_secrets"] ?? .unanswered,
            thirdPartyRights: answers["third_party_rights"] ?? .unanswered,
            security: answers["security"] ?? .unanswered, confidentiality: answers["confidentiality"] ?? .unanswered)
    }

    /// The five questions' API names, in the form's order.
    static let questions = [
        "personal_reference", "trade_secrets", "third_party_rights", "security", "confidentiality",
    ]

    /// The five answers under their API names (`personal_reference`, ...), in the form's order.
    var namedAnswers: [(name: String, answer: CheckAnswer)] {
        [
            ("personal_reference", personalReference), ("trade_secrets", tradeSecrets),
            ("third_party_rights", thirdPartyRights), ("security", security), ("confidentiality", confidentiality),
        ]
    }

    private enum CodingKeys: String, CodingKey {
        case personalReference, tradeSecrets, thirdPartyRights, security, confidentiality
    }

    /// An unanswered question is left out, so a complete check encodes exactly as before drafts could
    /// hold part of it (stored rows, snapshots and API answers written by older versions read the same).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let answers: [(CodingKeys, CheckAnswer)] = [
            (.personalReference, personalReference), (.tradeSecrets, tradeSecrets),
            (.thirdPartyRights, thirdPartyRights), (.security, security), (.confidentiality, confidentiality),
        ]
        for (key, answer) in answers where !answer.isUnanswered { try container.encode(answer, forKey: key) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func answer(_ key: CodingKeys) throws -> CheckAnswer {
            try container.decodeIfPresent(CheckAnswer.self, forKey: key) ?? .unanswered
        }
        self.init(
            personalReference: try answer(.personalReference), tradeSecrets: try answer(.tradeSecrets),
            thirdPartyRights: try answer(.thirdPartyRights), security: try answer(.security),
            confidentiality: try answer(.confidentiality))
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
