import Foundation
import WorkflowEngine

/// Why a step or branch applies or is skipped, in words: the engine's explanation (the view's
/// ``ConditionAtomView``s) with the catalogue's names of attributes and their values, the same words
/// the catalogue and dataset pages use (`web.classification.*`, `web.personal_data.*`, …).
extension PageText {
    /// „Nötig, weil der Schutzbedarf „hoch“ ist (ab „hoch“).“ for a step or branch that applies;
    /// nil when it applies always (it has no condition).
    func appliesBecause(_ reason: ApplyReason?, _ atoms: [ConditionAtomView]?) -> String? {
        switch reason {
        case nil, .always: nil
        case .askedQuestion: self("timeline.why.asked_question")
        case .conditionHolds: self("timeline.why.applies", ["reasons": reasons(atoms ?? [])])
        }
    }

    /// „Entfällt, weil der Personenbezug „keine personenbezogenen Daten“ ist (nötig wäre mindestens
    /// „anonymisiert“).“; nil when the condition's parts are not known (then the code's text says why).
    func skippedBecause(_ atoms: [ConditionAtomView]?) -> String? {
        guard let atoms, !atoms.isEmpty else { return nil }
        return self("timeline.why.skipped", ["reasons": reasons(atoms)])
    }

    /// Why a skipped step or branch is skipped, as a sentence: the failed parts of its condition, or what
    /// its code says (no review of a parallel step applies; a review goes with its step); nil where the
    /// code has no sentence (a Personalunion, a condition whose parts are not known).
    func skippedWhy(_ reason: SkipReason, _ atoms: [ConditionAtomView]?) -> String? {
        switch reason {
        case .conditionNotMet: skippedBecause(atoms)
        case .noBranchApplies: self("timeline.why.no_branch")
        case .stepDoesNotApply: self("timeline.why.with_step")
        case .personalUnion: nil
        }
    }

    /// The parts, each a clause, joined with „und“: each is true of the request.
    func reasons(_ atoms: [ConditionAtomView]) -> String {
        atoms.map(reason).joined(separator: self("timeline.why.and"))
    }

    /// One part: the attribute, the request's value, and the bound it was measured against.
    func reason(_ atom: ConditionAtomView) -> String {
        if let exclusion = Attribute(rawValue: atom.attribute)?.exclusion?.rawValue {
            // A question of the Open Data check: its answer says all.
            return self(
                "timeline.why.check",
                [
                    "question": self("form.check.\(exclusion)"),
                    "answer": quoted(self(atom.actual == "true" ? "form.check.yes" : "form.check.no")),
                ])
        }
        var key = (atom.negated ? "not_" : "") + atom.operator
        if !atom.held { key += "_failed" }
        let bounds = atom.bounds.map { quoted(value(atom.attribute, $0)) }.joined(separator: self("timeline.why.or"))
        return self(
            "timeline.why.\(key)",
            [
                "attribute": attributeName(atom.attribute), "actual": quoted(value(atom.attribute, atom.actual)),
                "bound": bounds,
            ])
    }

    /// „der Personenbezug“; an attribute the catalogue does not name is shown as it is.
    func attributeName(_ attribute: String) -> String {
        catalog["web.timeline.why.attribute.\(attribute)"] ?? attribute
    }

    /// A value in the words the catalogue and dataset pages use; a value the catalogue lacks as it is.
    func value(_ attribute: String, _ value: String) -> String {
        let key: String =
            switch attribute {
            case "classification", "personal_data", "protection_need": "web.\(attribute).\(value)"
            case "kind": "web.kinds.\(value)"
            case "recipient": "web.timeline.why.recipient.\(value)"
            default: "web.timeline.why.value.\(value)"
            }
        return catalog[key] ?? value
    }

    func quoted(_ text: String) -> String { self("timeline.why.quoted", ["value": text]) }
}
