import Foundation

/// Something a request lacks before it may be submitted, with the text the form shows for it.
///
/// One list answers "what does this form still need?" for the server's pages and API and for the
/// engine's own `submit`/`resubmit`, so the rules of `submit_requires` live only in the YAML and here.
public struct MissingRequirement: Hashable, Sendable {
    public enum Problem: Hashable, Sendable {
        /// A `submit_requires` entry of the definition applies to the facts, and its field is empty.
        case required
        /// The definition can grant access, which always ends: an access end is needed even where the
        /// definition's `submit_requires` does not ask for it.
        case neededToGrant
        /// The access end is given but not after the submission: access that would end before anyone could
        /// decide is a mistake in the form.
        case accessEndNotAfterSubmission
    }

    public var field: RequirementField
    public var problem: Problem
    public var message: LocalizedText

    public init(field: RequirementField, problem: Problem, message: LocalizedText) {
        self.field = field
        self.problem = problem
        self.message = message
    }

    static let accessEndNeededToGrant = LocalizedText(
        de: "Bitte geben Sie an, bis wann die Daten genutzt werden dürfen.",
        en: "Please state until when the data may be used.")

    static let accessEndNotAfterSubmission = LocalizedText(
        de: "Das Nutzungsende muss nach dem Zeitpunkt der Einreichung liegen.",
        en: "The end of use must lie after the time of submission.")
}

extension WorkflowDefinition {
    /// What a request with these facts and this access end lacks to be submitted at `now`, in the order
    /// of the definition's `submit_requires`, then the engine's own checks. Empty: it may be submitted.
    public func missingRequirements(facts: RequestFacts, accessEnd: Date?, at now: Date) -> [MissingRequirement] {
        var missing = submitRequirements.filter { requirement in
            requirement.field.filledInBy.contains(facts.kind) && (requirement.condition?.holds(for: facts) ?? true)
                && !requirement.field.isProvided(by: facts, accessEnd: accessEnd)
        }.map { MissingRequirement(field: $0.field, problem: .required, message: $0.message) }
        if canGrant, accessEnd == nil, !missing.contains(where: { $0.field == .accessEnd }) {
            missing.append(
                MissingRequirement(
                    field: .accessEnd, problem: .neededToGrant, message: MissingRequirement.accessEndNeededToGrant))
        }
        if let accessEnd, accessEnd <= now {
            missing.append(
                MissingRequirement(
                    field: .accessEnd, problem: .accessEndNotAfterSubmission,
                    message: MissingRequirement.accessEndNotAfterSubmission))
        }
        return missing
    }
}

extension WorkflowDefinition {
    /// Every field this definition may demand before submitting a request on the catalogue's `facts`
    /// (before the requester has answered anything), with its message. A requirement whose condition
    /// reads the requester's own answers — the recipient, the anonymisation statement, the Open Data
    /// check's exclusions — counts when some answer makes it apply: the form shows exactly these fields,
    /// so no answer can demand a field the form does not have.
    ///
    /// The requester's own answers in `facts` are ignored: an answer form's facts are those the request was
    /// routed on, whose "legal basis given" would otherwise keep the legal basis off the very form on
    /// which an approver asked for another one.
    public func fieldsToAsk(catalogue facts: RequestFacts, at now: Date) -> [RequirementField: LocalizedText] {
        var unanswered = facts
        unanswered.hasLegalBasis = false
        unanswered.hasAnonymisationStatement = false
        unanswered.hasOpenDataCheck = false
        unanswered.checkExclusions = []
        var asked: [RequirementField: LocalizedText] = [:]
        for answers in Self.answerCombinations(of: unanswered, reading: attributesRead) {
            for missing in missingRequirements(facts: answers, accessEnd: nil, at: now)
            where asked[missing.field] == nil {
                asked[missing.field] = missing.message
            }
        }
        return asked
    }

    /// `facts` with every combination of the requester's answers that the conditions in `read` look at
    /// (at most 3 recipients and none × 2 statements × 2⁵ exclusions; in the shipped workflows 4 or 2).
    private static func answerCombinations(of facts: RequestFacts, reading read: Set<Attribute>) -> [RequestFacts] {
        var combinations = [facts]
        func vary(_ change: (inout RequestFacts, Bool) -> Void) {
            combinations = combinations.flatMap { base in
                [false, true].map { answer in
                    var varied = base
                    change(&varied, answer)
                    return varied
                }
            }
        }
        // Every recipient, also where no condition reads it: an answer form's facts have one, and a
        // `recipient` requirement is still the form's to mark (the requester may change or clear it).
        if facts.kind == .sharedData {
            combinations = combinations.flatMap { base in
                ([nil] + Recipient.allCases).map { recipient in
                    var varied = base
                    varied.recipient = recipient
                    return varied
                }
            }
        }
        if read.contains(.anonymisationStatement) { vary { $0.hasAnonymisationStatement = $1 } }
        if facts.kind == .openData {
            // In a fixed order: the first combination that demands a field gives its message.
            for exclusion in CheckExclusion.allCases where read.contains(where: { $0.exclusion == exclusion }) {
                vary { facts, applies in
                    if applies {
                        facts.checkExclusions.insert(exclusion)
                    } else {
                        facts.checkExclusions.remove(exclusion)
                    }
                }
            }
        }
        return combinations
    }
}
