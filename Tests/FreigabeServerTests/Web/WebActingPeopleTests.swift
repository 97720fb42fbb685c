import Foundation
import Hummingbird
import HummingbirdTesting
import LDAPDirectory
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The status in words names the people who must act (from the directory, with their deputies), and
/// falls back to the role when the directory cannot say.
@Suite("Web: who must act now", .serialized)
struct WebActingPeopleTests {
    @Test("start page and request page name the person, the deputy, and nobody for an unknown owner")
    func statusNamesThePerson() async throws {
        try await WebFixture.with { fixture, client in
            let request = try await fixture.store.submittedRequest()
            // otto (Otto Oberle) owns baumkataster; paul (Paul Peters) is his deputy now.
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(
                    principal: nil, deputy: "paul", validFrom: Clock.start,
                    validUntil: Clock.days(30)),
                caller: People.otto, now: Clock.start, logger: fixture.store.logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let home = try await anna.get("/")
            #expect(home.html.contains("Liegt seit heute beim Schritt „Prüfung durch den Data Owner“ (Otto O.)."))
            let page = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(page.html.contains("Wer jetzt entscheiden muss"))
            #expect(page.html.contains("(Otto Oberle)."))
            #expect(page.html.contains("Vertretung: Paul Peters"))
            #expect(!page.html.contains("keine E-Mail-Adresse"), "otto has a mail address")

            // A dataset whose owner has left the directory since it was saved (saving checks the owner:
            // stored here as the catalogue had it): the page says so instead of failing.
            let ghostData = DatasetInput(
                id: "geisterdaten", title: "Geisterdaten", description: "", domain: "umwelt", owner: "niemand",
                ownerGroup: nil, classification: .internal, personalData: .none, protectionNeed: .normal,
                licence: nil, highValue: false, formats: [])
            await #expect(throws: ServiceError.self) {
                try await fixture.service.upsertDataset(
                    ghostData, caller: People.adam, now: Clock.start, logger: fixture.store.logger)
            }
            try await Database.transaction(fixture.store.app, logger: fixture.store.logger) { connection in
                _ = try await CatalogRepository.upsert(
                    ghostData, on: connection, now: Clock.start, logger: fixture.store.logger)
            }
            let ghost = try await fixture.store.shared("geisterdaten")
            let ghostPage = try await anna.get("/antraege/\(ghost.id.uuidString)")
            #expect(ghostPage.status == 200)
            #expect(ghostPage.html.contains("niemand im Verzeichnis gefunden"))
            #expect(ghostPage.html.contains("(Data Owner)."), "the role stands where no person was found")
        }
    }

    /// otto owns baumkataster and files a request for it himself; paul is his deputy. The engine lets
    /// neither decide (nobody decides their own request, nor does their deputy), and the task mail goes to
    /// neither: the pages must not name them as the ones who must act either.
    @Test("the owner's own request: neither the owner nor his deputy is named as who must decide")
    func requesterIsNotNamedAsDecider() async throws {
        try await WebFixture.with { fixture, client in
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(principal: nil, deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(30)),
                caller: People.otto, now: Clock.start, logger: fixture.store.logger)
            let own = try await fixture.store.shared("baumkataster", by: People.otto)
            #expect(own.status.waitingFor == ["data_owner"])
            let otto = Browser(client)
            try await otto.login("otto")
            let home = try await otto.get("/")
            #expect(home.html.contains("Liegt seit heute beim Schritt „Prüfung durch den Data Owner“ (Data Owner)."))
            #expect(!home.html.contains("(Otto O.)"))
            let page = try await otto.get("/antraege/\(own.id.uuidString)")
            let acting = try Self.actingList(page.html)
            #expect(acting.contains("niemand, der hier entscheiden darf (Aufgabentrennung"))
            #expect(!acting.contains("Otto Oberle"), "the requester is not asked")
            #expect(!acting.contains("Paul Peters"), "nor his deputy, who would decide in his name")
            #expect(!acting.contains("niemand im Verzeichnis gefunden"), "the directory knows the owner")
            #expect(!page.html.contains("(Otto Oberle)."), "nor named in the status sentence")

            // anna's request on the same dataset: otto and paul are the ones to ask.
            let annas = try await fixture.store.submittedRequest()
            let anna = Browser(client)
            try await anna.login("anna")
            let annasActing = try Self.actingList(try await anna.get("/antraege/\(annas.id.uuidString)").html)
            #expect(annasActing.contains("Otto Oberle"))
            #expect(annasActing.contains("Vertretung: Paul Peters"))
            #expect(!annasActing.contains("niemand"))
        }
    }

    /// The request page's list of who must act (`<ul class="acting">`).
    static func actingList(_ html: String) throws -> Substring {
        let start = try #require(html.range(of: "<ul class=\"acting\">"))
        let end = try #require(html[start.upperBound...].range(of: "</ul>"))
        return html[start.upperBound..<end.lowerBound]
    }

    /// Filed on Friday evening and read on Saturday: no working day has passed, but it has not waited
    /// "since today" either. On Monday it has waited one working day.
    @Test("a request filed on Friday reads „seit dem 6. März“ on Saturday, not „seit heute“")
    func weekendIsNotToday() async throws {
        try await WebFixture.with { fixture, client in
            // Friday 6 March 2026, 17:00 in Berlin; the pages' clock on Saturday morning.
            let friday = Clock.days(4, after: Clock.start).addingTimeInterval(8 * 3600)
            _ = try await fixture.store.shared("baumkataster", at: friday)
            fixture.clock.advance(days: 5 + 1.0 / 24)
            let anna = Browser(client)
            try await anna.login("anna")
            let saturday = try await anna.get("/")
            #expect(
                saturday.html.contains("Liegt seit dem 6. März 2026 beim Schritt „Prüfung durch den Data Owner“"),
                "\(saturday.html)")
            #expect(!saturday.html.contains("seit heute"))
            let otto = Browser(client)
            try await otto.login("otto")
            let inbox = try await otto.get("/eingang")
            #expect(inbox.html.contains("wartet seit dem 6. März 2026"))
            #expect(!inbox.html.contains("seit heute"))

            fixture.clock.advance(days: 2)
            let annaOnMonday = Browser(client)  // Saturday's session has ended.
            try await annaOnMonday.login("anna")
            let monday = try await annaOnMonday.get("/")
            #expect(monday.html.contains("Liegt seit 1 Arbeitstag beim Schritt „Prüfung durch den Data Owner“"))
        }
    }

    /// paul has otto's request page open as his deputy; otto decides first. paul's decision changes nothing
    /// and the request page as it is now names who decided, with paul's words kept in the form field.
    @Test("a deputy who decides second sees the request page naming who decided first")
    func deputyDecidingSecondSeesWhoDecided() async throws {
        try await WebFixture.with { fixture, client in
            let request = try await fixture.store.submittedRequest()
            let logger = fixture.store.logger
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(principal: nil, deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(30)),
                caller: People.otto, now: Clock.start, logger: logger)
            let paul = Browser(client)
            try await paul.login("paul")
            let path = "/antraege/\(request.id.uuidString)"
            let page = try await paul.get(path)
            #expect(page.html.contains("Ihre Entscheidung"))
            // Sent without a choice: the page's words, not the API's values.
            let unchosen = try await paul.post(
                path + "/entscheidung", [("version", try #require(page.hidden("version"))), ("text", "Hm")],
                csrf: page.hidden("_csrf"))
            #expect(unchosen.status == 422)
            #expect(unchosen.html.contains("Bitte wählen Sie, wie Sie entscheiden."))
            #expect(!unchosen.html.contains("approve, reject"))
            _ = try await fixture.service.decide(
                requestID: request.id, decision: .approve(comment: nil, licence: nil, portalURL: nil),
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            let before = try await fixture.store.counts()
            let late = try await paul.post(
                path + "/entscheidung",
                [
                    ("version", try #require(page.hidden("version"))), ("decision", "reject"),
                    ("text", "Zu grob aufgelöst"),
                ], csrf: page.hidden("_csrf"))
            #expect(late.status == 409)
            #expect(late.html.contains("Über diesen Schritt hat bereits otto am "), "\(late.html.prefix(2000))")
            #expect(
                late.html.contains("beim Schritt „Freigabe durch das Data Stewardship der Domäne“"),
                "the page as it is now")
            #expect(try await fixture.store.counts() == before)
        }
    }

    @Test("an owner without a mail address in the real directory: the request page warns, others see no warning")
    func ownerWithoutMailIsWarnedOnThePage() async throws {
        let uid = try TestPeople.add("ohnepost", mailPrefix: nil)
        defer { TestPeople.remove([uid]) }
        try await WebFixture.with { fixture, client in
            _ = try await fixture.service.upsertDataset(
                DatasetInput(
                    id: "ohne-post", title: "Daten ohne Post", description: "", domain: "umwelt", owner: uid,
                    ownerGroup: nil, classification: .internal, personalData: .none, protectionNeed: .normal,
                    licence: nil, highValue: false, formats: []),
                caller: People.adam, now: Clock.start, logger: fixture.store.logger)
            let request = try await fixture.store.shared("ohne-post")
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains("(Test Ohnepost)."))
            #expect(
                page.html.contains(
                    "Für Test Ohnepost ist im Verzeichnis keine E-Mail-Adresse eingetragen: die Aufgabe kommt bei Test Ohnepost nicht per E-Mail an."
                ))
            let other = try await fixture.store.submittedRequest()
            let otherPage = try await anna.get("/antraege/\(other.id.uuidString)")
            #expect(!otherPage.html.contains("keine E-Mail-Adresse"), "otto has a mail address")
        }
    }

    @Test("a directory that does not answer: nil within the deadline, and the page names the roles", .runsAlone)
    func silentDirectoryFallsBackToRoles() async throws {
        try await ServiceFixture.with { store in
            let silent = try await SilentServer.start()
            var configuration = try DemoDirectory.configuration()
            configuration.url = "ldap://127.0.0.1:\(silent.port)"
            let directory = try LDAPDirectory(configuration: configuration, logger: APITestSupport.logger)
            let service = RequestService(
                client: store.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: People.resolver)
            let view = try await store.submittedRequest()
            var lookup = ActingPeopleLookup(directory: directory, service: service)
            lookup.deadline = .milliseconds(500)
            let started = ContinuousClock.now
            let people = await lookup.people(
                for: view.status, dataset: view.dataset, now: Clock.start, logger: store.logger)
            let elapsed = ContinuousClock.now - started
            #expect(people == nil)
            #expect(elapsed < .seconds(2), "took \(elapsed)")
            let text = PageText(catalog: StoreTestSupport.german)
            var page = RequestPage(view, text: text)
            page.named(people, status: view.status, text: text)
            #expect(page.status.contains("(Data Owner)"))
            #expect(page.acting?.unknown == true)
            await directory.shutdown()
            try await silent.stop()
        }
    }

    @Test("an approver without a mail address gets a visible warning; names and deputies are listed")
    func missingMailIsWarned() async throws {
        try await ServiceFixture.with { store in
            let view = try await store.submittedRequest()
            let text = PageText(catalog: StoreTestSupport.german)
            var page = RequestPage(view, text: text)
            let people = ActingPeople(byRole: [
                "data_owner": [
                    .init(uid: "otto", name: "Otto Oberle", hasMail: false, deputies: ["Paul Peters"]),
                    .init(uid: "olli", name: "Olli <b>Ohnepost</b>", hasMail: true, deputies: []),
                ]
            ])
            page.named(people, status: view.status, text: text)
            #expect(page.status.contains("(Otto Oberle, Olli <b>Ohnepost</b>)."))
            #expect(page.acting?.missingMail.count == 1)
            #expect(page.acting?.missingMail.first?.contains("Für Otto Oberle ist im Verzeichnis keine E-Mail") == true)
            #expect(page.acting?.roles.first?.deputies == "Vertretung: Paul Peters")
            #expect(ActingPeople.name("Dora Dietz", short: true) == "Dora D.")
            #expect(ActingPeople.name("Anna Maria von Albers", short: true) == "Anna Maria von A.")
            #expect(ActingPeople.name("Cher", short: true) == "Cher")
        }
    }
}
