import AuditLog
import Foundation
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// A draft keeps part of the Open Data check and a recipient's name without its type; what decides
/// (`submit_requires`, routing) sees only a complete check and a typed recipient. Stored and logged forms
/// of a complete check stay those older versions wrote. Pure.
@Suite("Partial drafts: the check and the recipient")
struct PartialDraftTests {
    /// Three questions answered, one noted before its answer, one left open.
    static let partial = OpenDataCheck(
        personalReference: CheckAnswer(applies: true, note: "Nur Summen je Bezirk."),
        tradeSecrets: CheckAnswer(applies: false), security: CheckAnswer(applies: false),
        confidentiality: CheckAnswer(applies: nil, note: "Noch mit dem Rechtsamt klären."))

    static let complete = OpenDataCheck(
        personalReference: CheckAnswer(applies: true, note: "Nur Summen je Bezirk."),
        tradeSecrets: CheckAnswer(applies: false), thirdPartyRights: CheckAnswer(applies: false),
        security: CheckAnswer(applies: false), confidentiality: CheckAnswer(applies: false))

    static var openData: WorkflowDefinition {
        get throws { try #require(StoreTestSupport.workflows.current(for: .openData)?.definition) }
    }

    static var sharedData: WorkflowDefinition {
        get throws { try #require(StoreTestSupport.workflows.current(for: .sharedData)?.definition) }
    }

    static let catalogue = RequestFacts(
        kind: .openData, classification: .public, personalData: .anonymised, protectionNeed: .normal,
        highValue: false)

    @Test("the engine sees a partial check as not given: submit_requires asks for it, routing sees no exclusion")
    func partialCheckIsNoCheck() throws {
        let definition = try Self.openData
        let details = RequestDetails(
            purpose: "Portal", anonymisationStatement: "Aggregiert.", openDataCheck: Self.partial)
        let facts = details.facts(kind: .openData, catalogue: Self.catalogue)
        #expect(!facts.hasOpenDataCheck)
        #expect(facts.checkExclusions.isEmpty, "the 'ja' of half a check routes nothing")
        let missing = definition.missingRequirements(facts: facts, accessEnd: nil, at: Clock.start)
        #expect(missing.map(\.field) == [.openDataCheck])
        #expect(missing.first?.message.de == "Bitte beantworten Sie die Fragen der Open-Data-Prüfung.")
        // Complete, the same answers are the check, and its "ja" routes.
        var whole = details
        whole.openDataCheck = Self.complete
        let completeFacts = whole.facts(kind: .openData, catalogue: Self.catalogue)
        #expect(completeFacts.hasOpenDataCheck)
        #expect(completeFacts.checkExclusions == [.personalReference])
        #expect(definition.missingRequirements(facts: completeFacts, accessEnd: nil, at: Clock.start).isEmpty)
        #expect(!Self.partial.isComplete && Self.complete.isComplete)
        #expect(Self.partial.complete == nil && Self.complete.complete == Self.complete)
    }

    @Test("submission names what a draft may lack: the check's YAML message, a 'ja' without its note, the type")
    func submissionNamesWhatIsMissing() throws {
        var errors = FieldErrors()
        var yesWithoutNote = Self.complete
        yesWithoutNote.security = CheckAnswer(applies: true)
        for (check, expected) in [
            (Self.partial, ["open_data_check"]), (yesWithoutNote, ["open_data_check.security.note"]),
            (Self.complete, []),
        ] {
            errors = FieldErrors()
            RequestValidation.completeness(
                RequestDetails(purpose: "Portal", anonymisationStatement: "Aggregiert.", openDataCheck: check),
                kind: .openData, catalogue: Self.catalogue, definition: try Self.openData, now: Clock.start,
                errors: &errors)
            #expect(errors.errors.keys.sorted() == expected)
        }
        // The draft keeps a "ja" without its note: cleaning refuses nothing.
        errors = FieldErrors()
        let cleaned = RequestDetails(purpose: "Portal", openDataCheck: yesWithoutNote).cleaned(
            kind: .openData, errors: &errors)
        #expect(errors.isEmpty)
        #expect(cleaned.openDataCheck == yesWithoutNote)

        var shared = RequestFacts(
            kind: .sharedData, classification: .internal, personalData: .none, protectionNeed: .normal,
            highValue: false)
        shared.recipient = nil
        errors = FieldErrors()
        let named = RequestDetails(
            purpose: "Planung", recipient: RecipientInput(name: "Umweltamt", type: nil),
            accessEnd: Clock.days(100))
        #expect(named.facts(kind: .sharedData, catalogue: shared).recipient == nil)
        RequestValidation.completeness(
            named, kind: .sharedData, catalogue: shared, definition: try Self.sharedData, now: Clock.start,
            errors: &errors)
        #expect(errors.errors.keys.sorted() == ["recipient.type"])
        #expect(errors.errors["recipient.type"] == UserText("request.recipient_type_missing"))
        // A workflow that asks for no recipient still gets none named without its type.
        let shipped = try String(
            contentsOfFile: StoreTestSupport.workflowsDirectory + "/shared-data.yaml", encoding: .utf8)
        let asked = """
              - field: recipient
                message:
                  de: Bitte geben Sie an, wer die Daten erhält und ob die Stelle zur Stadtverwaltung gehört.
                  en: Please state who receives the data and whether they belong to the city administration.

            """
        #expect(shipped.contains(asked))
        let unasked = try WorkflowDefinitionParser.pinningBySHA256.parse(
            shipped.replacingOccurrences(of: asked, with: ""), file: "shared-data.yaml")
        #expect(unasked.submitRequirements.allSatisfy { $0.field != .recipient })
        errors = FieldErrors()
        RequestValidation.completeness(
            named, kind: .sharedData, catalogue: shared, definition: unasked, now: Clock.start, errors: &errors)
        #expect(errors.errors.keys.sorted() == ["recipient.type"])
        // Without any recipient the workflow's own message stands at `recipient`.
        errors = FieldErrors()
        RequestValidation.completeness(
            RequestDetails(purpose: "Planung", accessEnd: Clock.days(100)), kind: .sharedData, catalogue: shared,
            definition: try Self.sharedData, now: Clock.start, errors: &errors)
        #expect(errors.errors.keys.sorted() == ["recipient"])
    }

    @Test("a complete check is stored and read as older versions wrote it; a partial one leaves open questions out")
    func storedForm() throws {
        // The JSON an older version stored (synthesised Codable, sorted keys).
        let old =
            #"{"confidentiality":{"applies":false},"personalReference":{"applies":true,"note":"Nur Summen je Bezirk."},"#
            + #""security":{"applies":false},"thirdPartyRights":{"applies":false},"tradeSecrets":{"applies":false}}"#
        #expect(try StoredJSON.encode(Self.complete) == old)
        #expect(try StoredJSON.decode(OpenDataCheck.self, from: old) == Self.complete)
        let partial = try StoredJSON.encode(Self.partial)
        #expect(
            partial
                == #"{"confidentiality":{"note":"Noch mit dem Rechtsamt klären."},"personalReference":{"applies":true,"#
                + #""note":"Nur Summen je Bezirk."},"security":{"applies":false},"tradeSecrets":{"applies":false}}"#)
        #expect(try StoredJSON.decode(OpenDataCheck.self, from: partial) == Self.partial)
        // A recipient without its type is stored without the key, read back without a type.
        let recipient = try StoredJSON.encode(RecipientInput(name: "Umweltamt", type: nil))
        #expect(recipient == #"{"name":"Umweltamt"}"#)
        #expect(
            try StoredJSON.decode(RecipientInput.self, from: #"{"name":"Umweltamt","type":"internal"}"#)
                == RecipientInput(name: "Umweltamt", type: .internal))
    }

    @Test("in the decision log a complete check is unchanged; a partial one names every question, open ones null")
    func loggedForm() throws {
        let complete = RequestDetails(purpose: "Portal", openDataCheck: Self.complete).logged(kind: .openData)
        #expect(
            complete.partialObject?["open_data_check"]
                == .object([
                    "personal_reference": .object(["applies": .bool(true), "note": .string("Nur Summen je Bezirk.")]),
                    "trade_secrets": .object(["applies": .bool(false), "note": .null]),
                    "third_party_rights": .object(["applies": .bool(false), "note": .null]),
                    "security": .object(["applies": .bool(false), "note": .null]),
                    "confidentiality": .object(["applies": .bool(false), "note": .null]),
                ]))
        let details = RequestDetails(
            purpose: "Portal", recipient: nil, openDataCheck: Self.partial)
        let logged = details.logged(kind: .openData)
        #expect(
            logged.partialObject?["open_data_check"]?.partialObject?["third_party_rights"]
                == .object(["applies": .null, "note": .null]))
        #expect(
            logged.partialObject?["open_data_check"]?.partialObject?["confidentiality"]
                == .object(["applies": .null, "note": .string("Noch mit dem Rechtsamt klären.")]))
        // Deterministic: the same text twice, and it reads back as it was.
        #expect(try StoredJSON.encode(logged) == (try StoredJSON.encode(details.logged(kind: .openData))))
        let read = try #require(
            RequestDetails(logged: try StoredJSON.decode(JSONValue.self, from: StoredJSON.encode(logged))))
        #expect(read.openDataCheck == Self.partial)
        let named = RequestDetails(purpose: "Planung", recipient: RecipientInput(name: "Umweltamt", type: nil))
        let loggedNamed = named.logged(kind: .sharedData)
        #expect(loggedNamed.partialObject?["recipient"] == .object(["name": .string("Umweltamt"), "type": .null]))
        #expect(RequestDetails(logged: loggedNamed)?.recipient == RecipientInput(name: "Umweltamt", type: nil))
    }
}

extension JSONValue {
    fileprivate var partialObject: [String: JSONValue]? {
        guard case .object(let fields) = self else { return nil }
        return fields
    }
}
