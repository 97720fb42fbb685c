import Foundation
import WorkflowEngine

// What the RequestService answers: plain Codable values, ready for the JSON API and the pages. Texts
// for people come as `LocalizedText` (German always, English where the definition has it); states,
// roles and outcomes as the engine's stable identifiers, which the templates translate.

/// The coarse phase of a request, for lists and filters.
public enum RequestPhase: String, Sendable, Hashable, Codable, CaseIterable {
    case draft
    case inReview = "in_review"
    case changesRequested = "changes_requested"
    /// Shared Data access is live.
    case granted
    /// Open Data was published.
    case published
    /// Ended otherwise: rejected, withdrawn, expired, revoked.
    case closed
}

/// A dataset of the catalogue.
public struct DatasetView: Sendable, Hashable, Codable {
    public var id: String
    public var title: String
    public var description: String
    public var domain: String
    public var domainTitle: String
    /// uid of the Data Owner, or nil when a group owns the dataset.
    public var owner: String?
    /// DN of the owning group, or nil when a person owns the dataset.
    public var ownerGroup: String?
    public var classification: Classification
    public var personalData: PersonalDataCategory
    public var protectionNeed: ProtectionNeed
    /// The licence the dataset is (or would be) published under; nil when none is set.
    public var licence: String?
    /// EU implementing regulation 2023/138.
    public var highValue: Bool
    public var formats: [String]
    public var updatedAt: Date

    public init(
        id: String, title: String, description: String, domain: String, domainTitle: String, owner: String?,
        ownerGroup: String?, classification: Classification, personalData: PersonalDataCategory,
        protectionNeed: ProtectionNeed, licence: String?, highValue: Bool, formats: [String], updatedAt: Date
    ) {
        self.id = id
        self.title = title
        self.description = description
        self.domain = domain
        self.domainTitle = domainTitle
        self.owner = owner
        self.ownerGroup = ownerGroup
        self.classification = classification
        self.personalData = personalData
        self.protectionNeed = protectionNeed
        self.licence = licence
        self.highValue = highValue
        self.formats = formats
        self.updatedAt = updatedAt
    }
}

/// A data domain (Datendomäne); it reads back exactly as the catalogue writes it.
public typealias DomainView = DomainInput

/// The workflow a request is pinned to.
public struct WorkflowRef: Sendable, Hashable, Codable {
    public var id: String
    public var version: Int
    public var contentHash: String
    public var title: LocalizedText
}

/// Where a request stands, ready for "bei der Datenschutzprüfung seit 3 Arbeitstagen".
public struct RequestStatus: Sendable, Hashable, Codable {
    public var phase: RequestPhase
    /// The engine's state name, e.g. `in_review:privacy_review`, `closed:withdrawn`.
    public var state: String
    /// The step that waits (in review) or asked (changes requested).
    public var step: String?
    public var stepTitle: LocalizedText?
    /// Roles whose decision the step still waits for (engine identifiers, e.g. `dsb`).
    public var waitingFor: [String]
    /// Since when the request is in this step / phase.
    public var since: Date?
    public var deadline: Date?
    /// Working days (Arbeitstage) since `since`, counted as deadlines are.
    public var workingDaysWaited: Int?
    public var overdue: Bool
    /// The step passed its deadline and the escalation role was told.
    public var escalated: Bool
    /// The open question, while changes are requested.
    public var question: String?
    /// The end reached (granted/published/closed), e.g. `rejected`.
    public var end: String?
    public var endTitle: LocalizedText?
    /// Shared Data: when granted access ends.
    public var grantedUntil: Date?
    /// In review: per role in `waitingFor`, the uids separation of duties keeps from deciding it, sorted
    /// (the engine's ``RequestMachine/keptFromDeciding(_:)``): whoever names the people who must act
    /// leaves them out, as the task mail does.
    public var keptFromDeciding: [String: [String]]?
    /// With `workingDaysWaited`: whether `since` is today in the city's calendar. Zero working days is
    /// not "since today" on a Sunday for a request that arrived on Friday evening.
    public var sinceToday: Bool?
}

/// One part of a routing condition as it decided for the request (the engine's
/// `ConditionExplanation.Atom`): why a step or branch applies or is skipped.
public struct ConditionAtomView: Sendable, Hashable, Codable {
    /// The attribute tested, e.g. `personal_data`.
    public var attribute: String
    /// `one_of`, `at_least` or `at_most`.
    public var `operator`: String
    /// Whether the test stands under a `not` (it holds when the comparison fails).
    public var negated: Bool
    /// The bound of `at_least`/`at_most`; the values of `one_of`.
    public var bounds: [String]
    /// The request's value of the attribute.
    public var actual: String
    /// Whether the test (with its negation) held.
    public var held: Bool

    init(_ atom: ConditionExplanation.Atom) {
        attribute = atom.attribute.rawValue
        self.operator = atom.comparison.rawValue
        negated = atom.negated
        bounds = atom.bounds
        actual = atom.actual
        held = atom.held
    }
}

/// Why a step or branch applies, from the engine's `PathEntry.Applying`.
public enum ApplyReason: String, Sendable, Hashable, Codable {
    /// It has no condition.
    case always
    /// Its condition holds (`applies_because` says how).
    case conditionHolds = "condition_holds"
    /// Its condition no longer holds, but it asked the requester a question in this request.
    case askedQuestion = "asked_question"
}

/// One step of the timeline, in workflow order.
public struct TimelineStep: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// Approved (in the current round).
        case done
        /// Waiting for a decision now (or for the requester's answer).
        case current
        /// Still to come.
        case pending
        /// Skipped: its condition does not hold, or a Personalunion decision covered it.
        case skipped
        /// Where the request was rejected.
        case rejected
        /// Where the escalation instance closed the request nobody moved on (`discontinued`).
        case discontinued
        /// Never reached: the request ended before it.
        case notReached = "not_reached"
    }

    public struct BranchView: Sendable, Hashable, Codable {
        public var id: String
        public var title: LocalizedText
        public var role: String
        public var quorum: Int
        /// Whether the branch's condition holds for this request.
        public var applies: Bool
        /// uids who approved the branch in the current round.
        public var approvedBy: [String]
        /// Why the branch applies; nil when it does not.
        public var applyReason: ApplyReason? = nil
        /// The parts of its condition that made it apply (with `condition_holds`).
        public var appliesBecause: [ConditionAtomView]? = nil
        /// `conditionNotMet` (its own condition) or `stepDoesNotApply` when it does not apply.
        public var skipReason: SkipReason? = nil
        /// The parts of its condition that failed (with `condition_not_met`).
        public var skippedBecause: [ConditionAtomView]? = nil
    }

    public var id: String
    public var title: LocalizedText
    public var status: Status
    /// `conditionNotMet`, `noBranchApplies` (a parallel step) or `personalUnion` when skipped.
    public var skipReason: SkipReason?
    /// Why the step applies (also when a Personalunion decision covered it); nil when its condition
    /// does not hold.
    public var applyReason: ApplyReason? = nil
    /// The parts of its condition that made it apply (with `condition_holds`).
    public var appliesBecause: [ConditionAtomView]? = nil
    /// The parts of its condition that failed, when it is skipped because its condition does not hold;
    /// nil for a parallel step none of whose branches applies (its branches say why).
    public var skippedBecause: [ConditionAtomView]? = nil
    /// Roles that decide this step (one per branch).
    public var roles: [String]
    public var branches: [BranchView]
    /// Deadline of the current step.
    public var deadline: Date?
    /// Roles whose decision the current step still waits for.
    public var waitingFor: [String]
}

/// One recorded decision.
public struct DecisionView: Sendable, Hashable, Codable {
    public var person: String
    public var actingFor: String?
    public var role: String
    public var asEscalation: Bool
    public var step: String
    public var branch: String
    public var outcome: Decision.Outcome
    public var at: Date
    public var comment: String?
    /// Steps this decision covers (two for an Owner + Steward Personalunion).
    public var covers: [String]
    public var licence: String?
    public var portalURL: String?
}

/// The actions the caller may take on the request now (for buttons and links).
public enum RequestAction: String, Sendable, Hashable, Codable, CaseIterable {
    case submit, edit, withdraw, resubmit, decide, revoke
    /// Close a request nobody moves on as withdrawn (the escalation instance, once the others' time ran out).
    case discontinue
}

/// The requester's answer to a question.
public struct AnswerView: Sendable, Hashable, Codable {
    public var person: String
    /// The step that asked.
    public var step: String?
    public var text: String
    public var at: Date
}

/// The requester's withdrawal, from its recorded `withdrawn` event: who, when, at which step (nil for a
/// draft) and why, when they said so.
public struct WithdrawalView: Sendable, Hashable, Codable {
    public var person: String
    /// The step the request waited at (nil: withdrawn as a draft).
    public var step: String?
    public var comment: String?
    public var at: Date
}

/// `freigabe audit redact` erased the free texts of a request closed, or abandoned (a draft, an unanswered
/// question), before the retention period's cut-off (`requests.redaction_id` → `audit_redactions`): when,
/// and who ran it, so that a reader years later learns why the purpose (and an open question) is a dash
/// and the comments are gone.
public struct TextErasure: Sendable, Hashable, Codable {
    /// `audit_redactions.redacted_at`, the database's time of the erasure.
    public var at: Date
    /// `audit_redactions.redacted_by`: the uid given as `--actor` (else the OS account).
    public var by: String
}

/// How the caller may decide the request now, as the engine answers it: the decision form of the
/// request page and of the mail's confirm page is built from this, never from a rule of its own.
public struct DecisionOptions: Sendable, Hashable, Codable {
    public var step: String
    public var branch: String
    /// The role decided in.
    public var role: String
    public var capacity: DecisionCapacity
    /// The principal, when deciding as deputy.
    public var actingFor: String?
    /// The step an approval would also cover (Owner and Steward in one person).
    public var coversStep: String?
    /// What an approval must carry (`licence`, `portal_url`).
    public var approvalRequires: [ApprovalField]
    /// False when an approval would grant an access period that ran out during the review: then only
    /// rejecting or asking (for a new end) is open.
    public var mayApprove: Bool
    public var mayRequestChanges: Bool
}

/// In which capacity the caller may close (discontinue) the request now, as the engine answers it: the
/// request page's "Antrag einstellen" says so before the button.
public struct DiscontinueOptions: Sendable, Hashable, Codable {
    /// The escalation role closed in.
    public var role: String
    /// `escalation` in the caller's own right, `escalation_deputy` for ``actingFor``.
    public var capacity: DecisionCapacity
    public var actingFor: String?
}

/// A request with everything the detail page and the API show. In JSON the requester's `details` stand
/// flat beside the other fields, as in the body that created the request.
@dynamicMemberLookup
public struct RequestView: Sendable, Hashable {
    public var id: UUID
    /// Human-readable number, e.g. `FG-2026-000123`.
    public var number: String
    public var kind: ReleaseKind
    public var dataset: DatasetView
    /// What the dataset was when the request was routed (nil for a draft, routed at its submission):
    /// `dataset` is the catalogue now, which a later change may have moved without re-routing the request.
    public var routedOn: RoutedDatasetFacts? = nil
    public var requester: String
    public var details: RequestDetails
    public var workflow: WorkflowRef
    public var status: RequestStatus
    public var timeline: [TimelineStep]
    public var decisions: [DecisionView]
    /// What the caller may do now.
    public var allowedActions: [RequestAction]
    /// How the caller may decide now; nil when they may not.
    public var decisionOptions: DecisionOptions?
    /// How the caller may close the request now; nil when they may not.
    public var discontinueOptions: DiscontinueOptions? = nil
    /// The requester's answers to questions, oldest first (in `GET /requests/{id}`; a command's answer
    /// leaves them out).
    public var answers: [AnswerView]? = nil
    /// Who withdrew the request, when and why (in `GET /requests/{id}`, from the recorded event).
    public var withdrawal: WithdrawalView? = nil
    /// Set when the request's free texts were erased after the retention period (in `GET /requests/{id}`;
    /// a command's answer leaves it out, as an erased request is closed and takes no command).
    public var textsErased: TextErasure? = nil
    /// Optimistic-locking version; raised by every change.
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var submittedAt: Date?

    /// `view.purpose` for `view.details.purpose`.
    public subscript<Value>(dynamicMember keyPath: KeyPath<RequestDetails, Value>) -> Value {
        details[keyPath: keyPath]
    }
}

extension RequestView: Codable {
    private enum CodingKeys: String, CodingKey {
        case id, number, kind, dataset, routedOn, requester, workflow, status, timeline, decisions, allowedActions,
            decisionOptions, discontinueOptions, answers, withdrawal, textsErased, version, createdAt, updatedAt,
            submittedAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(UUID.self, forKey: .id)
        number = try container.decode(String.self, forKey: .number)
        kind = try container.decode(ReleaseKind.self, forKey: .kind)
        dataset = try container.decode(DatasetView.self, forKey: .dataset)
        routedOn = try container.decodeIfPresent(RoutedDatasetFacts.self, forKey: .routedOn)
        requester = try container.decode(String.self, forKey: .requester)
        details = try RequestDetails(from: decoder)
        workflow = try container.decode(WorkflowRef.self, forKey: .workflow)
        status = try container.decode(RequestStatus.self, forKey: .status)
        timeline = try container.decode([TimelineStep].self, forKey: .timeline)
        decisions = try container.decode([DecisionView].self, forKey: .decisions)
        allowedActions = try container.decode([RequestAction].self, forKey: .allowedActions)
        decisionOptions = try container.decodeIfPresent(DecisionOptions.self, forKey: .decisionOptions)
        discontinueOptions = try container.decodeIfPresent(DiscontinueOptions.self, forKey: .discontinueOptions)
        answers = try container.decodeIfPresent([AnswerView].self, forKey: .answers)
        withdrawal = try container.decodeIfPresent(WithdrawalView.self, forKey: .withdrawal)
        textsErased = try container.decodeIfPresent(TextErasure.self, forKey: .textsErased)
        version = try container.decode(Int.self, forKey: .version)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        updatedAt = try container.decode(Date.self, forKey: .updatedAt)
        submittedAt = try container.decodeIfPresent(Date.self, forKey: .submittedAt)
    }

    public func encode(to encoder: any Encoder) throws {
        // Both write into the same JSON object.
        try details.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(number, forKey: .number)
        try container.encode(kind, forKey: .kind)
        try container.encode(dataset, forKey: .dataset)
        try container.encodeIfPresent(routedOn, forKey: .routedOn)
        try container.encode(requester, forKey: .requester)
        try container.encode(workflow, forKey: .workflow)
        try container.encode(status, forKey: .status)
        try container.encode(timeline, forKey: .timeline)
        try container.encode(decisions, forKey: .decisions)
        try container.encode(allowedActions, forKey: .allowedActions)
        try container.encodeIfPresent(decisionOptions, forKey: .decisionOptions)
        try container.encodeIfPresent(discontinueOptions, forKey: .discontinueOptions)
        try container.encodeIfPresent(answers, forKey: .answers)
        try container.encodeIfPresent(withdrawal, forKey: .withdrawal)
        try container.encodeIfPresent(textsErased, forKey: .textsErased)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encodeIfPresent(submittedAt, forKey: .submittedAt)
    }
}

/// The dataset's facts a request was routed on, from the catalogue at its submission.
public struct RoutedDatasetFacts: Sendable, Hashable, Codable {
    public var classification: Classification
    public var personalData: PersonalDataCategory
    public var protectionNeed: ProtectionNeed
    public var highValue: Bool

    init(_ facts: RequestFacts) {
        classification = facts.classification
        personalData = facts.personalData
        protectionNeed = facts.protectionNeed
        highValue = facts.highValue
    }

    /// The catalogue's facts of the dataset now (a request routed on no others).
    init(_ dataset: DatasetView) {
        classification = dataset.classification
        personalData = dataset.personalData
        protectionNeed = dataset.protectionNeed
        highValue = dataset.highValue
    }
}

/// A request in a list.
public struct RequestSummary: Sendable, Hashable, Codable {
    public var id: UUID
    public var number: String
    public var kind: ReleaseKind
    public var datasetID: String
    public var datasetTitle: String
    public var requester: String
    public var purpose: String
    public var status: RequestStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var submittedAt: Date?
}

/// In what capacity a person may decide an inbox item.
public enum DecisionCapacity: String, Sendable, Hashable, Codable {
    /// In their own right (owner, steward, LDAP role).
    case own
    /// As deputy of `InboxItem.actingFor`.
    case deputy
    /// As the escalation instance of an overdue step.
    case escalation
    /// As the escalation instance of an overdue step, deputising for `actingFor`, who holds its role.
    case escalationDeputy = "escalation_deputy"

    init(_ capacity: DecisionAuthority.Capacity) {
        switch capacity {
        case .ownRole: self = .own
        case .deputy: self = .deputy
        case .escalation: self = .escalation
        case .escalationDeputy: self = .escalationDeputy
        }
    }
}

/// Something the caller must decide now.
public struct InboxItem: Sendable, Hashable, Codable {
    public var request: RequestSummary
    public var step: String
    public var stepTitle: LocalizedText
    /// The branch the caller would decide (the step id for plain steps).
    public var branch: String
    /// The role the caller decides in.
    public var role: String
    public var capacity: DecisionCapacity
    /// The principal, when deciding as deputy.
    public var actingFor: String?
    public var deadline: Date?
    public var since: Date
    public var workingDaysWaited: Int
    public var overdue: Bool
}

/// A deputyship (Vertretung).
public struct DeputyshipView: Sendable, Hashable, Codable {
    public var id: UUID
    public var principal: String
    public var deputy: String
    public var validFrom: Date
    /// Exclusive; moved to the end time when the deputyship was ended early.
    public var validUntil: Date
    public var createdBy: String
    public var createdAt: Date
    /// In force at the `now` of the call.
    public var active: Bool
}
