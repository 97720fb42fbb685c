import Foundation
import Hummingbird
import Testing

@testable import FreigabeServer

/// `POST /requests/{id}/edit`: a draft changes before it is submitted; nothing else may.
@Suite("JSON API: editing a draft")
struct APIEditDraftTests {
    @Test("the requester completes a saved draft and submits it; the workflow's rules apply at submission")
    func completeADraft() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create([
                "kind": "shared_data", "dataset_id": "altlastenkataster", "purpose": "Planung", "submit": false,
            ])
            #expect(created.status == 201)
            let id = try #require(created.json?["id"]?.string)
            #expect(
                created.json?["allowed_actions"] == .array([.string("submit"), .string("edit"), .string("withdraw")]))
            // Incomplete: the workflow names what is missing, nothing changes.
            let early = try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            #expect(early.status == 422)
            #expect(early.errors["legal_basis"] != nil)
            let edited = try await api.send(
                .post, "/api/v1/requests/\(id)/edit", as: "anna",
                json: jsonText([
                    "recipient": ["name": "Umweltamt", "type": "internal"], "legal_basis": "§ 9 BBodSchG",
                    "access_end": "2026-12-31",
                ]))
            #expect(edited.status == 200, "\(edited.body)")
            #expect(edited.json?["purpose"]?.string == "Planung", "fields not given stay")
            #expect(edited.json?["legal_basis"]?.string == "§ 9 BBodSchG")
            #expect(edited.json?["version"]?.int == 2)
            let submitted = try await api.send(
                .post, "/api/v1/requests/\(id)/submit", as: "anna", headers: [.ifMatch: "\"2\""])
            #expect(submitted.status == 200, "\(submitted.body)")
            // Submitted: no more editing.
            try await APIBadInputTests.expectRefused(fixture, status: 409, type: "invalid-state") {
                try await api.send(.post, "/api/v1/requests/\(id)/edit", as: "anna", json: jsonText(["purpose": "Neu"]))
            }
        }
    }

    @Test(
        "hostile edits: someone else's draft, unknown fields, the kind, wrong types, control characters, a stale version"
    )
    func hostileEdits() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create([
                "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Planung", "submit": false,
            ])
            let id = try #require(created.json?["id"]?.string)
            // Another requester cannot see it: the same 404 as a missing request (and a security event).
            try await APIBadInputTests.expectRefused(fixture, status: 404, type: "not-found", auditDelta: 1) {
                try await api.send(.post, "/api/v1/requests/\(id)/edit", as: "paul", json: jsonText(["purpose": "X"]))
            }
            for body in [
                jsonText(["kind": "open_data"]), jsonText(["comment": "x"]), jsonText(["purpose": 5]),
                jsonText(["recipient": "Stadtwerke"]),
            ] {
                try await APIBadInputTests.expectRefused(fixture, status: 400, type: "invalid-body") {
                    try await api.send(.post, "/api/v1/requests/\(id)/edit", as: "anna", json: body)
                }
            }
            try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(
                    .post, "/api/v1/requests/\(id)/edit", as: "anna", json: jsonText(["purpose": "Zeile\u{7}"]))
            }
            try await APIBadInputTests.expectRefused(fixture, status: 409, type: "conflict") {
                try await api.send(
                    .post, "/api/v1/requests/\(id)/edit", as: "anna", json: jsonText(["purpose": "Neu"]),
                    headers: [.ifMatch: "\"7\""])
            }
        }
    }
}
