import Foundation
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Catalogue import")
struct CatalogImportTests {
    let logger = StoreTestSupport.logger

    @Test("the demo catalogue imports, and a second import changes nothing")
    func demoCatalogueIsIdempotent() async throws {
        try await ServiceFixture.with(importCatalogue: false) { fixture in
            let repository = CatalogRepository(client: fixture.app)
            let document = try CatalogParser.parse(path: StoreTestSupport.demoCatalog)
            let first = try await repository.importCatalog(
                document, file: "catalog.yaml", actor: "adam", now: Clock.start, logger: logger)
            #expect(first.domainsCreated == ["umwelt", "mobilitaet", "bevoelkerung"])
            #expect(first.datasetsCreated.count == 11)
            #expect(first.datasetsUpdated.isEmpty)
            let countsAfterFirst = try await fixture.counts()
            let updatedAt = try await fixture.admin.query("SELECT max(updated_at) FROM datasets", logger: logger)
                .decode(Date.self).first(where: { _ in true })

            let second = try await repository.importCatalog(
                document, file: "catalog.yaml", actor: "adam", now: Clock.days(1), logger: logger)
            #expect(!second.changedAnything)
            #expect(second.datasetsUnchanged.count == 11)
            #expect(second.domainsUnchanged.count == 3)
            #expect(try await fixture.counts() == countsAfterFirst, "no audit row, no row touched")
            let updatedAtAgain = try await fixture.admin.query("SELECT max(updated_at) FROM datasets", logger: logger)
                .decode(Date.self).first(where: { _ in true })
            #expect(updatedAt == updatedAtAgain)
            // Each dataset under its own id, then the import that named them.
            #expect(
                try await fixture.auditEvents() == Array(repeating: "dataset_created", count: 11) + ["catalog_imported"]
            )

            let dataset = try #require(try await repository.dataset(id: "altlastenkataster", logger: logger))
            #expect(dataset.domain == "umwelt")
            #expect(dataset.domainTitle == "Umwelt")
            #expect(dataset.owner == "otto")
            #expect(dataset.classification == .confidential)
            #expect(dataset.personalData == .personal)
            #expect(dataset.protectionNeed == .high)
            #expect(dataset.licence == nil)
            #expect(dataset.formats == ["Shapefile", "CSV"])
        }
    }

    @Test("a changed dataset is updated and reported; others stay unchanged")
    func updateReported() async throws {
        try await ServiceFixture.with { fixture in
            let yaml = """
                datasets:
                  - id: baumkataster
                    title: Baumkataster (neu)
                    domain: umwelt
                    owner: otto
                    classification: public
                    personal_data: none
                    protection_need: normal
                    licence: dl-de-zero-2.0
                    high_value: false
                    formats: [CSV, GeoJSON]
                """
            let document = try CatalogParser.parse(yaml, file: "change.yaml", format: .yaml)
            let report = try await CatalogRepository(client: fixture.app).importCatalog(
                document, file: "change.yaml", actor: "adam", now: Clock.days(2), logger: logger)
            #expect(report.datasetsUpdated == ["baumkataster"])
            #expect(report.lines.first == "updated dataset baumkataster")
            let dataset = try await fixture.service.dataset(id: "baumkataster", logger: logger)
            #expect(dataset.title == "Baumkataster (neu)")
            // The description was not given: the file is the truth for the fields it names.
            #expect(dataset.description == "")
            // Logged under the dataset's own id, with its new state, besides the import that named it.
            let logged = try await fixture.admin.query(
                """
                SELECT event, actor, details->>'title' FROM audit_events
                WHERE dataset_id = 'baumkataster' AND event = 'dataset_updated' ORDER BY id
                """, logger: logger
            ).decode((String, String, String).self).reduce(into: [String]()) {
                $0.append("\($0.count) \($1.0) \($1.1) \($1.2)")
            }
            #expect(logged == ["0 dataset_updated adam Baumkataster (neu)"], "\(logged)")
        }
    }

    static let newStewards = "cn=stewards-neu,ou=groups,dc=stadt,dc=example"

    /// Imports baumkataster with Bea as its Data Owner and Umwelt with a new steward group.
    static func handToBeaAndNewStewards(
        title: String, _ fixture: ServiceFixture, at now: Date = Clock.days(2)
    ) async throws
        -> CatalogImportReport
    {
        let yaml = """
            domains:
              - id: umwelt
                title: Umwelt
                steward_group: \(newStewards)
            datasets:
              - id: baumkataster
                title: \(title)
                domain: umwelt
                owner: bea
                classification: public
                personal_data: none
                protection_need: normal
            """
        let document = try CatalogParser.parse(yaml, file: "neu.yaml", format: .yaml)
        return try await CatalogRepository(client: fixture.app).importCatalog(
            document, file: "neu.yaml", actor: "adam", now: now, logger: StoreTestSupport.logger)
    }

    @Test("a new owner or steward group with requests in flight is logged per dataset and domain and reported")
    func holderChangesAreRecorded() async throws {
        try await ServiceFixture.with { fixture in
            let waiting = try await fixture.shared("baumkataster")
            #expect(waiting.status.step == "owner_review")
            let title = try await fixture.service.dataset(id: "baumkataster", logger: logger).title
            let report = try await Self.handToBeaAndNewStewards(title: title, fixture)
            // One open request, touched by both changes; it waits at the owner's step, so only the new owner
            // changes whom it waits for: counted once.
            #expect(report.reassignedRequests == 1)
            #expect(report.lines.last == "1 open request now waits for a new owner or new stewards (holders_changed)")
            let rows = try await fixture.admin.query(
                """
                SELECT coalesce(dataset_id, '-'), actor, details->'changed'->>'owner',
                       details->'changed'->>'steward_group', (details->>'open_requests')::int
                FROM audit_events WHERE event = 'holders_changed' ORDER BY id
                """, logger: logger)
            var found: [String] = []
            for try await (dataset, actor, owner, group, open) in rows.decode(
                (String, String, String?, String?, Int).self)
            {
                found.append("\(dataset) \(actor) \(owner ?? "-") \(group ?? "-") \(open)")
            }
            #expect(
                found == [
                    #"- adam - {"to": "cn=stewards-neu,ou=groups,dc=stadt,dc=example", "from": "cn=stewards-umwelt,ou=groups,dc=stadt,dc=example"} 1"#,
                    #"baumkataster adam {"to": "bea", "from": "otto"} - 1"#,
                ])
            // Importing it again changes nothing and logs nothing.
            let again = try await Self.handToBeaAndNewStewards(title: title, fixture, at: Clock.days(3))
            #expect(again.reassignedRequests == 0 && !again.changedAnything)
        }
    }

    @Test("requests at the DSB's step or with an open question wait for the same people after an owner change")
    func reassignedCountsOnlyNewHolders() async throws {
        try await ServiceFixture.with { fixture in
            // At the DSB's step: the owner and the stewards have decided.
            let atOwner = try await fixture.shared(
                "meldestatistik", recipient: RecipientInput(name: "Universität Beispielstadt", type: .external),
                legalBasis: "Art. 6 Abs. 1 lit. e DSGVO i. V. m. § 3 BDSG")
            var atDSB = try await fixture.decide(atOwner, by: People.marta, at: Clock.days(1))
            atDSB = try await fixture.decide(atDSB, by: People.bea, at: Clock.days(1))
            #expect(atDSB.status.step == "privacy_review")
            // An open question of the Data Owner's: the request waits for the requester.
            let asked = try await fixture.decide(
                try await fixture.shared("baumkataster"), by: People.otto,
                .requestChanges(question: "Wofür genau?"), at: Clock.days(1))
            #expect(asked.status.phase == .changesRequested)
            let yaml = """
                domains:
                  - id: bevoelkerung
                    title: Bevölkerung
                    steward_group: \(Self.newStewards)
                datasets:
                  - id: meldestatistik
                    title: Meldestatistik
                    domain: bevoelkerung
                    owner: volker
                    classification: confidential
                    personal_data: personal
                    protection_need: high
                  - id: baumkataster
                    title: Baumkataster
                    domain: umwelt
                    owner: bea
                    classification: public
                    personal_data: none
                    protection_need: normal
                """
            let report = try await CatalogRepository(client: fixture.app).importCatalog(
                try CatalogParser.parse(yaml, file: "w.yaml", format: .yaml), file: "w.yaml", actor: "adam",
                now: Clock.days(2), logger: logger)
            #expect(
                report.datasetsUpdated.contains("meldestatistik") && report.datasetsUpdated.contains("baumkataster"))
            #expect(report.reassignedRequests == 0)
            #expect(!report.lines.contains { $0.contains("now wait") })

            // The same through the dataset form's command: the DSB's step stays with the DSB.
            let saved = try await fixture.service.upsertDataset(
                DatasetInput(
                    id: "meldestatistik", title: "Meldestatistik", description: "", domain: "bevoelkerung",
                    owner: "marta", ownerGroup: nil, classification: .confidential, personalData: .personal,
                    protectionNeed: .high, licence: nil, highValue: false, formats: []),
                caller: People.adam, now: Clock.days(3), logger: logger)
            #expect(saved.reassignedRequests == 0)
        }
    }

    /// A request is created and submitted on baumkataster while an administrator gives the dataset to
    /// volker. The create reads otto as owner and is held up (here: by a lock on the workflow texts, as a
    /// slow statement would) before it commits; the owner change waits for it and then hands the new
    /// request over with the others (a `new_owner` timer: volker is sent its task). Before, the change
    /// committed in between, the request's task went to otto (dropped at send) and volker learnt nothing.
    @Test(
        "a request created while its dataset changes owner is handed to the new owner: dataset form and import",
        arguments: [false, true])
    func creationDuringAnOwnerChangeIsHandedOver(byImport: Bool) async throws {
        try await ServiceFixture.with { fixture in
            let dataset = DatasetInput(
                id: "baumkataster", title: "Baumkataster", domain: "umwelt", owner: "volker",
                classification: .public, personalData: PersonalDataCategory.none, protectionNeed: .normal,
                licence: "dl-de-zero-2.0", formats: ["CSV", "GeoJSON"])
            @Sendable func change() async throws -> Int {
                guard byImport else {
                    return try await fixture.service.upsertDataset(
                        dataset, caller: People.adam, now: Clock.start, logger: logger
                    ).reassignedRequests
                }
                var document = CatalogDocument()
                document.datasetEntries = [.init(line: 1, value: dataset)]
                let imported = try await fixture.service.importCatalog(
                    document, file: "katalog.yaml", caller: People.adam, now: Clock.start, logger: logger)
                return try imported.get().reassignedRequests
            }
            let (created, reassigned) = try await fixture.admin.withConnection { hold in
                try await hold.query("BEGIN", logger: logger)
                try await hold.query("LOCK TABLE workflow_definitions IN ACCESS EXCLUSIVE MODE", logger: logger)
                let creating = Task { try await fixture.shared("baumkataster") }
                try await Task.sleep(for: .milliseconds(300))
                let changing = Task { try await change() }
                try await Task.sleep(for: .milliseconds(300))
                try await hold.query("COMMIT", logger: logger)
                return (try await creating.value, try await changing.value)
            }
            #expect(reassigned == 1)
            let timers = try await fixture.admin.query(
                "SELECT kind FROM timers WHERE request_id = \(created.id) AND kind = 'new_owner'", logger: logger
            ).decode(String.self).reduce(into: [String]()) { $0.append($1) }
            #expect(timers == ["new_owner"], "the new request is handed to volker")
        }
    }

    /// Two administrators create "friedhoefe" at the same moment: the second save finds no row to lock,
    /// waits for the first insert's commit and would then replace it. It is refused instead (409), and
    /// the first one's dataset stays as it was saved.
    @Test("a new dataset created meanwhile by another transaction is not replaced")
    func newDatasetCreatedMeanwhile() async throws {
        try await ServiceFixture.with { fixture in
            let theirs = try await fixture.admin.withConnection { hold in
                try await hold.query("BEGIN", logger: logger)
                try await hold.query(
                    """
                    INSERT INTO datasets (id, title, domain_id, owner, classification, personal_data, protection_need)
                    VALUES ('friedhoefe', 'Friedhöfe (zuerst)', 'umwelt', 'otto', 'public', 'none', 'normal')
                    """, logger: logger)
                let saving = Task {
                    try await fixture.service.upsertDataset(
                        DatasetInput(
                            id: "friedhoefe", title: "Friedhöfe (danach)", domain: "umwelt", owner: "otto",
                            classification: .internal, personalData: .none, protectionNeed: .normal),
                        caller: People.adam, now: Clock.start, shown: .new, logger: logger)
                }
                try await Task.sleep(for: .milliseconds(300))
                try await hold.query("COMMIT", logger: logger)
                return await saving.result
            }
            guard case .failure(let error as ServiceError) = theirs else {
                Issue.record("the second creation was saved: \(theirs)")
                return
            }
            #expect(error.code == .conflict && error.message.key == "messages.catalog.dataset_exists")
            #expect(try await fixture.service.dataset(id: "friedhoefe", logger: logger).title == "Friedhöfe (zuerst)")
        }
    }

    @Test(
        "the new holders of a waiting step are sent its task by the timer loop, once; a step that moved on is moot"
    )
    func newHoldersAreSentTheTask() async throws {
        try await ServiceFixture.with { fixture in
            let atOwner = try await fixture.shared("baumkataster")
            let atStewards = try await fixture.decide(
                try await fixture.shared("baumkataster"), by: People.otto, at: Clock.start)
            #expect(atStewards.status.step == "steward_review")
            let movesOn = try await fixture.shared("baumkataster")
            let title = try await fixture.service.dataset(id: "baumkataster", logger: logger).title
            let newStewards = Self.newStewards
            _ = try await Self.handToBeaAndNewStewards(title: title, fixture)
            // Each request waits for one of the two roles: one timer each, for the step it waits at.
            let timers = try await fixture.admin.query(
                """
                SELECT request_id, kind, step FROM timers
                WHERE kind IN ('new_owner', 'new_stewards') AND fired_at IS NULL ORDER BY kind, request_id
                """, logger: logger)
            var handovers: Set<String> = []
            for try await (request, kind, step) in timers.decode((UUID, String, String).self) {
                handovers.insert("\(request) \(kind) \(step)")
            }
            #expect(
                handovers == [
                    "\(atOwner.id) new_owner owner_review", "\(movesOn.id) new_owner owner_review",
                    "\(atStewards.id) new_stewards steward_review",
                ])
            // Bea decides before the timer loop runs: her decision cancels the step's timers, the
            // handover with them. Were it left (as a timer written by an older release would be), firing
            // it would find the step moved on and mark it moot.
            let bea = Caller(uid: "bea", displayName: "Bea", clientAddress: "192.0.2.30")
            try await fixture.decide(movesOn, by: bea, at: Clock.days(2))
            let cancelled = try await fixture.admin.query(
                "SELECT cancelled_at IS NOT NULL FROM timers WHERE request_id = \(movesOn.id) AND kind = 'new_owner'",
                logger: logger
            ).decode(Bool.self).first(where: { _ in true })
            #expect(cancelled == true)
            try await fixture.admin.query(
                "UPDATE timers SET cancelled_at = NULL WHERE request_id = \(movesOn.id) AND kind = 'new_owner'",
                logger: logger)
            let mailsBefore = try await fixture.outboxTopics(request: movesOn.id)

            #expect(try await fixture.service.fireDueTimers(now: Clock.days(2), logger: logger) == 3)
            func lastTask(_ request: RequestView) async throws -> OutboxMessage {
                let rows = try await fixture.admin.query(
                    """
                    SELECT payload::text FROM outbox
                    WHERE request_id = \(request.id) AND kind = 'mail' AND topic = 'request_decision'
                    ORDER BY id DESC LIMIT 1
                    """, logger: logger)
                let text = try await rows.decode(String.self).first(where: { _ in true })
                return try OutboxMessage.decode(fromStoredJSON: try #require(text))
            }
            let toOwner = try await lastTask(atOwner)
            #expect(toOwner.recipients == [OutboxRecipient(role: "data_owner", uid: "bea", group: nil)])
            #expect([toOwner.step, toOwner.branch] == ["owner_review", "owner_review"])
            #expect(toOwner.deadline == atOwner.status.deadline)
            let toStewards = try await lastTask(atStewards)
            #expect(
                toStewards.recipients == [
                    OutboxRecipient(role: "data_steward", uid: nil, group: newStewards, domain: "umwelt")
                ])
            #expect(toStewards.step == "steward_review")
            #expect(try await fixture.outboxTopics(request: movesOn.id) == mailsBefore)
            let notes = try await fixture.admin.query(
                "SELECT last_error FROM timers WHERE request_id = \(movesOn.id) AND kind = 'new_owner'", logger: logger)
            let note = try await notes.decode(String?.self).first(where: { _ in true })
            #expect(note??.hasPrefix("moot: request is in_review:steward_review") == true)
            // Once: nothing is due any more, and the requests' versions did not move.
            #expect(try await fixture.service.fireDueTimers(now: Clock.days(3), logger: logger) == 0)
            let reread = try await fixture.service.request(
                id: atOwner.id, caller: People.anna, now: Clock.days(3), logger: logger)
            #expect(reread.version == atOwner.version)
        }
    }

    @Test(
        "handovers compare who holds each waiting step before and after: one timer per change of hands, none twice, cancelled by a decision"
    )
    func handoversCompareHolders() async throws {
        try await ServiceFixture.with { fixture in
            let atStewards = try await fixture.decide(
                try await fixture.shared("baumkataster"), by: People.otto, at: Clock.start)
            let atOwner = try await fixture.shared("baumkataster")
            let title = try await fixture.service.dataset(id: "baumkataster", logger: logger).title
            let newStewards = "cn=stewards-neu,ou=groups,dc=stadt,dc=example"
            // Umwelt gets new stewards and the dataset leaves it for Mobilität, which gets the same new
            // stewards: the request's stewards changed once (umwelt's old group to the new one).
            let yaml = """
                domains:
                  - {id: umwelt, title: Umwelt, steward_group: "\(newStewards)"}
                  - {id: mobilitaet, title: Mobilität, steward_group: "\(newStewards)"}
                datasets:
                  - id: baumkataster
                    title: \(title)
                    domain: mobilitaet
                    owner: otto
                    classification: public
                    personal_data: none
                    protection_need: normal
                """
            let document = try CatalogParser.parse(yaml, file: "neu.yaml", format: .yaml)
            _ = try await CatalogRepository(client: fixture.app).importCatalog(
                document, file: "neu.yaml", actor: "adam", now: Clock.days(1), logger: logger)
            func pending() async throws -> [String] {
                let rows = try await fixture.admin.query(
                    """
                    SELECT request_id, kind FROM timers
                    WHERE kind IN ('new_owner', 'new_stewards') AND fired_at IS NULL AND cancelled_at IS NULL
                    ORDER BY kind, request_id
                    """, logger: logger)
                var found: [String] = []
                for try await (request, kind) in rows.decode((UUID, String).self) {
                    found.append(
                        "\(request == atOwner.id ? "atOwner" : request == atStewards.id ? "atStewards" : "?") \(kind)")
                }
                return found
            }
            #expect(try await pending() == ["atStewards new_stewards"])

            // Two edits of the owner before the timer loop runs: one timer, for whoever holds it then.
            for owner in ["bea", "sina"] {
                _ = try await fixture.service.upsertDataset(
                    DatasetInput(
                        id: "baumkataster", title: title, domain: "mobilitaet", owner: owner,
                        classification: .public, personalData: .none, protectionNeed: .normal),
                    caller: People.adam, now: Clock.days(1), logger: logger)
            }
            #expect(try await pending() == ["atOwner new_owner", "atStewards new_stewards"])

            // The new owner asks a question before the timer fires: the step's timers are moot, the
            // handover with them.
            let sina = Caller(uid: "sina", displayName: "Sina", clientAddress: "192.0.2.31")
            try await fixture.decide(
                atOwner, by: sina, .requestChanges(question: "Für welche Straßen?"), at: Clock.days(1))
            #expect(try await pending() == ["atStewards new_stewards"])

            // Firing tells the stewards by mail and announces no second step assignment by webhook.
            let webhooksBefore = try await fixture.admin.query(
                "SELECT count(*) FROM outbox WHERE kind = 'webhook'", logger: logger
            ).decode(Int.self).first(where: { _ in true })
            let mails = try await fixture.outboxTopics(request: atStewards.id)
            #expect(try await fixture.service.fireDueTimers(now: Clock.days(1), logger: logger) == 1)
            #expect(try await fixture.outboxTopics(request: atStewards.id) == mails + ["request_decision"])
            let webhooksAfter = try await fixture.admin.query(
                "SELECT count(*) FROM outbox WHERE kind = 'webhook'", logger: logger
            ).decode(Int.self).first(where: { _ in true })
            #expect(webhooksAfter == webhooksBefore)
        }
    }

    @Test("CSV with RFC 4180 quoting imports exactly")
    func csvQuoting() async throws {
        try await ServiceFixture.with { fixture in
            let csv =
                "\u{FEFF}id,title,description,domain,owner,classification,personal_data,protection_need,licence,high_value,formats\r\n"
                + "strassenbaeume,Straßenbäume,\"Bäume, Sträucher und \"\"Hecken\"\"\nzweite Zeile\",umwelt,otto,public,none,normal,cc0-1.0,ja,CSV;GeoJSON\r\n"
                + "'; DROP TABLE datasets; --,x,y,umwelt,otto,public,none,normal,,,\r\n"
                + "sql-and-html,<script>alert(1)</script>,'; DROP TABLE datasets; --,umwelt,otto,internal,anonymised,high,,false,\r\n"
            // The id of the second row is not a slug: the whole file is refused, at that line.
            do {
                _ = try CatalogParser.parse(csv, file: "c.csv", format: .csv)
                Issue.record("accepted a bad id")
            } catch let error as CatalogImportError {
                #expect(
                    error.problems.map { $0.text(in: StoreTestSupport.german) } == [
                        "c.csv:4: Datensatz „'; DROP TABLE datasets; --“, Feld „id“: Die Kennung muss aus Kleinbuchstaben, Ziffern und . _ - bestehen (höchstens 100 Zeichen) und mit einem Buchstaben oder einer Ziffer beginnen."
                    ])
            }
            let fixed = csv.replacingOccurrences(of: "'; DROP TABLE datasets; --,x,y", with: "nummer-zwei,x,y")
            let document = try CatalogParser.parse(fixed, file: "c.csv", format: .csv)
            #expect(document.datasets.map(\.line) == [2, 4, 5])
            let report = try await CatalogRepository(client: fixture.app).importCatalog(
                document, file: "c.csv", actor: "adam", now: Clock.days(1), logger: logger)
            #expect(report.datasetsCreated == ["strassenbaeume", "nummer-zwei", "sql-and-html"])
            let trees = try await fixture.service.dataset(id: "strassenbaeume", logger: logger)
            #expect(trees.description == "Bäume, Sträucher und \"Hecken\"\nzweite Zeile")
            #expect(trees.highValue)
            #expect(trees.formats == ["CSV", "GeoJSON"])
            #expect(trees.licence == "cc0-1.0")
            let hostile = try await fixture.service.dataset(id: "sql-and-html", logger: logger)
            #expect(hostile.title == "<script>alert(1)</script>")
            #expect(hostile.description == "'; DROP TABLE datasets; --")
            #expect(
                try await fixture.service.datasets(DatasetQuery(text: "drop table"), logger: logger).map(\.id) == [
                    "sql-and-html"
                ])
        }
    }

    @Test("a broken YAML catalogue reports every problem with its line and writes nothing")
    func brokenYAML() async throws {
        let yaml = """
            domains:
              - id: umwelt
                title: Umwelt
                steward_group: cn=stewards-umwelt,ou=groups,dc=stadt,dc=example
              - id: Umwelt Amt
                title: ""
                steward_group: stewards
            datasets:
              - id: baumkataster
                title: Baumkataster
                domain: umwelt
                owner: otto
                classification: oeffentlich
                personal_data: none
                protection_need: normal
                high_value: "yes please"
                formats: CSV
              - id: baumkataster
                title: Doppelt
                domain: umwelt
                owner: otto
                owner_group: cn=x,dc=y
                classification: public
                personal_data: none
                protection_need: normal
                colour: green
              - id: ohne-titel
                domain: umwelt
                owner: otto
                classification: public
                personal_data: none
                protection_need: normal
              - id: halber-dn
                title: Halber DN
                domain: umwelt
                owner_group: cn=umwelt,ou
                classification: public
                personal_data: none
                protection_need: normal
                licence: CC BY 4.0
              - id: ohne-werte
                title: Ohne Werte
                domain: umwelt
                owner: otto
                classification: ~
                personal_data:
                protection_need: null
                formats: [CSV, ~]
            """
        do {
            _ = try CatalogParser.parse(yaml, file: "broken.yaml", format: .yaml)
            Issue.record("accepted a broken catalogue")
        } catch {
            #expect(
                error.problems.map { $0.text(in: StoreTestSupport.german) } == [
                    "broken.yaml:5: Domäne „Umwelt Amt“, Feld „id“: Die Kennung muss aus Kleinbuchstaben, Ziffern und . _ - bestehen (höchstens 100 Zeichen) und mit einem Buchstaben oder einer Ziffer beginnen.",
                    "broken.yaml:6: Domäne „Umwelt Amt“, Feld „title“: Bitte füllen Sie dieses Feld aus.",
                    "broken.yaml:7: Domäne „Umwelt Amt“, Feld „steward_group“: Erwartet wird der DN einer Gruppe, z. B. cn=stewards-umwelt,ou=groups,dc=stadt,dc=de.",
                    "broken.yaml:13: Datensatz „baumkataster“, Feld „classification“: „oeffentlich“ ist kein erlaubter Wert; erlaubt sind: public, internal, confidential, strictly_confidential.",
                    "broken.yaml:16: Datensatz „baumkataster“, Feld „high_value“: Erwartet wird true oder false (auch ja/nein), gefunden „yes please“.",
                    "broken.yaml:17: Datensatz „baumkataster“, Feld „formats“: Unter „formats“ wird eine Liste erwartet.",
                    "broken.yaml:21: Datensatz „baumkataster“, Feld „owner“: Genau eines von beiden ist anzugeben: owner (eine Benutzerkennung) oder owner_group (der DN einer Gruppe).",
                    "broken.yaml:26: Datensatz „baumkataster“: Unbekannter Schlüssel „colour“ (bekannt: id, title, description, domain, owner, owner_group, classification, personal_data, protection_need, licence, high_value, formats).",
                    "broken.yaml:27: Datensatz „ohne-titel“: Der Schlüssel „title“ fehlt.",
                    "broken.yaml:36: Datensatz „halber-dn“, Feld „owner_group“: Erwartet wird der DN einer Gruppe, z. B. cn=stewards-umwelt,ou=groups,dc=stadt,dc=de.",
                    "broken.yaml:40: Datensatz „halber-dn“, Feld „licence“: Unbekannte Lizenz; erlaubt sind: dl-de-by-2.0, dl-de-zero-2.0, cc-by-4.0, cc0-1.0 (oder keine).",
                    "broken.yaml:45: Datensatz „ohne-werte“, Feld „classification“: Bitte füllen Sie dieses Feld aus.",
                    "broken.yaml:46: Datensatz „ohne-werte“, Feld „personal_data“: Bitte füllen Sie dieses Feld aus.",
                    "broken.yaml:47: Datensatz „ohne-werte“, Feld „protection_need“: Bitte füllen Sie dieses Feld aus.",
                    "broken.yaml:48: Datensatz „ohne-werte“, Feld „formats“: Bitte füllen Sie dieses Feld aus.",
                ])
        }
    }

    @Test("an id given twice is reported at the second entry")
    func duplicateIDs() async throws {
        let yaml = """
            domains:
              - { id: umwelt, title: Umwelt, steward_group: "cn=s,dc=x" }
              - { id: umwelt, title: Umwelt 2, steward_group: "cn=s,dc=x" }
            datasets:
              - { id: a, title: A, domain: umwelt, owner: otto, classification: public, personal_data: none, protection_need: normal }
              - { id: a, title: B, domain: umwelt, owner: otto, classification: public, personal_data: none, protection_need: normal }
            """
        do {
            _ = try CatalogParser.parse(yaml, file: "dup.yaml", format: .yaml)
            Issue.record("accepted duplicates")
        } catch {
            #expect(
                error.problems.map { $0.text(in: StoreTestSupport.german) } == [
                    "dup.yaml:3: Die Domäne „umwelt“ ist schon in Zeile 2 angegeben.",
                    "dup.yaml:6: Der Datensatz „a“ ist schon in Zeile 5 angegeben.",
                ])
            let english = try StringCatalogs.load(templatesDirectory: TestSupport.templatesDirectory).catalog(for: "en")
            #expect(
                error.problems.first?.text(in: english) == "dup.yaml:3: The domain “umwelt” is already given at line 2."
            )
        }
    }

    @Test("YAML syntax errors and non-UTF-8 files name their line")
    func yamlSyntax() async throws {
        do {
            _ = try CatalogParser.parse("domains:\n  - id: a\n    title: [unclosed\n", file: "s.yaml", format: .yaml)
            Issue.record("accepted invalid YAML")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].description.hasPrefix("s.yaml:"))
            #expect(
                error.problems[0].text(in: StoreTestSupport.german).hasPrefix(
                    "s.yaml:4: Kein gültiges YAML: did not find expected"))
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latin1-\(UUID()).yaml").path
        _ = FileManager.default.createFile(
            atPath: path, contents: Data([0x74, 0x69, 0x74, 0x6c, 0x65, 0x3a, 0x20, 0xe4]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try CatalogParser.parse(path: path)
            Issue.record("accepted Latin-1")
        } catch {
            #expect(
                error.problems.map { $0.text(in: StoreTestSupport.german) } == [
                    "\(path):1: Die Datei ist nicht in UTF-8 kodiert."
                ])
        }
    }

    @Test("aliases are refused before Yams composes the file: a billion laughs in complex keys costs nothing")
    func yamlAliasesRefused() throws {
        // Nine levels of nine aliases, the last one used as a mapping key: Yams would hash it whole
        // (9^9 nodes) while checking for duplicate keys.
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            bomb +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        bomb += "datasets:\n  - ? *a9\n    : x\n"
        let simple = """
            domains:
              - &umwelt
                id: umwelt
                title: Umwelt
                steward_group: cn=stewards-umwelt,ou=groups,dc=stadt,dc=example
              - *umwelt
            """
        for (text, line, name) in [(bomb, 2, "a0"), (simple, 6, "umwelt")] {
            do {
                _ = try CatalogParser.parse(text, file: "b.yaml", format: .yaml)
                Issue.record("accepted an alias")
            } catch {
                #expect(
                    error.problems.map { $0.text(in: StoreTestSupport.german) } == [
                        "b.yaml:\(line): Verweise auf Anker (*\(name)) sind in Katalogdateien nicht erlaubt: "
                            + "jeder Eintrag wird ausgeschrieben."
                    ])
            }
        }
        // An asterisk or ampersand inside a text is no alias.
        let document = try CatalogParser.parse(
            """
            domains:
              - id: umwelt
                title: "*Umwelt* & Klima"
                steward_group: cn=stewards-umwelt,ou=groups,dc=stadt,dc=example
            """, file: "t.yaml", format: .yaml)
        #expect(document.domains.first?.domain.title == "*Umwelt* & Klima")
    }

    @Test("a broken CSV catalogue reports the line where each record starts")
    func brokenCSV() async throws {
        let csv = #"""
            id,title,description,domain,owner,classification,personal_data,protection_need,high_value
            ok-one,Titel,"Beschreibung mit
            Zeilenumbruch, Komma und ""Zitat""",umwelt,otto,public,none,normal,false
            zu-wenig,Titel,umwelt
            schlecht,Titel,,umwelt,otto,geheim,none,normal,vielleicht
            ,,,umwelt,otto,public,none,normal,false
            """#
        do {
            _ = try CatalogParser.parse(csv, file: "b.csv", format: .csv)
            Issue.record("accepted a broken CSV")
        } catch {
            #expect(
                error.problems.map { $0.text(in: StoreTestSupport.german) } == [
                    "b.csv:4: Erwartet werden 9 Felder wie in der Kopfzeile, gefunden 3.",
                    "b.csv:5: Datensatz „schlecht“, Feld „classification“: „geheim“ ist kein erlaubter Wert; erlaubt sind: public, internal, confidential, strictly_confidential.",
                    "b.csv:5: Datensatz „schlecht“, Feld „high_value“: Erwartet wird true oder false (auch ja/nein), gefunden „vielleicht“.",
                    "b.csv:6: Datensatz, Feld „id“: Bitte füllen Sie dieses Feld aus.",
                    "b.csv:6: Datensatz, Feld „title“: Bitte füllen Sie dieses Feld aus.",
                ])
        }
        for (text, expected) in [
            (
                "id,title,farbe\n",
                "h.csv:1: Unbekannte Spalte „farbe“ (bekannt: id, title, description, domain, owner, owner_group, classification, personal_data, protection_need, licence, high_value, formats)."
            ),
            (
                "id,title,domain,owner,classification,personal_data,protection_need\nx,\"offen,umwelt\n",
                "h.csv:2: Ein Feld in Anführungszeichen wird nicht geschlossen."
            ),
            (
                "id,title,domain,owner,classification,personal_data,protection_need\nx,ti\"tel,umwelt,otto,public,none,normal\n",
                "h.csv:2: Ein Anführungszeichen (\") steht in einem Feld ohne Anführungszeichen; setzen Sie das ganze Feld in Anführungszeichen und verdoppeln Sie das Zeichen."
            ),
            (
                "id,title,domain,owner,classification,personal_data,protection_need\nx,\"ti\"tel,umwelt,otto,public,none,normal\n",
                "h.csv:2: Nach dem schließenden Anführungszeichen eines Feldes folgt noch Text; setzen Sie das ganze Feld in Anführungszeichen."
            ),
            // A lone CR inside a quoted field is a line break too: the next record's problem is on line 4.
            (
                "id,title,description,domain,owner,classification,personal_data,protection_need\nx,T,\"zwei\rZeilen\",umwelt,otto,public,none,normal\ny,T,,umwelt,otto,geheim,none,normal\n",
                "h.csv:4: Datensatz „y“, Feld „classification“: „geheim“ ist kein erlaubter Wert; erlaubt sind: public, internal, confidential, strictly_confidential."
            ),
        ] {
            do {
                _ = try CatalogParser.parse(text, file: "h.csv", format: .csv)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.problems.first?.text(in: StoreTestSupport.german) == expected)
            }
        }
    }

    @Test("German Excel's „CSV UTF-8“ (BOM, CRLF, `;`) imports; a quoted `;` stays in its field; errors name file:line")
    func semicolonCSV() async throws {
        try await ServiceFixture.with { fixture in
            let header =
                "\u{FEFF}id;title;description;domain;owner;classification;personal_data;protection_need;high_value;formats\r\n"
            let csv =
                header
                + "gruenflaechen;Grünflächen;\"Parks; Friedhöfe, Kleingärten\";umwelt;otto;public;none;normal;nein;\"CSV;GeoJSON\"\r\n"
                + "\r\n"
                + "strassenschaeden;Straßenschäden;\"Meldungen\r\nmit Zeilenumbruch\";mobilitaet;volker;internal;none;normal;ja;\r\n"
                + "oeffnungszeiten;Öffnungszeiten „Bürgerämter“;;bevoelkerung;marta;public;none;normal;;PDF\r\n"
            let document = try CatalogParser.parse(csv, file: "excel.csv", format: .csv)
            #expect(document.datasets.map(\.line) == [2, 4, 6])
            let report = try await CatalogRepository(client: fixture.app).importCatalog(
                document, file: "excel.csv", actor: "adam", now: Clock.days(1), logger: logger)
            #expect(report.datasetsCreated == ["gruenflaechen", "strassenschaeden", "oeffnungszeiten"])
            let green = try await fixture.service.dataset(id: "gruenflaechen", logger: logger)
            #expect(green.title == "Grünflächen")
            #expect(green.description == "Parks; Friedhöfe, Kleingärten")
            #expect(green.formats == ["CSV", "GeoJSON"])
            #expect(green.owner == "otto")
            let damage = try await fixture.service.dataset(id: "strassenschaeden", logger: logger)
            // One line break whichever door a text came through (as the edit form's CR LF is stored).
            #expect(damage.description == "Meldungen\nmit Zeilenumbruch")
            #expect(damage.highValue)
            #expect(damage.classification == .internal)
            #expect(
                try await fixture.service.dataset(id: "oeffnungszeiten", logger: logger).title
                    == "Öffnungszeiten „Bürgerämter“")

            // Problems still name file and line, in a `;` file and a tab-separated one.
            for (text, expected) in [
                (
                    header + "x;T;;umwelt;otto;geheim;none;normal;;\r\n\r\ny;T;;umwelt;otto;public;none\r\n",
                    [
                        "s.csv:2: Datensatz „x“, Feld „classification“: „geheim“ ist kein erlaubter Wert; erlaubt sind: public, internal, confidential, strictly_confidential.",
                        "s.csv:4: Erwartet werden 10 Felder wie in der Kopfzeile, gefunden 7.",
                    ]
                ),
                (
                    "id;title;farbe\r\n",
                    [
                        "s.csv:1: Unbekannte Spalte „farbe“ (bekannt: id, title, description, domain, owner, owner_group, classification, personal_data, protection_need, licence, high_value, formats)."
                    ]
                ),
                (
                    "id\ttitle\tdomain\towner\tclassification\tpersonal_data\tprotection_need\nz\t\"T\"x\tumwelt\totto\tpublic\tnone\tnormal\n",
                    [
                        "s.csv:2: Nach dem schließenden Anführungszeichen eines Feldes folgt noch Text; setzen Sie das ganze Feld in Anführungszeichen."
                    ]
                ),
            ] {
                do {
                    _ = try CatalogParser.parse(text, file: "s.csv", format: .csv)
                    Issue.record("accepted \(text)")
                } catch let error as CatalogImportError {
                    // The first problems (a header with a wrong column names the missing ones too).
                    let found = error.problems.map { $0.text(in: StoreTestSupport.german) }
                    #expect(Array(found.prefix(expected.count)) == expected)
                }
            }
        }
    }

    @Test("an unknown domain is reported with its line and nothing is written")
    func unknownDomain() async throws {
        try await ServiceFixture.with { fixture in
            let before = try await fixture.counts()
            let csv = """
                id,title,domain,owner,classification,personal_data,protection_need
                neu-eins,Neu,umwelt,otto,public,none,normal
                neu-zwei,Neu,kultur,otto,public,none,normal
                """
            let document = try CatalogParser.parse(csv, file: "d.csv", format: .csv)
            do {
                _ = try await CatalogRepository(client: fixture.app).importCatalog(
                    document, file: "d.csv", actor: "adam", now: Clock.days(1), logger: logger)
                Issue.record("imported an unknown domain")
            } catch let error as CatalogImportError {
                #expect(
                    error.problems.map { $0.text(in: StoreTestSupport.german) } == [
                        "d.csv:3: Datensatz „neu-zwei“, Feld „domain“: Unbekannte Domäne „kultur“ (bekannt: bevoelkerung, mobilitaet, umwelt)."
                    ])
            }
            #expect(try await fixture.counts() == before)
        }
    }

    @Test("search by text, domain and classification; domains listed")
    func search() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            func ids(_ query: DatasetQuery) async throws -> [String] {
                try await service.datasets(query, logger: logger).map(\.id)
            }
            #expect(try await ids(DatasetQuery(text: "BAUM")) == ["baumkataster"])
            #expect(
                try await ids(DatasetQuery(domain: "mobilitaet")) == [
                    "parkraumbelegung", "radverkehrsnetz", "schulwegunfaelle", "verkehrszaehlung",
                ])
            #expect(try await ids(DatasetQuery(classification: .strictlyConfidential)) == ["sozialleistungsbezug"])
            #expect(try await ids(DatasetQuery(text: "stadt bezirk")) == ["bevoelkerungsprognose", "meldestatistik"])
            #expect(try await ids(DatasetQuery(text: "100%_")).isEmpty)
            #expect(try await ids(DatasetQuery(limit: 2, offset: 1)).count == 2)
            let domains = try await service.domains(logger: logger).map(\.id)
            #expect(domains == ["bevoelkerung", "mobilitaet", "umwelt"])
            await expectServiceError(.notFound) { try await service.dataset(id: "gibt-es-nicht", logger: logger) }
        }
    }

    @Test("administrators upsert one dataset through the service; others are refused and logged")
    func upsertOne() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            let input = DatasetInput(
                id: "friedhoefe", title: "Friedhöfe", domain: "umwelt",
                ownerGroup: "CN=Umweltamt, OU=groups,dc=stadt,dc=example",
                classification: .public, personalData: .none, protectionNeed: .normal, formats: ["CSV"])
            let created = try await service.upsertDataset(
                input, caller: People.adam, now: Clock.days(1), logger: logger
            ).dataset
            #expect(created.ownerGroup == "CN=Umweltamt, OU=groups,dc=stadt,dc=example")
            // A blank pasted with the owner's uid or the group's DN is no part of it: otto owns this one;
            // the owner is stored as the directory spells the uid.
            let umweltamt = "cn=umweltamt,ou=groups,dc=stadt,dc=example"
            for (id, owner, group) in [
                ("friedhoefe-a", " otto\t", nil), ("friedhoefe-b", nil, " \(umweltamt)\n"),
                ("friedhoefe-c", "OTTO", nil),
            ] {
                let pasted = try await service.upsertDataset(
                    DatasetInput(
                        id: id, title: "Friedhöfe", domain: "umwelt", owner: owner, ownerGroup: group,
                        classification: .public, personalData: .none, protectionNeed: .normal),
                    caller: People.adam, now: Clock.days(1), logger: logger
                ).dataset
                #expect(
                    pasted.owner == owner.map { _ in "otto" } && pasted.ownerGroup == group.map { _ in umweltamt })
            }
            let saved = try await service.upsertDataset(input, caller: People.adam, now: Clock.days(2), logger: logger)
            #expect(saved.dataset.updatedAt == created.updatedAt && saved.created == false)
            let unchanged = try await fixture.counts()
            // "New" for an id taken since the form was shown, or a version that is not the stored one:
            // refused under the row's lock, nothing replaced.
            var takenOver = input
            takenOver.title = "Übernommen"
            for shown: CatalogRepository.ShownDataset in [.new, .stored(version: Clock.days(1).addingTimeInterval(1))] {
                let conflict = await expectServiceError(.conflict) {
                    try await service.upsertDataset(
                        takenOver, caller: People.adam, now: Clock.days(3), shown: shown, logger: logger)
                }
                #expect(
                    conflict?.message.key
                        == (shown == .new
                            ? "messages.catalog.dataset_exists" : "messages.catalog.dataset_changed_meanwhile"))
            }
            #expect(try await fixture.counts() == unchanged)
            #expect(try await service.dataset(id: "friedhoefe", logger: logger).title == "Friedhöfe")
            let fresh = try await service.upsertDataset(
                DatasetInput(
                    id: "friedhoefe-neu", title: "Friedhöfe", domain: "umwelt", owner: "otto", classification: .public,
                    personalData: .none, protectionNeed: .normal),
                caller: People.adam, now: Clock.days(3), shown: .new, logger: logger)
            #expect(fresh.created)
            let before = try await fixture.counts()
            await expectServiceError(.forbidden) {
                try await service.upsertDataset(input, caller: People.anna, now: Clock.days(2), logger: logger)
            }
            var bad = input
            bad.title = "Null\u{0}Byte"
            bad.id = "Groß Buchstaben"
            bad.owner = "otto"
            bad.ownerGroup = "cn=stewards,dc=x"
            let refused = await expectServiceError(.validation) {
                try await service.upsertDataset(bad, caller: People.adam, now: Clock.days(2), logger: logger)
            }
            // The form and the API show each field's rule in the catalogue's words, not the importer's.
            #expect(
                refused?.fieldErrors.mapValues { $0.resolved(in: StoreTestSupport.german) } == [
                    "id": "Die Kennung muss aus Kleinbuchstaben, Ziffern und . _ - bestehen (höchstens 100 Zeichen) "
                        + "und mit einem Buchstaben oder einer Ziffer beginnen.",
                    "title": "Der Text enthält unzulässige Steuerzeichen.",
                    "owner": "Genau eines von beiden ist anzugeben: owner (eine Benutzerkennung) oder owner_group "
                        + "(der DN einer Gruppe).",
                ])
            // Well-formed, but not in the directory: each at its field, nothing stored.
            var unknownOwner = input
            unknownOwner.ownerGroup = nil
            unknownOwner.owner = "niemand"
            var unknownGroup = input
            unknownGroup.ownerGroup = "cn=friedhof,ou=groups,dc=stadt,dc=example"
            for (misnamed, field) in [(unknownOwner, "owner"), (unknownGroup, "owner_group")] {
                let refused = await expectServiceError(.validation) {
                    try await service.upsertDataset(misnamed, caller: People.adam, now: Clock.days(2), logger: logger)
                }
                #expect(
                    refused?.fieldErrors.mapValues { $0.resolved(in: StoreTestSupport.german) }[field]?.hasPrefix(
                        "Im Verzeichnis gibt es keine") == true)
            }
            // A directory that does not answer: 503 for "the directory", nothing stored.
            let silent = RequestService(
                client: fixture.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: ClosurePrincipalResolver(
                    { _ in throw CancellationError() }, groups: { _ in throw CancellationError() }))
            let unanswered = await expectServiceError(.unavailable) {
                try await silent.upsertDataset(input, caller: People.adam, now: Clock.days(2), logger: logger)
            }
            #expect(unanswered?.message.key == "messages.general.directory_unavailable")
            var reversed = input
            reversed.title = "Friedhöfe \u{202E}etsil"
            let bidi = await expectServiceError(.validation) {
                try await service.upsertDataset(reversed, caller: People.adam, now: Clock.days(2), logger: logger)
            }
            #expect(
                bidi?.fieldErrors["title"]?.resolved(in: StoreTestSupport.german).contains("Schreibrichtung") == true)
            var after = try await fixture.counts()
            #expect(after["audit_events"] == before["audit_events"]! + 1, "only the forbidden attempt is logged")
            after["audit_events"] = before["audit_events"]
            #expect(after == before)
            #expect(
                try await fixture.auditEvents() == Array(repeating: "dataset_created", count: 11) + [
                    "catalog_imported", "dataset_created", "dataset_created", "dataset_created", "dataset_created",
                    "dataset_created", "forbidden",
                ])
        }
    }
}
