import AuditLog
import Foundation
import Testing

@testable import FreigabeServer

/// Die Verfahrensakte: one request with its proven events, for auditors, through the production router.
@Suite("Case file page", .serialized)
struct CaseFilePageTests {
    static let proven = "Unverändert, im Checkpoint enthalten"

    /// A request approved by its owner, sealed under a signed checkpoint.
    static func sealedRequest(_ fixture: WebFixture) async throws -> RequestView {
        let (created, _) = try await DecisionLinkTests.prepare(fixture)
        let approved = try await fixture.service.decide(
            requestID: created.id, decision: .approve(comment: "Passt – für die Akte", licence: nil, portalURL: nil),
            branch: nil, caller: People.otto, now: fixture.clock.now(), logger: fixture.store.logger)
        _ = try await AuditSealer(client: fixture.store.app, signer: AuditSealTests.signer, checkpointFile: nil)
            .sealAll(now: fixture.clock.now(), logger: fixture.store.logger)
        return approved
    }

    @Test("auditors see facts, decisions, every event proven and the covering checkpoint; others get 403 or 404")
    func auditorsSeeTheProvenCaseFile() async throws {
        try await WebFixture.with { fixture, client in
            let view = try await Self.sealedRequest(fixture)
            let path = "/pruefung/antraege/\(view.id.uuidString)"
            let anna = Browser(client)
            try await anna.login("anna")
            #expect(try await anna.get(path).status == 403, "the requester is no auditor")

            let alex = Browser(client)
            try await alex.login("alex")
            let events = try await fixture.store.auditEvents(request: view.id)
            #expect(events.count >= 3)
            let before = try await fixture.store.counts()
            let page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains("Verfahrensakte"))
            #expect(page.html.contains(view.number))
            #expect(page.html.contains("Stadtklima"), "the request's facts")
            #expect(page.html.contains("Passt – für die Akte"), "the decision with its comment")
            #expect(page.html.contains("Alle versiegelten Ereignisse dieses Antrags sind unverändert"))
            #expect(page.html.components(separatedBy: Self.proven).count - 1 == events.count, "\(events)")
            #expect(page.html.contains("freigabe.test/audit"), "the checkpoint note as stored")
            // Reading changes nothing but the log, which records who read which request's file.
            var after = try await fixture.store.counts()
            #expect(after["audit_events"] == before["audit_events"]! + 1)
            after["audit_events"] = before["audit_events"]
            #expect(after == before)
            #expect(try await fixture.store.auditEvents(request: view.id).last == "audit_read")
            let reader = try await fixture.store.admin.query(
                "SELECT actor, role, details::text FROM audit_events WHERE event = 'audit_read' ORDER BY id DESC LIMIT 1",
                logger: fixture.store.logger
            ).decode((String, String, String).self).first(where: { _ in true })
            #expect(reader?.0 == "alex")
            #expect(reader?.1 == "auditor")
            #expect(reader?.2.contains("case_file") == true)

            #expect(try await alex.get("/pruefung/antraege/\(UUID().uuidString)").status == 404)
            #expect(try await alex.get("/pruefung/antraege/nicht-eine-id").status == 404)
            #expect(try await alex.get("/pruefung/antraege/%27%3B%20DROP%20TABLE").status == 404)
            // The log links each request's events to its case file.
            #expect(try await alex.get("/pruefung").html.contains("href=\"\(path)\""))
        }
    }

    @Test("events after the checkpoint and unsealed ones are named; a changed event and a forged snapshot are found")
    func tamperingIsShown() async throws {
        let (captured, lines) = JSONLogTests.capturingLogger(level: .error)
        try await WebFixture.with(logger: captured) { fixture, client in
            let view = try await Self.sealedRequest(fixture)
            let path = "/pruefung/antraege/\(view.id.uuidString)"
            let alex = Browser(client)
            try await alex.login("alex")

            // Stefan decides; sealed without a signature: after the newest signed checkpoint.
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil), branch: nil,
                caller: People.stefan, now: fixture.clock.now(), logger: fixture.store.logger)
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil).sealAll(
                now: fixture.clock.now(), logger: fixture.store.logger)
            var page = try await alex.get(path)
            #expect(page.html.contains("Unverändert, nach dem letzten Checkpoint versiegelt"))
            #expect(page.html.contains("noch von keinem signierten Checkpoint erfasst"))
            #expect(!page.html.contains("Alle versiegelten Ereignisse dieses Antrags sind unverändert"))

            // The owner changes one sealed comment with the trigger disabled.
            try await fixture.store.admin.query(
                "ALTER TABLE audit_events DISABLE TRIGGER USER", logger: fixture.store.logger)
            try await fixture.store.admin.query(
                "UPDATE audit_events SET comment = 'Gefälscht' WHERE comment = 'Passt – für die Akte'",
                logger: fixture.store.logger)
            try await fixture.store.admin.query(
                "ALTER TABLE audit_events ENABLE TRIGGER USER", logger: fixture.store.logger)
            page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains("Verändert: ergibt nicht mehr den versiegelten Blatt-Hash"))
            #expect(page.html.contains("Achtung: Mindestens ein Ereignis"))

            // The snapshot rewritten to show mallory: the request's facts are not shown, the log is.
            try await fixture.store.admin.query(
                """
                UPDATE requests SET snapshot = jsonb_set(snapshot, '{decisions,0,person}', '"mallory"')
                WHERE id = \(view.id)
                """, logger: fixture.store.logger)
            page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains("widerspricht seinen Angaben oder Entscheidungen im Protokoll"))
            #expect(!page.html.contains("mallory"))
            // What disagrees is in the log, once per page, for whoever looks into it (the page shows the
            // finding): the changed comment's page above, and this one.
            let said = try lines.objects().filter { $0["error"]?.contains("disagrees with its facts") == true }
            #expect(said.count == 2, "\(said)")
            #expect(said.last?["error"]?.contains("mallory") == true, "\(said)")
            #expect(page.html.contains(Self.proven), "the log's events are still listed")
        }
    }

    @Test("events waiting longer than the sealing grace turn the verdict into a warning, not 'within seconds'")
    func stalledSealingIsAWarning() async throws {
        try await WebFixture.with { fixture, client in
            let view = try await Self.sealedRequest(fixture)
            let path = "/pruefung/antraege/\(view.id.uuidString)"
            let alex = Browser(client)
            try await alex.login("alex")
            // Stefan decides and no sealer runs: just now, that is the ordinary wait.
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil), branch: nil,
                caller: People.stefan, now: fixture.clock.now(), logger: fixture.store.logger)
            var page = try await alex.get(path)
            #expect(page.html.contains("binnen Sekunden"))
            #expect(!page.html.contains("Die Versiegelung steht still"))
            // Ten minutes later still nothing sealed (the sealer refuses or no instance runs it).
            try await fixture.store.admin.query(
                "ALTER TABLE audit_events DISABLE TRIGGER USER", logger: fixture.store.logger)
            try await fixture.store.admin.query(
                """
                UPDATE audit_events SET recorded_at = recorded_at - interval '10 minutes'
                WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_row = audit_events.id)
                """, logger: fixture.store.logger)
            try await fixture.store.admin.query(
                "ALTER TABLE audit_events ENABLE TRIGGER USER", logger: fixture.store.logger)
            page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains("Achtung: Die Versiegelung steht still."), "\(page.html)")
            #expect(!page.html.contains("binnen Sekunden"))
            #expect(!page.html.contains("Alle versiegelten Ereignisse dieses Antrags sind unverändert"))
        }
    }

    @Test("what was asked is shown from the sealed log, also when the row was rewritten; escaped")
    func statedDetailsFromTheLog() async throws {
        try await WebFixture.with { fixture, client in
            let view = try await Self.sealedRequest(fixture)
            let path = "/pruefung/antraege/\(view.id.uuidString)"
            let alex = Browser(client)
            try await alex.login("alex")
            var page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains("Was beantragt wurde, laut Protokoll"))
            #expect(page.html.contains("die Angaben der letzten Einreichung"))
            #expect(page.html.contains("Hochschule (Stelle außerhalb der Stadtverwaltung)"))

            // The owner gives the request another recipient, with markup: the row is no longer shown, the
            // log's recipient is, and the forged text appears nowhere, escaped or not.
            try await fixture.store.admin.query(
                "UPDATE requests SET recipient_name = '<script>Datenhändler</script>' WHERE id = \(view.id)",
                logger: fixture.store.logger)
            page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains("widerspricht seinen Angaben oder Entscheidungen im Protokoll"))
            #expect(page.html.contains("Hochschule (Stelle außerhalb der Stadtverwaltung)"))
            #expect(page.html.contains("Stadtklima"))
            #expect(!page.html.contains("Datenhändler"))
            #expect(!page.html.contains("<script>"))
        }
    }
    /// The legal basis is stored in German: on the English case file it is marked so, in what the log says
    /// was asked as in the request's details below it.
    @Test("the English case file marks the legal basis as German in both places")
    func statedLegalBasisCarriesItsLanguage() async throws {
        try await WebFixture.with { fixture, client in
            let view = try await fixture.store.shared("altlastenkataster", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
            _ = try await AuditSealer(client: fixture.store.app, signer: AuditSealTests.signer, checkpointFile: nil)
                .sealAll(now: fixture.clock.now(), logger: fixture.store.logger)
            let alex = Browser(client)
            alex.language = "en"
            try await alex.login("alex")
            let page = try await alex.get("/pruefung/antraege/\(view.id.uuidString)")
            #expect(page.status == 200)
            let marked = page.html.components(separatedBy: "<dd class=\"user-text\" lang=\"de\">Art. 6 Abs. 1 lit. e")
            #expect(marked.count == 3, "stated and details: \(page.html)")
            // A basis in the person's own words is in no known language: not marked German.
            let own = try await fixture.store.shared("altlastenkataster", legalBasis: "Section 4 of the Data Act")
            let english = try await alex.get("/pruefung/antraege/\(own.id.uuidString)")
            #expect(english.html.contains("<dd class=\"user-text\">Section 4 of the Data Act</dd>"), "\(english.html)")
            #expect(!english.html.contains("lang=\"de\">Section 4"))
            // Every article the form offers is recorded so that the rule above recognises it.
            for choice in RequestFormPage.legalBases where choice != "other" {
                let article = try #require(StoreTestSupport.german["web.form.legal_basis.options.\(choice)"])
                #expect(RequestFormPage.recordsGermanArticle(article), "\(article)")
            }
        }
    }

    /// The owner deletes a request's row (its decisions with their trigger off for the moment, its timers
    /// and links first); its sealed events stay. The auditor still gets the log's record, with the missing
    /// row named as a finding; a request nobody logged anything of stays 404.
    @Test("a request whose row the owner deleted is shown from its sealed events, the missing row a finding")
    func deletedRowShownFromTheLog() async throws {
        try await WebFixture.with { fixture, client in
            let (created, _) = try await DecisionLinkTests.prepare(fixture)
            _ = try await fixture.service.decide(
                requestID: created.id,
                decision: .approve(comment: "<script>alert(1)</script> geprüft", licence: nil, portalURL: nil),
                branch: nil, caller: People.otto, now: fixture.clock.now(), logger: fixture.store.logger)
            _ = try await AuditSealer(client: fixture.store.app, signer: AuditSealTests.signer, checkpointFile: nil)
                .sealAll(now: fixture.clock.now(), logger: fixture.store.logger)
            let events = try await fixture.store.auditEvents(request: created.id)
            let admin = fixture.store.admin
            let logger = fixture.store.logger
            try await admin.query("ALTER TABLE decisions DISABLE TRIGGER USER", logger: logger)
            try await admin.query("DELETE FROM decisions WHERE request_id = \(created.id)", logger: logger)
            try await admin.query("ALTER TABLE decisions ENABLE TRIGGER USER", logger: logger)
            for table in ["timers", "decision_links", "outbox"] {
                try await admin.query(
                    "DELETE FROM \(unescaped: table) WHERE request_id = \(created.id)", logger: logger)
            }
            try await admin.query("DELETE FROM requests WHERE id = \(created.id)", logger: logger)

            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung/antraege/\(created.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains("Der Antrag selbst fehlt in der Datenbank"), "\(page.html)")
            // Named by the number its events logged, as the auditor knows it from the files.
            #expect(page.html.contains("<span class=\"request-number\">\(created.number)</span>"))
            #expect(!page.html.contains("Alle versiegelten Ereignisse dieses Antrags sind unverändert"))
            #expect(page.html.components(separatedBy: Self.proven).count - 1 == events.count, "\(events)")
            #expect(page.html.contains("freigabe.test/audit"), "the covering checkpoint as stored")
            #expect(page.html.contains("&lt;script&gt;alert(1)&lt;/script&gt; geprüft"), "the event's comment, as text")
            #expect(!page.html.contains("<script>alert"))
            #expect(try await alex.get("/pruefung/antraege/\(UUID().uuidString)").status == 404)

            alex.language = "en"
            #expect(
                try await alex.get("/pruefung/antraege/\(created.id.uuidString)").html.contains(
                    "the request itself is missing from the database"))
        }
    }

    /// The newest signed checkpoint as the owner can leave it: a note that is no signed checkpoint, or a
    /// real note under a row of another tree size. Neither is "no checkpoint yet".
    @Test("an unreadable or inconsistent newest checkpoint is called broken, not missing; none yet is still none")
    func brokenCheckpointIsNotMissing() async throws {
        try await WebFixture.with { fixture, client in
            let view = try await Self.sealedRequest(fixture)
            let path = "/pruefung/antraege/\(view.id.uuidString)"
            let alex = Browser(client)
            try await alex.login("alex")
            let (size, note) = try #require(
                try await AuditQuery(client: fixture.store.app).latestSignedCheckpoint(logger: fixture.store.logger))
            let broken = "Achtung: Der neueste signierte Checkpoint ist unlesbar"
            let none = "Es gibt noch keinen signierten Checkpoint"
            #expect(!(try await alex.get(path).html.contains(broken)))

            func storeCheckpoint(size: UInt64, note: String) async throws {
                try await fixture.store.admin.query(
                    """
                    INSERT INTO audit_checkpoints (tree_size, root_hash, frontier, signed_note, created_at)
                    VALUES (\(Int64(size)), decode(repeat('00', 32), 'hex'), '[]', \(note), now())
                    """, logger: fixture.store.logger)
            }
            // The real note under a larger tree size: the row and the note disagree.
            try await storeCheckpoint(size: size + 1000, note: note)
            var page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains(broken), "\(page.html)")
            #expect(!page.html.contains(none))
            #expect(!page.html.contains(Self.proven))
            #expect(page.html.contains("Nicht bewiesen: der Checkpoint ist unlesbar"))
            #expect(!page.html.contains("noch von keinem signierten Checkpoint erfasst"))

            // A note that is no signed checkpoint at all, with markup: shown as stored, as text.
            try await storeCheckpoint(size: size + 2000, note: "<b>kein Checkpoint</b>\n")
            page = try await alex.get(path)
            #expect(page.html.contains(broken))
            #expect(!page.html.contains(none))
            #expect(page.html.contains("So ist er gespeichert:"))
            #expect(page.html.contains("&lt;b&gt;kein Checkpoint&lt;/b&gt;"))
            #expect(!page.html.contains("<b>kein Checkpoint"))

            // In English too.
            alex.language = "en"
            #expect(try await alex.get(path).html.contains("Warning: the newest signed checkpoint cannot be read"))
        }
        // Without a key nothing is signed: that is "none yet", with its calm text.
        try await WebFixture.with { fixture, client in
            let (created, _) = try await DecisionLinkTests.prepare(fixture)
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
                .sealAll(now: fixture.clock.now(), logger: fixture.store.logger)
            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung/antraege/\(created.id.uuidString)")
            #expect(page.html.contains("Es gibt noch keinen signierten Checkpoint"))
            #expect(!page.html.contains("Achtung"))
        }
    }

    /// The engine logs why a step was skipped as a code; the auditors' pages show the request page's words,
    /// and the offices of auditors and administrators by name.
    @Test("skipped steps and the auditor's role read as words on the log and the Verfahrensakte, in both languages")
    func codesReadAsWords() async throws {
        try await WebFixture.with { fixture, client in
            let view = try await Self.sealedRequest(fixture)
            // Sina owns the parking data and stewards its domain: the steward step is skipped in Personalunion.
            let parking = try await fixture.store.shared("parkraumbelegung", at: fixture.clock.now())
            _ = try await fixture.store.decide(parking, by: People.sina, at: fixture.clock.now())
            let path = "/pruefung/antraege/\(view.id.uuidString)"
            let alex = Browser(client)
            try await alex.login("alex")
            _ = try await alex.get(path)
            _ = try await alex.get("/pruefung/antraege/\(parking.id.uuidString)")
            _ = try await AuditSealer(client: fixture.store.app, signer: AuditSealTests.signer, checkpointFile: nil)
                .sealAll(now: fixture.clock.now(), logger: fixture.store.logger)
            var skipped: [String] = []
            for try await code in try await fixture.store.admin.query(
                "SELECT DISTINCT comment FROM audit_events WHERE event = 'step_skipped' ORDER BY 1",
                logger: fixture.store.logger
            ).decode(String.self) {
                skipped.append(code)
            }
            #expect(skipped == ["condition_not_met", "personal_union"], "the log holds both codes")

            let log = try await alex.get("/pruefung")
            let caseFile = try await alex.get(path)
            let parkingFile = try await alex.get("/pruefung/antraege/\(parking.id.uuidString)")
            for page in [log, caseFile, parkingFile] {
                #expect(page.status == 200)
                #expect(!page.html.contains("condition_not_met"))
                #expect(!page.html.contains("personal_union"))
                #expect(!page.html.contains("(auditor)"))
            }
            #expect(log.html.contains("die Voraussetzung dieses Schritts trifft auf den Antrag nicht zu"))
            #expect(log.html.contains("mit dem vorigen Schritt in Personalunion entschieden"))
            #expect(parkingFile.html.contains("die Voraussetzung dieses Schritts trifft auf den Antrag nicht zu"))
            #expect(parkingFile.html.contains("mit dem vorigen Schritt in Personalunion entschieden"))
            #expect(log.html.contains("alex (Prüfer/in)"))
            // The Verfahrensakte counts reads instead of listing them (readsDoNotCrowdOutDecisions).

            alex.language = "en"
            let english = try await alex.get("/pruefung")
            #expect(english.html.contains("decided together with the previous step (same person)"))
            #expect(
                english.html.contains("this step&#39;s condition does not apply to the request")
                    || english.html.contains("this step's condition does not apply to the request"))
            #expect(english.html.contains("alex (Auditor)"))
        }
    }
    /// Every read of a case file is an event of its request: a request read often had its oldest 1,000
    /// events listed, reads among them, and its latest decisions cut off. Reads are counted, not listed;
    /// what was asked comes from the last (re)submission, read on its own; this read is not "unsealed".
    @Test("after 1,100 reads a resubmission is listed and what was asked comes from it; reads are counted")
    func readsDoNotCrowdOutDecisions() async throws {
        try await WebFixture.with { fixture, client in
            let (created, _) = try await DecisionLinkTests.prepare(fixture)
            let logger = fixture.store.logger
            _ = try await fixture.service.decide(
                requestID: created.id, decision: .requestChanges(question: "Welche Hochschule?"), branch: nil,
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            try await fixture.store.admin.query(
                """
                INSERT INTO audit_events (occurred_at, actor, role, request_id, dataset_id, event, details)
                SELECT \(fixture.clock.now()), 'alex', 'auditor', \(created.id), 'baumkataster', 'audit_read',
                       '{"view": "case_file", "via": "web"}'
                FROM generate_series(1, 1100)
                """, logger: logger)
            _ = try await fixture.service.resubmit(
                requestID: created.id,
                changes: Resubmission(
                    comment: "Hochschule Musterstadt",
                    changes: RequestDetails.Patch(
                        values: RequestDetails(purpose: "Stadtklima, Projekt KlimaGrün"), given: [.purpose])),
                caller: People.anna, now: fixture.clock.now().addingTimeInterval(60), logger: logger)
            _ = try await AuditSealer(client: fixture.store.app, signer: AuditSealTests.signer, checkpointFile: nil)
                .sealAll(now: fixture.clock.now(), logger: logger)

            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung/antraege/\(created.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains("<td>Erneut eingereicht"), "the resubmission is listed")
            #expect(page.html.contains("Hochschule Musterstadt"))
            #expect(!page.html.contains("<td>Protokoll gelesen (Prüfung)"), "reads are not listed")
            #expect(!page.html.contains("Es werden nur die ersten"), "nothing cut")
            #expect(page.html.contains("Stadtklima, Projekt KlimaGrün"), "what was asked, from the resubmission")
            #expect(page.html.contains("(Erneut eingereicht, "), "the stated source names the resubmission")
            #expect(page.html.contains("diesen Antrag 1101-mal gelesen"), "1,100 reads and this one")
            #expect(
                page.html.contains(
                    "href=\"/pruefung?request=\(created.id.uuidString)&amp;type=audit_read\""))
            #expect(!page.html.contains("noch nicht versiegelt"), "this read is not an unsealed event of the request")
            #expect(page.html.contains("Alle versiegelten Ereignisse dieses Antrags sind unverändert"))
        }
    }
}
