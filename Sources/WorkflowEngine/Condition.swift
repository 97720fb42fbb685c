/// A routing condition over `RequestFacts`, as written under `when:` in a workflow definition.
public indirect enum Condition: Hashable, Sendable, Codable {
    case allOf([Condition])
    case anyOf([Condition])
    case not(Condition)
    /// The attribute has one of these values.
    case oneOf(Attribute, Set<String>)
    /// The attribute is at least this value (ordered attributes only).
    case atLeast(Attribute, String)
    /// The attribute is at most this value (ordered attributes only).
    case atMost(Attribute, String)

    public func holds(for facts: RequestFacts) -> Bool {
        switch self {
        case .allOf(let conditions): conditions.allSatisfy { $0.holds(for: facts) }
        case .anyOf(let conditions): conditions.contains { $0.holds(for: facts) }
        case .not(let condition): !condition.holds(for: facts)
        case .oneOf(let attribute, let values): values.contains(facts.value(of: attribute))
        case .atLeast(let attribute, let bound):
            Self.rank(of: facts.value(of: attribute), in: attribute) >= Self.rank(of: bound, in: attribute)
        case .atMost(let attribute, let bound):
            Self.rank(of: facts.value(of: attribute), in: attribute) <= Self.rank(of: bound, in: attribute)
        }
    }

    /// The attributes this condition reads (used to prove that DSB/ISB steps are routed on the right facts).
    public var attributes: Set<Attribute> {
        switch self {
        case .allOf(let conditions), .anyOf(let conditions): conditions.reduce(into: []) { $0.formUnion($1.attributes) }
        case .not(let condition): condition.attributes
        case .oneOf(let attribute, _), .atLeast(let attribute, _), .atMost(let attribute, _): [attribute]
        }
    }

    private static func rank(of value: String, in attribute: Attribute) -> Int {
        // The parser only admits known values, so a miss here is a programming error.
        guard let rank = attribute.values.firstIndex(of: value) else {
            preconditionFailure("value \(value) is not a value of \(attribute)")
        }
        return rank
    }
}
