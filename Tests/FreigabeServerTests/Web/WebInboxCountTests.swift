import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FreigabeServer

/// "N Anträge warten auf Ihre Entscheidung" leaves out what the engine keeps from the person among the
/// requests a page reads, on the inbox, on the start page and on every page of the inbox: an inbox that
/// fits on one page never counts a request the list cannot show (``InboxPage/total`` says what a longer
/// one may still count).
@Suite("Web: the inbox count")
struct WebInboxCountTests {
    /// Two requests wait for the DSB step; dora holds the DSB role for both, but she decided the owner
    /// step of one of them (she owns its dataset), so separation of duties keeps her from its DSB step.
    /// The SQL pre-selection (pending role `dsb`) names both.
    func doraDecidedOneAsOwner(_ fixture: WebFixture) async throws -> (mine: RequestView, notMine: RequestView) {
        let store = fixture.store
        _ = try await fixture.service.upsertDataset(
            DatasetInput(
                id: "doras-daten", title: "Doras Daten", description: "", domain: "umwelt", owner: "dora",
                ownerGroup: nil, classification: .internal, personalData: .personal, protectionNeed: .normal,
                licence: nil, highValue: false, formats: []),
            caller: People.adam, now: Clock.start, logger: store.logger)
        let legal = "Art. 6 Abs. 1 lit. e DSGVO"
        let notMine = try await store.shared("doras-daten", legalBasis: legal)
        _ = try await store.decide(
            try await store.decide(notMine, by: People.dora, at: Clock.start), by: People.stefan, at: Clock.start)
        let mine = try await store.shared("meldestatistik", legalBasis: legal, at: Clock.start.addingTimeInterval(60))
        _ = try await store.decide(
            try await store.decide(mine, by: People.marta, at: Clock.start), by: People.bea, at: Clock.start)
        return (mine, notMine)
    }

    @Test("a request the engine keeps from you is not counted: inbox, start page, later pages and the API agree")
    func countIsTheEnginesAnswer() async throws {
        try await WebFixture.with { fixture, client in
            let (mine, notMine) = try await doraDecidedOneAsOwner(fixture)
            let dora = Browser(client)
            try await dora.login("dora")

            let inbox = try await dora.get("/eingang")
            #expect(WebInboxTests.requestIDs(inbox.html) == [mine.id.uuidString])
            #expect(!inbox.html.contains(notMine.id.uuidString))
            #expect(inbox.html.contains("1 Antrag wartet auf Ihre Entscheidung."))
            #expect(!inbox.html.contains("2 Anträge"))
            let home = try await dora.get("/")
            #expect(home.html.contains("1 Antrag wartet auf Ihre Entscheidung."))
            #expect(!home.html.contains("Antrag/Anträge"))

            // Page by page (one item a page): each page says the same total, and the pages show it all.
            let first = try await fixture.service.inboxPage(
                caller: People.dora, after: nil, limit: 1, now: Clock.start, logger: fixture.store.logger)
            #expect(first.items.map(\.request.id) == [mine.id])
            #expect(first.total == 1)
            #expect(first.next == nil)
            // A place after every candidate: an empty page that still counts (every candidate asked).
            let beyond = try #require(InboxCursor("n.999999999999999999.\(UUID().uuidString)"))
            let later = try await fixture.service.inboxPage(
                caller: People.dora, after: beyond, limit: 1, now: Clock.start, logger: fixture.store.logger)
            #expect(later.items.isEmpty)
            #expect(later.total == 1)
            #expect(later.next == nil)
            // A place before every candidate: the first page.
            let before = try #require(InboxCursor("0.0.\(UUID().uuidString)"))
            let again = try await fixture.service.inboxPage(
                caller: People.dora, after: before, limit: 1, now: Clock.start, logger: fixture.store.logger)
            #expect(again.items.map(\.request.id) == [mine.id])

            let api = APIClient(client: client, validator: APITestSupport.validator)
            let answer = try await api.send(.get, "/api/v1/inbox", as: "dora")
            #expect(answer.json?["items"]?.array.count == 1)
        }
    }

    @Test("a task as deputy and one in one's own role: each listed and counted once")
    func countedOnce() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            // stefan stewards umwelt and deputises for otto, who owns baumkataster (of umwelt).
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(principal: nil, deputy: "stefan", validFrom: Clock.start, validUntil: Clock.days(30)),
                caller: People.otto, now: Clock.start, logger: store.logger)
            let waiting = try await store.shared("baumkataster")
            let atSteward = try await store.decide(
                try await store.shared("baumkataster", at: Clock.start.addingTimeInterval(60)), by: People.otto,
                at: Clock.start)
            let stefan = Browser(client)
            try await stefan.login("stefan")
            let inbox = try await stefan.get("/eingang")
            let ids = WebInboxTests.requestIDs(inbox.html)
            #expect(Set(ids) == [waiting.id.uuidString, atSteward.id.uuidString])
            #expect(ids.count == 2)
            #expect(inbox.html.contains("2 Anträge warten auf Ihre Entscheidung."))
        }
    }

    /// Counts in words, as the status sentence already says them: nothing, one, more; today, one working
    /// day, more. The clock moves on a working day at a time (2 March 2026 is a Monday).
    @Test("counts in words: 0, 1 and 2 requests waiting; waiting since today, for 1 and for 2 working days")
    func countsInWords() async throws {
        try await WebFixture.with { fixture, client in
            func otto(_ language: String = "de") async throws -> Browser {
                // A new session each time: the clock's day would end any other.
                let browser = Browser(client)
                browser.language = language
                try await browser.login("otto")
                return browser
            }
            #expect(try await otto().get("/").html.contains("Zurzeit wartet nichts auf Ihre Entscheidung."))
            _ = try await fixture.store.shared("baumkataster")
            let one = try await otto()
            let home = try await one.get("/").html
            #expect(home.contains("<p>1 Antrag wartet auf Ihre Entscheidung. <a"), "\(home)")
            let today = try await one.get("/eingang").html
            #expect(today.contains("<span class=\"small\">wartet seit heute</span>"), "\(today)")
            #expect(!today.contains("0 Arbeitstagen"))
            let english = try await otto("en")
            #expect(try await english.get("/").html.contains("<p>1 request is waiting for your decision. <a"))
            #expect(try await english.get("/eingang").html.contains("<span class=\"small\">waiting since today</span>"))

            _ = try await fixture.store.shared("baumkataster", at: Clock.start.addingTimeInterval(60))
            fixture.clock.advance(days: 1)
            let two = try await otto()
            #expect(try await two.get("/").html.contains("<p>2 Anträge warten auf Ihre Entscheidung. <a"))
            let oneDay = try await two.get("/eingang").html
            #expect(oneDay.contains("<span class=\"small\">wartet seit 1 Arbeitstag</span>"), "\(oneDay)")
            let englishTwo = try await otto("en")
            #expect(try await englishTwo.get("/").html.contains("<p>2 requests are waiting for your decision. <a"))
            #expect(
                try await englishTwo.get("/eingang").html.contains(
                    "<span class=\"small\">waiting for 1 working day</span>"))

            fixture.clock.advance(days: 1)
            let twoDays = try await otto().get("/eingang").html
            #expect(twoDays.contains("<span class=\"small\">wartet seit 2 Arbeitstagen</span>"), "\(twoDays)")
            let englishTwoDays = try await otto("en").get("/eingang").html
            #expect(englishTwoDays.contains("<span class=\"small\">waiting for 2 working days</span>"))
        }
    }

    /// One request whose stored details this release cannot read, one whose workflow version is stored
    /// nowhere (a newer release's rows after a rollback, a hand-made change): each is left out of the
    /// inbox (and logged), and the third is listed and counted, on the page, on the start page and in
    /// the API; before, every inbox it was a candidate for answered 500.
    @Test("a request that cannot be read fails no inbox: left out, the others listed and counted")
    func unreadableRequestIsLeftOut() async throws {
        try await WebFixture.with { fixture, client in
            let spoiledDetails = try await fixture.store.shared("baumkataster")
            let spoiledPin = try await fixture.store.shared("baumkataster", at: Clock.start.addingTimeInterval(60))
            let readable = try await fixture.store.shared("baumkataster", at: Clock.start.addingTimeInterval(120))
            let admin = fixture.store.admin
            try await admin.query(
                "UPDATE requests SET open_data_check = '{\"security\": true}' WHERE id = \(spoiledDetails.id)",
                logger: fixture.store.logger)
            try await admin.query(
                "UPDATE requests SET snapshot = jsonb_set(snapshot, '{pin,version}', '999') WHERE id = \(spoiledPin.id)",
                logger: fixture.store.logger)
            let otto = Browser(client)
            try await otto.login("otto")
            let inbox = try await otto.get("/eingang")
            #expect(inbox.status == 200)
            #expect(WebInboxTests.requestIDs(inbox.html) == [readable.id.uuidString], "\(inbox.html)")
            #expect(inbox.html.contains("1 Antrag wartet auf Ihre Entscheidung."))
            #expect(try await otto.get("/").html.contains("<p>1 Antrag wartet auf Ihre Entscheidung. <a"))
            let api = APIClient(client: client, validator: APITestSupport.validator)
            let answer = try await api.send(.get, "/api/v1/inbox", as: "otto")
            #expect(answer.status == 200)
            let listed = answer.json?["items"]?.array.compactMap { $0["request"]?["id"]?.string?.lowercased() }
            #expect(listed == [readable.id.uuidString.lowercased()], "\(answer.body)")
            // A page of one item at a time goes past both: the cursor moves on after a row it cannot read.
            let first = try await fixture.service.inboxPage(
                caller: People.otto, after: nil, limit: 1, now: Clock.start, logger: fixture.store.logger)
            #expect(first.items.map(\.request.id) == [readable.id])
            #expect(first.total == 1)
            #expect(first.next == nil)

            // Past their deadlines, nobody having moved on them: the escalation instance's list of what it
            // may close leaves the two out as well, and its inbox and start page answer.
            fixture.clock.advance(days: 40)
            let greta = Browser(client)
            try await greta.login("greta")
            let gretasInbox = try await greta.get("/eingang")
            #expect(gretasInbox.status == 200)
            #expect(gretasInbox.html.contains(readable.number), "\(gretasInbox.html)")
            #expect(!gretasInbox.html.contains(spoiledDetails.number) && !gretasInbox.html.contains(spoiledPin.number))
            #expect(try await greta.get("/").status == 200)
            let stalled = try await api.send(.get, "/api/v1/inbox/stalled", as: "greta")
            #expect(stalled.status == 200, "\(stalled.body)")
        }
    }
}
