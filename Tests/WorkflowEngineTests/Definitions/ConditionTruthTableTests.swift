import Testing

@testable import WorkflowEngine

/// Truth tables of routing conditions, parsed from YAML as an administrator writes them.
@Suite("Condition truth tables")
struct ConditionTruthTableTests {
    /// A one-attribute condition and the values of that attribute for which it must hold.
    struct Row: Sendable, CustomTestStringConvertible {
        var yaml: String
        var attribute: Attribute
        var holdsFor: Set<String>
        var testDescription: String { yaml }

        init(_ yaml: String, _ attribute: Attribute, _ holdsFor: Set<String>) {
            self.yaml = yaml
            self.attribute = attribute
            self.holdsFor = holdsFor
        }
    }

    static let rows: [Row] = [
        // classification: public < internal < confidential < strictly_confidential
        Row("{ attribute: classification, equals: confidential }", .classification, ["confidential"]),
        Row(
            "{ attribute: classification, in: [public, strictly_confidential] }", .classification,
            ["public", "strictly_confidential"]),
        Row(
            "{ attribute: classification, at_least: internal }", .classification,
            ["internal", "confidential", "strictly_confidential"]),
        Row("{ attribute: classification, at_most: internal }", .classification, ["public", "internal"]),
        Row(
            "{ attribute: classification, at_least: public }", .classification,
            ["public", "internal", "confidential", "strictly_confidential"]),
        Row("{ attribute: classification, at_most: public }", .classification, ["public"]),
        Row(
            "{ attribute: classification, at_least: strictly_confidential }", .classification, ["strictly_confidential"]
        ),
        // personal_data: none < anonymised < pseudonymised < personal < special_category
        Row("{ attribute: personal_data, equals: none }", .personalData, ["none"]),
        Row(
            "{ attribute: personal_data, at_least: pseudonymised }", .personalData,
            ["pseudonymised", "personal", "special_category"]),
        Row(
            "{ attribute: personal_data, at_least: anonymised }", .personalData,
            ["anonymised", "pseudonymised", "personal", "special_category"]),
        Row("{ attribute: personal_data, at_most: anonymised }", .personalData, ["none", "anonymised"]),
        Row(
            "{ attribute: personal_data, in: [personal, special_category] }", .personalData,
            ["personal", "special_category"]),
        // protection_need: normal < high < very_high
        Row("{ attribute: protection_need, at_least: high }", .protectionNeed, ["high", "very_high"]),
        Row("{ attribute: protection_need, at_most: high }", .protectionNeed, ["normal", "high"]),
        Row("{ attribute: protection_need, equals: very_high }", .protectionNeed, ["very_high"]),
        Row("{ attribute: protection_need, in: [normal] }", .protectionNeed, ["normal"]),
        // kind
        Row("{ attribute: kind, equals: open_data }", .kind, ["open_data"]),
        Row("{ attribute: kind, in: [shared_data, open_data] }", .kind, ["shared_data", "open_data"]),
        // recipient: none (Open Data), internal, external
        Row("{ attribute: recipient, equals: external }", .recipient, ["external"]),
        Row("{ attribute: recipient, equals: none }", .recipient, ["none"]),
        Row("{ attribute: recipient, in: [internal, none] }", .recipient, ["internal", "none"]),
        // booleans, written as YAML true/false
        Row("{ attribute: high_value, equals: true }", .highValue, ["true"]),
        Row("{ attribute: high_value, equals: false }", .highValue, ["false"]),
        Row("{ attribute: high_value, in: [true, false] }", .highValue, ["true", "false"]),
        Row("{ attribute: anonymisation_statement, equals: true }", .anonymisationStatement, ["true"]),
        Row("{ attribute: anonymisation_statement, equals: false }", .anonymisationStatement, ["false"]),
        // negation
        Row(
            "{ not: { attribute: classification, equals: public } }", .classification,
            ["internal", "confidential", "strictly_confidential"]),
        Row("{ not: { not: { attribute: protection_need, equals: high } } }", .protectionNeed, ["high"]),
        Row("{ not: { attribute: high_value, equals: true } }", .highValue, ["false"]),
        // one-attribute combinations
        Row(
            "{ all_of: [ { attribute: classification, at_least: internal }, { attribute: classification, at_most: confidential } ] }",
            .classification, ["internal", "confidential"]),
        Row(
            "{ any_of: [ { attribute: personal_data, equals: none }, { attribute: personal_data, equals: personal } ] }",
            .personalData, ["none", "personal"]),
        Row("{ all_of: [ { attribute: kind, equals: shared_data } ] }", .kind, ["shared_data"]),
        Row("{ any_of: [ { attribute: recipient, equals: internal } ] }", .recipient, ["internal"]),
    ]

    @Test("a condition holds exactly for the listed values", arguments: rows)
    func truthTable(_ row: Row) throws {
        let condition = try DefinitionFixtures.condition(row.yaml)
        #expect(condition.attributes == [row.attribute])
        for value in row.attribute.values {
            let facts = DefinitionFixtures.facts(row.attribute, value)
            #expect(condition.holds(for: facts) == row.holdsFor.contains(value), "\(row.attribute.rawValue) = \(value)")
        }
    }

    @Test("attribute values are listed in rising order")
    func orders() {
        #expect(Attribute.classification.values == ["public", "internal", "confidential", "strictly_confidential"])
        #expect(
            Attribute.personalData.values == ["none", "anonymised", "pseudonymised", "personal", "special_category"])
        #expect(Attribute.protectionNeed.values == ["normal", "high", "very_high"])
        #expect(Attribute.recipient.values == ["internal", "external", "none"])
        #expect(Attribute.kind.values == ["shared_data", "open_data"])
        #expect(Attribute.highValue.values == ["false", "true"])
        #expect(Attribute.allCases.filter(\.isOrdered) == [.classification, .personalData, .protectionNeed])
    }

    @Test("the parsed form of each test")
    func parsedForms() throws {
        #expect(
            try DefinitionFixtures.condition("{ attribute: classification, equals: internal }")
                == .oneOf(.classification, ["internal"]))
        #expect(
            try DefinitionFixtures.condition("{ attribute: kind, in: [open_data] }") == .oneOf(.kind, ["open_data"]))
        #expect(
            try DefinitionFixtures.condition("{ attribute: protection_need, at_most: high }")
                == .atMost(.protectionNeed, "high"))
        #expect(
            try DefinitionFixtures.condition("{ attribute: high_value, equals: true }") == .oneOf(.highValue, ["true"]))
        #expect(
            try DefinitionFixtures.condition("{ not: { attribute: recipient, equals: none } }")
                == .not(.oneOf(.recipient, ["none"])))
    }

    /// Two attributes at once: all_of is "and", any_of is "or", over every pair of values.
    @Test("all_of and any_of over two attributes")
    func twoAttributes() throws {
        let allOf = try DefinitionFixtures.condition(
            "{ all_of: [ { attribute: recipient, equals: external }, { attribute: classification, at_least: internal } ] }"
        )
        let anyOf = try DefinitionFixtures.condition(
            "{ any_of: [ { attribute: classification, at_least: confidential }, { attribute: protection_need, at_least: high } ] }"
        )
        let notAny = try DefinitionFixtures.condition(
            "{ not: { any_of: [ { attribute: high_value, equals: true }, { attribute: kind, equals: open_data } ] } }")
        #expect(allOf.attributes == [.recipient, .classification])
        #expect(anyOf.attributes == [.classification, .protectionNeed])
        #expect(notAny.attributes == [.highValue, .kind])
        for classification in Classification.allCases {
            for recipient in [nil, Recipient.internal, .external] {
                for protectionNeed in ProtectionNeed.allCases {
                    for highValue in [false, true] {
                        for kind in ReleaseKind.allCases {
                            let facts = RequestFacts(
                                kind: kind, classification: classification, personalData: .none,
                                protectionNeed: protectionNeed, recipient: recipient, highValue: highValue)
                            #expect(
                                allOf.holds(for: facts) == (recipient == .external && classification >= .internal),
                                "\(facts)")
                            #expect(
                                anyOf.holds(for: facts) == (classification >= .confidential || protectionNeed >= .high),
                                "\(facts)")
                            #expect(notAny.holds(for: facts) == (!highValue && kind != .openData), "\(facts)")
                        }
                    }
                }
            }
        }
    }

    @Test("YAML's other spellings of true and false are booleans too")
    func yamlBooleans() throws {
        for spelling in ["true", "True", "TRUE", "yes", "on"] {
            let condition = try DefinitionFixtures.condition("{ attribute: high_value, equals: \(spelling) }")
            #expect(condition == .oneOf(.highValue, ["true"]), "\(spelling)")
        }
        for spelling in ["false", "False", "no", "off"] {
            let condition = try DefinitionFixtures.condition("{ attribute: high_value, equals: \(spelling) }")
            #expect(condition == .oneOf(.highValue, ["false"]), "\(spelling)")
        }
    }

    @Test("a quoted \"true\" is text, not a boolean, and is refused")
    func quotedBoolean() {
        let problems = DefinitionFixtures.problems(
            DefinitionFixtures.base(replacing: [18: "    when: { attribute: high_value, equals: \"true\" }"]))
        #expect(problems.map(\.line) == [18])
        #expect(problems.first?.message.contains("high_value") == true)
    }

    @Test("a value of another attribute is refused")
    func valueOfAnotherAttribute() {
        let problems = DefinitionFixtures.problems(
            DefinitionFixtures.base(replacing: [18: "    when: { attribute: protection_need, at_least: confidential }"])
        )
        #expect(problems.map(\.line) == [18])
        #expect(
            problems.first?.message.contains("unknown value 'confidential' for attribute 'protection_need'") == true)
    }

    @Test("an empty all_of is refused")
    func emptyAllOf() {
        let problems = DefinitionFixtures.problems(DefinitionFixtures.base(replacing: [18: "    when: { all_of: [] }"]))
        #expect(problems.map(\.line) == [18])
        #expect(problems.first?.message == "all_of must not be empty")
    }

    @Test("all_of next to another key is refused")
    func allOfWithExtraKey() {
        let problems = DefinitionFixtures.problems(
            DefinitionFixtures.base(replacing: [
                18: "    when: { all_of: [ { attribute: kind, equals: open_data } ], attribute: kind }"
            ]))
        #expect(problems.map(\.line) == [18])
        #expect(problems.first?.message.contains("unknown key 'attribute'") == true)
    }
}
