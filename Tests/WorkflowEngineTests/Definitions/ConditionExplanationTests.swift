import Testing

@testable import WorkflowEngine

/// `Condition.explain(for:)`: the atoms that decided a condition, written down by hand for each way of
/// combining them.
@Suite struct ConditionExplanationTests {
    typealias Atom = ConditionExplanation.Atom

    let facts = RequestFacts(
        kind: .openData, classification: .internal, personalData: .none, protectionNeed: .high,
        checkExclusions: [.security])

    let personal = Condition.atLeast(.personalData, "anonymised")
    let protection = Condition.atLeast(.protectionNeed, "high")
    let security = Condition.oneOf(.checkSecurity, ["true"])
    let open = Condition.atMost(.classification, "internal")

    func atom(_ condition: Condition) -> Atom {
        let atoms = condition.explain(for: facts).atoms
        precondition(atoms.count == 1)
        return atoms[0]
    }

    @Test("an atom names the attribute, the comparison, the bound and the request's value")
    func atoms() {
        #expect(
            personal.explain(for: facts)
                == ConditionExplanation(
                    holds: false,
                    atoms: [
                        Atom(
                            attribute: .personalData, comparison: .atLeast, bounds: ["anonymised"], actual: "none",
                            held: false)
                    ]))
        #expect(
            open.explain(for: facts)
                == ConditionExplanation(
                    holds: true,
                    atoms: [
                        Atom(
                            attribute: .classification, comparison: .atMost, bounds: ["internal"], actual: "internal",
                            held: true)
                    ]))
        // one_of lists its values in the attribute's order, whatever order the definition wrote.
        let oneOf = Condition.oneOf(.classification, ["strictly_confidential", "public", "confidential"])
        #expect(
            oneOf.explain(for: facts)
                == ConditionExplanation(
                    holds: false,
                    atoms: [
                        Atom(
                            attribute: .classification, comparison: .oneOf,
                            bounds: ["public", "confidential", "strictly_confidential"], actual: "internal",
                            held: false)
                    ]))
        #expect(
            security.explain(for: facts).atoms == [
                Atom(attribute: .checkSecurity, comparison: .oneOf, bounds: ["true"], actual: "true", held: true)
            ])
    }

    @Test("any_of that holds: the atoms that held; one that fails: every atom, each failed")
    func anyOf() {
        let held = Condition.anyOf([personal, protection, security]).explain(for: facts)
        #expect(held == ConditionExplanation(holds: true, atoms: [atom(protection), atom(security)]))
        let failed = Condition.anyOf([personal, .atLeast(.classification, "confidential")]).explain(for: facts)
        #expect(failed.holds == false)
        #expect(failed.atoms.map(\.attribute) == [.personalData, .classification])
        #expect(failed.atoms.allSatisfy { !$0.held })
    }

    @Test("all_of that holds: every atom; one that fails: the atoms that failed")
    func allOf() {
        let held = Condition.allOf([protection, security, open]).explain(for: facts)
        #expect(held == ConditionExplanation(holds: true, atoms: [atom(protection), atom(security), atom(open)]))
        let failed = Condition.allOf([protection, personal, open]).explain(for: facts)
        #expect(failed == ConditionExplanation(holds: false, atoms: [atom(personal)]))
    }

    @Test("not flips: the atom is marked negated and held when its comparison fails; all_of and any_of trade places")
    func not() {
        let notPersonal = Condition.not(personal).explain(for: facts)
        #expect(
            notPersonal
                == ConditionExplanation(
                    holds: true,
                    atoms: [
                        Atom(
                            attribute: .personalData, comparison: .atLeast, negated: true, bounds: ["anonymised"],
                            actual: "none", held: true)
                    ]))
        // not(all_of(a, b)) holds as soon as one part fails: that part decides.
        let notBoth = Condition.not(.allOf([protection, personal])).explain(for: facts)
        #expect(notBoth.holds)
        #expect(notBoth.atoms.map(\.attribute) == [.personalData])
        #expect(notBoth.atoms.allSatisfy { $0.negated && $0.held })
        // not(any_of(a, b)) fails because a part holds: the parts that held decide (each failed, negated).
        let neither = Condition.not(.anyOf([personal, protection, security])).explain(for: facts)
        #expect(!neither.holds)
        #expect(neither.atoms.map(\.attribute) == [.protectionNeed, .checkSecurity])
        #expect(neither.atoms.allSatisfy { $0.negated && !$0.held })
        // A double negation is no negation.
        #expect(Condition.not(.not(protection)).explain(for: facts) == protection.explain(for: facts))
    }

    @Test("the explanation's outcome is the condition's, for every combination over many facts")
    func agreesWithHolds() {
        let conditions: [Condition] = [
            .anyOf([personal, .allOf([protection, .not(security)])]),
            .not(.anyOf([open, .allOf([personal, .not(protection)])])),
            .allOf([.anyOf([]), .not(.allOf([]))]),
        ]
        for classification in Classification.allCases {
            for personalData in PersonalDataCategory.allCases {
                for need in ProtectionNeed.allCases {
                    for exclusions: Set<CheckExclusion> in [[], [.security]] {
                        let facts = RequestFacts(
                            kind: .openData, classification: classification, personalData: personalData,
                            protectionNeed: need, checkExclusions: exclusions)
                        for condition in conditions {
                            let explanation = condition.explain(for: facts)
                            #expect(explanation.holds == condition.holds(for: facts))
                            #expect(explanation.atoms.allSatisfy { $0.held == explanation.holds })
                        }
                    }
                }
            }
        }
    }
}
