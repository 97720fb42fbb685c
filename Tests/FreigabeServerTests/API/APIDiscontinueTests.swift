import Foundation
import Hummingbird
import Testing

@testable import FreigabeServer

/// `POST /api/v1/requests/{id}/discontinue`: the escalation instance closes a request nobody moves on.
@Suite("JSON API: discontinuing a request")
struct APIDiscontinueTests {
    @Test("an unanswered question: refused before its time (in the caller's language), hostile bodies, then closed")
    func unansweredQuestion() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(
                [
                    "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Planung der Grünflächen",
                    "recipient": ["name": "Amt für Stadtentwicklung", "type": "internal"], "access_end": "2026-12-31",
                    "submit": true,
                ])
            let id = try #require(created.json?["id"]?.string)
            let asked = try await api.decide(
                id, as: "otto", ["decision": "request_changes", "question": "Welche Bezirke?"])
            #expect(asked.json?["status"]?["phase"]?.string == "changes_requested")
            let path = "/api/v1/requests/\(id)/discontinue"
            let reason = jsonText(["reason": "Keine Antwort seit Wochen."])

            // Too early: 409, saying from when, in German or in English.
            let early = try await api.send(.post, path, as: "greta", json: reason)
            #expect(early.status == 409)
            #expect(early.json?["detail"]?.string?.hasPrefix("Einstellen ist erst ab") == true, "\(early.body)")
            let english = try await api.send(
                .post, path, as: "greta", json: reason, headers: [.acceptLanguage: "en"])
            #expect(english.status == 409)
            #expect(english.json?["detail"]?.string?.hasPrefix("The request can be discontinued from") == true)

            // Not stalled yet: the list of what the office may close is empty.
            let none = try await api.send(.get, "/api/v1/inbox/stalled", as: "greta")
            #expect(none.status == 200 && none.json?["items"]?.array == [], "\(none.body)")

            fixture.clock.advance(days: 10)
            // Now it is on the list, waiting for the answer; for nobody else, and for nobody without a login.
            let stalled = try await api.send(.get, "/api/v1/inbox/stalled", as: "greta")
            let item = try #require(stalled.json?["items"]?.array.first, "\(stalled.body)")
            #expect(stalled.json?["items"]?.array.count == 1)
            #expect(item["request"]?["id"]?.string == id)
            #expect(item["waiting_for"]?.string == "answer" && item["capacity"]?.string == "escalation")
            #expect(item["role"]?.string == "governance" && item["closable_from"]?.string != nil)
            for user in ["anna", "otto"] {
                let theirs = try await api.send(.get, "/api/v1/inbox/stalled", as: user)
                #expect(theirs.status == 200 && theirs.json?["items"]?.array == [], "\(user): \(theirs.body)")
            }
            #expect(try await api.send(.get, "/api/v1/inbox/stalled", as: nil).status == 401)
            let post = try await api.send(.post, "/api/v1/inbox/stalled", as: "greta", json: "{}", validate: false)
            #expect(post.status == 405)
            let seen = try await api.send(.get, "/api/v1/requests/\(id)", as: "greta")
            #expect(seen.json?["discontinue_options"]?["capacity"]?.string == "escalation", "\(seen.body)")
            #expect(seen.json?["allowed_actions"]?.array == [.string("discontinue")])
            let before = try await fixture.store.counts()
            // Hostile bodies change nothing: a key twice, a field the operation does not know, a number for
            // the reason, no reason, a reason of spaces, and someone who is not the escalation instance.
            let refusals: [(body: String, user: String, status: Int)] = [
                (#"{"reason": "a", "reason": "b"}"#, "greta", 400),
                (#"{"reason": "a", "version": 1}"#, "greta", 400),
                (#"{"reason": 42}"#, "greta", 400),
                ("{}", "greta", 422),
                (#"{"reason": " \n "}"#, "greta", 422),
                (#"{"reason": "Ich räume auf."}"#, "otto", 403),
                (#"{"reason": "Ich räume auf."}"#, "anna", 403),
            ]
            for refusal in refusals {
                let answer = try await api.send(.post, path, as: refusal.user, json: refusal.body)
                #expect(answer.status == refusal.status, "\(refusal.body) as \(refusal.user): \(answer.body)")
            }
            let after = try await fixture.store.counts()
            #expect(after["requests"] == before["requests"] && after["decisions"] == before["decisions"])
            #expect(after["outbox"] == before["outbox"])

            let closed = try await api.send(.post, path, as: "greta", json: reason)
            #expect(closed.status == 200, "\(closed.body)")
            #expect(closed.json?["status"]?["phase"]?.string == "closed")
            #expect(closed.json?["status"]?["end"]?.string == "withdrawn")
            let decision = closed.json?["decisions"]?.array.last
            #expect(decision?["outcome"]?.string == "discontinued")
            #expect(decision?["person"]?.string == "greta")
            #expect(decision?["comment"]?.string == "Keine Antwort seit Wochen.")
            // The auditors find it, sealed, by its outcome.
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
                .sealAll(now: Date(), logger: fixture.store.logger)
            let events = try await api.send(
                .get, "/api/v1/audit/events?request=\(id)&decision=discontinued", as: "alex")
            #expect(events.status == 200, "\(events.body)")
            #expect(events.json?["items"]?.array.map { $0["type"]?.string } == ["discontinued"])
        }
    }
}
