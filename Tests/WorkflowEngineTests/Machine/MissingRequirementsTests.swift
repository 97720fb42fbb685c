import Foundation
import Testing

@testable import WorkflowEngine

/// `missingRequirements` is the one answer to "what does this form still lack?": the YAML's entries with
/// their messages, then the engine's own checks; `submit` refuses with exactly its fields.
@Suite("What a submission lacks")
struct MissingRequirementsTests {
    typealias Fixtures = MachineFixtures

    static let accessEndMessage = LocalizedText(
        de: "Bitte geben Sie an, bis wann die Daten genutzt werden dürfen.",
        en: "Please state until when the data may be used.")
    static let recipientMessage = LocalizedText(
        de: "Bitte geben Sie an, wer die Daten erhält und ob die Stelle zur Stadtverwaltung gehört.",
        en: "Please state who receives the data and whether they belong to the city administration.")
    static let legalBasisMessage = LocalizedText(
        de: "Für personenbezogene oder pseudonymisierte Daten ist die Rechtsgrundlage anzugeben.",
        en: "Personal or pseudonymised data needs a legal basis.")
    static let openDataCheckMessage = LocalizedText(
        de: "Bitte beantworten Sie die Fragen der Open-Data-Prüfung.",
        en: "Please answer the questions of the Open Data check.")
    static let notAfterMessage = LocalizedText(
        de: "Das Nutzungsende muss nach dem Zeitpunkt der Einreichung liegen.",
        en: "The end of use must lie after the time of submission.")

    @Test("Shared Data: every missing field with the YAML's message, in the YAML's order")
    func sharedDataLacksAll() throws {
        let definition = try Fixtures.definition(.sharedData)
        let facts = Fixtures.shared(.internal, .personal, recipient: nil, legalBasis: false)
        #expect(
            definition.missingRequirements(facts: facts, accessEnd: nil, at: Fixtures.t0) == [
                MissingRequirement(field: .accessEnd, problem: .required, message: Self.accessEndMessage),
                MissingRequirement(field: .recipient, problem: .required, message: Self.recipientMessage),
                MissingRequirement(field: .legalBasis, problem: .required, message: Self.legalBasisMessage),
            ])
        #expect(
            definition.missingRequirements(facts: Fixtures.shared(), accessEnd: Fixtures.accessEnd, at: Fixtures.t0)
                == [])

        var machine = try Fixtures.draft(definition, facts, accessEnd: nil)
        #expect(machine.missingRequirements(at: Fixtures.t0).map(\.field) == [.accessEnd, .recipient, .legalBasis])
        Fixtures.expectRefused(
            .submissionIncomplete, .submit, details: ["access_end", "recipient", "legal_basis"], on: &machine
        ) { try $0.submit(by: "anna", at: Fixtures.t0) }
    }

    /// The test definition serving both kinds, with `entries` as its `submit_requires`. Every request
    /// reaches the same end by approval, so such a workflow ends only in final ends (the base's
    /// `granted` becomes one; `expired` and `revoked` go with it).
    static func bothKinds(requiring entries: String) throws -> WorkflowDefinition {
        var lines: [Int: String] = [
            4: "kinds: [shared_data, open_data]", 8: "withdraw: withdrawn\nsubmit_requires:\n" + entries,
            22: "    type: final",
        ]
        for blank in [24, 25, 26, 27, 28, 29, 30, 31] { lines[blank] = "" }
        return try DefinitionFixtures.parse(DefinitionFixtures.base(replacing: lines))
    }

    /// A workflow serving both kinds demands a field only of the kind whose requests have it: a recipient
    /// of Shared Data, the Open Data check of Open Data (an Open Data request can name no recipient).
    @Test("a workflow of both kinds asks each kind only for the fields its requests have")
    func bothKindsAskEachTheirOwn() throws {
        let definition = try Self.bothKinds(
            requiring: """
                  - field: recipient
                    message: Empfänger fehlt
                  - field: open_data_check
                    message: Prüfung fehlt
                """)
        let shared = definition.missingRequirements(
            facts: Fixtures.shared(recipient: nil), accessEnd: Fixtures.accessEnd, at: Fixtures.t0)
        #expect(shared.map(\.field) == [.recipient])
        let open = definition.missingRequirements(
            facts: Fixtures.open(.public, .anonymised, statement: true, openDataCheck: false), accessEnd: nil,
            at: Fixtures.t0)
        #expect(open.map(\.field) == [.openDataCheck])
    }

    /// A requirement that depends on the requester's own answer (here: an anonymisation statement once
    /// the Open Data check says the data has a personal reference) is a field the form must have before
    /// anything is answered; the catalogue's facts alone do not demand it.
    @Test("the fields to ask include those an answer of the requester may demand")
    func fieldsToAskFollowAnswers() throws {
        let definition = try Self.bothKinds(
            requiring: """
                  - field: anonymisation_statement
                    when: { attribute: check_personal_reference, equals: true }
                    message: Anonymisierung beschreiben
                  - field: legal_basis
                    when: { attribute: recipient, equals: external }
                    message: Rechtsgrundlage fehlt
                """)
        let open = Fixtures.open(.public, .anonymised, statement: false, openDataCheck: false)
        #expect(definition.missingRequirements(facts: open, accessEnd: nil, at: Fixtures.t0).isEmpty)
        #expect(
            definition.fieldsToAsk(catalogue: open, at: Fixtures.t0)
                == [.anonymisationStatement: LocalizedText(de: "Anonymisierung beschreiben", en: nil)])
        let shared = Fixtures.shared(recipient: nil, legalBasis: false)
        #expect(
            Set(definition.fieldsToAsk(catalogue: shared, at: Fixtures.t0).keys) == [.legalBasis],
            "the legal basis for an external recipient; no statement: Shared Data has no Open Data check")
    }

    /// An answer form is built on the facts the request was routed on, in which the requester's answers
    /// are given already: the legal basis asked about must still be a field of it, as must the
    /// anonymisation statement and the Open Data check.
    @Test("the fields to ask ignore answers the facts say were given")
    func fieldsToAskIgnoreGivenAnswers() throws {
        let shared = try Fixtures.definition(.sharedData)
        let routed = Fixtures.shared(.internal, .personal, recipient: .external, legalBasis: true)
        #expect(shared.missingRequirements(facts: routed, accessEnd: Fixtures.t0 + 86400, at: Fixtures.t0).isEmpty)
        #expect(shared.fieldsToAsk(catalogue: routed, at: Fixtures.t0)[.legalBasis] != nil)
        let open = try Fixtures.definition(.openData)
        let published = Fixtures.open(.public, .anonymised, statement: true, openDataCheck: true)
        let asked = Set(open.fieldsToAsk(catalogue: published, at: Fixtures.t0).keys)
        #expect(asked.isSuperset(of: [.anonymisationStatement, .openDataCheck]), "\(asked)")
    }

    @Test("an access end not after the submission is its own problem, and submit refuses it as a period")
    func accessEndNotAfterNow() throws {
        let definition = try Fixtures.definition(.sharedData)
        let facts = Fixtures.shared(recipient: nil)
        #expect(
            definition.missingRequirements(facts: facts, accessEnd: Fixtures.t0, at: Fixtures.t0) == [
                MissingRequirement(field: .recipient, problem: .required, message: Self.recipientMessage),
                MissingRequirement(
                    field: .accessEnd, problem: .accessEndNotAfterSubmission, message: Self.notAfterMessage),
            ])
        var machine = try Fixtures.draft(definition, facts, accessEnd: Fixtures.t0)
        Fixtures.expectRefused(
            .invalidAccessPeriod, .submit, details: ["access_end \(Fixtures.t0) is not after \(Fixtures.t0)"],
            on: &machine
        ) { try $0.submit(by: "anna", at: Fixtures.t0) }
    }

    @Test("Open Data needs the Open Data check; the server's own copy of that rule can go")
    func openDataCheck() throws {
        let definition = try Fixtures.definition(.openData)
        let facts = Fixtures.open(.public, .anonymised, statement: true, openDataCheck: false)
        #expect(
            definition.missingRequirements(facts: facts, accessEnd: nil, at: Fixtures.t0) == [
                MissingRequirement(field: .openDataCheck, problem: .required, message: Self.openDataCheckMessage)
            ])
        var machine = try Fixtures.draft(definition, facts)
        Fixtures.expectRefused(.submissionIncomplete, .submit, details: ["open_data_check"], on: &machine) {
            try $0.submit(by: "anna", at: Fixtures.t0)
        }
        // A resubmission is held to the same list.
        var asked = try Fixtures.machine(.openData, in: "changes_requested:owner_review")
        var withoutCheck = asked.snapshot.facts
        withoutCheck.hasOpenDataCheck = false
        #expect(
            asked.missingRequirements(facts: withoutCheck, accessEnd: nil, at: Fixtures.t0).map(\.field) == [
                .openDataCheck
            ])
        Fixtures.expectRefused(.submissionIncomplete, .resubmit, details: ["open_data_check"], on: &asked) {
            try $0.resubmit(by: "anna", at: Fixtures.t0, facts: withoutCheck)
        }
    }

    @Test("a workflow that can grant needs an access end even where its YAML forgot it")
    func grantNeedsAccessEnd() throws {
        let text = try Fixtures.text(of: .sharedData)
        let forgotten = """
              - field: access_end
                message:
                  de: Bitte geben Sie an, bis wann die Daten genutzt werden dürfen.
                  en: Please state until when the data may be used.

            """
        let withoutEntry = text.replacingOccurrences(of: forgotten, with: "")
        #expect(withoutEntry != text)
        let definition = try Fixtures.parse(withoutEntry)
        #expect(
            definition.missingRequirements(facts: Fixtures.shared(), accessEnd: nil, at: Fixtures.t0) == [
                MissingRequirement(
                    field: .accessEnd, problem: .neededToGrant, message: MissingRequirement.accessEndNeededToGrant)
            ])
        #expect(MissingRequirement.accessEndNeededToGrant == Self.accessEndMessage)
        // Open Data cannot grant: no access end, no problem.
        #expect(
            try Fixtures.definition(.openData).missingRequirements(
                facts: Fixtures.open(), accessEnd: nil, at: Fixtures.t0)
                == [])
    }

    @Test("the YAML alone decides: a new entry, a changed message, a dropped condition change the answer")
    func definitionDrivesTheAnswer() throws {
        let text = try Fixtures.text(of: .openData)
        let facts = Fixtures.open(.public, .none, statement: false, openDataCheck: true)
        #expect(try Fixtures.parse(text).missingRequirements(facts: facts, accessEnd: nil, at: Fixtures.t0) == [])

        // 1. Without its `when:`, the anonymisation statement is required of data that was never personal.
        let unconditional = text.replacingOccurrences(
            of: "    when: { attribute: personal_data, at_least: anonymised }\n    message:\n      de: >-",
            with: "    message:\n      de: >-")
        #expect(unconditional != text)
        #expect(
            try Fixtures.parse(unconditional).missingRequirements(facts: facts, accessEnd: nil, at: Fixtures.t0)
                .map(\.field) == [.anonymisationStatement])

        // 2. A changed message is the message reported.
        let reworded = text.replacingOccurrences(
            of: "de: Bitte beantworten Sie die Fragen der Open-Data-Prüfung.",
            with: "de: Die Open-Data-Prüfung fehlt noch.")
        #expect(reworded != text)
        let noCheck = Fixtures.open(openDataCheck: false)
        #expect(
            try Fixtures.parse(reworded).missingRequirements(facts: noCheck, accessEnd: nil, at: Fixtures.t0) == [
                MissingRequirement(
                    field: .openDataCheck, problem: .required,
                    message: LocalizedText(
                        de: "Die Open-Data-Prüfung fehlt noch.",
                        en: "Please answer the questions of the Open Data check."))
            ])

        // 3. A new entry is a new requirement.
        let extended = text.replacingOccurrences(
            of: "submit_requires:\n",
            with:
                "submit_requires:\n  - field: legal_basis\n    message: { de: Rechtsgrundlage fehlt., en: No legal basis. }\n"
        )
        #expect(extended != text)
        #expect(
            try Fixtures.parse(extended).missingRequirements(facts: Fixtures.open(), accessEnd: nil, at: Fixtures.t0)
                == [
                    MissingRequirement(
                        field: .legalBasis, problem: .required,
                        message: LocalizedText(de: "Rechtsgrundlage fehlt.", en: "No legal basis."))
                ])
    }

    @Test("snapshots stored before open_data_check existed still decode, as not answered")
    func oldSnapshotsDecode() throws {
        let old = Data(
            """
            {"kind":"open_data","classification":"public","personalData":"none","protectionNeed":"normal",
             "highValue":false,"hasAnonymisationStatement":true,"hasLegalBasis":false}
            """.utf8)
        let facts = try JSONDecoder().decode(RequestFacts.self, from: old)
        #expect(facts == Fixtures.open(statement: true, openDataCheck: false))
        let answered = Fixtures.open(openDataCheck: true)
        #expect(try JSONDecoder().decode(RequestFacts.self, from: JSONEncoder().encode(answered)) == answered)
    }
}
