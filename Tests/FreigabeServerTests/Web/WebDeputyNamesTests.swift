import Foundation
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// A deputy's decision names the principal as the directory does on every page that shows it, not
/// only on the request page; and the publication form starts from the licence the requester asked for.
@Suite("Web: principals by name, the requested licence chosen")
struct WebDeputyNamesTests {
    /// A deputyship the API set to the hour (from 09:00, until 09:00) was listed by its days only: the
    /// deputy would think they may act from the morning of the first day and on the whole last day.
    @Test("a deputyship set to the hour shows its hours on the deputyships page; one of whole days its days")
    func periodsToTheHour() async throws {
        try await WebFixture.with { fixture, client in
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(20)), caller: People.otto,
                now: Clock.start, logger: fixture.store.logger)
            let otto = Browser(client)
            try await otto.login("otto")
            let hours = try await otto.get("/vertretungen").html
            #expect(hours.contains("2. März 2026 um 09:00 Uhr bis 22. März 2026 um 09:00 Uhr"), "\(hours)")
            let days = try await otto.post(
                "/vertretungen", [("deputy", "dora"), ("valid_from", "2026-04-01"), ("valid_until", "2026-04-10")],
                csrf: otto.get("/vertretungen").hidden("_csrf"))
            #expect(days.status == 303)
            let listed = try await otto.get("/vertretungen").html
            #expect(listed.contains("1. April 2026 bis 9. April 2026"), "\(listed)")
        }
    }

    /// otto is back from holiday: his start page lists what paul decided in his name over the last 60
    /// days, by paul's name, with the step; not otto's own decisions, and not on paul's start page.
    @Test("the start page lists the decisions a deputy took in one's name, for 60 days")
    func decidedForYouOnTheStartPage() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(20)), caller: People.otto,
                now: Clock.start, logger: store.logger)
            let rejected = try await store.shared("baumkataster")
            _ = try await store.decide(
                rejected, by: People.paul, .reject(reason: "Zweck unklar"), at: fixture.clock.now())
            let own = try await store.shared("baumkataster")
            _ = try await store.decide(own, by: People.otto, at: fixture.clock.now())

            let otto = Browser(client)
            try await otto.login("otto")
            let home = try await otto.get("/")
            #expect(home.html.contains("In Ihrer Vertretung entschieden"), "\(home.html)")
            #expect(home.html.contains("Abgelehnt von Paul Peters am "), "\(home.html)")
            #expect(home.html.contains(rejected.number) && home.html.contains("Prüfung durch den Data Owner"))
            #expect(!home.html.contains(own.number), "otto's own decision is his to remember")
            let english = Browser(client)
            english.language = "en"
            try await english.login("otto")
            #expect(try await english.get("/").html.contains("Rejected by Paul Peters on "))
            let paul = Browser(client)
            try await paul.login("paul")
            #expect(!(try await paul.get("/")).html.contains("In Ihrer Vertretung entschieden"))

            // Two months later the list has moved on.
            fixture.clock.advance(days: 61)
            let later = Browser(client)
            try await later.login("otto")
            #expect(!(try await later.get("/")).html.contains("In Ihrer Vertretung entschieden"))
        }
    }

    @Test("the auditors' log, the Verfahrensakte and the decision link page name the principal, not the uid")
    func principalNamedEverywhere() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(9)), caller: People.otto,
                now: Clock.start, logger: store.logger)
            let request = try await store.shared("baumkataster")
            let tokens = try await DecisionLinkStore(client: store.app, logger: store.logger).mint(
                requestID: request.id, step: "owner_review", stepEnteredAt: request.status.since,
                branch: "owner_review",
                uid: "otto",
                actions: [.approve, .reject, .requestChanges], now: Clock.start, days: 14)
            _ = try await store.decide(request, by: People.paul, at: Clock.start.addingTimeInterval(60))
            _ = try await AuditSealer(client: store.app, signer: nil, checkpointFile: nil).sealAll(
                now: fixture.clock.now(), logger: store.logger)
            let named = "in Vertretung für Otto Oberle"
            let byUID = "in Vertretung für otto"

            let alex = Browser(client)
            try await alex.login("alex")
            let log = try await alex.get("/pruefung?request=\(request.id.uuidString)")
            #expect(log.status == 200)
            #expect(log.html.contains(named), "\(log.html)")
            #expect(!log.html.contains(byUID))
            let caseFile = try await alex.get("/pruefung/antraege/\(request.id.uuidString)")
            #expect(caseFile.status == 200)
            #expect(caseFile.html.contains(named), "\(caseFile.html)")
            #expect(!caseFile.html.contains(byUID))

            // Otto's link: the step was decided by his deputy meanwhile; the page shows that decision.
            let link = try await Browser(client).get("/e/\(try #require(tokens[.approve]))")
            #expect(link.html.contains(named), "\(link.html)")
            #expect(!link.html.contains(byUID))
        }
    }

    @Test("the Open Data officer's publication form has the requested licence selected; another may be chosen")
    func publicationFormSelectsTheRequestedLicence() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            var view = try await store.open("baumkataster")
            #expect(view.details.licence == "dl-de-zero-2.0")
            view = try await store.decide(view, by: People.otto, at: Clock.days(1))
            view = try await store.decide(view, by: People.stefan, at: Clock.days(1))
            #expect(view.status.step == "publication")
            let olga = Browser(client)
            try await olga.login("olga")
            let page = try await olga.get("/antraege/\(view.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains("<option value=\"dl-de-zero-2.0\" selected>"), "\(page.html)")
            #expect(page.html.components(separatedBy: " selected>").count == 2, "one option selected")
            // The request's facts name it as asked for: the publication decision names the one given.
            #expect(page.html.contains("<dt>Beantragte Lizenz</dt>"), "\(page.html)")
            // Needed to approve only: not marked as every choice's, and the form says when they are needed.
            #expect(!page.html.contains("Adresse im Open-Data-Portal <span class=\"required\">"), "\(page.html)")
            #expect(page.html.components(separatedBy: "Nur für die Zustimmung nötig").count == 3)
            // The officer chooses another and forgets the portal address: the form keeps her choice.
            let refused = try await olga.post(
                "/antraege/\(view.id.uuidString)/entscheidung",
                [
                    ("version", String(view.version)), ("branch", "publication"), ("decision", "approve"),
                    ("licence", "cc-by-4.0"), ("portal_url", ""),
                ], csrf: page.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(refused.html.contains("<option value=\"cc-by-4.0\" selected>"), "\(refused.html)")
            #expect(!refused.html.contains("<option value=\"dl-de-zero-2.0\" selected>"))
            // A rejection sent with the licence still chosen, as the browser sends the form: refused nothing,
            // stored without a licence.
            let rejected = try await olga.post(
                "/antraege/\(view.id.uuidString)/entscheidung",
                [
                    ("version", String(view.version)), ("branch", "publication"), ("decision", "reject"),
                    ("text", "Noch nicht anonymisiert"), ("licence", "dl-de-zero-2.0"), ("portal_url", ""),
                ], csrf: page.hidden("_csrf"))
            #expect(rejected.status == 303, "\(rejected.html.prefix(600))")
            let stored = try await store.admin.query(
                "SELECT licence FROM decisions WHERE request_id = \(view.id) AND outcome = 'rejected'",
                logger: store.logger)
            var licences: [String?] = []
            for try await licence in stored.decode(String?.self) { licences.append(licence) }
            #expect(licences == [nil])
        }
    }

    /// The catalogue gives Baumkataster under Datenlizenz Deutschland – Zero: a new Open Data request
    /// proposes it; Shared Data, which publishes nothing, proposes no licence.
    @Test("a new Open Data request proposes the catalogue's licence of the dataset")
    func newOpenDataRequestProposesTheCatalogueLicence() async throws {
        try await WebFixture.with { _, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let open = try await anna.get("/antraege/neu?kind=open_data&dataset=baumkataster")
            #expect(open.status == 200)
            #expect(open.html.contains("<option value=\"dl-de-zero-2.0\" selected>"), "\(open.html)")
            let shared = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            #expect(shared.status == 200 && !shared.html.contains("<option value=\"dl-de-zero-2.0\" selected>"))
        }
    }
}
