import AuditLog
import Foundation
import Hummingbird
import Testing

@testable import FreigabeServer

/// Every shipped workflow driven over HTTP to each of its end states, as the README's curl tour does.
@Suite("JSON API: lifecycles")
struct APILifecycleTests {
    @Test("Shared Data of personal, confidential data: Owner, Steward, DSB, ISB → granted → revoked by the DSB")
    func sharedDataGrantedAndRevoked() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(
                [
                    "kind": "shared_data", "dataset_id": "altlastenkataster",
                    "purpose": "Sanierungsplanung mit den Stadtwerken",
                    "recipient": ["name": "Stadtwerke Beispielstadt GmbH", "type": "external"],
                    "legal_basis": "Art. 6 Abs. 1 lit. e DSGVO", "access_end": "2026-12-31", "submit": true,
                ])
            #expect(created.status == 201)
            let id = try #require(created.json?["id"]?.string)
            #expect(created.headers[.location] == "/api/v1/requests/\(id)")
            #expect(created.headers[.eTag] == "\"\(created.json?["version"]?.int ?? -1)\"")
            #expect(created.json?["status"]?["phase"]?.string == "in_review")
            #expect(created.json?["status"]?["step"]?.string == "owner_review")
            #expect(created.json?["status"]?["waiting_for"]?.array == [.string("data_owner")])
            #expect(created.json?["timeline"]?.array.count == 4)

            let inbox = try await api.send(.get, "/api/v1/inbox", as: "otto")
            #expect(inbox.status == 200)
            #expect(inbox.json?["items"]?.array.contains { $0["request"]?["id"]?.string == id } == true)
            #expect(inbox.json?["items"]?[0]?["capacity"]?.string == "own")
            // Nothing for the requester to decide.
            let annasInbox = try await api.send(.get, "/api/v1/inbox", as: "anna")
            #expect(annasInbox.json?["items"]?.array.isEmpty == true)

            var step = try await api.decide(id, as: "otto", ["decision": "approve", "comment": "Daten sind geeignet."])
            #expect(step.status == 200)
            #expect(step.json?["status"]?["step"]?.string == "steward_review")
            step = try await api.decide(id, as: "stefan", ["decision": "approve"])
            #expect(step.json?["status"]?["step"]?.string == "privacy_review")
            step = try await api.decide(id, as: "dora", ["decision": "approve", "comment": "Nur für den Zweck."])
            #expect(step.json?["status"]?["step"]?.string == "security_review")
            step = try await api.decide(id, as: "ingo", ["decision": "approve"])
            #expect(step.status == 200)
            #expect(step.json?["status"]?["phase"]?.string == "granted")
            #expect(step.json?["status"]?["granted_until"]?.string == "2026-12-31T23:00:00Z")

            let seen = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(seen.status == 200)
            #expect(seen.json?["decisions"]?.array.map { $0["person"]?.string } == ["otto", "stefan", "dora", "ingo"])
            #expect(seen.json?["timeline"]?.array.allSatisfy { $0["status"]?.string == "done" } == true)
            #expect(seen.json?["allowed_actions"]?.array.isEmpty == true)

            let mine = try await api.send(.get, "/api/v1/me/requests?phase=granted", as: "anna")
            #expect(mine.json?["items"]?.array.map { $0["id"]?.string } == [id])

            // What each may revoke: the owner, the steward and the DSB who decided, the other DSB of the
            // privacy step that applied (each in their role); not the requester, nor someone it does not
            // concern.
            for (user, role) in [("otto", "data_owner"), ("dora", "dsb"), ("stefan", "data_steward")] {
                let grants = try await api.send(.get, "/api/v1/inbox/revocable", as: user)
                let grant = try #require(grants.json?["items"]?.array.first, "\(user): \(grants.body)")
                #expect(grants.json?["items"]?.array.count == 1)
                #expect(grant["request"]?["id"]?.string == id && grant["role"]?.string == role, "\(grant)")
                #expect(grant["capacity"]?.string == "own" && grant["granted_until"]?.string == "2026-12-31T23:00:00Z")
            }
            let dirks = try await fixture.service.revocableGrants(
                caller: People.dirk, now: fixture.clock.now(), logger: fixture.store.logger)
            #expect(dirks.map(\.request.id) == [UUID(uuidString: id)] && dirks.first?.role == "dsb", "\(dirks)")
            for user in ["anna", "olga"] {
                let none = try await api.send(.get, "/api/v1/inbox/revocable", as: user)
                #expect(none.status == 200 && none.json?["items"]?.array == [], "\(user): \(none.body)")
            }
            // otto's deputy in force, in his name; none once the deputyship has ended.
            let deputyship = try await fixture.service.createDeputyship(
                NewDeputyship(
                    principal: nil, deputy: "paul", validFrom: fixture.clock.now(),
                    validUntil: fixture.clock.now().addingTimeInterval(86_400)),
                caller: People.otto, now: fixture.clock.now(), logger: fixture.store.logger)
            let forOtto = try await api.send(.get, "/api/v1/inbox/revocable", as: "paul")
            let asDeputy = try #require(forOtto.json?["items"]?.array.first, "\(forOtto.body)")
            #expect(asDeputy["capacity"]?.string == "deputy" && asDeputy["acting_for"]?.string == "otto")
            #expect(asDeputy["role"]?.string == "data_owner")
            _ = try await fixture.service.endDeputyship(
                id: deputyship.id, caller: People.otto, now: fixture.clock.now(), logger: fixture.store.logger)
            let ended = try await api.send(.get, "/api/v1/inbox/revocable", as: "paul")
            #expect(ended.json?["items"]?.array == [], "\(ended.body)")

            let revoked = try await api.send(
                .post, "/api/v1/requests/\(id)/revoke", as: "dora", json: jsonText(["reason": "Zweck entfallen."]))
            #expect(revoked.status == 200)
            #expect(revoked.json?["status"]?["phase"]?.string == "closed")
            #expect(revoked.json?["status"]?["end"]?.string == "revoked")
            #expect(revoked.json?["decisions"]?.array.last?["outcome"]?.string == "revoked")
            let gone = try await api.send(.get, "/api/v1/inbox/revocable", as: "otto")
            #expect(gone.json?["items"]?.array == [], "\(gone.body)")
        }
    }

    @Test("Shared Data of public data: DSB and ISB skipped → granted → expired after the end date")
    func sharedDataExpires() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(
                [
                    "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Hitzeaktionsplan",
                    "recipient": ["name": "Grünflächenamt", "type": "internal"], "access_start": "2026-03-02",
                    "access_end": "2026-03-31", "submit": true,
                ])
            let id = try #require(created.json?["id"]?.string)
            _ = try await api.decide(id, as: "otto", ["decision": "approve"])
            let granted = try await api.decide(id, as: "stefan", ["decision": "approve"])
            #expect(granted.json?["status"]?["phase"]?.string == "granted")
            #expect(
                granted.json?["timeline"]?.array.map { $0["status"]?.string } == ["done", "done", "skipped", "skipped"])

            fixture.clock.advance(days: 31)
            _ = try await fixture.service.fireDueTimers(now: fixture.clock.now(), logger: APITestSupport.logger)
            let expired = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(expired.json?["status"]?["phase"]?.string == "closed")
            #expect(expired.json?["status"]?["end"]?.string == "expired")
        }
    }

    @Test("Shared Data rejected by the Data Owner with a reason")
    func sharedDataRejected() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(
                [
                    "kind": "shared_data", "dataset_id": "meldestatistik", "purpose": "Wohnungsmarktbericht",
                    "recipient": ["name": "Amt für Wohnen", "type": "internal"], "legal_basis": "§ 34 BMG",
                    "access_end": "2026-06-30", "submit": true,
                ])
            let id = try #require(created.json?["id"]?.string)
            let rejected = try await api.decide(
                id, as: "marta", ["decision": "reject", "reason": "Die Statistikstelle liefert das aggregiert."])
            #expect(rejected.status == 200)
            #expect(rejected.json?["status"]?["phase"]?.string == "closed")
            #expect(rejected.json?["status"]?["end"]?.string == "rejected")
            #expect(
                rejected.json?["decisions"]?[0]?["comment"]?.string == "Die Statistikstelle liefert das aggregiert.")
            #expect(rejected.json?["timeline"]?[0]?["status"]?.string == "rejected")
        }
    }

    @Test(
        "the inbox comes a page at a time: limit, after, total, next, also when the page's last request was decided meanwhile; bad paging is refused and changes nothing"
    )
    func inboxPages() async throws {
        try await APIFixture.with { fixture, api in
            var filed: [String] = []
            for purpose in ["Wohnungsmarktbericht", "Schulentwicklungsplan", "Kita-Bedarfsplanung"] {
                let created = try await api.create(
                    [
                        "kind": "shared_data", "dataset_id": "meldestatistik", "purpose": purpose,
                        "recipient": ["name": "Amt für Wohnen", "type": "internal"], "legal_basis": "§ 34 BMG",
                        "access_end": "2026-06-30", "submit": true,
                    ])
                filed.append(try #require(created.json?["id"]?.string))
            }
            let first = try await api.send(.get, "/api/v1/inbox?limit=2", as: "marta")
            #expect(first.status == 200)
            #expect(first.json?["items"]?.array.count == 2)
            #expect(first.json?["total"]?.int == 3)
            let next = try #require(first.json?["next"]?.string)
            // marta decides the page's last request before she turns the page: it left her inbox, and the
            // next page still goes on right after it, neither from the top nor skipping the third.
            let firstIDs = (first.json?["items"]?.array ?? []).compactMap { $0["request"]?["id"]?.string }
            let decided = try await api.decide(try #require(firstIDs.last), as: "marta", ["decision": "approve"])
            #expect(decided.status == 200)
            let second = try await api.send(.get, "/api/v1/inbox?limit=2&after=\(next)", as: "marta")
            #expect(second.status == 200)
            #expect(second.json?["next"] == nil)
            #expect(second.json?["total"]?.int == 2)
            let secondIDs = (second.json?["items"]?.array ?? []).compactMap { $0["request"]?["id"]?.string }
            #expect(secondIDs.count == 1)
            #expect(Set((firstIDs + secondIDs).map { $0.lowercased() }) == Set(filed.map { $0.lowercased() }))
            // Without paging: the first 50, both left here.
            #expect(try await api.send(.get, "/api/v1/inbox", as: "marta").json?["items"]?.array.count == 2)

            let before = try await fixture.store.counts()
            for (query, parameter) in [
                ("limit=0", "limit"), ("limit=201", "limit"), ("limit=zwei", "limit"),
                ("after=FG-2026-000001", "after"), ("after=\(filed[0])", "after"), ("after=-1.1.\(filed[0])", "after"),
                ("after=n.%2B1.\(filed[0])", "after"), ("after=n.1.\(filed[0]).1", "after"),
                ("after=n.1234567890123456789.\(filed[0])", "after"), ("after=N.1.\(filed[0])", "after"),
                ("after=", "after"), ("limit=", "limit"),
                ("after=%27%20OR%201%3D1--", "after"), ("limit=-1&after=x", "limit"),
                // A pager written for /me/requests would loop over the first page; a second limit is not the first.
                ("offset=50", "offset"), ("limit=2&limit=3", "limit"), ("after=\(next)&after=\(next)", "after"),
            ] {
                let refused = try await api.send(.get, "/api/v1/inbox?\(query)", as: "marta")
                #expect(refused.status == 400, "\(query)")
                #expect(refused.json?["errors"]?[parameter] != nil, "\(query): \(refused.body)")
            }
            #expect(try await fixture.store.counts() == before)
        }
    }

    @Test("Shared Data: draft, submit, a question, the answer, then withdrawn by the requester")
    func sharedDataQuestionAndWithdrawal() async throws {
        try await APIFixture.with { fixture, api in
            let draft = try await api.create(
                [
                    "kind": "shared_data", "dataset_id": "baumkataster", "purpose": "Entwurf",
                    "recipient": ["name": "Grünflächenamt", "type": "internal"], "access_end": "2026-09-30",
                ])
            #expect(draft.status == 201)
            #expect(draft.json?["status"]?["phase"]?.string == "draft")
            let id = try #require(draft.json?["id"]?.string)
            #expect(draft.json?["allowed_actions"]?.array.contains(.string("submit")) == true)

            let submitted = try await api.send(.post, "/api/v1/requests/\(id)/submit", as: "anna")
            #expect(submitted.status == 200)
            #expect(submitted.json?["status"]?["step"]?.string == "owner_review")

            let asked = try await api.decide(
                id, as: "otto", ["decision": "request_changes", "question": "Für welche Stadtteile?"])
            #expect(asked.json?["status"]?["phase"]?.string == "changes_requested")
            #expect(asked.json?["status"]?["question"]?.string == "Für welche Stadtteile?")

            let answered = try await api.send(
                .post, "/api/v1/requests/\(id)/resubmit", as: "anna",
                json: jsonText(["comment": "Nur die Innenstadt.", "purpose": "Hitzeaktionsplan Innenstadt"]))
            #expect(answered.status == 200)
            #expect(answered.json?["status"]?["phase"]?.string == "in_review")
            #expect(answered.json?["purpose"]?.string == "Hitzeaktionsplan Innenstadt")

            let withdrawn = try await api.send(
                .post, "/api/v1/requests/\(id)/withdraw", as: "anna", json: jsonText(["comment": "Hat sich erledigt."]))
            #expect(withdrawn.status == 200)
            #expect(withdrawn.json?["status"]?["phase"]?.string == "closed")
            #expect(withdrawn.json?["status"]?["end"]?.string == "withdrawn")
        }
    }

    @Test("Shared Data in Personalunion: one decision of the Owner-Steward covers both steps")
    func personalUnion() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(
                [
                    "kind": "shared_data", "dataset_id": "parkraumbelegung", "purpose": "Parkleitsystem",
                    "recipient": ["name": "Tiefbauamt", "type": "internal"], "access_end": "2026-12-31", "submit": true,
                ])
            let id = try #require(created.json?["id"]?.string)
            let granted = try await api.decide(id, as: "sina", ["decision": "approve"])
            #expect(granted.json?["status"]?["phase"]?.string == "granted")
            #expect(granted.json?["decisions"]?.array.count == 1)
            #expect(granted.json?["decisions"]?[0]?["covers"]?.array.count == 2)
        }
    }

    @Test("Open Data of public data: Owner, Steward, the legal step skipped, published with licence and portal URL")
    func openDataPublished() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(
                [
                    "kind": "open_data", "dataset_id": "baumkataster", "purpose": "Open-Data-Portal",
                    "licence": "dl-de-zero-2.0", "format": "CSV", "open_data_check": Self.cleanCheck, "submit": true,
                ])
            #expect(created.status == 201)
            let id = try #require(created.json?["id"]?.string)
            // None of the legal step's reviews applies: the step says so by its code, each review by its own
            // condition (the validator holds both to openapi.yaml's enums).
            let legal = try #require(created.json?["timeline"]?.array.first { $0["id"]?.string == "legal_review" })
            #expect(legal["status"]?.string == "skipped")
            #expect(legal["skip_reason"]?.string == "no_branch_applies")
            #expect(legal["skipped_because"] == nil)
            let reviews = legal["branches"]?.array.map { $0["skip_reason"]?.string }
            #expect(reviews == ["condition_not_met", "condition_not_met", "condition_not_met"])
            _ = try await api.decide(id, as: "otto", ["decision": "approve"])
            let steward = try await api.decide(id, as: "stefan", ["decision": "approve"])
            #expect(steward.json?["status"]?["step"]?.string == "publication")

            let incomplete = try await api.decide(id, as: "olga", ["decision": "approve"])
            #expect(incomplete.status == 422)
            #expect(incomplete.problemType == "validation")
            #expect(Set(incomplete.errors.keys) == ["licence", "portal_url"])
            // The licences by the names the form's choice shows, each with the identifier a client sends.
            let licenceError = try #require(incomplete.errors["licence"])
            #expect(licenceError.contains("Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de-by-2.0)"))
            #expect(licenceError.contains("Creative Commons Zero 1.0 (CC0 1.0) (cc0-1.0)"), "\(licenceError)")
            // Not an IRI as typed (Foundation's lenient parser would percent-encode these itself), another
            // scheme, no host, a stray `%`: refused, and the step still waits.
            for portal in [
                #"https://opendata.stadt.example/a b"#, #"https://opendata.stadt.example/a>b"#,
                #"https://opendata.stadt.example/"c""#, "https://opendata.stadt.example/a\u{2028}b",
                "https://opendata.stadt.example/a%zz", "javascript:alert(1)", "https:///nohost",
                "ftp://opendata.example/x",
            ] {
                let refused = try await api.decide(
                    id, as: "olga", ["decision": "approve", "licence": "dl-de-zero-2.0", "portal_url": portal])
                #expect(refused.status == 422, "\(portal)")
                #expect(Set(refused.errors.keys) == ["portal_url"], "\(portal)")
            }

            let published = try await api.decide(
                id, as: "olga",
                [
                    "decision": "approve", "licence": "dl-de-zero-2.0",
                    "portal_url": "https://opendata.stadt.example/dataset/baumkataster",
                ])
            #expect(published.status == 200)
            #expect(published.json?["status"]?["phase"]?.string == "published")
            #expect(
                published.json?["decisions"]?.array.last?["portal_url"]?.string
                    == "https://opendata.stadt.example/dataset/baumkataster")

            // The sealed log says what was asked and under which licence it was published.
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
                .sealAll(now: Date(), logger: fixture.store.logger)
            let log = try await api.send(.get, "/api/v1/audit/events?request=\(id)", as: "alex")
            #expect(log.status == 200, "\(log.body)")
            let items = log.json?["items"]?.array ?? []
            let submitted = items.first { $0["type"]?.string == "submitted" }
            #expect(submitted?["request"]?["kind"]?.string == "open_data")
            #expect(submitted?["request"]?["purpose"]?.string == "Open-Data-Portal")
            #expect(submitted?["request"]?["licence"]?.string == "dl-de-zero-2.0")
            #expect(submitted?["request"]?["recipient"] == .null)
            #expect(
                submitted?["request"]?["open_data_check"]?["confidentiality"]?["note"]?.string
                    == "Keine laufenden Verfahren betroffen.")
            #expect(submitted?["routing"]?["personal_data"]?.string == "none", "why the legal step was skipped")
            #expect(submitted?["routing"]?["open_data_check"] == .bool(true))
            let publishing = items.filter { $0["type"]?.string == "approved" }
            #expect(publishing.count == 3)
            #expect(publishing.last?["licence"]?.string == "dl-de-zero-2.0")
            #expect(publishing.last?["portal_url"]?.string == "https://opendata.stadt.example/dataset/baumkataster")
            #expect(publishing.first?["licence"] == nil, "only the approval that published carries them")
            // Each event says when the step the request then waited at was due; once published, none waits.
            let submittedDue = try #require(submitted?["deadline"]?.string)
            #expect(AuditTimestamp(rfc3339: submittedDue) != nil, "\(submittedDue)")
            let ownerApprovedDue = try #require(publishing.first?["deadline"]?.string)
            #expect(AuditTimestamp(rfc3339: ownerApprovedDue) != nil, "\(ownerApprovedDue)")
            #expect(publishing.last?["deadline"] == nil)
        }
    }

    @Test("Open Data of anonymised data: the DSB branch of the parallel step, then rejected at publication")
    func openDataRejected() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(
                [
                    "kind": "open_data", "dataset_id": "bevoelkerungsprognose", "purpose": "Transparenz",
                    "anonymisation_statement":
                        "Nur Summen je Bezirk und Altersgruppe, mindestens 50 Personen je Zelle.",
                    "open_data_check": Self.cleanCheck, "submit": true,
                ])
            let id = try #require(created.json?["id"]?.string)
            _ = try await api.decide(id, as: "marta", ["decision": "approve"])
            let legal = try await api.decide(id, as: "bea", ["decision": "approve"])
            #expect(legal.json?["status"]?["step"]?.string == "legal_review")
            #expect(legal.json?["status"]?["waiting_for"]?.array == [.string("dsb")])
            let dsbInbox = try await api.send(.get, "/api/v1/inbox", as: "dora")
            #expect(dsbInbox.json?["items"]?[0]?["branch"]?.string == "privacy_review")
            // Paul decides the DSB's part for Dora; she reads which part was decided in her name.
            let deputyship = try await api.send(
                .post, "/api/v1/deputyships", as: "dora",
                json: jsonText(["deputy": "paul", "valid_from": "2026-03-02", "valid_until": "2026-03-16"]))
            #expect(deputyship.status == 201)
            _ = try await api.decide(id, as: "paul", ["decision": "approve"])
            let forDora = try await api.send(.get, "/api/v1/me/deputy-decisions", as: "dora")
            let item = try #require(forDora.json?["items"]?.array.first, "\(forDora.body)")
            #expect(item["step"]?.string == "legal_review" && item["branch"]?.string == "privacy_review")
            #expect(item["branch_title"]?["de"]?.string?.isEmpty == false)
            // The log names the DSB's decision by its branch, the decisions table by the step: both agree.
            let read = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(read.status == 200, "\(read.body.prefix(300))")
            let rejected = try await api.decide(
                id, as: "olga", ["decision": "reject", "reason": "Metadaten fehlen."])
            #expect(rejected.json?["status"]?["end"]?.string == "rejected")
        }
    }

    /// The Baumkataster is harmless by the catalogue (public, no personal data, normal protection need),
    /// so no legal branch applies to it; the requester's own answers that exclusions apply bring in the
    /// DSB (personal reference), the ISB (security) and the Data Governance Office (third-party rights),
    /// and the sealed log records the routing.
    @Test("Open Data: exclusions the requester says apply bring in DSB, ISB and Data Governance before publication")
    func openDataExclusionsRoute() async throws {
        try await APIFixture.with { fixture, api in
            var check = Self.cleanCheck
            check["personal_reference"] = ["applies": true, "note": "Adressen der Baumpaten, vor Export entfernt."]
            check["security"] = ["applies": true, "note": "Brunnenstandorte sind nicht enthalten."]
            check["third_party_rights"] = ["applies": true, "note": "Luftbilder des Landes: Nutzungsrecht liegt vor."]
            let created = try await api.create(
                [
                    "kind": "open_data", "dataset_id": "baumkataster", "purpose": "Open-Data-Portal",
                    "licence": "dl-de-zero-2.0", "format": "CSV", "open_data_check": check, "submit": true,
                ])
            let id = try #require(created.json?["id"]?.string)
            _ = try await api.decide(id, as: "otto", ["decision": "approve"])
            let legal = try await api.decide(id, as: "stefan", ["decision": "approve"])
            #expect(legal.json?["status"]?["step"]?.string == "legal_review")
            #expect(
                Set(legal.json?["status"]?["waiting_for"]?.array.compactMap(\.string) ?? [])
                    == ["dsb", "isb", "governance"], "\(legal.body)")
            for (person, branch) in [
                ("dora", "privacy_review"), ("ingo", "security_review"), ("greta", "exclusions_review"),
            ] {
                let inbox = try await api.send(.get, "/api/v1/inbox", as: person)
                #expect(inbox.json?["items"]?[0]?["branch"]?.string == branch, "\(person): \(inbox.body)")
                #expect(try await api.decide(id, as: person, ["decision": "approve"]).status == 200, "\(person)")
            }
            let publication = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(publication.json?["status"]?["step"]?.string == "publication", "\(publication.body.prefix(400))")
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
                .sealAll(now: Date(), logger: fixture.store.logger)
            let log = try await api.send(.get, "/api/v1/audit/events?request=\(id)", as: "alex")
            let routing = log.json?["items"]?.array.first { $0["type"]?.string == "submitted" }?["routing"]
            #expect(routing?["check_personal_reference"]?.string == "true")
            #expect(routing?["check_third_party_rights"]?.string == "true")
            #expect(routing?["check_trade_secrets"] == nil, "an exclusion is logged only when it applies")
        }
    }

    @Test("Open Data withdrawn as a draft")
    func openDataWithdrawn() async throws {
        try await APIFixture.with { fixture, api in
            let draft = try await api.create(
                ["kind": "open_data", "dataset_id": "radverkehrsnetz", "purpose": "Radnetz veröffentlichen"])
            let id = try #require(draft.json?["id"]?.string)
            let withdrawn = try await api.send(.post, "/api/v1/requests/\(id)/withdraw", as: "anna")
            #expect(withdrawn.status == 200)
            #expect(withdrawn.json?["status"]?["end"]?.string == "withdrawn")
        }
    }

    @Test("A deputy sees the principal's step in the inbox and decides as deputy; the principal ends the deputyship")
    func deputy() async throws {
        try await APIFixture.with { fixture, api in
            let deputyship = try await api.send(
                .post, "/api/v1/deputyships", as: "otto",
                json: jsonText(["deputy": "paul", "valid_from": "2026-03-02", "valid_until": "2026-03-16"]))
            #expect(deputyship.status == 201)
            let deputyshipID = try #require(deputyship.json?["id"]?.string)
            #expect(deputyship.json?["active"]?.bool == true)
            #expect(deputyship.json?["valid_until"]?.string == "2026-03-15T23:00:00Z")

            let created = try await api.create(
                [
                    "kind": "shared_data", "dataset_id": "luftmessstationen", "purpose": "Forschung",
                    "recipient": ["name": "Hochschule", "type": "external"], "access_end": "2026-12-31", "submit": true,
                ])
            let id = try #require(created.json?["id"]?.string)
            let inbox = try await api.send(.get, "/api/v1/inbox", as: "paul")
            #expect(inbox.json?["items"]?[0]?["capacity"]?.string == "deputy")
            #expect(inbox.json?["items"]?[0]?["acting_for"]?.string == "otto")
            let decided = try await api.decide(id, as: "paul", ["decision": "approve"])
            #expect(decided.status == 200)
            #expect(decided.json?["decisions"]?[0]?["acting_for"]?.string == "otto")
            // otto reads what was decided in his name; paul, who decided, has nothing there.
            let forOtto = try await api.send(.get, "/api/v1/me/deputy-decisions", as: "otto")
            #expect(forOtto.status == 200)
            let item = try #require(forOtto.json?["items"]?.array.first)
            #expect(forOtto.json?["items"]?.array.count == 1)
            #expect(item["request"]?["id"]?.string == id)
            #expect(item["outcome"]?.string == "approved" && item["decided_by"]?.string == "paul")
            #expect(item["step"]?.string == "owner_review" && item["as_escalation"]?.bool == false)
            let forPaul = try await api.send(.get, "/api/v1/me/deputy-decisions", as: "paul")
            #expect(forPaul.json?["items"]?.array.isEmpty == true)

            let listed = try await api.send(.get, "/api/v1/deputyships", as: "paul")
            #expect(listed.json?["items"]?.array.map { $0["id"]?.string } == [deputyshipID])
            let ended = try await api.send(.post, "/api/v1/deputyships/\(deputyshipID)/end", as: "otto")
            #expect(ended.status == 200)
            #expect(ended.json?["active"]?.bool == false)
            let again = try await api.send(.post, "/api/v1/deputyships/\(deputyshipID)/end", as: "otto")
            #expect(again.status == 200)
            let strangers = try await api.send(.post, "/api/v1/deputyships/\(deputyshipID)/end", as: "anna")
            #expect(strangers.status == 404)
        }
    }

    /// A deputyship's `Location` can be read (by its two people and administrators only); the same one
    /// sent twice is stored once, an overlapping one is refused, and one ended before it began ends at
    /// its beginning.
    @Test("deputyships: Location readable, a repeat stored once, an overlap refused, ended before it began")
    func deputyshipOnceAndReadable() async throws {
        try await APIFixture.with { fixture, api in
            let period = ["deputy": "paul", "valid_from": "2026-03-20", "valid_until": "2026-03-27"]
            let created = try await api.send(.post, "/api/v1/deputyships", as: "otto", json: jsonText(period))
            #expect(created.status == 201)
            let id = try #require(created.json?["id"]?.string)
            let location = try #require(created.headers[.location])
            for (user, status) in [("otto", 200), ("paul", 200), ("adam", 200), ("anna", 404)] {
                let read = try await api.send(.get, location, as: user)
                #expect(read.status == status, "\(user)")
                if status == 200 { #expect(read.json?["id"]?.string == id) }
            }
            #expect(try await api.send(.get, "/api/v1/deputyships/kein-uuid", as: "otto").status == 404)
            let repeated = try await api.send(.post, "/api/v1/deputyships", as: "otto", json: jsonText(period))
            #expect(repeated.status == 201 && repeated.json?["id"]?.string == id, "the same days: the same one")
            let overlapping = try await api.send(
                .post, "/api/v1/deputyships", as: "otto",
                json: jsonText(["deputy": "PAUL", "valid_from": "2026-03-25", "valid_until": "2026-04-02"]))
            #expect(overlapping.status == 422)
            #expect(overlapping.errors["valid_from"]?.contains("schon") == true, "\(overlapping.body)")
            #expect(try await fixture.store.counts()["deputyships"] == 1)
            let after = try await api.send(
                .post, "/api/v1/deputyships", as: "otto",
                json: jsonText(["deputy": "paul", "valid_from": "2026-03-27", "valid_until": "2026-04-02"]))
            #expect(after.status == 201, "the days after it do not overlap")
            let ended = try await api.send(.post, "/api/v1/deputyships/\(id)/end", as: "paul")
            #expect(ended.status == 200)
            #expect(ended.json?["valid_until"]?.string == ended.json?["valid_from"]?.string, "\(ended.body)")
            #expect(ended.json?["active"]?.bool == false)
            // The ended one no longer overlaps, also not days that begin before it and reach into it.
            let earlier = try await api.send(
                .post, "/api/v1/deputyships", as: "otto",
                json: jsonText(["deputy": "paul", "valid_from": "2026-03-10", "valid_until": "2026-03-22"]))
            #expect(earlier.status == 201 && earlier.json?["id"]?.string != id, "\(earlier.body)")
        }
    }

    static var cleanCheck: [String: Any] {
        [
            "personal_reference": ["applies": false], "trade_secrets": ["applies": false],
            "third_party_rights": ["applies": false], "security": ["applies": false],
            "confidentiality": ["applies": false, "note": "Keine laufenden Verfahren betroffen."],
        ]
    }
}

extension APIClient {
    /// `POST /api/v1/requests` as `user`.
    func create(
        _ body: [String: Any], as user: String = "anna", headers: HTTPFields = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        try await send(
            .post, "/api/v1/requests", as: user, json: jsonText(body), headers: headers, sourceLocation: sourceLocation)
    }

    /// `POST /api/v1/requests/{id}/decisions` as `user`.
    func decide(
        _ id: String, as user: String, _ body: [String: Any], headers: HTTPFields = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        try await send(
            .post, "/api/v1/requests/\(id)/decisions", as: user, json: jsonText(body), headers: headers,
            sourceLocation: sourceLocation)
    }
}
