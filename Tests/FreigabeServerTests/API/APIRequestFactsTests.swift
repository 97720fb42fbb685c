import Foundation
import Hummingbird
import PostgresNIO
import Testing

@testable import FreigabeServer

/// A request is shown only while its stored snapshot agrees with the append-only facts: the tables'
/// owner who rewrites `requests.snapshot` cannot make the API or the page show a decider who never
/// decided.
@Suite("JSON API: a request is shown from facts it agrees with")
struct APIRequestFactsTests {
    @Test("a snapshot rewritten to show mallory is refused with 500, nothing shown; put back, it shows again")
    func rewrittenSnapshotIsNotShown() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create([
                "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Baumpflege planen",
                "recipient": ["name": "Grünflächenamt", "type": "internal"], "access_end": "2027-06-30", "submit": true,
            ])
            #expect(created.status == 201, "\(created.body)")
            let id = try #require(created.json?["id"]?.string)
            let approved = try await api.decide(id, as: "otto", ["decision": "approve"])
            #expect(approved.status == 200, "\(approved.body)")
            let shown = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(shown.status == 200)
            #expect(shown.json?["decisions"]?[0]?["person"]?.string == "otto")

            let original = try #require(
                try await fixture.store.admin.query(
                    "SELECT snapshot::text FROM requests WHERE id = \(UUID(uuidString: id)!)",
                    logger: fixture.store.logger
                ).decode(String.self).first(where: { _ in true }))
            try await fixture.store.admin.query(
                """
                UPDATE requests SET snapshot = jsonb_set(snapshot, '{decisions,0,person}', '"mallory"')
                WHERE id = \(UUID(uuidString: id)!)
                """, logger: fixture.store.logger)

            let refused = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(refused.status == 500, "\(refused.body)")
            #expect(refused.problemType == "internal")
            #expect(!refused.body.contains("mallory"), "the forged decider is not shown")
            #expect(refused.json?["detail"]?.string?.contains("widerspricht seinem Entscheidungsprotokoll") == true)
            // The approver's view is refused alike; nothing was written by looking.
            let before = try await fixture.store.counts()
            #expect(try await api.send(.get, "/api/v1/requests/\(id)", as: "stefan").status == 500)
            #expect(try await fixture.store.counts() == before)

            try await fixture.store.admin.query(
                "UPDATE requests SET snapshot = \(original)::jsonb WHERE id = \(UUID(uuidString: id)!)",
                logger: fixture.store.logger)
            let again = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(again.status == 200)
            #expect(again.json?["decisions"]?[0]?["person"]?.string == "otto")
        }
    }

    /// The tables' owner rewrites a decision in the `decisions` row and the snapshot alike (triggers off
    /// for a moment), so that the two agree: the role or the escalation capacity (which separation of
    /// duties reads), a comment where none was given, the branch. The sealed log says otherwise.
    @Test("a decision rewritten alike in its row and the snapshot is refused: role, escalation, comment, branch")
    func rewrittenDecisionIsNotShown() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create([
                "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Baumpflege planen",
                "recipient": ["name": "Grünflächenamt", "type": "internal"], "access_end": "2027-06-30", "submit": true,
            ])
            let text = try #require(created.json?["id"]?.string)
            let id = try #require(UUID(uuidString: text))
            #expect(try await api.decide(id.uuidString, as: "otto", ["decision": "approve"]).status == 200)
            let logger = fixture.store.logger
            func rewrite(column: String, value: String, key: String, json: String) async throws {
                try await fixture.store.admin.query("ALTER TABLE decisions DISABLE TRIGGER USER", logger: logger)
                try await fixture.store.admin.query(
                    PostgresQuery(
                        unsafeSQL: "UPDATE decisions SET \(column) = \(value) WHERE request_id = '\(id.uuidString)'"),
                    logger: logger)
                try await fixture.store.admin.query("ALTER TABLE decisions ENABLE TRIGGER USER", logger: logger)
                try await fixture.store.admin.query(
                    """
                    UPDATE requests SET snapshot = jsonb_set(snapshot, \(["decisions", "0", key]), \(json)::jsonb)
                    WHERE id = \(id)
                    """, logger: logger)
            }
            let rewrites: [(column: String, original: String, forged: String, key: String, json: (String, String))] = [
                ("role", "'data_owner'", "'dsb'", "role", ("\"data_owner\"", "\"dsb\"")),
                ("as_escalation", "false", "true", "asEscalation", ("false", "true")),
                (
                    "comment", "NULL", "'Geprüft und einverstanden'", "comment",
                    ("null", "\"Geprüft und einverstanden\"")
                ),
                ("branch", "'owner_review'", "'steward_review'", "branch", ("\"owner_review\"", "\"steward_review\"")),
            ]
            for forged in rewrites {
                try await rewrite(column: forged.column, value: forged.forged, key: forged.key, json: forged.json.1)
                let refused = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
                #expect(refused.status == 500, "\(forged.column): \(refused.body)")
                try await rewrite(column: forged.column, value: forged.original, key: forged.key, json: forged.json.0)
                let shown = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
                #expect(shown.status == 200, "\(forged.column) put back: \(shown.body)")
            }
        }
    }

    @Test("what was asked is logged with the submission and each resubmission; a row rewritten after is refused")
    func statedDetailsAreLogged() async throws {
        try await APIFixture.with { fixture, api in
            // Hostile texts and an instant with more digits than PostgreSQL keeps must round-trip unchanged.
            let purpose = #"Baumpflege "><img src=x onerror=alert(1)> „Zitat“ \ 🌳"#
            let created = try await api.create([
                "kind": "shared_data", "dataset_id": "baumkataster", "purpose": purpose,
                "recipient": ["name": "Grünflächenamt <b>", "type": "internal"],
                "access_start": "2027-01-01T08:00:00.1234567Z", "access_end": "2027-06-30", "submit": true,
            ])
            #expect(created.status == 201, "\(created.body)")
            let id = try #require(created.json?["id"]?.string)
            let requestID = try #require(UUID(uuidString: id))
            func logged() async throws -> [[String: JSONValue]] {
                let rows = try await fixture.store.admin.query(
                    """
                    SELECT (details->'request')::text FROM audit_events
                    WHERE request_id = \(requestID) AND event IN ('submitted', 'resubmitted') ORDER BY id
                    """, logger: fixture.store.logger)
                var result: [[String: JSONValue]] = []
                for try await text in rows.decode(String.self) {
                    guard case .object(let object) = try StoredJSON.decode(JSONValue.self, from: text) else {
                        Issue.record("not an object: \(text)")
                        continue
                    }
                    result.append(object)
                }
                return result
            }
            var events = try await logged()
            #expect(events.count == 1)
            #expect(events.first?["purpose"] == .string(purpose))
            #expect(events.first?["kind"] == .string("shared_data"))
            #expect(
                events.first?["recipient"]
                    == .object(["name": .string("Grünflächenamt <b>"), "type": .string("internal")]))
            #expect(events.first?["access_start"] == .string("2027-01-01T08:00:00.123457Z"))
            #expect(events.first?["legal_basis"] == .null, "every field is named, an absent one as null")
            #expect(try await api.send(.get, "/api/v1/requests/\(id)", as: "anna").status == 200)

            let asked = try await api.decide(id, as: "otto", ["decision": "request_changes", "question": "Wozu?"])
            #expect(asked.status == 200, "\(asked.body)")
            let answered = try await api.send(
                .post, "/api/v1/requests/\(id)/resubmit", as: "anna",
                json: jsonText(["comment": "Für den Hitzeaktionsplan.", "purpose": "Hitzeaktionsplan"]))
            #expect(answered.status == 200, "\(answered.body)")
            events = try await logged()
            #expect(events.map { $0["purpose"] } == [.string(purpose), .string("Hitzeaktionsplan")])
            #expect(try await api.send(.get, "/api/v1/requests/\(id)", as: "anna").status == 200)

            // The owner writes the first purpose back into the row: the last submission disagrees.
            try await fixture.store.admin.query(
                "UPDATE requests SET purpose = \(purpose) WHERE id = \(requestID)", logger: fixture.store.logger)
            let refused = try await api.send(.get, "/api/v1/requests/\(id)", as: "otto")
            #expect(refused.status == 500, "\(refused.body)")
            #expect(!refused.body.contains("Baumpflege"), "the forged purpose is not shown")
            try await fixture.store.admin.query(
                "UPDATE requests SET purpose = 'Hitzeaktionsplan' WHERE id = \(requestID)", logger: fixture.store.logger
            )
            #expect(try await api.send(.get, "/api/v1/requests/\(id)", as: "otto").status == 200)
        }
    }

    @Test("reads while decisions commit never see a disagreement (one snapshot for the request and its facts)")
    func readsDuringDecisionsAgree() async throws {
        try await APIFixture.with { fixture, api in
            var ids: [String] = []
            for index in 0..<6 {
                let created = try await api.create([
                    "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Planung \(index)",
                    "recipient": ["name": "Grünflächenamt", "type": "internal"], "access_end": "2027-06-30",
                    "submit": true,
                ])
                ids.append(try #require(created.json?["id"]?.string))
            }
            let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
                for id in ids {
                    group.addTask {
                        [try await api.decide(id, as: "otto", ["decision": "approve"]).status]
                    }
                    group.addTask {
                        var seen: [Int] = []
                        for _ in 0..<5 {
                            seen.append(try await api.send(.get, "/api/v1/requests/\(id)", as: "anna").status)
                        }
                        return seen
                    }
                }
                return try await group.reduce(into: [Int]()) { $0 += $1 }
            }
            #expect(statuses.count == 6 * 6)
            #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        }
    }
}
