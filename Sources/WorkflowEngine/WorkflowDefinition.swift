import Foundation

/// A workflow definition as parsed from `Workflows/*.yaml` (format: `Workflows/README.md`).
///
/// Definitions are values: a request keeps the definition it started with (see `WorkflowPin`), so
/// editing a YAML file never changes a request in flight.
public struct WorkflowDefinition: Hashable, Sendable {
    public var id: String
    public var version: Int
    public var title: LocalizedText
    public var kinds: Set<ReleaseKind>
    /// The node a submitted request enters first.
    public var start: String
    public var personalUnion: PersonalUnionRule
    /// Where a requester's resubmission goes after `request_changes`.
    public var resubmission: ResubmissionRule
    public var steps: [Step]
    public var ends: [EndState]
    /// The end a requester's withdrawal leads to.
    public var withdrawTo: String
    public var submitRequirements: [SubmitRequirement]
    /// SHA-256 of the YAML source, hex, as computed by the parser's caller (`ContentDigest`). Pins a
    /// request to exactly this text.
    public var contentHash: String
    /// Source lines of `start:` and `withdraw:`, for messages.
    var startLine = 1
    var withdrawLine = 1

    public var pin: WorkflowPin { WorkflowPin(id: id, version: version, contentHash: contentHash) }

    public func step(_ id: String) -> Step? { steps.first { $0.id == id } }
    public func end(_ id: String) -> EndState? { ends.first { $0.id == id } }
    public var nodeIDs: [String] { steps.map(\.id) + ends.map(\.id) }

    /// The roles that decide a step or branch of this workflow, each once, in the order the file names
    /// them: whom a request of it may be put to (which of them for one request, its planned path says).
    public var decidingRoles: [Role] { Self.decidingRoles(of: [self]) }

    /// The roles that decide a step or branch of any of `definitions`, each once, in their order.
    public static func decidingRoles(of definitions: [WorkflowDefinition]) -> [Role] {
        definitions.flatMap { $0.steps.flatMap(\.roles) }.reduce(into: []) { roles, role in
            if !roles.contains(role) { roles.append(role) }
        }
    }
    /// The escalation role of step `id`, nil if it has none (or there is no such step).
    public func escalationRole(of id: String) -> Role? { step(id)?.escalationRole }

    /// Active branches of the step `progress` is at that have not reached their quorum yet. Needs no
    /// calendar: whoever holds a stored state (the mail dispatcher, asking whether a queued task is still
    /// one) reads the same answer as ``RequestMachine/openBranches(of:)``.
    public func openBranches(of progress: StepProgress) -> [Branch] {
        guard let step = step(progress.step) else { return [] }
        return step.branches.filter { branch in
            progress.activeBranches.contains(branch.id)
                && progress.approvals[branch.id, default: []].count < branch.quorum
        }
    }

    /// Whether some approval can end in `granted`: such a workflow needs an access end on submission.
    public var canGrant: Bool { ends.contains { $0.type == .granted } }
}

/// Identifies the exact definition a request runs on.
public struct WorkflowPin: Hashable, Sendable, Codable, CustomStringConvertible {
    public var id: String
    public var version: Int
    public var contentHash: String

    public init(id: String, version: Int, contentHash: String) {
        self.id = id
        self.version = version
        self.contentHash = contentHash
    }

    public var description: String { "\(id)@\(version) (\(contentHash.prefix(12)))" }
}

/// What happens when one person is both the Data Owner and a Data Steward of the domain
/// ("Personalunion ist möglich").
public enum PersonalUnionRule: String, Hashable, Sendable, Codable, CaseIterable {
    /// One decision covers the owner step and the steward step right after it, recorded as covering both.
    case combine
    /// The person decides only one of the two; another steward must decide the other.
    case separate
}

public enum ResubmissionRule: String, Hashable, Sendable, Codable, CaseIterable {
    /// Back to the step that asked for changes: earlier steps' approvals stand, the step itself decides
    /// again on the changed request (its approvals so far, deadline and escalation start afresh).
    case sameStep = "same_step"
    /// Back to the start: every step decides again on the changed request.
    case restart
}

/// A decision point. A plain step has one branch (with the step's own id and role); a parallel step has
/// several branches that must all approve; a branch whose condition does not hold is skipped.
public struct Step: Hashable, Sendable {
    public var id: String
    public var title: LocalizedText
    /// When this does not hold as the request arrives, the step is skipped and the request goes on
    /// along `onApprove`. The skip is recorded.
    public var condition: Condition?
    public var branches: [Branch]
    public var isParallel: Bool
    public var deadline: Deadline?
    public var onApprove: String
    public var onReject: String
    public var allowsRequestChanges: Bool
    /// Details an approval of this step must carry (e.g. licence and portal URL when publishing).
    public var approvalRequires: [ApprovalField]
    /// Source line, for messages.
    public var line: Int
    /// The lines of its `on.approve` and `on.reject` targets, where a wrong one is fixed.
    public var onApproveLine: Int
    public var onRejectLine: Int

    public var roles: [Role] { branches.map(\.role) }
    /// Who is told once the step is overdue, and may then decide branches whose role is not an
    /// independent controller.
    public var escalationRole: Role? { deadline?.escalateTo }
}

public struct Branch: Hashable, Sendable {
    public var id: String
    public var title: LocalizedText
    public var role: Role
    /// Distinct members of the role who must approve.
    public var quorum: Int
    public var condition: Condition?
    /// Source line of the branch (of its step, for the one branch of a step with a role), for messages.
    public var line: Int
}

public struct Deadline: Hashable, Sendable {
    public var workingDays: Int
    /// A reminder this many working days before the deadline (nil: none).
    public var remindBefore: Int?
    /// Who is told, and may decide unless the step's role is an independent controller, once the
    /// deadline has passed.
    public var escalateTo: Role?
}

public enum ApprovalField: String, Hashable, Sendable, Codable, CaseIterable {
    case licence
    case portalURL = "portal_url"
}

public enum EndType: String, Hashable, Sendable, Codable, CaseIterable {
    /// Shared Data access is live until its end date; it can still expire or be revoked.
    case granted
    /// Open Data is published; that cannot be taken back.
    case published
    /// Nothing happens any more.
    case final
}

public struct EndState: Hashable, Sendable {
    public var id: String
    public var title: LocalizedText
    public var type: EndType
    public var onExpire: String?
    public var onRevoke: String?
    /// Roles that may revoke granted access.
    public var revocableBy: [Role]
    public var line: Int
}

/// Something a request must contain before it can be submitted, possibly only under a condition.
public struct SubmitRequirement: Hashable, Sendable {
    public var field: RequirementField
    public var condition: Condition?
    public var message: LocalizedText
    /// Where the entry's `field` stands in its file, for the validator's diagnostics.
    public var line: Int
}

public enum RequirementField: String, Hashable, Sendable, Codable, CaseIterable {
    case anonymisationStatement = "anonymisation_statement"
    case legalBasis = "legal_basis"
    case accessEnd = "access_end"
    /// Who receives Shared Data (and whether they are inside the administration).
    case recipient
    /// The answers to the Open Data check (§ 12a EGovG).
    case openDataCheck = "open_data_check"

    /// The kinds of release whose requests have the field: a recipient and an access period only Shared
    /// Data, the Open Data check only Open Data. A workflow cannot demand a field its kinds never fill in
    /// (the parser refuses it), and a workflow serving both kinds demands it only of the kind that has it.
    public var filledInBy: Set<ReleaseKind> {
        switch self {
        case .anonymisationStatement, .legalBasis: [.sharedData, .openData]
        case .accessEnd, .recipient: [.sharedData]
        case .openDataCheck: [.openData]
        }
    }

    /// Whether a request with these facts and this access end fills the field.
    func isProvided(by facts: RequestFacts, accessEnd: Date?) -> Bool {
        switch self {
        case .anonymisationStatement: facts.hasAnonymisationStatement
        case .legalBasis: facts.hasLegalBasis
        case .accessEnd: accessEnd != nil
        case .recipient: facts.recipient != nil
        case .openDataCheck: facts.hasOpenDataCheck
        }
    }
}

extension WorkflowDefinition {
    /// The attributes the definition's conditions read (steps, branches, submission requirements).
    public var attributesRead: Set<Attribute> {
        let conditions =
            steps.flatMap { [$0.condition] + $0.branches.map(\.condition) } + submitRequirements.map(\.condition)
        return conditions.compactMap { $0 }.reduce(into: []) { $0.formUnion($1.attributes) }
    }

    /// `facts` as this definition routes on them: the Open Data check's exclusions only where one of its
    /// conditions reads them. A request pinned to a definition from before they were facts (open-data@1)
    /// keeps facts without them, so its requester's unchanged answers never count as changed facts that
    /// would send it back to the first step.
    public func routing(_ facts: RequestFacts) -> RequestFacts {
        guard !attributesRead.contains(where: { $0.exclusion != nil }) else { return facts }
        var facts = facts
        facts.checkExclusions = []
        return facts
    }
}
