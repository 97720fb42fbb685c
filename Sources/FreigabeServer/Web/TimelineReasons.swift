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

    /// The parts, each a clause, joined with „und“: each is true of the request (the engine names only
    /// the parts that decided, all on the side of the outcome, whether the workflow wrote `any_of` or
    /// `all_of`). The questions of the Open Data check answered alike are one clause, where the first of
    /// them stands: „in der Open-Data-Prüfung die Fragen „…“ und „…“ mit „Nein“ beantwortet sind“.
    func reasons(_ atoms: [ConditionAtomView]) -> String {
        var clauses: [Clause] = []
        for atom in atoms {
            guard let exclusion = Attribute(rawValue: atom.attribute)?.exclusion?.rawValue else {
                clauses.append(.part(atom))
                continue
            }
            let answer = atom.actual == "true"
            if let index = clauses.firstIndex(where: { $0.isCheck(answered: answer) }),
                case .check(_, let questions) = clauses[index]
            {
                clauses[index] = .check(answer: answer, questions: questions + [exclusion])
            } else {
                clauses.append(.check(answer: answer, questions: [exclusion]))
            }
        }
        return clauses.map { clause in
            switch clause {
            case .part(let atom): reason(atom)
            case .check(let answer, let questions): checkReason(answer: answer, questions: questions)
            }
        }
        .joined(separator: self("timeline.why.and"))
    }

    /// A clause of ``reasons(_:)``: one part of the condition, or the check's questions with one answer.
    private enum Clause {
        case part(ConditionAtomView)
        case check(answer: Bool, questions: [String])

        func isCheck(answered answer: Bool) -> Bool {
            if case .check(answer, _) = self { true } else { false }
        }
    }

    /// „in der Open-Data-Prüfung die Frage „…“ mit „Nein“ beantwortet ist“; for several questions „die
    /// Fragen „…“, „…“ und „…“ … beantwortet sind“. `questions`: the exclusions' ids, at least one.
    func checkReason(answer: Bool, questions: [String]) -> String {
        let answer = quoted(self(answer ? "form.check.yes" : "form.check.no"))
        let names = questions.map { quoted(self("form.check.\($0)")) }
        guard names.count > 1, let last = names.last else {
            return self(
                "timeline.why.check", ["question": self("form.check.\(questions.first ?? "")"), "answer": answer])
        }
        let list = names.dropLast().joined(separator: self("timeline.why.comma")) + self("timeline.why.and") + last
        return self("timeline.why.checks", ["questions": list, "answer": answer])
    }

    /// One part: the attribute, the request's value, and the bound it was measured against.
    func reason(_ atom: ConditionAtomView) -> String {
        if let exclusion = Attribute(rawValue: atom.attribute)?.exclusion?.rawValue {
            // A question of the Open Data check: its answer says all.
            return checkReason(answer: atom.actual == "true", questions: [exclusion])
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
