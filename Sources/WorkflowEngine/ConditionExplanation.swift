/// Why a condition holds or fails for a request's facts: the atoms (`equals`/`in`, `at_least`,
/// `at_most`) that decided the outcome, each with the request's actual value. The timeline says in words
/// why a step applies or is skipped from this, never from its own reading of the definition.
public struct ConditionExplanation: Hashable, Sendable {
    /// One atom of the condition as it was tested against the facts.
    public struct Atom: Hashable, Sendable {
        public enum Comparison: String, Hashable, Sendable, CaseIterable {
            /// `equals` or `in`: the value is one of the bounds.
            case oneOf = "one_of"
            case atLeast = "at_least"
            case atMost = "at_most"
        }

        public var attribute: Attribute
        public var comparison: Comparison
        /// Whether the atom stands under an odd number of `not`s: it holds when its comparison fails.
        public var negated: Bool
        /// The bound of `at_least`/`at_most`; the values of `one_of` in the attribute's order.
        public var bounds: [String]
        /// The request's value of the attribute.
        public var actual: String
        /// Whether the atom, with its negation, holds.
        public var held: Bool

        public init(
            attribute: Attribute, comparison: Comparison, negated: Bool = false, bounds: [String], actual: String,
            held: Bool
        ) {
            self.attribute = attribute
            self.comparison = comparison
            self.negated = negated
            self.bounds = bounds
            self.actual = actual
            self.held = held
        }
    }

    /// Whether the condition holds.
    public var holds: Bool
    /// The atoms that decided `holds`, in the order the definition writes them: for an `any_of` that
    /// holds, the atoms that held; for one that fails, all of them (each failed); `all_of` the mirror
    /// image; `not` flips which is which.
    public var atoms: [Atom]

    public init(holds: Bool, atoms: [Atom]) {
        self.holds = holds
        self.atoms = atoms
    }
}

extension Condition {
    /// Why the condition holds or fails for `facts` (`explain(for:).holds == holds(for:)`).
    public func explain(for facts: RequestFacts) -> ConditionExplanation {
        explain(for: facts, negated: false)
    }

    private func explain(for facts: RequestFacts, negated: Bool) -> ConditionExplanation {
        switch self {
        case .not(let condition):
            return condition.explain(for: facts, negated: !negated)
        case .allOf(let conditions):
            // not(all_of) is any_of over the negated parts, and the other way round.
            return Self.combine(conditions.map { $0.explain(for: facts, negated: negated) }, all: !negated)
        case .anyOf(let conditions):
            return Self.combine(conditions.map { $0.explain(for: facts, negated: negated) }, all: negated)
        case .oneOf(let attribute, let values):
            let order = attribute.values
            let bounds = values.sorted {
                (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1)
            }
            return Self.atom(attribute, .oneOf, bounds, negated: negated, facts: facts)
        case .atLeast(let attribute, let bound):
            return Self.atom(attribute, .atLeast, [bound], negated: negated, facts: facts)
        case .atMost(let attribute, let bound):
            return Self.atom(attribute, .atMost, [bound], negated: negated, facts: facts)
        }
    }

    private static func atom(
        _ attribute: Attribute, _ comparison: ConditionExplanation.Atom.Comparison, _ bounds: [String],
        negated: Bool, facts: RequestFacts
    ) -> ConditionExplanation {
        let raw: Condition =
            switch comparison {
            case .oneOf: .oneOf(attribute, Set(bounds))
            case .atLeast: .atLeast(attribute, bounds[0])
            case .atMost: .atMost(attribute, bounds[0])
            }
        let held = raw.holds(for: facts) != negated
        return ConditionExplanation(
            holds: held,
            atoms: [
                ConditionExplanation.Atom(
                    attribute: attribute, comparison: comparison, negated: negated, bounds: bounds,
                    actual: facts.value(of: attribute), held: held)
            ])
    }

    /// `all`: the parts must all hold (else one suffices). What decided: the parts on the side of the
    /// outcome (a failed part fails an `all`, a held part carries an `any`), or all parts when every one
    /// of them was needed for it.
    private static func combine(_ parts: [ConditionExplanation], all: Bool) -> ConditionExplanation {
        let holds = all ? parts.allSatisfy(\.holds) : parts.contains(where: \.holds)
        let deciding = parts.filter { $0.holds == holds }
        return ConditionExplanation(holds: holds, atoms: deciding.flatMap(\.atoms))
    }
}
