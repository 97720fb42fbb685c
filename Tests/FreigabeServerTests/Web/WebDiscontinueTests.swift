import Foundation
import Hummingbird
import Testing

@testable import FreigabeServer

/// The request page's "Antrag einstellen": the escalation instance closes a request nobody moves on.
@Suite("Web: discontinuing a request")
struct WebDiscontinueTests {
    /// Greta, the office's only member, decided the overdue owner step; separation of duties keeps her from
    /// the steward step when it escalates too. Her inbox lists it among the stalled requests, saying why she
    /// may close but not decide it.
    @Test("an escalated step the member is kept from deciding is listed as stalled, with the reason")
    func keptFromDecidingListed() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            let view = try await fixture.store.submittedRequest()
            func advance(to instant: Date) {
                fixture.clock.advance(days: instant.timeIntervalSince(fixture.clock.now()) / 86_400)
            }
            let ownerDeadline = try #require(view.status.deadline)
            advance(to: ownerDeadline)
            _ = try await fixture.service.fireDueTimers(now: ownerDeadline, logger: logger)
            let steward = try await fixture.service.decide(
                requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil), branch: nil,
                caller: People.greta, now: ownerDeadline, logger: logger)
            let stewardDeadline = try #require(steward.status.deadline)
            advance(to: stewardDeadline)
            _ = try await fixture.service.fireDueTimers(now: stewardDeadline, logger: logger)
            let greta = Browser(client)
            try await greta.login("greta")
            let inbox = try await greta.get("/eingang")
            #expect(inbox.html.contains(#"<a href="/antraege/\#(view.id.uuidString)">"#), "\(inbox.html)")
            #expect(inbox.html.contains("Sie selbst dürfen sie nicht treffen (Aufgabentrennung"), "\(inbox.html)")
            let english = Browser(client)
            english.language = "en"
            try await english.login("greta")
            #expect(try await english.get("/eingang").html.contains("you may not take it yourself"))
        }
    }

    @Test("the governance office closes an unanswered question from the request page; the requester reads why")
    func fromTheRequestPage() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            let view = try await fixture.store.submittedRequest()
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Welche Bezirke?"), branch: nil,
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            let path = "/antraege/\(view.id.uuidString)"
            // While the requester still has time to answer, nothing is offered.
            let early = Browser(client)
            try await early.login("greta")
            let earlyPage = try await early.get(path)
            #expect(earlyPage.html.contains("Welche Bezirke?") && !earlyPage.html.contains("/einstellen"))
            // One date until when to answer: the status and the timeline's step name the same.
            let deadlines = earlyPage.html.components(separatedBy: "Frist: ").dropFirst().map {
                String($0.prefix { $0 != "<" && $0 != "(" }).trimmingCharacters(in: .whitespaces)
            }
            #expect(deadlines.count >= 2 && Set(deadlines).count == 1, "\(deadlines)")

            fixture.clock.advance(days: 10)
            let greta = Browser(client)
            try await greta.login("greta")
            // The start page counts it and the inbox lists it, linked to the request; not before, not for others.
            #expect(!(try await early.get("/eingang").html.contains("Stillstehende Anträge")))
            let home = try await greta.get("/")
            #expect(home.html.contains("1 stillstehenden Antrag können Sie einstellen."), "\(home.html)")
            #expect(home.html.contains(#"href="/eingang#stillstand""#))
            let inbox = try await greta.get("/eingang")
            #expect(inbox.html.contains(#"<h2 id="stalled-title">Stillstehende Anträge</h2>"#), "\(inbox.html)")
            #expect(inbox.html.contains(#"<a href="\#(path)">"#))
            #expect(inbox.html.contains("die Antwort auf die Rückfrage vom "))
            #expect(inbox.html.contains("als Data-Governance-Stelle"), "\(inbox.html)")
            // In English: the same list in the catalogue's English texts.
            let english = Browser(client)
            try await english.login("greta")
            english.language = "en"
            let englishInbox = try await english.get("/eingang")
            #expect(
                englishInbox.html.contains(#"<h2 id="stalled-title">Stalled requests</h2>"#), "\(englishInbox.html)")
            #expect(englishInbox.html.contains("the answer to the question of "))
            #expect(try await english.get("/").html.contains("You may discontinue 1 stalled request."))
            let otto = Browser(client)
            try await otto.login("otto")
            #expect(!(try await otto.get("/eingang").html.contains("stalled-title")))
            #expect(!(try await otto.get("/").html.contains("/eingang#stillstand")))

            let page = try await greta.get(path)
            #expect(page.html.contains(#"<h2 id="discontinue-title">Antrag einstellen</h2>"#), "\(page.html)")
            #expect(page.html.contains("<p>Sie stellen ihn als Data-Governance-Stelle ein.</p>"))
            #expect(page.html.contains(#"action="/antraege/\#(view.id.uuidString)/einstellen""#))
            let version = try #require(page.hidden("version"))
            let before = try await fixture.allCounts()
            // Without the form's token, and by GET: refused, nothing changes.
            #expect(try await greta.post("\(path)/einstellen", [("discontinue_reason", "x")], csrf: nil).status == 403)
            #expect(try await greta.get("\(path)/einstellen").status == 405)
            // Without a reason: the page again, the error at the top linked to the field, what was typed kept.
            let refused = try await greta.post(
                "\(path)/einstellen", [("version", version), ("discontinue_reason", "  ")], csrf: page.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(refused.html.contains(##"<a href="#f-discontinue-reason">"##), "\(refused.html)")
            #expect(try await fixture.allCounts() == before)

            let done = try await greta.post(
                "\(path)/einstellen",
                [("version", version), ("discontinue_reason", "Keine Antwort <b>seit Wochen</b>")],
                csrf: page.hidden("_csrf"))
            #expect(done.status == 303)
            #expect(done.location == "\(path)?hinweis=discontinued")
            #expect(try await greta.get(done.location ?? "").html.contains("Der Antrag ist eingestellt."))
            #expect(!(try await greta.get("/eingang").html.contains("stalled-title")))

            let anna = Browser(client)
            try await anna.login("anna")
            let seen = try await anna.get(path)
            #expect(seen.html.contains("<strong>Eingestellt</strong> · greta"), "\(seen.html)")
            #expect(seen.html.contains(#"<p class="user-text">Keine Antwort &lt;b&gt;seit Wochen&lt;/b&gt;</p>"#))
            #expect(!seen.html.contains("/ueberarbeiten"))
            // The step it ended at says how: not "Zugestimmt".
            #expect(seen.html.contains("step-discontinued"), "\(seen.html)")
            #expect(!seen.html.contains("Zugestimmt"))
        }
    }
}
