import Foundation
import Hummingbird
import Testing

@testable import FreigabeServer

/// A draft keeps part of the Open Data check and a recipient's name without its type; submission demands
/// both complete, with the workflow's (or the catalogue's) words.
@Suite("JSON API: partial drafts")
struct APIPartialDraftTests {
    /// Three answers (one "ja" with its note), a note written before its answer, one question left out.
    static var partialCheck: [String: Any] {
        [
            "personal_reference": ["applies": true, "note": "Nur Summen je Bezirk."],
            "trade_secrets": ["applies": false], "security": ["applies": false],
            "confidentiality": ["note": "Noch mit dem Rechtsamt klären."],
        ]
    }

    static var openDataDraft: [String: Any] {
        [
            "kind": "open_data", "dataset_id": "bevoelkerungsprognose", "purpose": "Transparenz",
            "anonymisation_statement": "Nur Summen je Bezirk.", "open_data_check": partialCheck,
        ]
    }

    @Test(
        "a draft keeps three answers and a note; submitting it is refused with the workflow's words, in both languages")
    func partialCheckIsKeptAndRefusedAtSubmission() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(Self.openDataDraft)
            #expect(created.status == 201, "\(created.body)")
            let check = created.json?["open_data_check"]
            #expect(check?["personal_reference"]?["applies"]?.bool == true)
            #expect(check?["personal_reference"]?["note"]?.string == "Nur Summen je Bezirk.")
            #expect(check?["trade_secrets"]?["applies"]?.bool == false)
            #expect(check?["security"]?["applies"]?.bool == false)
            #expect(check?["confidentiality"]?["applies"] == nil, "not answered yet")
            #expect(check?["confidentiality"]?["note"]?.string == "Noch mit dem Rechtsamt klären.")
            #expect(check?["third_party_rights"] == nil)
            let id = try #require(created.json?["id"]?.string)
            // Read back as stored.
            let read = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(read.json?["open_data_check"] == check)

            let german = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            }
            #expect(german.errors == ["open_data_check": "Bitte beantworten Sie die Fragen der Open-Data-Prüfung."])
            let english = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna", headers: [.acceptLanguage: "en"])
            }
            #expect(english.errors == ["open_data_check": "Please answer the questions of the Open Data check."])
            // Filed at once with the partial check: the same refusal, nothing stored.
            var atOnce = Self.openDataDraft
            atOnce["submit"] = true
            let refused = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(atOnce, headers: [.acceptLanguage: "en"])
            }
            #expect(refused.errors["open_data_check"] == "Please answer the questions of the Open Data check.")

            // A "ja" still without its note is kept in the draft, and named at submission.
            var complete = APILifecycleTests.cleanCheck
            complete["security"] = ["applies": true]
            let edited = try await api.send(
                .post, "/api/v1/requests/\(id)/edit", as: "anna", json: jsonText(["open_data_check": complete]))
            #expect(edited.status == 200, "\(edited.body)")
            #expect(edited.json?["open_data_check"]?["security"]?["applies"]?.bool == true)
            let noNote = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            }
            #expect(noNote.errors.keys.sorted() == ["open_data_check.security.note"])
            complete["security"] = ["applies": true, "note": "Keine kritische Infrastruktur betroffen."]
            let completed = try await api.send(
                .post, "/api/v1/requests/\(id)/edit", as: "anna", json: jsonText(["open_data_check": complete]))
            #expect(completed.status == 200, "\(completed.body)")
            let submitted = try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            #expect(submitted.status == 200, "\(submitted.body)")
        }
    }

    @Test("a draft keeps the recipient's name without its type; submission asks for the type")
    func recipientNameWithoutType() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create([
                "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Planung",
                "recipient": ["name": "Umweltamt"], "access_end": "2026-12-31",
            ])
            #expect(created.status == 201, "\(created.body)")
            #expect(created.json?["recipient"] == .object(["name": .string("Umweltamt")]))
            let id = try #require(created.json?["id"]?.string)
            let german = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            }
            #expect(german.errors.keys.sorted() == ["recipient.type"])
            #expect(german.errors["recipient.type"]?.hasPrefix("Bitte geben Sie an, ob die Stelle") == true)
            let english = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna", headers: [.acceptLanguage: "en"])
            }
            #expect(english.errors["recipient.type"]?.hasPrefix("Please state whether") == true)
            let typed = try await api.send(
                .post, "/api/v1/requests/\(id)/edit", as: "anna",
                json: jsonText(["recipient": ["name": "Umweltamt", "type": "internal"]]))
            #expect(typed.status == 200, "\(typed.body)")
            let submitted = try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            #expect(submitted.status == 200, "\(submitted.body)")
            // The database keeps the rule too: a submitted request has no name without a type.
            await #expect(throws: (any Error).self) {
                try await fixture.store.admin.query(
                    "UPDATE requests SET recipient_type = NULL WHERE id = \(UUID(uuidString: id)!)",
                    logger: fixture.store.logger)
            }
        }
    }

    @Test("a draft keeps the recipient's type without its name; submission names the name, in both languages")
    func recipientTypeWithoutName() async throws {
        try await APIFixture.with { fixture, api in
            let draft: [String: Any] = [
                "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Planung",
                "recipient": ["type": "external"], "access_end": "2026-12-31",
            ]
            let created = try await api.create(draft)
            #expect(created.status == 201, "\(created.body)")
            #expect(created.json?["recipient"] == .object(["type": .string("external")]))
            let id = try #require(created.json?["id"]?.string)
            let read = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(read.json?["recipient"] == .object(["type": .string("external")]))
            let german = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            }
            #expect(german.errors == ["recipient.name": "Bitte nennen Sie die empfangende Stelle."])
            let english = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna", headers: [.acceptLanguage: "en"])
            }
            #expect(english.errors == ["recipient.name": "Please name the receiving body."])
            // Submitted at once, the same; a blank name is no name.
            let blank = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(
                    draft.merging(["recipient": ["name": "  ", "type": "external"], "submit": true]) { $1 })
            }
            #expect(blank.errors == ["recipient.name": "Bitte nennen Sie die empfangende Stelle."])
            // A type the API does not know is refused, with or without a name.
            for recipient in [["type": "<script>alert(1)</script>"], ["name": "Umweltamt", "type": "alien"]] {
                let refused = try await APIBadInputTests.expectRefused(fixture, status: 400, type: "invalid-body") {
                    try await api.send(
                        .post, "/api/v1/requests/\(id)/edit", as: "anna", json: jsonText(["recipient": recipient]))
                }
                #expect(refused.errors["recipient.type"] != nil, "\(refused.body)")
            }
            let named = try await api.send(
                .post, "/api/v1/requests/\(id)/edit", as: "anna",
                json: jsonText(["recipient": ["name": "Stadtwerke", "type": "external"]]))
            #expect(named.status == 200, "\(named.body)")
            let submitted = try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            #expect(submitted.status == 200, "\(submitted.body)")
            // The database keeps the rule too: a submitted request has no type without a name.
            await #expect(throws: (any Error).self) {
                try await fixture.store.admin.query(
                    "UPDATE requests SET recipient_name = NULL WHERE id = \(UUID(uuidString: id)!)",
                    logger: fixture.store.logger)
            }
        }
    }

    @Test("hostile checks: an unknown question, applies as text, a 4001-character note, control characters")
    func hostileChecks() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(Self.openDataDraft)
            let id = try #require(created.json?["id"]?.string)
            let long = String(repeating: "a", count: 4001)
            let shapes: [([String: Any], String)] = [
                (["personal_reference": ["applies": false], "weather": ["applies": false]], "open_data_check.weather"),
                (["security": ["applies": "nein"]], "open_data_check.security.applies"),
                (["security": ["applies": false, "colour": "red"]], "open_data_check.security.colour"),
                (["security": true], "open_data_check.security"),
            ]
            for (check, field) in shapes {
                let body = jsonText(["open_data_check": check])
                let response = try await APIBadInputTests.expectRefused(fixture, status: 400, type: "invalid-body") {
                    try await api.send(.post, "/api/v1/requests/\(id)/edit", as: "anna", json: body)
                }
                #expect(response.errors[field] != nil, "\(response.body)")
                let new = try await APIBadInputTests.expectRefused(fixture, status: 400, type: "invalid-body") {
                    try await api.create(Self.openDataDraft.merging(["open_data_check": check]) { $1 })
                }
                #expect(new.errors[field] != nil, "\(new.body)")
            }
            for note in [long, "Zeile\u{0}Ende", "Bidi \u{202E}txet"] {
                let body = jsonText(["open_data_check": ["trade_secrets": ["note": note]]])
                let response = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                    try await api.send(.post, "/api/v1/requests/\(id)/edit", as: "anna", json: body)
                }
                #expect(response.errors.keys.sorted() == ["open_data_check.trade_secrets.note"], "\(response.body)")
            }
            // The draft is as it was.
            let read = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(read.json?["open_data_check"] == created.json?["open_data_check"])
            #expect(read.json?["version"]?.int == 1)
        }
    }
}
