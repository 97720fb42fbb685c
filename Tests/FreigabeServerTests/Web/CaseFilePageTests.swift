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
        try await WebFixture.with { fixture, client in
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
            #expect(page.html.contains(Self.proven), "the log's events are still listed")
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
            #expect(page.html.contains("Hochschule (Nein, eine Stelle außerhalb der Stadtverwaltung)"))

            // The owner gives the request another recipient, with markup: the row is no longer shown, the
            // log's recipient is, and the forged text appears nowhere, escaped or not.
            try await fixture.store.admin.query(
                "UPDATE requests SET recipient_name = '<script>Datenhändler</script>' WHERE id = \(view.id)",
                logger: fixture.store.logger)
            page = try await alex.get(path)
            #expect(page.status == 200)
            #expect(page.html.contains("widerspricht seinen Angaben oder Entscheidungen im Protokoll"))
            #expect(page.html.contains("Hochschule (Nein, eine Stelle außerhalb der Stadtverwaltung)"))
            #expect(page.html.contains("Stadtklima"))
            #expect(!page.html.contains("Datenhändler"))
            #expect(!page.html.contains("<script>"))
        }
    }
}
