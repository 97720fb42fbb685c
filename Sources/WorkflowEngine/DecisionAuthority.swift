import Foundation

/// Who may take a decision on a request now, on which branch, and in which capacity. The answer of
/// `RequestMachine.authority(of:at:branch:for:)` and `revokeAuthority(of:at:)`, and what the decision
/// events themselves act on, so a page that offers a decision and the decision agree.
public struct DecisionAuthority: Hashable, Sendable {
    /// In what right the person decides.
    public enum Capacity: Hashable, Sendable {
        /// They hold the branch's role themselves.
        case ownRole(Role)
        /// They deputise (Vertretung) for `principal`, who holds the role.
        case deputy(of: String, role: Role)
        /// The step is overdue and they hold its escalation role.
        case escalation(Role)
        /// The step is overdue and they deputise for `principal`, who holds its escalation role: a deputy
        /// acts with every role the person represented holds, the escalation role included.
        case escalationDeputy(of: String, role: Role)

        /// Which capacity a person acting in several takes first: their own role, then a deputyship,
        /// then the escalation, their own before a principal's.
        var precedence: Int {
            switch self {
            case .ownRole: 0
            case .deputy: 1
            case .escalation: 2
            case .escalationDeputy: 3
            }
        }
    }

    public var person: String
    /// The step decided, or for a revocation the granted end.
    public var step: String
    /// The branch decided (a plain step's branch has the step's id; for a revocation the granted end).
    public var branch: String
    public var capacity: Capacity
    /// The step an approval would also cover by Personalunion (Owner and Steward in one person), nil if
    /// an approval covers only `step`.
    public var coversPersonalUnionStep: String?
    /// Whether an approval in this capacity would complete the step (every active branch at its quorum).
    public var completesStep: Bool
    /// Whether an approval is accepted now: false when it would grant access whose period ran out during
    /// the review (rejecting or asking for a new end is still open).
    public var mayApprove: Bool

    public init(
        person: String, step: String, branch: String, capacity: Capacity, coversPersonalUnionStep: String? = nil,
        completesStep: Bool = true, mayApprove: Bool = true
    ) {
        self.person = person
        self.step = step
        self.branch = branch
        self.capacity = capacity
        self.coversPersonalUnionStep = coversPersonalUnionStep
        self.completesStep = completesStep
        self.mayApprove = mayApprove
    }

    /// The role the decision is taken in: the branch's role, or the escalation role.
    public var role: Role {
        switch capacity {
        case .ownRole(let role), .deputy(_, let role), .escalation(let role), .escalationDeputy(_, let role): role
        }
    }

    /// The person represented, when deciding as deputy.
    public var principal: String? {
        switch capacity {
        case .deputy(let principal, _), .escalationDeputy(let principal, _): principal
        case .ownRole, .escalation: nil
        }
    }

    public var asEscalation: Bool {
        switch capacity {
        case .escalation, .escalationDeputy: true
        case .ownRole, .deputy: false
        }
    }

    /// Everyone the decision is attributed to, for separation of duties.
    var identities: Set<String> { Set([person] + (principal.map { [$0] } ?? [])) }

    func decision(_ outcome: Decision.Outcome, at now: Date, comment: String?, details: ApprovalDetails?) -> Decision {
        Decision(
            person: person, actingFor: principal, role: role, asEscalation: asEscalation, step: step, branch: branch,
            outcome: outcome, at: now, comment: comment, covers: [step], details: details)
    }
}
