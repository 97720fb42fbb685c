import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing

@testable import FreigabeServer

/// A request whose free texts `freigabe audit redact` erased after the retention period says so, on its
/// page, in the Verfahrensakte and in `GET /requests/{id}`: a reader years later must not take the dash
/// for what the requester wrote.
@Suite("Web: erased free texts say so")
struct WebErasedTextsTests {
    /// Monday 3 March 2014, 09:00 CET: far enough back for a retention of ten years.
    static let old = AuditRedactionTests.old

    /// A Shared Data request filed and rejected in 2014 (so closed before the cut-off) and one filed now
    /// (kept), sealed, then erased through the real `AuditRedaction` path with `order`.
    func erasedHistory(
        _ fixture: WebFixture, order: AuditRedaction.Order
    ) async throws -> (erased: RequestView, kept: RequestView) {
        let store = fixture.store
        let erased = try await store.shared("meldestatistik", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO", at: Self.old)
        _ = try await store.decide(
            erased, by: People.marta, .reject(reason: "Nicht erforderlich."), at: Clock.days(1, after: Self.old))
        let kept = try await store.shared("baumkataster")
        let sealer = AuditSealer(client: store.app, signer: AuditRedactionTests.signer, checkpointFile: nil)
        _ = try await sealer.sealAll(now: Clock.days(2), logger: store.logger)
        let outcome = try await AuditRedaction(client: store.admin).run(order, logger: store.logger)
        #expect(outcome.requestCount == 1)
        return (erased, kept)
    }

    /// The erasure's date in Berlin as the page writes it, from the row the database stamped.
    func erasureDate(_ fixture: WebFixture, format: String) async throws -> String {
        let rows = try await fixture.store.admin.query(
            PostgresQuery(
                unsafeSQL: "SELECT to_char(redacted_at AT TIME ZONE 'Europe/Berlin', '\(format)') FROM audit_redactions"
            ),
            logger: fixture.store.logger)
        return try #require(try await rows.decode(String.self).first(where: { _ in true }))
    }

    @Test("the page, its English version, the Verfahrensakte and the API name the erasure; a kept request none")
    func erasedRequestSaysSo() async throws {
        try await WebFixture.with { fixture, client in
            let order = try AuditRedaction.order(
                before: "2016-01-01", actor: "revision", osUser: "root", retentionYears: 10, now: Date())
            let (erased, kept) = try await erasedHistory(fixture, order: order)
            let german =
                "Freitexte gelöscht am \(try await erasureDate(fixture, format: "DD.MM.YYYY")) von revision"
                + " (Aufbewahrungsfrist abgelaufen)"
            let english =
                "Free texts erased on \(try await erasureDate(fixture, format: "FMDD FMMonth YYYY"))"
                + " by revision (retention period expired)"

            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(erased.id.uuidString)")
            #expect(page.status == 200)
            // Once prominently, with what went, and in place of the purpose's dash.
            #expect(page.html.contains("<p class=\"notice erased\" role=\"note\"><strong>\(german).</strong>"))
            #expect(page.html.contains("Gelöscht sind der Zweck, die Rechtsgrundlage"))
            #expect(page.html.contains("<dd class=\"user-text\">\(german)</dd>"))
            #expect(!page.html.contains("<dd class=\"user-text\">-</dd>"))

            anna.language = "en"
            let englishPage = try await anna.get("/antraege/\(erased.id.uuidString)")
            #expect(englishPage.html.contains("<strong>\(english).</strong>"))
            #expect(englishPage.html.contains("<dd class=\"user-text\">\(english)</dd>"))
            #expect(!englishPage.html.contains("Freitexte gelöscht"))

            let keptPage = try await anna.get("/antraege/\(kept.id.uuidString)")
            #expect(keptPage.status == 200)
            #expect(!keptPage.html.contains("erased"))
            #expect(keptPage.html.contains("Planung der Grünflächen 2027"))

            // The auditors' printable record says the same.
            let alex = Browser(client)
            try await alex.login("alex")
            let caseFile = try await alex.get("/pruefung/antraege/\(erased.id.uuidString)")
            #expect(caseFile.status == 200)
            #expect(caseFile.html.contains("<strong>\(german).</strong>"))
            // Each erased event of its log says so too, where its text was (as the log's page does).
            let marker = "<span class=\"small\">Inhalt gelöscht am "
            #expect(caseFile.html.components(separatedBy: marker).count - 1 >= 2, "\(caseFile.html)")
            #expect(caseFile.html.contains(" von revision (Aufbewahrungsfrist abgelaufen)</span></td>"))
            #expect(!caseFile.html.contains("Nicht erforderlich."))

            // The API: a typed field, checked against openapi.yaml by the client; none on a kept request.
            let api = APIClient(client: client, validator: APITestSupport.validator)
            let answer = try await api.send(.get, "/api/v1/requests/\(erased.id.uuidString)", as: "anna")
            #expect(answer.status == 200)
            #expect(answer.json?["texts_erased"]?["by"]?.string == "revision")
            #expect(answer.json?["purpose"]?.string == "-")
            let at = try #require(answer.json?["texts_erased"]?["at"]?.string)
            let stamped = try #require(ISO8601DateFormatter().date(from: at))
            #expect(abs(stamped.timeIntervalSinceNow) < 600, "the database's time of the erasure: \(at)")
            let keptAnswer = try await api.send(.get, "/api/v1/requests/\(kept.id.uuidString)", as: "anna")
            #expect(keptAnswer.status == 200)
            #expect(keptAnswer.json?["texts_erased"] == nil)
        }
    }

    @Test("an unanswered question erased: the page names the erasure in its place, the API's question is a dash")
    func erasedQuestionSaysSo() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            let asked = try await store.decide(
                try await store.shared("meldestatistik", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO", at: Self.old),
                by: People.marta, .requestChanges(question: "Wofür genau?"), at: Clock.days(1, after: Self.old))
            _ = try await AuditSealer(client: store.app, signer: AuditRedactionTests.signer, checkpointFile: nil)
                .sealAll(now: Clock.days(2), logger: store.logger)
            let order = try AuditRedaction.order(
                before: "2016-01-01", actor: "revision", osUser: "root", retentionYears: 10, now: Date())
            #expect(try await AuditRedaction(client: store.admin).run(order, logger: store.logger).abandonedCount == 1)
            let german =
                "Freitexte gelöscht am \(try await erasureDate(fixture, format: "DD.MM.YYYY")) von revision"
                + " (Aufbewahrungsfrist abgelaufen)"

            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(asked.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains("<strong>\(german).</strong>"))
            #expect(page.html.contains("<strong>Offene Rückfrage:</strong> <span class=\"user-text\">\(german)</span>"))
            #expect(!page.html.contains("Wofür genau?"))

            let api = APIClient(client: client, validator: APITestSupport.validator)
            let answer = try await api.send(.get, "/api/v1/requests/\(asked.id.uuidString)", as: "anna")
            #expect(answer.status == 200)
            #expect(answer.json?["status"]?["question"]?.string == "-")
            #expect(answer.json?["texts_erased"]?["by"]?.string == "revision")
        }
    }

    @Test("hostile: an actor name with markup, recorded by the owner role, is shown as text")
    func hostileActorIsEscaped() async throws {
        try await WebFixture.with { fixture, client in
            // `audit redact --actor` refuses such a name, but `audit_redactions.redacted_by` takes any text of
            // up to 200 characters from whoever holds the owner role: the page must not trust it.
            let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>"
            let checked = try AuditRedaction.order(
                before: "2016-01-01", actor: "revision", osUser: "root", retentionYears: 10, now: Date())
            let order = AuditRedaction.Order(
                before: checked.before, actor: hostile, osUser: "root", retentionYears: checked.retentionYears)
            let (erased, _) = try await erasedHistory(fixture, order: order)

            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(erased.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains("Freitexte gelöscht am"))
            #expect(page.html.contains("von &lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x"))
            #expect(!page.html.contains("<script>alert"))
            #expect(!page.html.contains("<img src=x"))

            // The Verfahrensakte's erased events name the erasure with the same name, as text.
            let alex = Browser(client)
            try await alex.login("alex")
            let caseFile = try await alex.get("/pruefung/antraege/\(erased.id.uuidString)")
            #expect(caseFile.status == 200)
            #expect(caseFile.html.contains("<span class=\"small\">Inhalt gelöscht am "))
            #expect(caseFile.html.contains("von &lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x"))
            #expect(!caseFile.html.contains("<script>alert"))
            #expect(!caseFile.html.contains("<img src=x"))

            let api = APIClient(client: client, validator: APITestSupport.validator)
            let answer = try await api.send(.get, "/api/v1/requests/\(erased.id.uuidString)", as: "anna")
            #expect(answer.json?["texts_erased"]?["by"]?.string == hostile)
        }
    }
}
