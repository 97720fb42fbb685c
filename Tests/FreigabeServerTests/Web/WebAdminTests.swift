import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing

@testable import FreigabeServer

/// Administration pages: data domains with their steward groups, and the outbox with „erneut senden“.
@Suite("Web administration: domains and outbox", .serialized)
struct WebAdminTests {
    static func domains(_ fixture: WebFixture) async throws -> [String: (String, String)] {
        var result: [String: (String, String)] = [:]
        let rows = try await fixture.store.admin.query(
            "SELECT id, title, steward_group FROM domains", logger: fixture.store.logger)
        for try await (id, title, group) in rows.decode((String, String, String).self) { result[id] = (title, group) }
        return result
    }

    @Test(
        "an admin creates and edits a domain through the catalogue import; hostile input is refused and stores nothing")
    func domainsAreEdited() async throws {
        try await WebFixture.with { fixture, client in
            let adam = Browser(client)
            try await adam.login("adam")
            let overview = try await adam.get("/verwaltung")
            #expect(overview.html.contains("href=\"/verwaltung/domaene?id=umwelt\""))
            let form = try await adam.get("/verwaltung/domaene")
            #expect(form.status == 200)
            let csrf = try #require(form.hidden("_csrf"))
            let group = "cn=amt-stadtentwicklung,ou=groups,dc=stadt,dc=example"
            let created = try await adam.post(
                "/verwaltung/domaene",
                [("id", "kultur"), ("title", "Kultur <i>und</i> Freizeit"), ("steward_group", group)],
                csrf: csrf)
            #expect(created.status == 303)
            #expect(created.location == "/verwaltung?hinweis=domain_saved")
            #expect(try await Self.domains(fixture)["kultur"]?.0 == "Kultur <i>und</i> Freizeit")
            let listed = try await adam.get("/verwaltung?hinweis=domain_saved")
            #expect(listed.html.contains("Die Datendomäne ist gespeichert."))
            #expect(listed.html.contains("Kultur &lt;i&gt;und&lt;/i&gt; Freizeit"))
            #expect(!listed.html.contains("<i>und</i>"))
            #expect(try await fixture.store.auditEvents().last == "catalog_imported")

            let edit = try await adam.get("/verwaltung/domaene?id=kultur")
            #expect(edit.html.contains("value=\"\(group)\""))
            #expect(!edit.html.contains("ldap.stewards"), "no group of the directory's mapping for kultur")
            // The form carries the domain as it showed it, escaped.
            #expect(edit.html.contains(#"name="shown_title" value="Kultur &lt;i&gt;und&lt;/i&gt; Freizeit""#))
            #expect(edit.hidden("shown_steward_group") == group)
            let shown = [("shown_title", "Kultur <i>und</i> Freizeit"), ("shown_steward_group", group)]
            // Meanwhile another administrator gave kultur another steward group: this form saves nothing
            // over it, and comes again with what is stored now (409).
            let colleague = Browser(client)
            try await colleague.login("adam")
            let colleaguesForm = try await colleague.get("/verwaltung/domaene?id=kultur")
            let otherGroup = "cn=stewards-mobilitaet,ou=groups,dc=stadt,dc=example"
            let theirs = try await colleague.post(
                "/verwaltung/domaene",
                [
                    ("existing_id", "kultur"), ("title", "Kultur <i>und</i> Freizeit"),
                    ("steward_group", otherGroup), ("shown_title", "Kultur <i>und</i> Freizeit"),
                    ("shown_steward_group", group),
                ],
                csrf: colleaguesForm.hidden("_csrf"))
            #expect(theirs.status == 303)
            let eventsBefore = try await fixture.store.auditEvents().count
            let overwriting = try await adam.post(
                "/verwaltung/domaene",
                [("existing_id", "kultur"), ("title", "Kultur"), ("steward_group", group)] + shown, csrf: csrf)
            #expect(overwriting.status == 409)
            #expect(overwriting.html.contains("Jemand anderes hat diese Domäne geändert"), "\(overwriting.html)")
            #expect(overwriting.html.contains("value=\"\(otherGroup)\""), "what is stored now")
            #expect(try await Self.domains(fixture)["kultur"]?.1 == otherGroup)
            #expect(try await fixture.store.auditEvents().count == eventsBefore, "nothing written")
            let edited = try await adam.post(
                "/verwaltung/domaene",
                [
                    ("existing_id", "kultur"), ("title", "Kultur"),
                    ("steward_group", "cn=umweltamt,ou=groups,dc=stadt,dc=example"),
                    ("shown_title", "Kultur <i>und</i> Freizeit"), ("shown_steward_group", otherGroup),
                ],
                csrf: csrf)
            #expect(edited.status == 303)
            #expect(try await Self.domains(fixture)["kultur"]?.1 == "cn=umweltamt,ou=groups,dc=stadt,dc=example")
            // A form without what it showed (not one of ours) saves nothing either.
            let blind = try await adam.post(
                "/verwaltung/domaene", [("existing_id", "kultur"), ("title", "Blind"), ("steward_group", group)],
                csrf: csrf)
            #expect(blind.status == 409)
            #expect(try await Self.domains(fixture)["kultur"]?.0 == "Kultur")

            let before = try await fixture.allCounts()
            let domainsBefore = try await Self.domains(fixture).mapValues { "\($0.0)|\($0.1)" }
            let hostile: [([(String, String)], String, String)] = [
                ([("id", "Kultur!"), ("title", "T"), ("steward_group", group)], "id", "Kennung aus Kleinbuchstaben"),
                ([("id", "../etc"), ("title", "T"), ("steward_group", group)], "id", "Kennung aus Kleinbuchstaben"),
                ([("id", "x"), ("title", ""), ("steward_group", group)], "title", "Titel"),
                ([("id", "x"), ("title", "A\u{7}B"), ("steward_group", group)], "title", "Steuerzeichen"),
                (
                    [("id", "x"), ("title", String(repeating: "a", count: 201)), ("steward_group", group)], "title",
                    "200"
                ),
                ([("id", "x"), ("title", "T"), ("steward_group", "kein DN")], "steward_group", "DN einer LDAP-Gruppe"),
                ([("id", "x"), ("title", "T"), ("steward_group", "cn=a,\u{0}ou=groups")], "steward_group", "DN"),
                ([("id", "umwelt"), ("title", "Übernahme"), ("steward_group", group)], "id", "gibt es schon"),
                // Well-formed, but the directory holds no such group, or the DN is a person's.
                (
                    [
                        ("id", "x"), ("title", "T"),
                        ("steward_group", "cn=stewards-kultur,ou=groups,dc=stadt,dc=example"),
                    ],
                    "steward_group",
                    "Im Verzeichnis gibt es keine Gruppe „cn=stewards-kultur,ou=groups,dc=stadt,dc=example“"
                ),
                (
                    [
                        ("existing_id", "kultur"), ("title", "T"),
                        ("steward_group", "uid=otto,ou=people,dc=stadt,dc=example"),
                    ],
                    "steward_group", "Im Verzeichnis gibt es keine Gruppe „uid=otto,ou=people,dc=stadt,dc=example“"
                ),
            ]
            for (fields, field, message) in hostile {
                let refused = try await adam.post("/verwaltung/domaene", fields, csrf: csrf)
                #expect(refused.status == 422, "\(fields)")
                #expect(refused.html.contains(message), "\(field): \(message)")
                #expect(refused.html.contains("id=\"f-\(field.replacingOccurrences(of: "_", with: "-"))-error\""))
            }
            // An edit of a domain that does not exist is a 404, not a creation.
            let ghost = try await adam.post(
                "/verwaltung/domaene", [("existing_id", "gibt-es-nicht"), ("title", "T"), ("steward_group", group)],
                csrf: csrf)
            #expect(ghost.status == 404)
            // Without the CSRF token, and as someone who is no administrator: refused.
            let forged = try await adam.post(
                "/verwaltung/domaene", [("id", "forged"), ("title", "T"), ("steward_group", group)], csrf: nil)
            #expect(forged.status == 403)
            let anna = Browser(client)
            try await anna.login("anna")
            #expect(try await anna.get("/verwaltung/domaene").status == 403)
            let annaForm = try await anna.get("/")
            let notAdmin = try await anna.post(
                "/verwaltung/domaene", [("id", "anna"), ("title", "T"), ("steward_group", group)],
                csrf: annaForm.html.components(separatedBy: "name=\"_csrf\" value=\"").dropFirst().first.map {
                    String($0.prefix { $0 != "\"" })
                })
            #expect(notAdmin.status == 403)
            #expect(try await Self.domains(fixture).mapValues { "\($0.0)|\($0.1)" } == domainsBefore)
            var after = try await fixture.allCounts()
            // Anna's refused change is a security event in the audit log, as the API's refusals are (her
            // refused page view and Adam's forged form are not); nothing else changes.
            let refusals = try await fixture.store.admin.query(
                """
                SELECT event, actor, details->>'command' FROM audit_events
                ORDER BY id DESC LIMIT \(after["audit_events", default: 0] - before["audit_events", default: 0])
                """, logger: fixture.store.logger)
            var recorded: [String] = []
            for try await (event, actor, command) in refusals.decode((String, String?, String?).self) {
                recorded.append("\(event) \(actor ?? "-") \(command ?? "-")")
            }
            #expect(recorded == ["forbidden anna web:POST /verwaltung/domaene"])
            after["audit_events"] = before["audit_events"]
            after["web_sessions"] = before["web_sessions"]
            #expect(after == before)
        }
    }

    /// README: the page says how many open requests now wait for someone else.
    @Test("an empty catalogue file is reported at its line 1; one over the 4 MiB limit gets 413 naming it")
    func importEdgeCases() async throws {
        try await WebFixture.with { fixture, client in
            let adam = Browser(client)
            try await adam.login("adam")
            let overview = try await adam.get("/verwaltung")
            #expect(overview.html.contains("oder eine CSV-Datei mit Datensätzen"), "CSV holds datasets only")
            #expect(overview.html.contains("höchstens 4 MiB"), "the page names the limit")
            let before = try await fixture.allCounts()
            // A file chosen, but empty: read like any other, as `freigabe catalog import` reads it.
            for (name, expected) in [
                ("katalog.yaml", "katalog.yaml:1: Erwartet wird eine Zuordnung"),
                ("katalog.csv", "katalog.csv:1: Die Datei hat keine Kopfzeile."),
            ] {
                let empty = try await adam.postFile(
                    "/verwaltung/import", field: "file", filename: name, content: "", csrf: overview.hidden("_csrf"))
                #expect(empty.status == 422)
                #expect(empty.html.contains(expected), "\(name)")
                #expect(!empty.html.contains("Bitte wählen Sie eine Datei aus."), "\(name)")
            }
            // No file chosen at all: the browser sends an empty part without a name.
            let none = try await adam.postFile(
                "/verwaltung/import", field: "file", filename: "", content: "", csrf: overview.hidden("_csrf"))
            #expect(none.status == 422)
            #expect(none.html.contains("Bitte wählen Sie eine Datei aus."))
            // A screen reader reads the error with the field, and the field says it is wrong.
            #expect(none.html.contains(#"aria-describedby="f-file-hint f-file-error" aria-invalid="true""#))
            #expect(none.html.contains(#"id="import-errors""#) && none.html.contains(##"<a href="#f-file">"##))
            // One byte over the limit: 413, the page says how large a file may be; nothing is read or stored.
            let large = try await adam.postFile(
                "/verwaltung/import", field: "file", filename: "katalog.yaml",
                content: String(repeating: "#", count: WebForm.maximumUploadBytes + 1), csrf: overview.hidden("_csrf"))
            #expect(large.status == 413)
            #expect(large.html.contains("eine Katalogdatei mit ihrem Formular höchstens 4 MiB"))
            #expect(try await fixture.allCounts() == before)
        }
    }

    @Test("a domain's new steward group or a dataset's new owner: the overview says how many open requests moved")
    func editPagesSayWhatMoved() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil), branch: nil,
                caller: Caller(uid: "otto", displayName: "Otto Owner"), now: fixture.clock.now(),
                logger: fixture.store.logger)
            let adam = Browser(client)
            try await adam.login("adam")
            let form = try await adam.get("/verwaltung/domaene?id=umwelt")
            // The directory makes the members of its mapped group stewards too: the form says so beside the field.
            #expect(
                form.html.contains(
                    "Außerdem sind nach der Einstellung ldap.stewards die Mitglieder von cn=stewards-umwelt,ou=groups,")
            )
            let moved = try await adam.post(
                "/verwaltung/domaene",
                [
                    ("existing_id", "umwelt"), ("title", "Umwelt"),
                    ("steward_group", "cn=stewards-mobilitaet,ou=groups,dc=stadt,dc=example"),
                    ("shown_title", try #require(form.hidden("shown_title"))),
                    ("shown_steward_group", try #require(form.hidden("shown_steward_group"))),
                ], csrf: form.hidden("_csrf"))
            #expect(moved.location == "/verwaltung?hinweis=domain_saved&umgehaengt=1")
            let overview = try await adam.get(try #require(moved.location))
            #expect(overview.html.contains("Die Datendomäne ist gespeichert. Achtung: 1 offener Antrag wartet jetzt"))
            // How the new holders learn of it: the step's task mail, sent at once (not a later reminder).
            #expect(overview.html.contains("die neuen Zuständigen erhalten die Aufgabe gleich per E-Mail."))
            #expect(!overview.html.contains("Erinnerung"))
            #expect(
                try await adam.get("/verwaltung?hinweis=domain_saved&umgehaengt=2").html.contains(
                    "Achtung: 2 offene Anträge warten jetzt"))
            // A dataset saved without a change of who holds its steps goes to its page, as before.
            let dataset = try await adam.get("/verwaltung/datensatz?id=baumkataster")
            let same = try await adam.post(
                "/verwaltung/datensatz",
                [
                    ("existing_id", "baumkataster"), ("title", "Baumkataster"), ("domain", "umwelt"),
                    ("owner", "otto"), ("classification", "public"), ("personal_data", "none"),
                    ("protection_need", "normal"), ("high_value", "false"),
                ], csrf: dataset.hidden("_csrf"))
            #expect(same.location == "/katalog/baumkataster", "\(same.html.prefix(400))")
            #expect(
                try await adam.get("/verwaltung?hinweis=dataset_saved&umgehaengt=x").html.contains(
                    "Der Datensatz ist gespeichert."))
        }
    }

    /// The overview lists the first 500 datasets; every other one an administrator reaches through the
    /// catalogue's search, whose dataset page offers them (and only them) the form.
    @Test("past 500 datasets the overview says so; a dataset's page offers administrators its form")
    func everyDatasetCanBeEdited() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            #expect(try await anna.get("/katalog/baumkataster").html.contains("/verwaltung/datensatz") == false)
            let adam = Browser(client)
            try await adam.login("adam")
            let page = try await adam.get("/katalog/baumkataster")
            #expect(page.html.contains(#"href="/verwaltung/datensatz?id=baumkataster">Bearbeiten</a>"#))
            #expect(try await adam.get("/verwaltung").html.contains("Gezeigt werden die ersten") == false)
            try await fixture.store.admin.query(
                """
                INSERT INTO datasets (id, title, domain_id, owner, classification, personal_data, protection_need)
                SELECT 'zz-' || n, 'Datensatz ' || n, 'umwelt', 'otto', 'public', 'none', 'normal'
                FROM generate_series(1, \(AdminPages.listedDatasets)) AS n
                """, logger: fixture.store.logger)
            let overview = try await adam.get("/verwaltung")
            #expect(overview.html.contains("Gezeigt werden die ersten 500 Datensätze"))
            #expect(overview.html.components(separatedBy: "/verwaltung/datensatz?id=").count - 1 == 500)
        }
    }

    /// Two administrators edit one dataset: the later save of a form shown before the other's change
    /// saves nothing (it would have undone the change, and handed the requests back).
    @Test("a dataset form shown before someone else's change saves nothing: 409 with what is stored now")
    func staleDatasetFormSavesNothing() async throws {
        try await WebFixture.with { fixture, client in
            let adam = Browser(client)
            try await adam.login("adam")
            let stale = try await adam.get("/verwaltung/datensatz?id=baumkataster")
            let shown = try #require(stale.hidden("shown_version"))
            var meanwhile = DatasetInput(
                id: "baumkataster", title: "Baumkataster", domain: "umwelt", owner: "volker",
                classification: .public, personalData: .none, protectionNeed: .normal)
            meanwhile.description = "Neu zugeordnet"
            _ = try await fixture.service.upsertDataset(
                meanwhile, caller: Caller(uid: "adam", displayName: "Adam Admin", roles: [.admin]),
                now: fixture.clock.now().addingTimeInterval(60), logger: fixture.store.logger)
            let fields: [(String, String)] = [
                ("existing_id", "baumkataster"), ("title", "Baumkataster"), ("domain", "umwelt"), ("owner", "otto"),
                ("classification", "public"), ("personal_data", "none"), ("protection_need", "normal"),
                ("high_value", "false"),
            ]
            let refused = try await adam.post(
                "/verwaltung/datensatz", fields + [("shown_version", shown)], csrf: stale.hidden("_csrf"))
            #expect(refused.status == 409)
            #expect(refused.html.contains("Jemand anderes hat diesen Datensatz geändert"))
            #expect(refused.html.contains("value=\"volker\""), "the form shows what is stored now")
            #expect(
                try await fixture.service.dataset(id: "baumkataster", logger: fixture.store.logger).owner == "volker")
            // From the form as it is shown now, the save goes through.
            let fresh = try #require(refused.hidden("shown_version"))
            #expect(fresh != shown)
            let saved = try await adam.post(
                "/verwaltung/datensatz", fields + [("shown_version", fresh)], csrf: refused.hidden("_csrf"))
            #expect(saved.status == 303, "\(saved.html.prefix(400))")
            #expect(try await fixture.service.dataset(id: "baumkataster", logger: fixture.store.logger).owner == "otto")
        }
    }

    /// The form sends CR LF and whatever blanks were typed; the database counts code points. Saved
    /// unchanged, nothing changes (no `dataset_updated`, no new version for another administrator's form);
    /// a title of combining accents longer than the column allows is the field's error, not a 500.
    @Test("the dataset form: CR LF and blanks change nothing; a title too long in code points is the field's error")
    func datasetTextsAsStored() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            _ = try await fixture.service.upsertDataset(
                DatasetInput(
                    id: "zeilen", title: "Zeilen", description: "Zeile eins\nZeile zwei", domain: "umwelt",
                    owner: "otto", classification: .internal, personalData: .none, protectionNeed: .normal),
                caller: Caller(uid: "adam", displayName: "Adam Admin", roles: [.admin]), now: fixture.clock.now(),
                logger: logger)
            let adam = Browser(client)
            try await adam.login("adam")
            let form = try await adam.get("/verwaltung/datensatz?id=zeilen")
            let events = try await fixture.store.auditEvents()
            func fields(title: String, shown: String?) throws -> [(String, String)] {
                [
                    ("existing_id", "zeilen"), ("title", title), ("description", "Zeile eins\r\nZeile zwei\r\n"),
                    ("domain", "umwelt"), ("owner", "otto"), ("classification", "internal"),
                    ("personal_data", "none"), ("protection_need", "normal"), ("high_value", "false"),
                    ("shown_version", try #require(shown)),
                ]
            }
            let saved = try await adam.post(
                "/verwaltung/datensatz", try fields(title: " Zeilen ", shown: form.hidden("shown_version")),
                csrf: form.hidden("_csrf"))
            #expect(saved.status == 303, "\(saved.html.prefix(600))")
            #expect(try await fixture.store.auditEvents() == events, "saved unchanged: nothing logged as changed")
            let stored = try await fixture.service.dataset(id: "zeilen", logger: logger)
            #expect(stored.title == "Zeilen" && stored.description == "Zeile eins\nZeile zwei")

            // 150 characters to the eye, 300 code points to the column's CHECK (at most 200).
            let accents = String(repeating: "e\u{301}", count: 150)
            let again = try await adam.get("/verwaltung/datensatz?id=zeilen")
            let tooLong = try await adam.post(
                "/verwaltung/datensatz", try fields(title: accents, shown: again.hidden("shown_version")),
                csrf: again.hidden("_csrf"))
            #expect(tooLong.status == 422)
            #expect(tooLong.html.contains("höchstens 200 Zeichen"))
            #expect(try await fixture.service.dataset(id: "zeilen", logger: logger).title == "Zeilen")
        }
    }

    @Test("the outbox page lists failed and waiting mail with the reason escaped; 'erneut senden' makes it due again")
    func outboxRetry() async throws {
        try await WebFixture.with { fixture, client in
            let request = try await fixture.store.submittedRequest()
            let rows = try await fixture.store.admin.query(
                "SELECT id FROM outbox WHERE kind = 'mail' ORDER BY id", logger: fixture.store.logger)
            let ids = try await rows.decode(Int64.self).reduce(into: []) { $0.append($1) }
            let failed = try #require(ids.first)
            try await fixture.store.admin.query(
                """
                UPDATE outbox SET failed_at = now(), attempts = 7,
                    last_error = 'otto: 550 <script>alert(1)</script> mailbox unavailable' WHERE id = \(failed)
                """, logger: fixture.store.logger)
            let adam = Browser(client)
            try await adam.login("adam")
            // No receiver out of service: no such section.
            #expect(!(try await adam.get("/verwaltung/ausgang").html.contains("Webhook-Empfänger, die zurzeit")))
            // A receiver switched off by a 410 and one paused by a 429: named, with since and until.
            try await fixture.store.admin.query(
                """
                INSERT INTO webhook_subscriptions (name, url_hash, created_at, disabled_at, disabled_reason, paused_until)
                VALUES ('portal', sha256('a'::bytea), now(), \(Clock.days(1)), 'Der Empfänger antwortete 410 Gone', NULL),
                       ('siem', sha256('b'::bytea), now(), NULL, NULL, \(fixture.clock.now().addingTimeInterval(3600)))
                """, logger: fixture.store.logger)
            let page = try await adam.get("/verwaltung/ausgang")
            #expect(page.status == 200)
            #expect(page.html.contains("Webhook-Empfänger, die zurzeit nichts erhalten"))
            #expect(page.html.contains("„portal“ ist seit ") && page.html.contains("abgeschaltet: er antwortete 410"))
            #expect(page.html.contains("„siem“ ist bis ") && page.html.contains("pausiert"))
            #expect(page.html.contains("m\(failed)"))
            #expect(page.html.contains("550 &lt;script&gt;alert(1)&lt;/script&gt; mailbox unavailable"))
            #expect(!page.html.contains("<script>alert"))
            #expect(page.html.contains("href=\"/antraege/\(request.id.uuidString)\""))
            if ids.count > 1 { #expect(page.html.contains("m\(ids[1])"), "a waiting row is listed too") }
            let csrf = try #require(page.hidden("_csrf"))

            // Hostile row keys: 400, nothing changes.
            let before = try await fixture.allCounts()
            for key in [
                "", "x1", "m", "m-1", "m0", "m1 OR 1=1", "m\(failed);DELETE", "w", String(repeating: "9", count: 40),
            ] {
                let refused = try await adam.post("/verwaltung/ausgang/erneut", [("row", key)], csrf: csrf)
                #expect(refused.status == 400, "\(key)")
            }
            let unknown = try await adam.post("/verwaltung/ausgang/erneut", [("row", "m999999")], csrf: csrf)
            #expect(unknown.location == "/verwaltung/ausgang?hinweis=not_retried")
            #expect(try await fixture.allCounts() == before)
            // Not an admin, or no token: refused, the row stays failed.
            let otto = Browser(client)
            try await otto.login("otto")
            #expect(try await otto.get("/verwaltung/ausgang").status == 403)
            let ottoPage = try await otto.get("/")
            let ottoToken = ottoPage.html.components(separatedBy: "name=\"_csrf\" value=\"").dropFirst().first.map {
                String($0.prefix { $0 != "\"" })
            }
            #expect(
                try await otto.post("/verwaltung/ausgang/erneut", [("row", "m\(failed)")], csrf: ottoToken).status
                    == 403)
            // Otto's refused change is in the audit log, as a refusal through the API would be.
            #expect(try await fixture.store.auditEvents().last == "forbidden")
            #expect(try await adam.post("/verwaltung/ausgang/erneut", [("row", "m\(failed)")], csrf: nil).status == 403)
            #expect(try await Self.failedAt(fixture, failed) != nil)

            let retried = try await adam.post("/verwaltung/ausgang/erneut", [("row", "m\(failed)")], csrf: csrf)
            #expect(retried.status == 303)
            #expect(retried.location == "/verwaltung/ausgang?hinweis=retried")
            #expect(try await Self.failedAt(fixture, failed) == nil)
            // Who sent it again is in the log, with the request the mail is about.
            let logged = try await fixture.store.admin.query(
                "SELECT actor, request_id, details->>'row' FROM audit_events WHERE event = 'outbox_retried'",
                logger: fixture.store.logger)
            let entries = try await logged.decode((String, UUID?, String).self).reduce(into: []) {
                $0.append("\($1.0) \($1.1?.uuidString ?? "-") \($1.2)")
            }
            #expect(entries == ["adam \(request.id.uuidString) m\(failed)"])
            let after = try await adam.get(try #require(retried.location))
            #expect(after.html.contains("Die Nachricht wird erneut gesendet."))
            #expect(after.html.contains("Keine fehlgeschlagenen Nachrichten."))
        }
    }

    static func failedAt(_ fixture: WebFixture, _ id: Int64) async throws -> Date? {
        let rows = try await fixture.store.admin.query(
            "SELECT failed_at FROM outbox WHERE id = \(id)", logger: fixture.store.logger)
        for try await value in rows.decode(Date?.self) { return value }
        return nil
    }

    @Test("row keys: m<id> is mail, w<id> a webhook delivery, everything else nothing")
    func rowKeys() {
        #expect(AdminOutboxPages.target("m12") == .mail(12))
        #expect(AdminOutboxPages.target("w7") == .webhook(7))
        for key in ["", "m", "m0", "m-3", "x5", "M5", "m5x", "m١٢", "w" + String(repeating: "9", count: 30)] {
            #expect(AdminOutboxPages.target(key) == nil, "\(key)")
        }
    }

    /// Support is asked "who stands in for Otto next week?": an administrator's Vertretungen lists every
    /// deputyship in words that fit (not "Sie vertreten"), ends any, and sets one up for someone else; the
    /// start page stays their own. Others cannot name someone else.
    @Test("an administrator's Vertretungen lists, ends and sets up everyone's; the start page stays their own")
    func adminManagesDeputyshipsOnThePage() async throws {
        try await WebFixture.with { fixture, client in
            let now = fixture.clock.now()
            let paulsDeputy = try await fixture.service.createDeputyship(
                NewDeputyship(deputy: "dora", validFrom: now, validUntil: now.addingTimeInterval(10 * 86_400)),
                caller: People.paul, now: now, logger: fixture.store.logger)
            let adam = Browser(client)
            try await adam.login("adam")
            let start = try await adam.get("/")
            #expect(start.status == 200 && !start.html.contains(">paul<") && !start.html.contains("Sie vertreten"))
            let page = try await adam.get("/vertretungen")
            #expect(page.status == 200)
            #expect(page.html.contains("paul wird vertreten von dora"), "\(page.html)")
            #expect(!page.html.contains("Sie vertreten"))
            #expect(page.html.contains("/vertretungen/\(paulsDeputy.id.uuidString)/beenden"))
            #expect(page.html.contains("Für wen (nur Verwaltung)"))
            // For otto, by adam: stored as otto's, created by adam.
            let (from, until) = ("2026-03-03", "2026-03-10")
            let created = try await adam.post(
                "/vertretungen",
                [("principal", "OTTO"), ("deputy", "paul"), ("valid_from", from), ("valid_until", until)],
                csrf: page.hidden("_csrf"))
            #expect(created.status == 303, "\(created.html)")
            let ottos = try await fixture.service.deputyships(
                caller: People.otto, now: now, logger: fixture.store.logger)
            #expect(ottos.map(\.principal) == ["otto"] && ottos.map(\.deputy) == ["paul"])
            #expect(ottos.first?.createdBy == "adam")
            // Ends paul's.
            let ended = try await adam.post(
                "/vertretungen/\(paulsDeputy.id.uuidString)/beenden", [], csrf: page.hidden("_csrf"))
            #expect(ended.location == "/vertretungen?hinweis=ended")
            let pauls = try await fixture.service.deputyships(
                caller: People.paul, now: fixture.clock.now().addingTimeInterval(1), logger: fixture.store.logger)
            #expect(pauls.first?.active == false)
            // Anyone else: no such field, and a principal sent anyway is not taken (their own, not otto's).
            let anna = Browser(client)
            try await anna.login("anna")
            let annas = try await anna.get("/vertretungen")
            #expect(!annas.html.contains("Für wen"))
            let before = try await fixture.service.deputyships(
                caller: People.otto, now: now, logger: fixture.store.logger)
            _ = try await anna.post(
                "/vertretungen",
                [("principal", "otto"), ("deputy", "bea"), ("valid_from", from), ("valid_until", until)],
                csrf: annas.hidden("_csrf"))
            #expect(
                try await fixture.service.deputyships(caller: People.otto, now: now, logger: fixture.store.logger)
                    .map(\.id) == before.map(\.id))
        }
    }
}
