import AuditLog
import Foundation
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The capacity filter (`capacity=deputy|escalation`) through the production router: a real escalation
/// (the owner step overdue, the timer escalates to the governance office, Greta decides as the
/// escalation instance) is found as escalation and not as deputy, a deputy's decision the other way
/// round, an ordinary decision by neither; hostile values are refused with the reason.
@Suite("Decision log: the capacity filter")
struct AuditCapacityTests {
    static let signer = AuditSealTests.signer

    /// The three decisions, one in each capacity.
    struct Decisions {
        /// Otto decides his own step.
        var ordinary: RequestView
        /// Paul decides as Otto's deputy.
        var deputy: RequestView
        /// Greta decides the overdue owner step as the escalation instance.
        var escalation: RequestView
    }

    /// The three decisions, then everything sealed under a signed checkpoint; its note.
    static func decisions(_ store: ServiceFixture) async throws -> (Decisions, String) {
        let service = store.service
        let logger = store.logger
        let ordinary = try await store.shared("baumkataster")
        let deputy = try await store.shared("baumkataster", at: Clock.start.addingTimeInterval(1))
        let escalation = try await store.shared("luftmessstationen")
        try await store.decide(ordinary, by: People.otto, at: Clock.days(1))
        _ = try await service.createDeputyship(
            NewDeputyship(deputy: "paul", validFrom: Clock.days(2), validUntil: Clock.days(9)), caller: People.otto,
            now: Clock.days(1), logger: logger)
        try await store.decide(deputy, by: People.paul, at: Clock.days(3))
        // The owner step of the air data is overdue: its timer escalates it to the governance office.
        _ = try await service.fireDueTimers(now: Clock.days(20), logger: logger)
        let decided = try await store.decide(
            try await service.request(id: escalation.id, caller: People.greta, now: Clock.days(20), logger: logger),
            by: People.greta, at: Clock.days(20))
        // The engine's record of it, so the test stands on a real escalation decision.
        #expect(decided.decisions.last?.asEscalation == true)
        #expect(decided.decisions.last?.person == "greta")
        // The next step of the same request, decided the ordinary way: the capacity belongs to one
        // decision, not to its request.
        let stewarded = try await store.decide(decided, by: People.stefan, at: Clock.days(21))
        #expect(stewarded.decisions.last?.asEscalation == false)
        _ = try await AuditSealer(client: store.app, signer: signer, checkpointFile: nil)
            .sealAll(now: Date(), logger: logger)
        let note = try await AuditQuery(client: store.app).latestSignedCheckpoint(logger: logger)
        return (Decisions(ordinary: ordinary, deputy: deputy, escalation: escalation), try #require(note?.signedNote))
    }

    /// (actor, acting_for, request, decision) of each item.
    static func items(_ response: APIResponse) -> [Item] {
        guard case .array(let items)? = response.json?["items"] else { return [] }
        return items.map {
            Item(
                actor: $0["actor"]?.string, actingFor: $0["acting_for"]?.string,
                request: $0["request_id"]?.string.flatMap(UUID.init(uuidString:)), decision: $0["decision"]?.string,
                capacity: $0["capacity"]?.string)
        }
    }

    struct Item: Hashable {
        var actor: String?
        var actingFor: String?
        var request: UUID?
        var decision: String?
        /// As each item states it, with the filter's values.
        var capacity: String?
    }

    @Test("API: an escalation decision is found as escalation only, a deputy's as deputy only, an ordinary by neither")
    func apiFindsEachCapacity() async throws {
        try await APIFixture.with { fixture, api in
            let (decisions, note) = try await Self.decisions(fixture.store)
            let all = Self.items(try await api.send(.get, "/api/v1/audit/events?limit=1000", as: "alex"))
            // Without the filter every decision is there (so the filtered answers below can differ).
            #expect(all.filter { $0.decision != nil }.count >= 3)

            let escalation = try await api.send(.get, "/api/v1/audit/events?capacity=escalation", as: "alex")
            #expect(escalation.status == 200)
            #expect(
                Self.items(escalation) == [
                    Item(
                        actor: "greta", actingFor: nil, request: decisions.escalation.id, decision: "approved",
                        capacity: "escalation")
                ])

            let deputy = try await api.send(.get, "/api/v1/audit/events?capacity=deputy", as: "alex")
            #expect(deputy.status == 200)
            #expect(
                Self.items(deputy) == [
                    Item(
                        actor: "paul", actingFor: "otto", request: decisions.deputy.id, decision: "approved",
                        capacity: "deputy")
                ])
            // The ordinary decision is in the log, and in neither capacity.
            let ordinary = Item(actor: "otto", actingFor: nil, request: decisions.ordinary.id, decision: "approved")
            #expect(all.contains(ordinary))
            #expect(!Self.items(escalation).contains(ordinary) && !Self.items(deputy).contains(ordinary))
            // So is the steward's decision on the escalated request.
            let steward = Item(actor: "stefan", actingFor: nil, request: decisions.escalation.id, decision: "approved")
            #expect(all.contains(steward))

            // Combined with other filters: the same checked conditions, ANDed.
            let gretaAsEscalation = try await api.send(
                .get, "/api/v1/audit/events?person=greta&capacity=escalation&decision=approved", as: "alex")
            #expect(Self.items(gretaAsEscalation).count == 1)
            let ottoAsEscalation = try await api.send(
                .get, "/api/v1/audit/events?person=otto&capacity=escalation", as: "alex")
            #expect(Self.items(ottoAsEscalation).isEmpty)

            // The export names the filter in its header and verifies offline.
            let export = try await api.client.executeRequest(
                uri: "/api/v1/audit/export?capacity=escalation", method: .get,
                headers: [.authorization: APIClient.basic("alex")], body: nil)
            #expect(export.status == .ok)
            let body = String(buffer: export.body)
            #expect(body.prefix { $0 != "\n" }.contains(#""capacity":"escalation""#))
            let summary = try ExportVerifier(key: Self.signer.verifierKey).verify(
                lines: ExportLines.split(Array(body.utf8)), checkpoints: [CheckpointRecord(signedNote: note)]
            ).get()
            #expect(summary.selection == .filtered)
            #expect(summary.eventCount == 1)
            // The capacity is in the sealed leaf itself (FORMAT.md field 9), so the signed tree proves it.
            let eventLine = body.split(separator: "\n").dropFirst().first.map(String.init) ?? ""
            #expect(eventLine.contains(#""capacity":"escalation""#))
            #expect(eventLine.contains(#""actor":"greta""#))

            // Each read is recorded with the capacity it asked for.
            var capacities: [String?] = []
            for try await capacity in try await fixture.store.admin.query(
                "SELECT details->>'capacity' FROM audit_events WHERE event = 'audit_read' ORDER BY id",
                logger: fixture.store.logger
            ).decode(String?.self) {
                capacities.append(capacity)
            }
            #expect(capacities == [nil, "escalation", "deputy", "escalation", "escalation", "escalation"])
        }
    }

    @Test("API: a deputy deciding as the escalation instance is found as deputy and as escalation")
    func escalationDeputyInBothCapacities() async throws {
        try await APIFixture.with { fixture, api in
            let store = fixture.store
            let logger = store.logger
            _ = try await store.service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.days(19), validUntil: Clock.days(30)),
                caller: People.greta, now: Clock.days(1), logger: logger)
            let overdue = try await store.shared("luftmessstationen")
            _ = try await store.service.fireDueTimers(now: Clock.days(20), logger: logger)
            let decided = try await store.decide(
                try await store.service.request(
                    id: overdue.id, caller: People.paul, now: Clock.days(20), logger: logger),
                by: People.paul, at: Clock.days(20))
            let decision = try #require(decided.decisions.last)
            #expect(decision.person == "paul" && decision.actingFor == "greta" && decision.asEscalation)
            _ = try await AuditSealer(client: store.app, signer: Self.signer, checkpointFile: nil)
                .sealAll(now: Date(), logger: logger)
            let expected = Item(
                actor: "paul", actingFor: "greta", request: overdue.id, decision: "approved", capacity: "escalation")
            for capacity in ["deputy", "escalation"] {
                let found = try await api.send(.get, "/api/v1/audit/events?capacity=\(capacity)", as: "alex")
                #expect(Self.items(found) == [expected], "\(capacity): \(found.body)")
            }
        }
    }

    @Test("API: a hostile or unknown capacity is refused with 400 and the reason; nothing is read or recorded")
    func apiRefusesHostileCapacity() async throws {
        try await APIFixture.with { fixture, api in
            _ = try await Self.decisions(fixture.store)
            for value in ["%3Cscript%3Ealert(1)%3C/script%3E", "Escalation", "deputy,escalation", "principal", "true"] {
                for path in ["/api/v1/audit/events", "/api/v1/audit/export"] {
                    let answer = try await api.send(.get, "\(path)?capacity=\(value)", as: "alex")
                    #expect(answer.status == 400, "\(path) \(value)")
                    #expect(
                        answer.errors["capacity"]
                            == "Ungültiger Wert: ist keine Eigenschaft des Handelns (deputy: in Vertretung, escalation: als Eskalationsinstanz)",
                        "\(path) \(value): \(answer.errors)")
                    #expect(!answer.body.contains("<script>"))
                }
            }
            let english = try await api.send(
                .get, "/api/v1/audit/events?capacity=boss", as: "alex", headers: [.acceptLanguage: "en"])
            #expect(
                english.errors["capacity"]
                    == "Invalid value: is not a capacity (deputy: as a deputy, escalation: as the escalation instance)")
            // The former boolean is refused rather than ignored: ignored, it would return the whole log.
            let former = try await api.send(.get, "/api/v1/audit/events?deputies=true", as: "alex")
            #expect(former.status == 400)
            #expect(former.errors["deputies"]?.contains("capacity=deputy") == true)
            let reads = try await fixture.store.admin.query(
                "SELECT count(*) FROM audit_events WHERE event = 'audit_read'", logger: fixture.store.logger
            ).decode(Int.self).first(where: { _ in true })
            #expect(reads == 0)
        }
    }

    @Test("page: the capacity field filters the log and the download; a hostile value is named by the field")
    func pageFiltersByCapacity() async throws {
        try await WebFixture.with { fixture, client in
            let (decisions, _) = try await Self.decisions(fixture.store)
            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung?capacity=escalation")
            #expect(page.status == 200)
            // One row: Greta's decision, as the escalation instance.
            #expect(page.html.components(separatedBy: "<th scope=\"row\">").count == 2)
            #expect(page.html.contains("greta"))
            // The who column names the capacity, as the request page does.
            #expect(page.html.contains("greta (Data-Governance-Stelle) – als Eskalationsstelle"), "\(page.html)")
            #expect(page.html.contains("href=\"/pruefung/antraege/\(decisions.escalation.id.uuidString)\""))
            #expect(page.html.contains("<option value=\"escalation\" selected>Als Eskalationsinstanz</option>"))
            #expect(page.html.contains("--capacity escalation"))
            #expect(page.html.contains("href=\"/pruefung/export?format=jsonl&amp;capacity=escalation\""))
            let deputy = try await alex.get("/pruefung?capacity=deputy")
            #expect(deputy.html.components(separatedBy: "<th scope=\"row\">").count == 2)
            #expect(deputy.html.contains("href=\"/pruefung/antraege/\(decisions.deputy.id.uuidString)\""))
            #expect(!deputy.html.contains("href=\"/pruefung/antraege/\(decisions.escalation.id.uuidString)\""))
            // The principal by the directory's name, as the request page names him.
            #expect(deputy.html.contains("paul (Data Owner) – in Vertretung für Otto Oberle"), "\(deputy.html)")
            let download = try await alex.get("/pruefung/export?format=jsonl&capacity=escalation")
            #expect(download.status == 200)
            #expect(download.html.split(separator: "\n").count == 3)

            let bad = try await alex.get("/pruefung?capacity=%3Cscript%3Ealert(1)%3C/script%3E")
            #expect(bad.status == 400)
            #expect(
                bad.html.contains(
                    "<p class=\"error-message\" id=\"f-capacity-error\"><span class=\"visually-hidden\">"))
            #expect(bad.html.contains("ist keine Eigenschaft des Handelns"))
            #expect(!bad.html.contains("<script>alert"))
            #expect(try await alex.get("/pruefung/export?capacity=boss").status == 400)
        }
    }

    @Test("the filter is typed: parse refuses what is not a capacity, the export header names it")
    func parseAndDescribe() throws {
        #expect(try AuditFilter.parse(capacity: "deputy").capacity == .deputy)
        #expect(try AuditFilter.parse(capacity: "escalation").described == ["capacity": "escalation"])
        #expect(try AuditFilter.parse().capacity == nil)
        for hostile in ["<script>", "Deputy", "deputy ", "", "escalation\u{0}"] {
            #expect(throws: AuditFilterError(option: "--capacity", value: hostile, problem: .capacity)) {
                try AuditFilter.parse(capacity: hostile)
            }
        }
        #expect(
            AuditFilterError(option: "--capacity", value: "<b>", problem: .capacity).description
                == "--capacity „<b>“ ist keine Eigenschaft des Handelns (deputy: in Vertretung, escalation: als Eskalationsinstanz)."
        )
    }
}
