import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The web pages end to end over HTTP: login, sessions, CSRF, the whole Shared Data story, errors,
/// escaping, and that no GET changes a row. The browser suite (Tests/Browser) drives the same pages in
/// Chromium; these run in `swift test` and pin the security properties exactly.
@Suite("Web pages", .serialized)
struct WebPagesTests {
    @Test("login: no session before it, cookie attributes, a new session id at login, wrong password, logout ends it")
    func loginAndLogout() async throws {
        try await WebFixture.with { fixture, client in
            let browser = Browser(client)
            // An attacker's session id planted in the browser (session fixation) is not taken over.
            browser.cookies["freigabe-session"] = "planted-by-someone-else"
            let before = try await fixture.allCounts()
            let form = try await browser.get("/anmelden")
            #expect(form.status == 200)
            #expect(form.html.contains("Benutzername"))
            // The login form starts no session: its token is a cookie of the browser's own.
            #expect(try await fixture.allCounts() == before, "showing the login form writes nothing")
            let formCookie = try #require(form.headers[values: .setCookie].first { $0.hasPrefix("freigabe-form=") })
            #expect(formCookie.contains("HttpOnly") && formCookie.contains("SameSite=Strict"))
            #expect(formCookie.contains("Path=/"))
            #expect(formCookie.hasPrefix("freigabe-form=\(try #require(form.hidden("_csrf")));"))

            let wrong = try await browser.post(
                "/anmelden", [("username", "anna"), ("password", "falsch")], csrf: form.hidden("_csrf"))
            #expect(wrong.status == 401)
            #expect(wrong.html.contains("Benutzername oder Passwort sind nicht richtig."))
            #expect(wrong.html.contains("value=\"anna\""), "the user name is kept")
            // A refused login writes its security event, and nothing else.
            var afterWrong = before
            afterWrong["audit_events", default: 0] += 1
            #expect(try await fixture.allCounts() == afterWrong, "a refused login writes its login_failed only")
            #expect(try await fixture.store.auditEvents().last == "login_failed")

            let ok = try await browser.post(
                "/anmelden", [("username", "anna"), ("password", "demo")], csrf: wrong.hidden("_csrf"))
            #expect(ok.status == 303)
            #expect(ok.location == "/")
            let cookie = try #require(ok.headers[values: .setCookie].first { $0.hasPrefix("freigabe-session=") })
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))
            #expect(cookie.contains("Path=/"))
            let loggedIn = try #require(browser.cookies["freigabe-session"])
            #expect(loggedIn != "planted-by-someone-else", "a new session id at login")
            let start = try await browser.get("/")
            #expect(start.html.contains("Guten Tag, Anna"))
            #expect(start.html.contains("Meine Anträge"))

            let logout = try await browser.post("/abmelden", [], csrf: start.hidden("_csrf"))
            #expect(logout.status == 303)
            // The old cookie, replayed, no longer works: the session ended on the server.
            let replay = Browser(client)
            replay.cookies["freigabe-session"] = loggedIn
            let after = try await replay.get("/eingang")
            #expect(after.status == 303)
            // A cookie whose session is gone: the login says that the session ended.
            #expect(after.location?.hasPrefix("/anmelden?abgelaufen=1&weiter=") == true)
        }
    }

    /// A browser drops tabs and line breaks from a URL and reads `\` as `/`: a return path with one
    /// of them after its first `/` would send the person to another site from the city's own address.
    @Test("return paths never lead to another site: tabs, spaces, control characters and backslashes refused")
    func returnPathsStayOnThisSite() async throws {
        try await WebFixture.with { fixture, client in
            let hostile = [
                "/%09/evil.example", "/%09%5Cevil.example", "/%0B/evil.example", "/%20/evil.example",
                "/%0D%0A/evil.example", "/%5C%5Cevil.example", "//evil.example", "/%7F/evil.example",
                "https://evil.example", "evil.example", "/antraege%5C..%5C..",
            ]
            let visitor = Browser(client)
            for path in hostile {
                let switched = try await visitor.get("/sprache/en?zurueck=\(path)")
                #expect(switched.status == 303)
                #expect(switched.location == "/", "\(path)")
            }
            let anna = Browser(client)
            try await anna.login("anna")
            for path in hostile {
                let page = try await anna.get("/anmelden?weiter=\(path)")
                #expect(page.status == 303)
                #expect(page.location == "/", "\(path)")
            }
            #expect(try await anna.get("/anmelden?weiter=%2Feingang%3Fseite%3D2").location == "/eingang?seite=2")
            #expect(WebPages.safeLocalPath("/katalog?q=B%C3%A4ume") == "/katalog?q=B%C3%A4ume")
            #expect(WebPages.safeLocalPath("/katalog?q=Bäume") == "/katalog?q=Bäume")
        }
    }

    /// An active session keeps its id when its expiry moves forward, so logout ends the only id there
    /// is: a cookie copied before (a shared computer, a proxy) does not outlive the logout.
    @Test("an active session keeps its id, and logout ends it for a copy of the cookie taken earlier")
    func refreshKeepsTheSessionID() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let copied = try #require(anna.cookies["freigabe-session"])
            let sessionsBefore = try await fixture.allCounts()["web_sessions"]
            fixture.clock.advance(days: 2.0 / 1440)
            let start = try await anna.get("/")
            #expect(start.status == 200)
            #expect(anna.cookies["freigabe-session"] == copied, "the refresh kept the id")
            fixture.clock.advance(days: 2.0 / 1440)
            #expect(try await anna.get("/eingang").status == 200)
            #expect(try await fixture.allCounts()["web_sessions"] == sessionsBefore, "no row per refresh")

            let thief = Browser(client)
            thief.cookies["freigabe-session"] = copied
            #expect(try await thief.get("/eingang").status == 200, "the copy works while anna is logged in")
            let logout = try await anna.post("/abmelden", [], csrf: start.hidden("_csrf"))
            #expect(logout.status == 303)
            let after = try await thief.get("/eingang")
            #expect(after.status == 303)
            // A cookie whose session is gone: the login says that the session ended.
            #expect(after.location?.hasPrefix("/anmelden?abgelaufen=1&weiter=") == true)
        }
    }

    @Test("https: the __Host- cookies are Secure, HSTS is sent")
    func secureCookieOverHTTPS() async throws {
        try await WebFixture.with(settings: WebSettings(publicURL: URL(string: "https://freigabe.stadt.example")!)) {
            _, client in
            let browser = Browser(client)
            let form = try await browser.get("/anmelden")
            let formCookie = try #require(form.headers[values: .setCookie].first)
            #expect(formCookie.hasPrefix("__Host-freigabe-form="))
            #expect(formCookie.contains("Secure"))
            #expect(!formCookie.contains("Domain="))
            #expect(form.headers[HTTPFields.Element.Name("Strict-Transport-Security")!] == "max-age=31536000")
            let ok = try await browser.post(
                "/anmelden", [("username", "anna"), ("password", "demo")], csrf: form.hidden("_csrf"))
            #expect(ok.status == 303)
            let cookie = try #require(ok.headers[values: .setCookie].first { $0.hasPrefix("__Host-freigabe-session=") })
            #expect(cookie.contains("Secure"))
            #expect(!cookie.contains("Domain="))
        }
    }

    @Test("CSRF: a form without the token, with a wrong one or with another session's is refused and changes nothing")
    func csrfIsCheckedFirst() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let otto = Browser(client)
            try await otto.login("otto")
            let ottoToken = try #require(try await otto.get("/vertretungen").hidden("_csrf"))
            let before = try await fixture.allCounts()
            let fields = [("deputy", "paul"), ("valid_from", "2026-03-02"), ("valid_until", "2026-03-20")]
            for token in [nil, "falsch", ottoToken] {
                let page = try await anna.post("/vertretungen", fields, csrf: token)
                #expect(page.status == 403, "token \(token ?? "none")")
                #expect(page.html.contains("Das Formular ist abgelaufen"))
            }
            // Without any session at all (a forged cross-site post).
            let stranger = Browser(client)
            #expect(
                try await stranger.post("/anmelden", [("username", "anna"), ("password", "demo")], csrf: "x").status
                    == 403)
            #expect(try await fixture.allCounts() == before)
            // Not a form: refused before anything is read.
            let json = try await anna.send(
                .post, "/vertretungen", body: ByteBuffer(string: "{}"), headers: [.contentType: "application/json"])
            #expect(json.status == 415)
        }
    }

    @Test("the Shared Data story: anna files, otto, stefan, dora and ingo approve from their pages until granted")
    func sharedDataStory() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=altlastenkataster")
            #expect(form.status == 200)
            // Personal data: the workflow asks for a legal basis, so the form shows it, required.
            #expect(form.html.contains("name=\"legal_basis\""))
            #expect(form.html.contains("Rechtsgrundlage"))
            let fields: [(String, String)] = [
                ("kind", "shared_data"), ("dataset_id", "altlastenkataster"),
                ("idempotency_key", try #require(form.hidden("idempotency_key"))),
                ("purpose", "Sanierungsplanung im Umweltamt"), ("recipient.name", "Umweltamt, Abteilung Boden"),
                ("recipient.type", "internal"), ("legal_basis", "art6_1_e"),
                ("legal_basis_detail", "§ 9 BBodSchG"), ("access_end", "2026-12-31"),
            ]
            // The summary asks what the submission asks: with only a purpose it is the form with its errors.
            let purposeOnly = try await anna.post(
                "/antraege",
                [
                    ("kind", "shared_data"), ("dataset_id", "altlastenkataster"), ("purpose", "Nur ein Zweck"),
                    ("action", "review"),
                ], csrf: form.hidden("_csrf"))
            #expect(purposeOnly.status == 422)
            #expect(!purposeOnly.html.contains("Ihre Angaben prüfen"))
            #expect(purposeOnly.html.contains("id=\"f-access-end-error\""))
            #expect(purposeOnly.html.contains("id=\"f-legal-basis-error\""))
            #expect(purposeOnly.html.contains(">Nur ein Zweck</textarea>"))
            #expect(purposeOnly.html.contains("<title>Fehler: "), "the title says the form came back with errors")
            // "Andere Rechtsgrundlage" without its words, summary or submission: that error and the
            // workflow's together, not one round each; the missing words replace "Rechtsgrundlage fehlt".
            for action in ["review", "submit"] {
                let otherWithoutWords = try await anna.post(
                    "/antraege",
                    [
                        ("kind", "shared_data"), ("dataset_id", "altlastenkataster"), ("purpose", "Nur ein Zweck"),
                        ("legal_basis", "other"), ("legal_basis_detail", " "), ("action", action),
                    ], csrf: form.hidden("_csrf"))
                #expect(otherWithoutWords.status == 422, "\(action)")
                #expect(otherWithoutWords.html.contains("id=\"f-legal-basis-detail-error\""), "\(action)")
                #expect(otherWithoutWords.html.contains("id=\"f-access-end-error\""), "\(action)")
                #expect(!otherWithoutWords.html.contains("id=\"f-legal-basis-error\""), "\(action)")
            }
            // 2,001 characters to the eye are 4,002 code points, which the column refuses past 4,000: the
            // field says so, as for any long text, instead of a refused INSERT.
            let accents = String(repeating: "e\u{301}", count: 2001)
            let tooLong = try await anna.post(
                "/antraege",
                [
                    ("kind", "shared_data"), ("dataset_id", "altlastenkataster"), ("purpose", accents),
                    ("action", "save"),
                ],
                csrf: form.hidden("_csrf"))
            #expect(tooLong.status == 422)
            #expect(tooLong.html.contains("höchstens 4000 Zeichen"))
            #expect(try await fixture.store.counts()["requests"] == 0)
            let review = try await anna.post("/antraege", fields + [("action", "review")], csrf: form.hidden("_csrf"))
            #expect(review.status == 200)
            #expect(review.html.contains("Ihre Angaben prüfen"))
            #expect(review.html.contains("31. Dezember 2026"), "the day in words, as on every other page")
            #expect(try await fixture.store.counts()["requests"] == 0, "the summary stores nothing")
            let submitted = try await anna.post(
                "/antraege", fields + [("action", "submit")], csrf: review.hidden("_csrf"))
            #expect(submitted.status == 303)
            let location = try #require(submitted.location)
            #expect(location.hasSuffix("?hinweis=submitted"))
            let requestPath = String(location.prefix { $0 != "?" })
            let page = try await anna.get(location)
            #expect(page.html.contains("Der Antrag ist eingereicht."))
            #expect(
                page.html.contains(#"<dd class="user-text">Art. 6 Abs. 1 lit. e DSGVO (öffentliche Aufgabe) – § 9"#))
            // On the English page the article recorded in German is marked as German (read in its language).
            anna.cookies[WebPages.languageCookie] = "en"
            let english = try await anna.get(requestPath)
            #expect(english.html.contains(#"<dd class="user-text" lang="de">Art. 6 Abs. 1 lit. e DSGVO"#))
            anna.cookies[WebPages.languageCookie] = nil
            #expect(page.html.contains("Data Owner"))
            // The deadline stands in the status and at the current step only, not at the steps to come.
            #expect(page.html.components(separatedBy: "Frist: ").count - 1 == 2)
            // Filed Monday 2 March, 5 working days: the last day is Monday 9 March; the deadline is the
            // midnight after it, which must not read as "10. März".
            #expect(page.html.contains("Frist: 9. März 2026") && !page.html.contains("10. März 2026"))
            // A double click: the same idempotency key answers with the same request, no second one.
            _ = try await anna.post("/antraege", fields + [("action", "submit")], csrf: review.hidden("_csrf"))
            #expect(try await fixture.store.counts()["requests"] == 1)

            for (approver, step) in [
                ("otto", "Data Owner"), ("stefan", "Data Steward"), ("dora", "Datenschutz"),
                ("ingo", "Informationssicherheit"),
            ] {
                let browser = Browser(client)
                try await browser.login(approver)
                let inbox = try await browser.get("/eingang")
                #expect(inbox.html.contains(requestPath), "\(approver) sees the request in the inbox")
                if approver == "otto" { #expect(inbox.html.contains("9. März 2026"), "the deadline's last day") }
                let view = try await browser.get(requestPath)
                #expect(view.html.contains("Ihre Entscheidung"), "\(approver) may decide (\(step))")
                let decided = try await browser.post(
                    requestPath + "/entscheidung",
                    [
                        ("version", try #require(view.hidden("version"))),
                        ("branch", try #require(view.hidden("branch"))),
                        ("decision", "approve"), ("text", "In Ordnung (\(approver))"),
                    ], csrf: view.hidden("_csrf"))
                #expect(decided.status == 303, "\(approver): \(decided.html.prefix(400))")
                if approver == "otto" {
                    // The same form again (a second tab, a double click): nothing happens, and the request
                    // page as it is now says that his decision is saved, with it in the timeline.
                    let again = try await browser.post(
                        requestPath + "/entscheidung",
                        [
                            ("version", try #require(view.hidden("version"))),
                            ("branch", try #require(view.hidden("branch"))), ("decision", "approve"),
                        ], csrf: view.hidden("_csrf"))
                    #expect(again.status == 409)
                    #expect(again.html.contains("Sie haben über diesen Schritt bereits am "))
                    #expect(again.html.contains("Ihre Entscheidung ist gespeichert"))
                    #expect(again.html.contains("In Ordnung (otto)"), "the request page, not a dead end")
                }
                let after = try await browser.get(requestPath)
                #expect(after.html.contains("In Ordnung (\(approver))"))
                #expect(!after.html.contains("Ihre Entscheidung"), "decided once, no second form")
            }
            let granted = try await anna.get(requestPath)
            #expect(granted.html.contains("Freigegeben; Nutzung erlaubt bis 31. Dezember 2026."))
        }
    }

    @Test("a draft is saved incomplete, its submission lists what is missing, it is edited and submitted")
    func draftSavedEditedSubmitted() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=altlastenkataster")
            let saved = try await anna.post(
                "/antraege",
                [
                    ("kind", "shared_data"), ("dataset_id", "altlastenkataster"), ("purpose", "Planung"),
                    ("action", "save"),
                ],
                csrf: form.hidden("_csrf"))
            #expect(saved.status == 303)
            let path = String(try #require(saved.location).prefix { $0 != "?" })
            let draft = try await anna.get(try #require(saved.location))
            #expect(draft.html.contains("Der Entwurf ist gespeichert."))
            #expect(draft.html.contains("Entwurf bearbeiten"))
            let early = try await anna.post(
                path + "/einreichen", [("version", try #require(draft.hidden("version")))], csrf: draft.hidden("_csrf"))
            #expect(early.status == 422)
            #expect(early.html.contains("Bitte prüfen Sie Ihre Angaben"))
            // The draft's form, each missing field's error at the field and linked from the summary.
            #expect(early.html.contains("action=\"\(path)/bearbeiten\""))
            #expect(early.html.contains(">Planung</textarea>"))
            #expect(early.html.contains("href=\"#f-access-end\""))
            #expect(early.html.contains("id=\"f-access-end-error\""))
            #expect(!early.html.contains("href=\"#form-errors\""))
            let edit = try await anna.get(path + "/bearbeiten")
            #expect(edit.html.contains(">Planung</textarea>"), "the form shows the draft")
            // Enter in a field presses the form's first button: it saves, it does not submit.
            let firstAction = edit.html.components(separatedBy: "name=\"action\" value=\"").dropFirst().first
            #expect(firstAction?.hasPrefix("save\"") == true, "\(firstAction?.prefix(40) ?? "no button")")
            // "Andere Rechtsgrundlage" without its words is an error at the words, nothing saved (the
            // legal basis stored before would have stayed silently).
            let withBasis = try await anna.post(
                path + "/bearbeiten",
                [("version", try #require(edit.hidden("version"))), ("legal_basis", "art6_1_e"), ("action", "save")],
                csrf: edit.hidden("_csrf"))
            #expect(withBasis.status == 303)
            // The same form sent from a second window, on the version before that save: the form again,
            // with what was typed over the draft as it is now (its new version), and why; nothing saved.
            let unchanged = try await fixture.allCounts()
            let stale = try await anna.post(
                path + "/bearbeiten",
                [
                    ("version", try #require(edit.hidden("version"))), ("purpose", "Planung im zweiten Fenster"),
                    ("action", "save"),
                ], csrf: edit.hidden("_csrf"))
            #expect(stale.status == 409)
            #expect(stale.html.contains("Der Antrag wurde inzwischen geändert"), "\(stale.html.prefix(300))")
            #expect(stale.html.contains(">Planung im zweiten Fenster</textarea>"))
            #expect(stale.hidden("version") != nil && stale.hidden("version") != edit.hidden("version"))
            #expect(try await fixture.allCounts() == unchanged)
            let again = try await anna.get(path + "/bearbeiten")
            let before = try await fixture.allCounts()
            let otherWithoutWords = try await anna.post(
                path + "/bearbeiten",
                [
                    ("version", try #require(again.hidden("version"))), ("legal_basis", "other"),
                    ("legal_basis_detail", "  "), ("action", "save"),
                ], csrf: again.hidden("_csrf"))
            #expect(otherWithoutWords.status == 422)
            #expect(otherWithoutWords.html.contains("id=\"f-legal-basis-detail-error\""))
            #expect(otherWithoutWords.html.contains("Bitte nennen Sie die andere Rechtsgrundlage im Einzelnen."))
            #expect(try await fixture.allCounts() == before)
            // Sent to be submitted so: the workflow's demands come with it at once (no access end yet).
            let submittedWithout = try await anna.post(
                path + "/bearbeiten",
                [
                    ("version", try #require(again.hidden("version"))), ("legal_basis", "other"),
                    ("legal_basis_detail", "  "), ("action", "submit"),
                ], csrf: again.hidden("_csrf"))
            #expect(submittedWithout.status == 422)
            #expect(submittedWithout.html.contains("id=\"f-legal-basis-detail-error\""))
            #expect(submittedWithout.html.contains("id=\"f-access-end-error\""))
            #expect(try await fixture.allCounts() == before)
            // A dataset id no dataset can have (a NUL byte) is not found, not an error of the database.
            #expect(try await anna.get("/antraege/neu?kind=shared_data&dataset=%00").status == 404)
            // A recipient's name saved without its type, then emptied: the draft keeps no recipient. (The
            // form sends the blank name and no type; read as "unchanged", "Amt 61" would come back.)
            let draftID = try #require(UUID(uuidString: String(path.split(separator: "/").last ?? "")))
            func storedRecipient() async throws -> RecipientInput? {
                try await fixture.service.request(
                    id: draftID, caller: People.anna, now: fixture.clock.now(), logger: fixture.store.logger
                ).details.recipient
            }
            for (name, stored) in [("Amt 61", "Amt 61"), ("", nil)] {
                let form = try await anna.get(path + "/bearbeiten")
                let saved = try await anna.post(
                    path + "/bearbeiten",
                    [("version", try #require(form.hidden("version"))), ("recipient.name", name), ("action", "save")],
                    csrf: form.hidden("_csrf"))
                #expect(saved.status == 303)
                #expect(try await storedRecipient()?.name == stored, "after saving „\(name)“")
            }
            #expect(try await storedRecipient() == nil)
            let edit2 = try await anna.get(path + "/bearbeiten")
            let submitted = try await anna.post(
                path + "/bearbeiten",
                [
                    ("version", try #require(edit2.hidden("version"))), ("recipient.name", "Umweltamt"),
                    ("recipient.type", "internal"), ("legal_basis", "art6_1_e"), ("access_end", "2026-12-31"),
                    ("action", "submit"),
                ], csrf: edit2.hidden("_csrf"))
            #expect(submitted.status == 303, "\(submitted.html.prefix(500))")
            #expect(submitted.location?.hasSuffix("hinweis=submitted") == true)
            let page = try await anna.get(path)
            #expect(page.html.contains("Prüfung durch den Data Owner"))
            #expect(!page.html.contains("Entwurf bearbeiten"))
            // The draft form of another window, sent after the submission: no draft form to send again (the
            // request is no draft any more), but its page as it is now.
            let late = try await anna.post(
                path + "/bearbeiten",
                [("version", try #require(edit2.hidden("version"))), ("purpose", "Spät"), ("action", "save")],
                csrf: edit2.hidden("_csrf"))
            #expect(late.status == 303 && late.location == path, "\(late.status) \(late.location ?? "")")
        }
    }

    @Test("an Open Data draft keeps three answers of the check; the edit form shows them, submitting asks for the rest")
    func draftWithPartOfTheCheck() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=open_data&dataset=bevoelkerungsprognose")
            let saved = try await anna.post(
                "/antraege",
                [
                    ("kind", "open_data"), ("dataset_id", "bevoelkerungsprognose"), ("purpose", "Portal"),
                    ("anonymisation_statement", "Nur Summen je Bezirk."),
                    ("open_data_check.personal_reference.applies", "true"),
                    ("open_data_check.personal_reference.note", "Aggregiert, kein Rückschluss."),
                    ("open_data_check.trade_secrets.applies", "false"), ("open_data_check.security.applies", "false"),
                    ("open_data_check.confidentiality.note", "Noch offen."), ("action", "save"),
                ], csrf: form.hidden("_csrf"))
            #expect(saved.status == 303, "\(saved.html.prefix(800))")
            let path = String(try #require(saved.location).prefix { $0 != "?" })
            let edit = try await anna.get(path + "/bearbeiten")
            func checked(_ id: String, _ value: String, in page: Browser.Page) -> Bool {
                page.html.contains("name=\"open_data_check.\(id).applies\" value=\"\(value)\" checked")
            }
            #expect(checked("personal_reference", "true", in: edit))
            #expect(checked("trade_secrets", "false", in: edit))
            #expect(checked("security", "false", in: edit))
            for id in ["third_party_rights", "confidentiality"] {
                #expect(!checked(id, "true", in: edit) && !checked(id, "false", in: edit), "\(id) stays unanswered")
            }
            #expect(edit.html.contains(">Aggregiert, kein Rückschluss.</textarea>"))
            #expect(edit.html.contains(">Noch offen.</textarea>"), "a note before its answer is kept")
            let page = try await anna.get(path)
            #expect(page.html.contains("Noch nicht beantwortet – Noch offen."))

            // "Jetzt einreichen": the draft's form, the workflow's message at the first question left open.
            let before = try await fixture.allCounts()
            let early = try await anna.post(
                path + "/einreichen", [("version", try #require(page.hidden("version")))], csrf: page.hidden("_csrf"))
            #expect(early.status == 422)
            #expect(early.html.contains("Bitte beantworten Sie die Fragen der Open-Data-Prüfung."))
            #expect(early.html.contains("id=\"f-open-data-check-third-party-rights-applies-error\""))
            #expect(early.html.contains("href=\"#f-open-data-check-third-party-rights-applies\""))
            #expect(checked("personal_reference", "true", in: early), "the answers stay")
            #expect(try await fixture.allCounts() == before)

            // Answered in full from the draft's form, it is submitted.
            let again = try await anna.get(path + "/bearbeiten")
            let submitted = try await anna.post(
                path + "/bearbeiten",
                [
                    ("version", try #require(again.hidden("version"))), ("purpose", "Portal"),
                    ("anonymisation_statement", "Nur Summen je Bezirk."),
                    ("open_data_check.personal_reference.applies", "true"),
                    ("open_data_check.personal_reference.note", "Aggregiert, kein Rückschluss."),
                    ("open_data_check.trade_secrets.applies", "false"),
                    ("open_data_check.third_party_rights.applies", "false"),
                    ("open_data_check.security.applies", "false"),
                    ("open_data_check.confidentiality.applies", "false"), ("action", "submit"),
                ], csrf: again.hidden("_csrf"))
            #expect(submitted.status == 303, "\(submitted.html.prefix(800))")
            #expect(submitted.location?.hasSuffix("hinweis=submitted") == true)
        }
    }

    /// anna saves a Shared Data draft for altlastenkataster with `fields`; the path of its page.
    static func savedDraft(by anna: Browser, _ fields: [(String, String)]) async throws -> String {
        let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=altlastenkataster")
        let saved = try await anna.post(
            "/antraege",
            [("kind", "shared_data"), ("dataset_id", "altlastenkataster")] + fields + [("action", "save")],
            csrf: form.hidden("_csrf"))
        #expect(saved.status == 303, "\(saved.html.prefix(300))")
        return String(try #require(saved.location).prefix { $0 != "?" })
    }

    /// The form shows every field: one emptied on it is emptied in the draft, not kept as before (the
    /// JSON API's "absent means unchanged" is not the page's meaning).
    @Test("a field emptied on the draft form is emptied in the draft; fields the form does not send stay")
    func emptiedFieldsAreEmptied() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let path = try await Self.savedDraft(
                by: anna,
                [
                    ("purpose", "Planung"), ("format", "CSV-Export"), ("access_start", "2026-06-01"),
                    ("legal_basis", "art6_1_e"), ("legal_basis_detail", "§ 9 BBodSchG"),
                ])
            let edit = try await anna.get(path + "/bearbeiten")
            #expect(edit.html.contains("value=\"CSV-Export\"") && edit.html.contains("value=\"2026-06-01\""))
            let emptied = try await anna.post(
                path + "/bearbeiten",
                [
                    ("version", try #require(edit.hidden("version"))), ("purpose", "Planung"), ("format", " "),
                    ("access_start", ""), ("legal_basis", ""), ("legal_basis_detail", ""), ("action", "save"),
                ], csrf: edit.hidden("_csrf"))
            #expect(emptied.status == 303, "\(emptied.html.prefix(500))")
            let again = try await anna.get(path + "/bearbeiten")
            #expect(again.html.contains(">Planung</textarea>"), "a field sent with its value stays")
            for gone in ["CSV-Export", "2026-06-01", "BBodSchG"] { #expect(!again.html.contains(gone), "\(gone)") }
            // A form without the purpose field (another page's) leaves the purpose alone.
            let partial = try await anna.post(
                path + "/bearbeiten",
                [("version", try #require(again.hidden("version"))), ("format", "GeoJSON"), ("action", "save")],
                csrf: again.hidden("_csrf"))
            #expect(partial.status == 303)
            let last = try await anna.get(path + "/bearbeiten")
            #expect(last.html.contains(">Planung</textarea>") && last.html.contains("value=\"GeoJSON\""))
        }
    }

    /// The stored legal basis joins the article and the person's words; the form shows them apart again,
    /// so saving it unchanged keeps the text, and choosing another article replaces the old one.
    @Test("the legal basis reopens as the article chosen and the words: saved again it is neither doubled nor mixed")
    func legalBasisReopensApart() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let path = try await Self.savedDraft(
                by: anna, [("purpose", "Planung"), ("legal_basis", "art6_1_e"), ("legal_basis_detail", "§ 9 BBodSchG")])
            let id = try #require(UUID(uuidString: String(path.split(separator: "/").last ?? "")))
            func stored() async throws -> String? {
                try await fixture.service.request(
                    id: id, caller: Caller(uid: "anna", displayName: "Anna"), now: fixture.clock.now(),
                    logger: fixture.store.logger
                ).details.legalBasis
            }
            let original = try #require(try await stored())
            #expect(original.hasPrefix("Art. 6") && original.hasSuffix(" – § 9 BBodSchG"), "\(original)")
            let edit = try await anna.get(path + "/bearbeiten")
            #expect(edit.html.contains("value=\"art6_1_e\" selected"))
            #expect(edit.html.contains(">§ 9 BBodSchG</textarea>"))
            func save(_ choice: String, _ page: Browser.Page) async throws {
                let posted = try await anna.post(
                    path + "/bearbeiten",
                    [
                        ("version", try #require(page.hidden("version"))), ("purpose", "Planung"),
                        ("legal_basis", choice), ("legal_basis_detail", "§ 9 BBodSchG"), ("action", "save"),
                    ], csrf: page.hidden("_csrf"))
                #expect(posted.status == 303, "\(posted.html.prefix(400))")
            }
            try await save("art6_1_e", edit)
            #expect(try await stored() == original, "saved as shown: unchanged")
            try await save("art6_1_c", try await anna.get(path + "/bearbeiten"))
            let changed = try #require(try await stored())
            #expect(changed.contains("lit. c") && !changed.contains("lit. e"), "\(changed)")
            #expect(changed.components(separatedBy: "§ 9 BBodSchG").count == 2, "the words once: \(changed)")
        }
    }

    @Test(
        "administration: only admins; a catalogue file with an error shows file:line and stores nothing; a dataset is created"
    )
    func administration() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            #expect(try await anna.get("/verwaltung").status == 403)
            let adam = Browser(client)
            try await adam.login("adam")
            let overview = try await adam.get("/verwaltung")
            #expect(overview.status == 200)
            #expect(overview.html.contains("altlastenkataster"))
            var before = try await fixture.allCounts()
            let broken = """
                domains:
                  - id: umwelt
                    title: Umwelt
                    steward_group: cn=stewards-umwelt,ou=groups,dc=stadt,dc=example
                datasets:
                  - id: neu
                    title: Neu
                    domain: gibt-es-nicht
                    owner: otto
                    classification: public
                    personal_data: none
                    protection_need: normal
                """
            let refused = try await adam.postFile(
                "/verwaltung/import", field: "file", filename: "katalog.yaml", content: broken,
                csrf: overview.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(
                refused.html.contains(
                    "katalog.yaml:6: Datensatz „neu“, Feld „domain“: " + "Unbekannte Domäne „gibt-es-nicht“"),
                "\(refused.html.suffix(3000).prefix(1500))")
            #expect(try await fixture.allCounts() == before, "nothing stored")
            // Anna's forged import is refused by the service too, not only hidden.
            #expect(
                try await anna.postFile(
                    "/verwaltung/import", field: "file", filename: "k.yaml", content: broken,
                    csrf: try await anna.get("/").hidden("_csrf")
                ).status == 403)
            // … and recorded as a security event, as through the API.
            #expect(try await fixture.store.auditEvents().last == "forbidden")
            before["audit_events", default: 0] += 1
            // Files go to the import page only, and only from someone logged in: elsewhere, or without a
            // session, a multipart body is refused before it is read (415), however small.
            #expect(
                try await adam.postFile(
                    "/verwaltung/datensatz", field: "file", filename: "k.yaml", content: broken,
                    csrf: overview.hidden("_csrf")
                ).status == 415)
            let visitor = Browser(client)
            let loginForm = try await visitor.get("/anmelden")
            #expect(
                try await visitor.postFile(
                    "/anmelden", field: "file", filename: "k.yaml", content: String(repeating: "-", count: 70_000),
                    csrf: loginForm.hidden("_csrf")
                ).status == 415)
            #expect(try await fixture.allCounts() == before, "nothing stored")
            let fixed = broken.replacingOccurrences(of: "gibt-es-nicht", with: "umwelt")
            let imported = try await adam.postFile(
                "/verwaltung/import", field: "file", filename: "katalog.yaml", content: fixed,
                csrf: overview.hidden("_csrf"))
            #expect(imported.status == 200)
            #expect(imported.html.contains("Datensätze: 1 neu"))
            let form = try await adam.get("/verwaltung/datensatz")
            let saved = try await adam.post(
                "/verwaltung/datensatz",
                [
                    ("id", "spielplaetze"), ("title", "Spielplätze"), ("domain", "umwelt"), ("owner", "otto"),
                    ("classification", "public"), ("personal_data", "none"), ("protection_need", "normal"),
                    ("high_value", "false"), ("formats", "CSV (UTF-8, Semikolon)\r\n GeoJSON \r\n\r\n"),
                ], csrf: form.hidden("_csrf"))
            #expect(saved.status == 303, "\(saved.html.prefix(600))")
            let dataset = try await adam.get("/katalog/spielplaetze")
            #expect(dataset.html.contains("Spielplätze"))
            #expect(dataset.html.contains("CSV (UTF-8, Semikolon), GeoJSON"))
            // Edited and saved as shown, a format with a comma stays one format.
            let edit = try await adam.get("/verwaltung/datensatz?id=spielplaetze")
            #expect(edit.html.contains(">CSV (UTF-8, Semikolon)\nGeoJSON</textarea>"), "\(edit.html)")
            let again = try await adam.post(
                "/verwaltung/datensatz",
                [
                    ("existing_id", "spielplaetze"), ("title", "Spielplätze"), ("domain", "umwelt"), ("owner", "otto"),
                    ("classification", "public"), ("personal_data", "none"), ("protection_need", "normal"),
                    ("high_value", "false"), ("formats", "CSV (UTF-8, Semikolon)\nGeoJSON"),
                ], csrf: edit.hidden("_csrf"))
            #expect(again.status == 303, "\(again.html.prefix(600))")
            let stored = try await fixture.service.dataset(id: "spielplaetze", logger: fixture.store.logger)
            #expect(stored.formats == ["CSV (UTF-8, Semikolon)", "GeoJSON"])
            // "New dataset" with an existing id replaces nothing.
            let counts = try await fixture.allCounts()
            let taken = try await adam.post(
                "/verwaltung/datensatz",
                [
                    ("id", "spielplaetze"), ("title", "Übernommen"), ("domain", "umwelt"), ("owner", "anna"),
                    ("classification", "internal"), ("personal_data", "none"), ("protection_need", "normal"),
                ], csrf: form.hidden("_csrf"))
            #expect(taken.status == 409)
            #expect(taken.html.contains("Einen Datensatz „spielplaetze“ gibt es schon"))
            #expect(try await fixture.allCounts() == counts)
            #expect(try await adam.get("/katalog/spielplaetze").html.contains("Übernommen") == false)
            let invalid = try await adam.post(
                "/verwaltung/datensatz", [("id", "Kein Slug!"), ("title", "X")], csrf: form.hidden("_csrf"))
            #expect(invalid.status == 422)
            #expect(invalid.html.contains("Bitte prüfen Sie Ihre Angaben"))
        }
    }

    @Test("a question from otto's page, answered on anna's form and resubmitted; a rejection needs its reason")
    func questionAnsweredThenRejected() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            let path = "/antraege/\(view.id.uuidString)"
            let otto = Browser(client)
            try await otto.login("otto")
            var page = try await otto.get(path)
            let asked = try await otto.post(
                path + "/entscheidung",
                [
                    ("version", try #require(page.hidden("version"))), ("branch", try #require(page.hidden("branch"))),
                    ("decision", "request_changes"), ("text", "Welches Projekt genau?"),
                ], csrf: page.hidden("_csrf"))
            #expect(asked.status == 303)
            let anna = Browser(client)
            try await anna.login("anna")
            let request = try await anna.get(path)
            #expect(request.html.contains("Welches Projekt genau?"))
            #expect(request.html.contains("Antwort geben und erneut einreichen"))
            let form = try await anna.get(path + "/ueberarbeiten")
            #expect(form.html.contains(">Stadtklima</textarea>"))
            let resubmitted = try await anna.post(
                path + "/ueberarbeiten",
                [("version", try #require(form.hidden("version"))), ("comment", "Projekt KlimaGrün")],
                csrf: form.hidden("_csrf"))
            #expect(resubmitted.status == 303, "\(resubmitted.html.prefix(500))")
            page = try await otto.get(path)
            #expect(page.html.contains("Projekt KlimaGrün"))
            let noReason = try await otto.post(
                path + "/entscheidung",
                [
                    ("version", try #require(page.hidden("version"))), ("branch", try #require(page.hidden("branch"))),
                    ("decision", "reject"),
                ], csrf: page.hidden("_csrf"))
            #expect(noReason.status == 422)
            // Once at the field, once in the summary (linked to the field), never a link to the summary itself.
            #expect(noReason.html.components(separatedBy: "Bitte begründen Sie Ihre Entscheidung.").count - 1 == 2)
            #expect(noReason.html.contains("href=\"#f-text\""))
            #expect(!noReason.html.contains("href=\"#form-errors\""))
            let rejected = try await otto.post(
                path + "/entscheidung",
                [
                    ("version", try #require(page.hidden("version"))), ("branch", try #require(page.hidden("branch"))),
                    ("decision", "reject"), ("text", "Daten sind bereits offen verfügbar"),
                ], csrf: page.hidden("_csrf"))
            #expect(rejected.status == 303)
            let closed = try await anna.get(path)
            #expect(closed.html.contains("Abgeschlossen"))
            #expect(closed.html.contains("Daten sind bereits offen verfügbar"))
        }
    }

    /// Fifty newer drafts push a request with an open question off the first page: the question is named
    /// on top of every page, and "Ältere Anträge" reaches it; a page number that is none shows the first.
    @Test("the start page pages through the own requests and names every open question on top")
    func startPagePagesOwnRequests() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            func file(_ purpose: String, submit: Bool) async throws -> RequestView {
                try await fixture.service.createRequest(
                    NewRequest(
                        kind: .sharedData, datasetID: "baumkataster",
                        details: RequestDetails(
                            purpose: purpose, recipient: RecipientInput(name: "Hochschule", type: .external),
                            accessEnd: Clock.days(200)), submit: submit),
                    caller: People.anna, now: fixture.clock.now(), logger: logger)
            }
            let asked = try await file("Stadtklima", submit: true)
            _ = try await fixture.service.decide(
                requestID: asked.id, decision: .requestChanges(question: "Welches Projekt?"), branch: nil,
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            for number in 1...50 { _ = try await file("Entwurf \(number)", submit: false) }
            let anna = Browser(client)
            try await anna.login("anna")
            let first = try await anna.get("/")
            let questions = try #require(first.html.components(separatedBy: "Rückfragen an Sie").dropFirst().first)
            #expect(questions.components(separatedBy: "Meine Anträge").first?.contains(asked.number) == true)
            #expect(first.html.components(separatedBy: asked.number).count == 2, "only on top, not in the first 50")
            #expect(first.html.contains("<a href=\"/?seite=2\">Ältere Anträge</a>"))
            #expect(!first.html.contains("Neuere Anträge"))
            let second = try await anna.get("/?seite=2")
            #expect(second.html.components(separatedBy: asked.number).count == 3, "on top and in the list")
            #expect(second.html.contains("<a href=\"/\">Neuere Anträge</a>"))
            #expect(!second.html.contains("Ältere Anträge"))
            for hostile in ["abc", "-5", "0", "99999999999999999999", "1%00"] {
                let page = try await anna.get("/?seite=\(hostile)")
                #expect(page.status == 200, "\(hostile)")
                #expect(page.html.contains("Ältere Anträge") && !page.html.contains("Neuere Anträge"), "\(hostile)")
            }
            let beyond = try await anna.get("/?seite=10001")
            #expect(beyond.status == 200)
            #expect(beyond.html.contains("<a href=\"/?seite=9999\">Neuere Anträge</a>"))
        }
    }

    /// An administrator who adds a requirement to a workflow sees the form follow: a legal basis an Open
    /// Data version demands is offered with the workflow's words, and so is a statement it demands only
    /// after a certain answer of the Open Data check; the shipped version asks none of it.
    @Test("the form asks what the workflow asks: a legal basis a new Open Data version demands is offered")
    func formFollowsTheWorkflow() async throws {
        let shipped = try String(
            contentsOfFile: StoreTestSupport.workflowsDirectory + "/open-data.yaml", encoding: .utf8)
        let asking =
            shipped
            .replacingOccurrences(of: "\nversion: 2\n", with: "\nversion: 3\n")
            .replacingOccurrences(
                of: "\nsubmit_requires:\n",
                with: """

                    submit_requires:
                      - field: legal_basis
                        message:
                          de: Nennen Sie die Rechtsgrundlage der Veröffentlichung.
                          en: State the legal basis of the publication.
                      - field: anonymisation_statement
                        when: { attribute: check_personal_reference, equals: true }
                        message:
                          de: Beschreiben Sie, wie der Personenbezug entfernt wird.
                          en: Describe how the personal reference is removed.

                    """)
        #expect(asking != shipped)
        let path = "/antraege/neu?kind=open_data&dataset=baumkataster"
        let library = try StoreTestSupport.workflows(written: ["open-data.v3.yaml": asking])
        try await WebFixture.with(workflows: library) { _, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get(path)
            #expect(form.html.contains("id=\"f-legal-basis\""))
            #expect(form.html.contains("Nennen Sie die Rechtsgrundlage der Veröffentlichung."))
            // Asked only once the requester says the data has a personal reference: the form has the
            // field before that answer, so the answer can be followed on the same page.
            #expect(form.html.contains("id=\"f-anonymisation-statement\""), "\(form.html)")
            #expect(form.html.contains("Beschreiben Sie, wie der Personenbezug entfernt wird."))
        }
        try await WebFixture.with { _, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get(path).html
            #expect(!form.contains("id=\"f-legal-basis\""))
            #expect(!form.contains("id=\"f-anonymisation-statement\""))
        }
    }

    /// The summary page's form has one Idempotency-Key for both buttons: saved as a draft, then sent
    /// again with "submit" (after "back"), it leads to the draft instead of an error about keys.
    @Test("a summary saved as a draft and then sent again to submit leads to that draft, nothing made twice")
    func summarySentTwiceLeadsToTheDraft() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            let fields: [(String, String)] = [
                ("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", "Stadtklima"),
                ("recipient.name", "Hochschule"), ("recipient.type", "external"), ("access_end", "2027-12-31"),
            ]
            let review = try await anna.post("/antraege", fields + [("action", "review")], csrf: form.hidden("_csrf"))
            #expect(review.status == 200)
            let key = try #require(review.hidden("idempotency_key"))
            let saved = try await anna.post(
                "/antraege", fields + [("idempotency_key", key), ("action", "save")], csrf: review.hidden("_csrf"))
            #expect(saved.status == 303)
            let draft = String(try #require(saved.location).prefix { $0 != "?" })
            let counts = try await fixture.allCounts()
            let again = try await anna.post(
                "/antraege", fields + [("idempotency_key", key), ("action", "submit")], csrf: review.hidden("_csrf"))
            #expect(again.status == 303)
            #expect(again.location == draft + "?hinweis=already_filed")
            #expect(try await fixture.allCounts() == counts, "nothing made twice")
            #expect(
                try await anna.get(try #require(again.location)).html.contains("Dieses Formular wurde schon gesendet"))
            // Someone else's key is no way to someone else's request: otto's form with anna's key makes his own.
            let otto = Browser(client)
            try await otto.login("otto")
            let ottoForm = try await otto.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            let ottos = try await otto.post(
                "/antraege", fields + [("idempotency_key", key), ("action", "save")], csrf: ottoForm.hidden("_csrf"))
            #expect(ottos.status == 303)
            #expect(ottos.location?.hasPrefix(draft) == false)
        }
    }

    /// A refused withdrawal keeps what the requester wrote, at its field; a good one withdraws.
    @Test("a withdrawal refused for its comment keeps the comment at its field; then it withdraws")
    func withdrawalKeepsTheComment() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            let path = "/antraege/\(view.id.uuidString)"
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get(path)
            #expect(page.html.contains("id=\"f-comment\""))
            let before = try await fixture.allCounts()
            let hostile = "<b>Projekt</b> \u{202E}ztesegnur"
            let refused = try await anna.post(
                path + "/zurueckziehen", [("version", try #require(page.hidden("version"))), ("comment", hostile)],
                csrf: page.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(refused.html.contains("id=\"f-comment-error\""))
            #expect(refused.html.contains(##"<a href="#f-comment">"##), "in the summary at the top, linked")
            #expect(refused.html.contains("&lt;b&gt;Projekt&lt;/b&gt; \u{202E}ztesegnur</textarea>"), "kept, escaped")
            #expect(!refused.html.contains("<b>Projekt</b>"))
            #expect(try await fixture.allCounts() == before)
            let withdrawn = try await anna.post(
                path + "/zurueckziehen",
                [("version", try #require(refused.hidden("version"))), ("comment", "Projekt entfällt")],
                csrf: refused.hidden("_csrf"))
            #expect(withdrawn.status == 303)
            let closed = try await anna.get(path).html
            #expect(closed.contains("Zurückgezogen"))
            // Who withdrew, when and why, from the recorded event: for the requester and for the approver
            // whose task it ended.
            let otto = Browser(client)
            try await otto.login("otto")
            let approversView = try await otto.get(path)
            #expect(approversView.status == 200)
            for html in [closed, approversView.html] {
                #expect(
                    html.contains(
                        "<strong>Zurückgezogen</strong> · anna (Antragsteller/in) · 2. März 2026 um 09:00 Uhr"),
                    "\(html)")
                #expect(html.contains("<p class=\"user-text\">Projekt entfällt</p>"), "\(html)")
                // The step she withdrew at was reached: it says so, not "Nicht erreicht" as the later ones.
                #expect(html.contains("class=\"timeline-step step-withdrawn\""), "\(html)")
                #expect(html.contains("<p class=\"step-status\"><strong>Zurückgezogen</strong>"), "\(html)")
            }
            otto.language = "en"
            let english = try await otto.get(path).html
            #expect(english.contains("<p class=\"step-status\"><strong>Withdrawn</strong>"), "\(english)")
        }
    }

    /// Withdrawn while the legal step's DSB part had approved and its ISB part had not: the step says it
    /// was withdrawn there, not "Zugestimmt", with the DSB's approval listed below it.
    @Test("a parallel step with one part approved, withdrawn there, says so")
    func withdrawnAtAPartlyApprovedStep() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            var view = try await store.open("meldestatistik", anonymisation: "Aggregiert auf Bezirke")
            view = try await store.decide(view, by: People.marta, at: Clock.start)
            view = try await store.decide(view, by: People.bea, at: Clock.start)
            view = try await store.decide(view, by: People.dora, at: Clock.start, branch: "privacy_review")
            #expect(view.status.step == "legal_review")
            _ = try await fixture.service.withdraw(
                requestID: view.id, caller: People.anna, now: Clock.start, logger: store.logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(view.id.uuidString)").html
            let legal = try #require(
                page.components(separatedBy: "<li class=\"timeline-step").first {
                    $0.contains("Prüfung der Ausschlussgründe (")
                })
            #expect(legal.hasPrefix(" step-withdrawn\""), "\(legal)")
            #expect(legal.contains("<p class=\"step-status\"><strong>Zurückgezogen</strong>"), "\(legal)")
            #expect(legal.contains("Zugestimmt") && legal.contains("Zurückgezogen"), "the DSB's approval is listed")
        }
    }

    /// A form the request no longer takes leads to its page: the answer form of a request in review (the
    /// question answered in another tab), the draft form of a submitted request, either form for someone
    /// who may only read it; an answer sent for a request in review leads there too, not to an error page.
    @Test("the answer and draft forms of a request that no longer takes them lead to its page")
    func staleFormsLeadToTheRequest() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            let path = "/antraege/\(view.id.uuidString)"
            let anna = Browser(client)
            try await anna.login("anna")
            for form in ["/ueberarbeiten", "/bearbeiten"] {
                let stale = try await anna.get(path + form)
                #expect(stale.status == 303, "\(form)")
                #expect(stale.location == path, "\(form)")
            }
            let page = try await anna.get(path)
            let before = try await fixture.allCounts()
            let sent = try await anna.post(
                path + "/ueberarbeiten",
                [("version", try #require(page.hidden("version"))), ("comment", "Antwort aus dem alten Tab")],
                csrf: page.hidden("_csrf"))
            #expect(sent.status == 303, "\(sent.html.prefix(400))")
            #expect(sent.location == path)
            #expect(try await fixture.allCounts() == before, "nothing stored")
            let draft = try await fixture.store.shared("baumkataster", submit: false)
            let otto = Browser(client)
            try await otto.login("otto")
            let notHis = try await otto.get("/antraege/\(draft.id.uuidString)/bearbeiten")
            #expect(notHis.status == 404 || notHis.status == 303, "\(notHis.status)")
            let hers = try await anna.get("/antraege/\(draft.id.uuidString)/bearbeiten")
            #expect(hers.status == 200, "her own draft's form")
        }
    }

    /// A draft has no step: its withdrawal closes the timeline as an entry of its own; the comment is the
    /// requester's text (escaped), and the API tells the same from the same event.
    @Test("a draft's withdrawal is an entry of its own; a hostile comment is escaped; the API names it too")
    func draftWithdrawalInTimeline() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Caller(uid: "anna", displayName: "Anna Albers")
            let draft = try await fixture.service.createRequest(
                NewRequest(
                    kind: .sharedData, datasetID: "baumkataster",
                    details: RequestDetails(purpose: "Stadtklima"), submit: false),
                caller: anna, now: fixture.clock.now(), logger: fixture.store.logger)
            let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>"
            _ = try await fixture.service.withdraw(
                requestID: draft.id, comment: hostile, caller: anna, now: fixture.clock.now(),
                logger: fixture.store.logger)
            let browser = Browser(client)
            try await browser.login("anna")
            let page = try await browser.get("/antraege/\(draft.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains("<h3>Antrag zurückgezogen</h3>"), "\(page.html)")
            #expect(page.html.contains("<strong>Zurückgezogen</strong> · anna (Antragsteller/in) · "))
            #expect(page.html.contains("als Entwurf"))
            #expect(page.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!page.html.contains("<script>alert(1)"))
            #expect(!page.html.contains("<img src=x"))

            let api = APIClient(client: client, validator: APITestSupport.validator)
            let read = try await api.send(.get, "/api/v1/requests/\(draft.id.uuidString)", as: "anna")
            #expect(read.status == 200)
            #expect(read.json?["withdrawal"]?["person"]?.string == "anna")
            #expect(read.json?["withdrawal"]?["comment"]?.string == hostile)
            #expect(read.json?["withdrawal"]?["step"]?.string == nil)
        }
    }

    /// Sina owns the parking data and stewards its domain: her approval as owner covers the steward step
    /// (Personalunion). The form says so before she decides, not only the timeline afterwards.
    @Test("an approval that covers the next step in Personalunion says so on the form")
    func personalUnionIsAnnounced() async throws {
        try await WebFixture.with { fixture, client in
            let parking = try await fixture.store.shared("parkraumbelegung", at: fixture.clock.now())
            let sina = Browser(client)
            try await sina.login("sina")
            let page = try await sina.get("/antraege/\(parking.id.uuidString)")
            #expect(
                page.html.contains(
                    "Sie entscheiden als Data Owner. Ihre Zustimmung gilt zugleich für den Schritt „Freigabe durch das Data Stewardship der Domäne“ (Personalunion)."
                ), "\(page.html)")
            // otto owns baumkataster but stewards no domain: nothing is covered.
            let tree = try await fixture.store.shared("baumkataster", at: fixture.clock.now())
            let otto = Browser(client)
            try await otto.login("otto")
            let ottos = try await otto.get("/antraege/\(tree.id.uuidString)")
            #expect(ottos.html.contains("Sie entscheiden als Data Owner.") && !ottos.html.contains("Personalunion"))
        }
    }

    /// A deputy's decision names the principal as the directory does, as the status names the people.
    @Test("a deputy's decision names the principal by name, not by uid")
    func deputyDecisionNamesThePrincipal() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(9)), caller: People.otto,
                now: Clock.start, logger: store.logger)
            let request = try await store.shared("baumkataster")
            let paul = Browser(client)
            try await paul.login("paul")
            let form = try await paul.get("/antraege/\(request.id.uuidString)")
            #expect(form.html.contains("Sie entscheiden als Data Owner in Vertretung für Otto Oberle."), "\(form.html)")
            // The confirm page of paul's copy of the task mail says it too, before its button.
            let tokens = try await DecisionLinkStore(client: store.app, logger: store.logger).mint(
                requestID: request.id, step: "owner_review", stepEnteredAt: request.status.since,
                branch: "owner_review",
                uid: "paul", actions: [.approve],
                now: fixture.clock.now(), days: 1)
            let link = try await paul.get("/e/\(try #require(tokens[.approve]))")
            #expect(link.html.contains("Sie entscheiden als Data Owner in Vertretung für Otto Oberle."), "\(link.html)")
            // And his inbox, saying why the request is his.
            let inbox = try await paul.get("/eingang")
            #expect(
                inbox.html.contains("Sie entscheiden als Data Owner in Vertretung für Otto Oberle."), "\(inbox.html)")
            // A rejection without its reason comes back as the page it was sent from: the principal by
            // name, who must act named.
            let refused = try await paul.post(
                "/antraege/\(request.id.uuidString)/entscheidung",
                [("version", try #require(form.hidden("version"))), ("decision", "reject")], csrf: form.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(refused.html.contains("Sie entscheiden als Data Owner in Vertretung für Otto Oberle."))
            #expect(refused.html.contains("Wer jetzt entscheiden muss") && refused.html.contains("(Otto Oberle)"))
            _ = try await store.decide(request, by: People.paul, at: Clock.start.addingTimeInterval(60))
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(page.html.contains("paul (Data Owner) – in Vertretung für Otto Oberle"), "\(page.html)")
            #expect(!page.html.contains("in Vertretung für otto"))
        }
    }

    /// A revocation is decided at the grant, no step of the timeline: it closes the timeline as an
    /// entry of its own, with who, when and the reason (escaped).
    @Test("a revocation's reason, revoker and time are on the request page")
    func revocationInTimeline() async throws {
        try await WebFixture.with { fixture, client in
            let store = fixture.store
            let request = try await store.shared("baumkataster")
            let owner = try await store.decide(request, by: People.otto, at: Clock.start.addingTimeInterval(60))
            let granted = try await store.decide(owner, by: People.stefan, at: Clock.start.addingTimeInterval(120))
            #expect(granted.status.phase == .granted)
            // Without a reason: refused, the error at the top of the page and linked to its field.
            let otto = Browser(client)
            try await otto.login("otto")
            let form = try await otto.get("/antraege/\(request.id.uuidString)")
            let refused = try await otto.post(
                "/antraege/\(request.id.uuidString)/widerrufen",
                [("version", try #require(form.hidden("version"))), ("reason", " ")], csrf: form.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(refused.html.contains(#"id="form-errors""#) && refused.html.contains(##"<a href="#f-reason">"##))
            // The owner finds what runs on his dataset in his Eingang, with its end; the requester does not.
            let inbox = try await otto.get("/eingang")
            let grants = try #require(inbox.html.range(of: #"<section aria-labelledby="grants-title" id="freigaben">"#))
            let section = try #require(inbox.html[grants.lowerBound...].components(separatedBy: "</section>").first)
            #expect(section.contains(">\(request.number)</a> Baumkataster"), "\(section)")
            #expect(section.contains("Nutzung erlaubt bis") && section.contains("als Data Owner"))
            let requester = Browser(client)
            try await requester.login("anna")
            #expect(!(try await requester.get("/eingang").html.contains("id=\"freigaben\"")))
            _ = try await fixture.service.revoke(
                requestID: request.id, reason: "Zweck entfallen <i>sofort</i>", caller: People.otto,
                now: Clock.start.addingTimeInterval(3600), logger: store.logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(page.html.contains("<h3>Freigabe widerrufen</h3>"), "\(page.html)")
            #expect(page.html.contains("<strong>Widerrufen</strong> · otto (Data Owner) · 2. März 2026 um 10:00 Uhr"))
            #expect(page.html.contains("<p class=\"user-text\">Zweck entfallen &lt;i&gt;sofort&lt;/i&gt;</p>"))
            #expect(!(try await otto.get("/eingang").html.contains("id=\"freigaben\"")), "revoked: no longer listed")
        }
    }

    /// baumkataster holds no personal data when anna files; then it is reclassified as pseudonymised and
    /// otto asks a question. Her answer is checked against what the request was routed on (no legal basis
    /// needed), so the answer form must not demand one, while a new request's form now does.
    @Test("the answer form asks what the request was routed on, not what the catalogue says since")
    func answerFormFollowsTheRoutedFacts() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            let view = try await fixture.store.submittedRequest()
            _ = try await fixture.service.upsertDataset(
                DatasetInput(
                    id: "baumkataster", title: "Baumkataster", domain: "umwelt", owner: "otto",
                    classification: .public, personalData: .pseudonymised, protectionNeed: .normal,
                    licence: "dl-de-zero-2.0", formats: ["CSV", "GeoJSON"]),
                caller: People.adam, now: fixture.clock.now(), logger: logger)
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Welche Bezirke?"), branch: nil,
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let newForm = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            #expect(newForm.html.contains("name=\"legal_basis\""), "the catalogue now says personal data")
            let answerForm = try await anna.get("/antraege/\(view.id.uuidString)/ueberarbeiten")
            #expect(answerForm.status == 200)
            #expect(!answerForm.html.contains("name=\"legal_basis\""), "the request was routed without")
            // The recipient the request names is still required: the requester may change it, not drop it.
            #expect(
                answerForm.html.contains(#"<label for="f-recipient-name">Empfangende Stelle <span class="required">"#))
            let answered = try await anna.post(
                "/antraege/\(view.id.uuidString)/ueberarbeiten",
                [("version", try #require(answerForm.hidden("version"))), ("comment", "Alle Bezirke")],
                csrf: answerForm.hidden("_csrf"))
            #expect(answered.status == 303, "the engine takes the answer without one: \(answered.html.prefix(400))")
        }
    }

    /// anna named her legal basis in her own words; otto asks for the article of the GDPR. Her answer form
    /// has the legal basis (marked required, "other" chosen with her words), and the article she picks is
    /// stored. Before, the facts the request was routed on ("legal basis given") kept it off the form.
    @Test("the answer form offers the legal basis an approver asked about")
    func answerFormOffersTheLegalBasis() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            let view = try await fixture.store.shared("altlastenkataster", legalBasis: "§ 4 UIG")
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Welcher Artikel der DSGVO?"), branch: nil,
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let path = "/antraege/\(view.id.uuidString)/ueberarbeiten"
            let form = try await anna.get(path)
            #expect(form.status == 200)
            #expect(
                form.html.contains(#"<label for="f-legal-basis">Rechtsgrundlage <span class="required">"#),
                "\(form.html)")
            #expect(form.html.contains(#"<option value="other" selected>"#))
            #expect(form.html.contains(">§ 4 UIG</textarea>"))
            let start = try #require(view.details.accessStart)
            let end = try #require(view.details.accessEnd)
            let answered = try await anna.post(
                path,
                [
                    ("version", try #require(form.hidden("version"))), ("purpose", view.details.purpose),
                    ("recipient.name", "Amt für Stadtentwicklung"), ("recipient.type", "internal"),
                    ("legal_basis", "art6_1_e"), ("legal_basis_detail", "§ 4 UIG"),
                    ("access_start", PageText.inputDate(start)),
                    ("access_end", PageText.inputDate(end.addingTimeInterval(-1))), ("comment", "Artikel ergänzt"),
                ], csrf: form.hidden("_csrf"))
            #expect(answered.status == 303, "\(answered.html.prefix(600))")
            let after = try await fixture.service.request(
                id: view.id, caller: People.anna, now: fixture.clock.now(), logger: logger)
            #expect(after.details.legalBasis == "Art. 6 Abs. 1 lit. e DSGVO (öffentliche Aufgabe) – § 4 UIG")
        }
    }

    /// A browser sends a textarea's lines with CR LF, a JSON client with LF: an answer sent back from the
    /// page exactly as filed through the API is no change, and the request stays at the step that asked.
    @Test("an answer sent back unchanged from the page keeps its step: CR LF line breaks are the API's LF")
    func resubmissionKeepsLineBreaks() async throws {
        try await WebFixture.with { fixture, client in
            let view = try await fixture.service.createRequest(
                NewRequest(
                    kind: .sharedData, datasetID: "baumkataster",
                    details: RequestDetails(
                        purpose: "Stadtklima\nund Hitzeinseln",
                        recipient: RecipientInput(name: "Hochschule", type: .external),
                        accessEnd: Clock.days(200)), submit: true),
                caller: People.anna, now: fixture.clock.now(), logger: fixture.store.logger)
            let logger = fixture.store.logger
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil), branch: nil,
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Welches Projekt?"), branch: nil,
                caller: People.stefan, now: fixture.clock.now(), logger: logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let path = "/antraege/\(view.id.uuidString)"
            let form = try await anna.get(path + "/ueberarbeiten")
            let shownEnd = PageText.inputDate(try #require(view.details.accessEnd).addingTimeInterval(-1))
            let sent = try await anna.post(
                path + "/ueberarbeiten",
                [
                    ("version", try #require(form.hidden("version"))), ("purpose", "Stadtklima\r\nund Hitzeinseln"),
                    ("recipient.name", "Hochschule"), ("recipient.type", "external"), ("access_start", ""),
                    ("access_end", shownEnd), ("comment", "Projekt KlimaGrün\r\nab März"),
                ], csrf: form.hidden("_csrf"))
            #expect(sent.status == 303, "\(sent.html.prefix(500))")
            let after = try await fixture.service.request(
                id: view.id, caller: People.anna, now: fixture.clock.now(), logger: logger)
            #expect(after.details.purpose == "Stadtklima\nund Hitzeinseln")
            #expect(after.status.step == "steward_review", "unchanged: back to the stewards, not to the owner")
        }
    }

    /// A request filed through the API ends its access at an exact moment; the resubmission form shows
    /// its day. Sent back as shown, the moment stays (a shift to midnight would count as a change); a
    /// day changed on the form moves the end to that day's last moment.
    @Test("a resubmission that leaves the shown dates as they were keeps the stored moments; a changed day moves them")
    func resubmissionKeepsShownDates() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            let path = "/antraege/\(view.id.uuidString)"
            let storedEnd = try #require(view.details.accessEnd)
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Welches Projekt?"), branch: nil,
                caller: Caller(uid: "otto", displayName: "Otto Owner"), now: fixture.clock.now(),
                expectedVersion: nil, logger: fixture.store.logger)
            let anna = Browser(client)
            try await anna.login("anna")
            func resubmit(end: String) async throws -> Date? {
                let form = try await anna.get(path + "/ueberarbeiten")
                let sent = try await anna.post(
                    path + "/ueberarbeiten",
                    [
                        ("version", try #require(form.hidden("version"))), ("purpose", "Stadtklima"),
                        ("recipient.name", "Hochschule"), ("recipient.type", "external"), ("access_start", ""),
                        ("access_end", end), ("comment", "Projekt KlimaGrün"),
                    ], csrf: form.hidden("_csrf"))
                #expect(sent.status == 303, "\(sent.html.prefix(500))")
                return try await fixture.service.request(
                    id: view.id, caller: Caller(uid: "anna", displayName: "Anna Albers"), now: fixture.clock.now(),
                    logger: fixture.store.logger
                ).details.accessEnd
            }
            let shownDay = PageText.inputDate(storedEnd.addingTimeInterval(-1))
            #expect(try await anna.get(path + "/ueberarbeiten").html.contains("value=\"\(shownDay)\""))
            #expect(try await resubmit(end: shownDay) == storedEnd, "sent back as shown: the moment stays")
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Und wie lange?"), branch: nil,
                caller: Caller(uid: "otto", displayName: "Otto Owner"), now: fixture.clock.now(),
                expectedVersion: nil, logger: fixture.store.logger)
            let laterDay = PageText.inputDate(storedEnd.addingTimeInterval(2 * 86_400))
            let moved = try #require(try await resubmit(end: laterDay))
            #expect(
                moved > storedEnd.addingTimeInterval(86_400)
                    && PageText.inputDate(moved.addingTimeInterval(-1)) == laterDay)
        }
    }

    /// The JSON API takes an access period as moments; the pages show them with their times, as the
    /// grant mail does, instead of the whole day a date from the form means.
    @Test("an access period filed as moments through the API is shown with its times, not as whole days")
    func accessMomentsShownWithTimes() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            let view = try await fixture.service.createRequest(
                NewRequest(
                    kind: .sharedData, datasetID: "baumkataster",
                    details: RequestDetails(
                        purpose: "Stadtklima", recipient: RecipientInput(name: "Hochschule", type: .external),
                        accessStart: Clock.date("2026-04-01T07:30:00Z"), accessEnd: Clock.date("2026-06-30T12:00:00Z")),
                    submit: true),
                caller: People.anna, now: fixture.clock.now(), logger: logger)
            for approver in [People.otto, People.stefan] {
                _ = try await fixture.service.decide(
                    requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil), branch: nil,
                    caller: approver, now: fixture.clock.now(), logger: logger)
            }
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(view.id.uuidString)").html
            #expect(page.contains("Freigegeben; Nutzung erlaubt bis 30. Juni 2026 um 14:00 Uhr."), "\(page)")
            #expect(page.contains("1. April 2026 um 09:30 Uhr"))
            #expect(!page.contains("bis 30. Juni 2026."), "not the whole day")
        }
    }

    @Test("errors appear next to the field and in the summary, in German, and the input is kept")
    func validationErrorsKeepTheInput() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=altlastenkataster")
            let page = try await anna.post(
                "/antraege",
                [
                    ("kind", "shared_data"), ("dataset_id", "altlastenkataster"), ("purpose", "Nur ein Zweck"),
                    ("recipient.type", "external"), ("action", "submit"),
                ], csrf: form.hidden("_csrf"))
            #expect(page.status == 422)
            #expect(page.html.contains("Bitte prüfen Sie Ihre Angaben"))
            #expect(page.html.contains("href=\"#f-recipient-name\""), "the summary links to the field")
            #expect(page.html.contains("id=\"f-recipient-name-error\""), "the error stands at the field")
            #expect(page.html.contains(">Nur ein Zweck</textarea>"), "the input is kept")
            #expect(page.html.contains("value=\"external\" checked"))
            // No recipient at all: the workflow's "recipient" error stands at the recipient's name, once.
            let none = try await anna.post(
                "/antraege",
                [
                    ("kind", "shared_data"), ("dataset_id", "altlastenkataster"), ("purpose", "Nur ein Zweck"),
                    ("action", "submit"),
                ], csrf: form.hidden("_csrf"))
            #expect(none.status == 422)
            #expect(none.html.contains("id=\"f-recipient-name-error\""), "the error stands at the field")
            #expect(none.html.contains("href=\"#f-recipient-name\""))
            #expect(!none.html.contains("href=\"#form-errors\""), "no entry without its field")
            // An Open Data check with one question unanswered: the error stands at that question and
            // once in the summary, in the form's words.
            let openData = try await anna.get("/antraege/neu?kind=open_data&dataset=baumkataster")
            var answers = [("kind", "open_data"), ("dataset_id", "baumkataster"), ("purpose", "Portal")]
            for id in OpenDataCheck.questions where id != "security" {
                answers.append(("open_data_check.\(id).applies", "false"))
            }
            let unanswered = try await anna.post(
                "/antraege", answers + [("open_data_check.security.note", ""), ("action", "submit")],
                csrf: openData.hidden("_csrf"))
            #expect(unanswered.status == 422)
            // The workflow's own words (`submit_requires`), at the question left open.
            let message = "Bitte beantworten Sie die Fragen der Open-Data-Prüfung."
            #expect(unanswered.html.components(separatedBy: message).count - 1 == 2, "at the field and in the summary")
            #expect(unanswered.html.contains("href=\"#f-open-data-check-security-applies\""))
            #expect(!unanswered.html.contains("href=\"#form-errors\""))
            // Two exclusions that apply without a reason: the same message twice, each summary entry
            // naming its question (a reason's field is labelled with its question too).
            let twoReasons = try await anna.post(
                "/antraege",
                answers.filter { $0.0 != "open_data_check.trade_secrets.applies" } + [
                    ("open_data_check.security.applies", "true"), ("open_data_check.trade_secrets.applies", "true"),
                    ("action", "submit"),
                ],
                csrf: openData.hidden("_csrf"))
            #expect(twoReasons.status == 422)
            for question in [
                "Sind die Daten sicherheitsrelevant?", "Enthalten die Daten Betriebs- oder Geschäftsgeheimnisse?",
            ] {
                #expect(
                    twoReasons.html.contains("Begründung zu „\(question)“: Bitte begründen Sie"), "\(twoReasons.html)")
            }
            #expect(try await fixture.store.counts()["requests"] == 0)
        }
    }

    @Test("everything people write is escaped on every page that shows it")
    func userTextIsEscaped() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>"
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            let saved = try await anna.post(
                "/antraege",
                [
                    ("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", hostile),
                    ("recipient.name", hostile), ("recipient.type", "external"), ("format", hostile),
                    ("action", "save"),
                ], csrf: form.hidden("_csrf"))
            #expect(saved.status == 303, "\(saved.html.prefix(300))")
            let path = String(try #require(saved.location).prefix { $0 != "?" })
            for page in [try await anna.get(path), try await anna.get("/")] {
                #expect(!page.html.contains("<script>alert"))
                #expect(!page.html.contains("<img src=x"))
            }
            let view = try await anna.get(path)
            #expect(view.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            // Reflected input of a refused form is escaped too.
            let refused = try await anna.post(
                "/antraege",
                [("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", hostile), ("action", "submit")],
                csrf: form.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(!refused.html.contains("<script>alert"))
        }
    }

    @Test("no GET changes a row: every page, logged in and not")
    func getChangesNothing() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            let saved = try await anna.post(
                "/antraege",
                [("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", "Zweck"), ("action", "save")],
                csrf: form.hidden("_csrf"))
            let path = String(try #require(saved.location).prefix { $0 != "?" })
            let otto = Browser(client)
            try await otto.login("otto")
            let before = try await fixture.allCounts()
            for browser in [anna, otto] {
                for page in [
                    "/", "/katalog", "/katalog?q=baum&classification=public", "/katalog/baumkataster", "/eingang",
                    "/vertretungen", path, path + "/ueberarbeiten", "/antraege/neu?kind=open_data&dataset=baumkataster",
                    "/gibt-es-nicht", "/antraege/\(UUID().uuidString)",
                ] {
                    _ = try await browser.get(page)
                }
            }
            #expect(try await fixture.allCounts() == before)
        }
    }

    @Test("a session ends after the idle timeout and after the absolute one; the login page says so")
    func sessionsExpire() async throws {
        try await WebFixture.with(settings: WebSettings(idleTimeout: .seconds(600), absoluteTimeout: .seconds(3600))) {
            fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            fixture.clock.advance(days: 5.0 / 1440)
            #expect(try await anna.get("/eingang").status == 200, "active within the idle limit")
            fixture.clock.advance(days: 11.0 / 1440)
            let idle = try await anna.get("/eingang")
            #expect(idle.status == 303)
            let login = try await anna.get(try #require(idle.location))
            #expect(login.html.contains("Ihre Sitzung ist abgelaufen"))

            let bob = Browser(client)
            try await bob.login("anna")
            for _ in 0..<7 {
                fixture.clock.advance(days: 9.0 / 1440)
                _ = try await bob.get("/")
            }
            #expect(try await bob.get("/eingang").status == 303, "past the absolute limit, however active")
        }
    }

    @Test("a form posted after the session ended leads to the login, which says so and returns to the form's page")
    func formAfterTheSessionEnded() async throws {
        try await WebFixture.with(settings: WebSettings(idleTimeout: .seconds(600), absoluteTimeout: .seconds(3600))) {
            fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let formPath = "/antraege/neu?kind=shared_data&dataset=baumkataster"
            let form = try await anna.get(formPath)
            let fields = [
                ("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", "Stadtklima"), ("action", "save"),
            ]
            // Idle past the limit (the row is still there, the clock says it ended).
            fixture.clock.advance(days: 11.0 / 1440)
            let requestsBefore = try await fixture.allCounts().filter { $0.key != "web_sessions" }
            let late = try await anna.post("/antraege", fields, csrf: form.hidden("_csrf"))
            #expect(late.status == 303)
            #expect(late.location == WebPages.login(returningTo: formPath, expired: true))
            #expect(try await fixture.allCounts().filter { $0.key != "web_sessions" } == requestsBefore)
            let login = try await anna.get(try #require(late.location))
            #expect(login.html.contains("Ihre Sitzung ist abgelaufen"))
            #expect(login.hidden("next") == formPath.replacingOccurrences(of: "&", with: "&amp;"))
            let back = try await anna.post(
                "/anmelden", [("username", "anna"), ("password", "demo"), ("next", formPath)],
                csrf: login.hidden("_csrf"))
            #expect(back.location == formPath)
            #expect(try await anna.get(formPath).status == 200)

            // The row gone (expired in the database, or deleted): the same way, never a 403.
            let page = try await anna.get("/vertretungen")
            _ = try await fixture.store.admin.query("DELETE FROM web_sessions", logger: fixture.store.logger)
            let id = UUID().uuidString
            let cases: [(String, String?, String)] = [
                ("/antraege/\(id)/entscheidung", nil, "/antraege/\(id)"),
                ("/vertretungen/\(id)/beenden", nil, "/vertretungen"),
                ("/vertretungen", "http://127.0.0.1:8080/eingang?seite=2", "/eingang?seite=2"),
                // A POST-only address, another site and a way out of the site are no pages to return to.
                ("/antraege/\(id)/einreichen", "http://127.0.0.1:8080/antraege", "/antraege/\(id)"),
                ("/vertretungen", "http://evil.example//evil.example/x", "/vertretungen"),
                ("/vertretungen", "/\t/evil.example", "/vertretungen"),
                ("/verwaltung/ausgang/erneut", "http://127.0.0.1:8080/anmelden", "/verwaltung/ausgang"),
            ]
            let before = try await fixture.allCounts()
            for (path, referer, expected) in cases {
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                if let referer { headers[.referer] = referer }
                let body = "_csrf=" + Browser.encode(page.hidden("_csrf") ?? "") + "&version=1&decision=approve"
                let answer = try await anna.send(.post, path, body: ByteBuffer(string: body), headers: headers)
                #expect(answer.status == 303, "\(path)")
                #expect(
                    answer.location == WebPages.login(returningTo: expected, expired: true), "\(path) \(referer ?? "")")
            }
            // A hostile dataset in the form stays a query value of the way back.
            let hostile = try await anna.send(
                .post, "/antraege",
                body: ByteBuffer(string: "_csrf=x&kind=shared_data&dataset_id=%2F%2Fevil.example%0D%0ASet-Cookie%3A"),
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(hostile.status == 303)
            let expected = "/antraege/neu?kind=shared_data&dataset=%2F%2Fevil.example%0D%0ASet-Cookie%3A"
            #expect(hostile.location == WebPages.login(returningTo: expected, expired: true))
            #expect(try await fixture.allCounts() == before)
            let logout = try await anna.post("/abmelden", [], csrf: page.hidden("_csrf"))
            #expect(logout.location == "/anmelden?abgemeldet=1")
            // Without any session cookie the CSRF wall stands as before.
            let stranger = Browser(client)
            #expect(try await stranger.post("/vertretungen", [("deputy", "paul")], csrf: "x").status == 403)
        }
    }

    @Test("a logout while a slow page runs stays a logout: the page's session refresh never writes the row again")
    func refreshAfterLogoutRecreatesNothing() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/")
            let cookie = try #require(anna.cookies["freigabe-session"])
            let sessions = PostgresSessionDriver(
                client: fixture.store.app, logger: APITestSupport.logger,
                maximumLifetime: fixture.settings.absoluteTimeout)
            let key = LoginPages.sessionKeyPrefix + cookie
            fixture.clock.advance(days: 2.0 / 1440)
            // The slow page has read the session, past the refresh interval...
            var session = try #require(try await sessions.get(key: key, as: WebSession.self))
            #expect(fixture.clock.now().timeIntervalSince(session.lastSeenAt) >= SessionAuthenticator.refreshInterval)
            // ...anna logs out meanwhile...
            #expect(try await anna.post("/abmelden", [], csrf: page.hidden("_csrf")).status == 303)
            // ...and the page's refresh runs after that.
            session.lastSeenAt = fixture.clock.now()
            let authenticator = SessionAuthenticator(
                directory: nil, settings: fixture.settings, now: { fixture.clock.now() }, sessions: sessions,
                endedSessions: EndedSessionForms(routes: RouteMethods()))
            #expect(try await authenticator.refresh(session, cookie: cookie, now: fixture.clock.now()) == nil)
            let rows = try await fixture.store.admin.query(
                "SELECT count(*)::int FROM web_sessions WHERE key_hash = \(PostgresSessionDriver.hash(key))",
                logger: fixture.store.logger)
            var count = -1
            for try await value in rows.decode(Int.self) { count = value }
            #expect(count == 0, "the deleted session is not written again")
            let thief = Browser(client)
            thief.cookies["freigabe-session"] = cookie
            let after = try await thief.get("/eingang")
            #expect(after.status == 303)
            #expect(after.location?.hasPrefix("/anmelden?") == true)
        }
    }

    @Test(
        "a draft keeps a recipient without its type; submitting it, or a type the form does not offer, is named in the form's words"
    )
    func recipientTypeInTheFormsWords() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            let base = [
                ("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", "Zweck"),
                ("recipient.name", "Umweltamt"),
            ]
            func expectFormWords(_ page: Browser.Page, sourceLocation: SourceLocation = #_sourceLocation) {
                #expect(page.status == 422, sourceLocation: sourceLocation)
                #expect(
                    page.html.contains("Bitte wählen Sie, ob die empfangende Stelle zur Stadtverwaltung gehört."),
                    sourceLocation: sourceLocation)
                #expect(
                    !page.html.contains("(internal)") && !page.html.contains("(external)"),
                    sourceLocation: sourceLocation)
                #expect(!page.html.contains("<script>alert"), sourceLocation: sourceLocation)
                #expect(page.html.contains("value=\"Umweltamt\""), "the input is kept", sourceLocation: sourceLocation)
            }
            let before = try await fixture.allCounts()
            for (extra, action) in [([("recipient.type", "<script>alert(1)</script>")], "save"), ([], "submit")] {
                let page = try await anna.post(
                    "/antraege", base + extra + [("action", action)], csrf: form.hidden("_csrf"))
                expectFormWords(page)
            }
            #expect(try await fixture.allCounts() == before)
            // Saved as a draft, the name stays without a type; "Jetzt einreichen" asks for the type.
            for extra in [[], [("recipient.type", "")]] {
                let saved = try await anna.post(
                    "/antraege", base + extra + [("action", "save")], csrf: form.hidden("_csrf"))
                #expect(saved.status == 303, "\(saved.html.prefix(500))")
                let path = String(try #require(saved.location).prefix { $0 != "?" })
                let draft = try await anna.get(path)
                #expect(draft.html.contains("Umweltamt"))
                let edit = try await anna.get(path + "/bearbeiten")
                #expect(edit.html.contains("value=\"Umweltamt\""))
                #expect(
                    !edit.html.contains("value=\"internal\" checked")
                        && !edit.html.contains("value=\"external\" checked"))
                let early = try await anna.post(
                    path + "/einreichen", [("version", try #require(draft.hidden("version")))],
                    csrf: draft.hidden("_csrf"))
                expectFormWords(early)
                #expect(early.html.contains("id=\"f-recipient-type-error\""), "the error stands at the type")
            }
        }
    }

    @Test(
        "a draft keeps the recipient's type without its name; submitting it asks for the name; an unknown type is refused"
    )
    func recipientTypeWithoutName() async throws {
        try await WebFixture.with { fixture, client in
            let anna = Browser(client)
            try await anna.login("anna")
            let form = try await anna.get("/antraege/neu?kind=shared_data&dataset=baumkataster")
            let base = [
                ("kind", "shared_data"), ("dataset_id", "baumkataster"), ("purpose", "Zweck"), ("recipient.name", ""),
            ]
            let before = try await fixture.allCounts()
            let hostile = try await anna.post(
                "/antraege", base + [("recipient.type", "<script>alert(1)</script>"), ("action", "save")],
                csrf: form.hidden("_csrf"))
            #expect(hostile.status == 422)
            #expect(!hostile.html.contains("<script>alert"))
            #expect(try await fixture.allCounts() == before)
            let saved = try await anna.post(
                "/antraege", base + [("recipient.type", "external"), ("action", "save")], csrf: form.hidden("_csrf"))
            #expect(saved.status == 303, "\(saved.html.prefix(500))")
            let path = String(try #require(saved.location).prefix { $0 != "?" })
            let draft = try await anna.get(path)
            #expect(draft.html.contains(">Stelle außerhalb der Stadtverwaltung<"), "\(draft.html)")
            let edit = try await anna.get(path + "/bearbeiten")
            #expect(edit.html.contains("value=\"external\" checked"), "the type stays chosen")
            let early = try await anna.post(
                path + "/einreichen", [("version", try #require(draft.hidden("version")))], csrf: draft.hidden("_csrf"))
            #expect(early.status == 422)
            #expect(early.html.contains("Bitte nennen Sie die empfangende Stelle."), "\(early.html)")
            #expect(early.html.contains("id=\"f-recipient-name-error\""), "the error stands at the name")
            #expect(early.html.contains("value=\"external\" checked"), "the type stays chosen")
        }
    }

    @Test("error pages: 404 in German with the path, English by Accept-Language, a login redirect, no-store")
    func errorPages() async throws {
        try await WebFixture.with { fixture, client in
            let browser = Browser(client)
            let missing = try await browser.get("/gibt-es-nicht")
            #expect(missing.status == 404)
            #expect(missing.html.contains("Seite nicht gefunden"))
            #expect(missing.html.contains("<html lang=\"de\">"))
            browser.language = "en"
            let english = try await browser.get("/gibt-es-nicht")
            #expect(english.html.contains("Page not found"))
            #expect(english.headers[.contentLanguage] == "en")
            // A page that needs a login sends there and back.
            let inbox = try await browser.get("/eingang")
            #expect(inbox.status == 303)
            #expect(inbox.location == "/anmelden?weiter=%2Feingang")
            // Someone else's request: the same 404 as a missing one.
            browser.language = "de"
            try await browser.login("paul")
            let other = try await browser.get("/antraege/\(UUID().uuidString)")
            #expect(other.status == 404)
            #expect(other.html.contains("Der Antrag wurde nicht gefunden."))
            for header in [SecurityHeadersMiddleware<AppRequestContext>.headers.first!.name] {
                #expect(other.headers[header] != nil)
            }
            #expect(other.headers[.cacheControl] == "no-store")
            // The error page keeps the header of every page: who is logged in by name, and their navigation.
            #expect(other.html.contains("<strong>Paul Peters</strong>"), "\(other.html)")
            #expect(other.html.contains("href=\"/eingang\"") && !other.html.contains("href=\"/verwaltung\""))
            let adam = Browser(client)
            try await adam.login("adam")
            let unknown = try await adam.get("/antraege/\(UUID().uuidString)")
            #expect(unknown.status == 404)
            #expect(unknown.html.contains("<strong>Adam Arndt</strong>"), "\(unknown.html)")
            #expect(unknown.html.contains("href=\"/verwaltung\"") && unknown.html.contains("href=\"/pruefung\""))
        }
    }
}

/// Deciding from the mail's link: the confirm page (`/e/{token}`) against the real database and directory.
@Suite("Decision links", .serialized)
struct DecisionLinkTests {
    /// A submitted Shared Data request for baumkataster (owner otto) and otto's three links.
    static func prepare(
        _ fixture: WebFixture, accessEnd: Date = Clock.days(200)
    ) async throws -> (RequestView, [DecisionLinkAction: String]) {
        let anna = Caller(uid: "anna", displayName: "Anna Albers")
        let view = try await fixture.service.createRequest(
            NewRequest(
                kind: .sharedData, datasetID: "baumkataster",
                details: RequestDetails(
                    purpose: "Stadtklima", recipient: RecipientInput(name: "Hochschule", type: .external),
                    accessEnd: accessEnd), submit: true),
            caller: anna, now: fixture.clock.now(), logger: fixture.store.logger)
        let tokens = try await DecisionLinkStore(client: fixture.store.app, logger: fixture.store.logger).mint(
            requestID: view.id, step: "owner_review", stepEnteredAt: view.status.since, branch: "owner_review",
            uid: "otto", actions: [.approve, .reject, .requestChanges], now: fixture.clock.now(), days: 14)
        return (view, tokens)
    }

    /// The catalogue raised the dataset's personal data after anna's request was routed: otto's mail says
    /// what the request was routed on, and so does the page behind its link (it showed the catalogue now),
    /// as does the API beside the catalogue's present word.
    @Test("the confirm page of a mail's link shows the facts the request was routed on, as the mail does")
    func confirmPageShowsTheRoutedFacts() async throws {
        try await WebFixture.with { fixture, client in
            let (view, tokens) = try await Self.prepare(fixture)
            #expect(view.routedOn?.personalData == PersonalDataCategory.none)
            try await fixture.store.admin.query(
                "UPDATE datasets SET personal_data = 'personal' WHERE id = 'baumkataster'", logger: fixture.store.logger
            )
            let otto = Browser(client)
            try await otto.login("otto")
            let page = try await otto.get("/e/\(try #require(tokens[.reject]))")
            #expect(page.status == 200)
            #expect(page.html.contains("keine personenbezogenen Daten"), "\(page.html)")
            #expect(!page.html.contains(">personenbezogen<"))
            let now = try await fixture.service.request(
                id: view.id, caller: People.otto, now: fixture.clock.now(), logger: fixture.store.logger)
            #expect(now.dataset.personalData == .personal && now.routedOn?.personalData == PersonalDataCategory.none)
        }
    }

    /// The access period ran out while the request waited at its last step: an approval would grant
    /// nothing (the engine refuses it), so neither the page nor the mail's link offers one.
    @Test("after the access end passed in review: no approve on the page or by link; reject and asking stay")
    func approvalClosedAfterAccessEnd() async throws {
        try await WebFixture.with { fixture, client in
            let logger = fixture.store.logger
            let (view, _) = try await Self.prepare(fixture, accessEnd: Clock.days(10))
            let owned = try await fixture.service.decide(
                requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil),
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            #expect(owned.status.step == "steward_review")
            let tokens = try await DecisionLinkStore(client: fixture.store.app, logger: logger).mint(
                requestID: view.id, step: "steward_review", stepEnteredAt: owned.status.since, branch: "steward_review",
                uid: "stefan", actions: [.approve, .reject], now: fixture.clock.now(), days: 14)
            let stefan = Browser(client)
            try await stefan.login("stefan")
            let path = "/antraege/\(view.id.uuidString)"
            #expect(try await stefan.get(path).html.contains(#"value="approve""#), "before the end: offered")

            fixture.clock.advance(days: 11)
            try await stefan.login("stefan")  // the session of eleven days ago has ended
            let page = try await stefan.get(path)
            #expect(!page.html.contains(#"value="approve""#))
            #expect(page.html.contains(#"value="reject""#))
            #expect(page.html.contains("Die beantragte Nutzungsdauer ist während der Prüfung abgelaufen"))
            let link = try await stefan.get("/e/\(try #require(tokens[.approve]))")
            #expect(link.status == 409)
            #expect(link.html.contains("Mit diesem Link kann nicht mehr zugestimmt werden"))
            #expect(!link.html.contains(#"action="/e/"#), "no form that could only fail")
            #expect(try await stefan.get("/e/\(try #require(tokens[.reject]))").status == 200)
            // Hostile: the approval posted anyway (an old form) is refused and changes nothing.
            let before = try await fixture.store.counts()
            let posted = try await stefan.post(
                "\(path)/entscheidung",
                [("version", "\(owned.version)"), ("branch", "steward_review"), ("decision", "approve")],
                csrf: page.hidden("_csrf"))
            #expect(posted.status == 422)
            #expect(try await fixture.store.counts() == before)
            // The API says it too, for the clients that build their own form.
            let options = try await fixture.service.request(
                id: view.id, caller: People.stefan, now: fixture.clock.now(), logger: logger
            ).decisionOptions
            #expect(options?.mayApprove == false && options?.mayRequestChanges == true)
        }
    }

    /// The same, where the workflow allows no question at the steward's step: only rejecting is left,
    /// and the texts must not send the approver to a question the form does not offer.
    @Test("after the access end passed at a step without questions: the texts offer rejecting only")
    func approvalClosedWithoutQuestions() async throws {
        let shipped = try String(
            contentsOfFile: StoreTestSupport.workflowsDirectory + "/shared-data.yaml", encoding: .utf8)
        let noQuestions = shipped.replacingOccurrences(of: "version: 1\n", with: "version: 2\n")
            .replacingOccurrences(
                of: "    role: data_steward\n",
                with: "    role: data_steward\n    request_changes: false\n")
        #expect(noQuestions.contains("request_changes: false"))
        let workflows = try StoreTestSupport.workflows(
            keeping: { $0 != "shared-data.yaml" }, written: ["shared-data.yaml": noQuestions])
        try await WebFixture.with(workflows: workflows) { fixture, client in
            let logger = fixture.store.logger
            let (view, _) = try await Self.prepare(fixture, accessEnd: Clock.days(10))
            let owned = try await fixture.service.decide(
                requestID: view.id, decision: .approve(comment: nil, licence: nil, portalURL: nil),
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            let tokens = try await DecisionLinkStore(client: fixture.store.app, logger: logger).mint(
                requestID: view.id, step: "steward_review", stepEnteredAt: owned.status.since, branch: "steward_review",
                uid: "stefan", actions: [.approve, .reject], now: fixture.clock.now(), days: 14)
            fixture.clock.advance(days: 11)
            let stefan = Browser(client)
            try await stefan.login("stefan")
            let page = try await stefan.get("/antraege/\(view.id.uuidString)")
            #expect(!page.html.contains(#"value="approve""#) && !page.html.contains(#"value="request_changes""#))
            #expect(page.html.contains(#"value="reject""#))
            #expect(page.html.contains("Dieser Schritt erlaubt keine Rückfrage"))
            #expect(!page.html.contains("Bitte stellen Sie eine Rückfrage"))
            let link = try await stefan.get("/e/\(try #require(tokens[.approve]))")
            #expect(link.status == 409)
            #expect(link.html.contains("dieser Schritt erlaubt keine Rückfrage"))
        }
    }

    /// The decision fails after the link was claimed (here: the database refuses the decision's row, as a
    /// fault would): nothing was decided, so the link must not read "already used" afterwards.
    @Test("a decision that fails after the link was claimed leaves the link usable; its cause is logged once")
    func failedDecisionReleasesTheLink() async throws {
        let (logger, lines) = JSONLogTests.capturingLogger(level: .error)
        try await WebFixture.with(logger: logger) { fixture, client in
            let (view, tokens) = try await Self.prepare(fixture)
            let path = "/e/\(try #require(tokens[.approve]))"
            let admin = fixture.store.admin
            let logger = fixture.store.logger
            try await admin.query(
                """
                CREATE FUNCTION refuse_decisions() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$
                """, logger: logger)
            try await admin.query(
                "CREATE TRIGGER refuse_decisions BEFORE INSERT ON decisions FOR EACH ROW EXECUTE FUNCTION refuse_decisions()",
                logger: logger)
            let otto = Browser(client)
            let page = try await otto.get(path)
            let failed = try await otto.post(path, [("password", "demo")], csrf: page.hidden("_csrf"))
            #expect(failed.status == 500)
            #expect(try await fixture.store.counts()["decisions"] == 0)
            // The page shows a reference and nothing of the cause; the log holds the cause once, under it
            // (the command path and the page's error middleware both saw the error).
            #expect(!failed.html.contains("refused for the test"))
            let errors = try lines.objects().filter { $0["error"]?.contains("refused for the test") == true }
            #expect(errors.count == 1, "\(errors)")
            let reference = try #require(errors.first?["hb.request.id"])
            #expect(failed.html.contains("<code>\(reference)</code>"))
            try await admin.query("DROP TRIGGER refuse_decisions ON decisions", logger: logger)

            let again = try await otto.get(path)
            #expect(again.status == 200)
            #expect(again.html.contains("Zustimmung bestätigen"), "the form again, not „already used“")
            let done = try await otto.post(path, [("password", "demo")], csrf: again.hidden("_csrf"))
            #expect(done.status == 200)
            #expect(done.html.contains("Ihre Entscheidung ist gespeichert"))
            #expect(
                try await fixture.service.request(
                    id: view.id, caller: People.anna, now: fixture.clock.now(), logger: logger
                ).status.step == "steward_review")
        }
    }

    /// The instance died between claiming the link and deciding (or the database was away for the decision
    /// and for giving the link back): the link is not lost for good. While a decision may still be under
    /// way it reads as used; a minute later, with no decision by otto since, it is his to use again. A
    /// link whose claim did decide stays used.
    @Test("a claim whose decision never came frees the link after a minute; a decided link stays used")
    func abandonedClaimFreesTheLink() async throws {
        try await WebFixture.with { fixture, client in
            let (view, tokens) = try await Self.prepare(fixture)
            let token = try #require(tokens[.approve])
            let links = DecisionLinkStore(client: fixture.store.app, logger: fixture.store.logger)
            #expect(try await links.claim(token: token, now: fixture.clock.now()))
            let otto = Browser(client)
            let fresh = try await otto.get("/e/\(token)")
            #expect(fresh.status == 409 && fresh.html.contains("bereits verwendet"), "a decision may be under way")
            #expect(try await links.claim(token: token, now: fixture.clock.now().addingTimeInterval(30)) == false)

            fixture.clock.advance(days: 2.0 / 1440)
            let again = try await otto.get("/e/\(token)")
            #expect(again.status == 200 && again.html.contains("Zustimmung bestätigen"), "\(again.html)")
            let done = try await otto.post("/e/\(token)", [("password", "demo")], csrf: again.hidden("_csrf"))
            #expect(done.status == 200 && done.html.contains("Ihre Entscheidung ist gespeichert"))
            #expect(try await fixture.store.counts()["decisions"] == 1)

            // Decided: used for good, however long ago.
            fixture.clock.advance(days: 1)
            let later = try await otto.get("/e/\(token)")
            #expect(later.status == 409 && later.html.contains("bereits verwendet"))
            #expect(try await links.claim(token: token, now: fixture.clock.now()) == false)
            #expect(
                try await fixture.service.request(
                    id: view.id, caller: People.anna, now: fixture.clock.now(), logger: fixture.store.logger
                ).status.step == "steward_review")
            // otto's decision on another request does not count as this link's.
            let (_, otherTokens) = try await Self.prepare(fixture)
            let otherToken = try #require(otherTokens[.reject])
            #expect(try await links.claim(token: otherToken, now: fixture.clock.now()))
            let (third, _) = try await Self.prepare(fixture)
            _ = try await fixture.service.decide(
                requestID: third.id, decision: .reject(reason: "Nicht geeignet"), caller: People.otto,
                now: fixture.clock.now(), logger: fixture.store.logger)
            fixture.clock.advance(days: 2.0 / 1440)
            #expect(try await links.claim(token: otherToken, now: fixture.clock.now()))
        }
    }

    /// otto asked, anna answered, otto's new task links: the confirm page shows the question and the
    /// answer, escaped, because that is what otto now decides on.
    @Test("the confirm page after a resubmission shows the question and the answer")
    func confirmPageShowsQuestionAndAnswer() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await Self.prepare(fixture)
            let logger = fixture.store.logger
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Welche <i>Hochschule</i>?"),
                caller: People.otto, now: fixture.clock.now(), logger: logger)
            let answered = try await fixture.service.resubmit(
                requestID: view.id, changes: Resubmission(comment: "Die <b>TU</b> der Stadt"),
                caller: People.anna, now: fixture.clock.now(), logger: logger)
            let tokens = try await DecisionLinkStore(client: fixture.store.app, logger: logger).mint(
                requestID: view.id, step: "owner_review", stepEnteredAt: answered.status.since,
                branch: "owner_review", uid: "otto", actions: [.approve], now: fixture.clock.now(), days: 1)
            let page = try await Browser(client).get("/e/\(try #require(tokens[.approve]))")
            #expect(page.status == 200)
            let heading = try #require(page.html.range(of: "<h2>Rückfragen und Antworten</h2>"), "\(page.html)")
            let question = try #require(page.html.range(of: "Welche &lt;i&gt;Hochschule&lt;/i&gt;?"))
            let answer = try #require(page.html.range(of: "Die &lt;b&gt;TU&lt;/b&gt; der Stadt"))
            #expect(heading.upperBound < question.lowerBound && question.upperBound < answer.lowerBound)
            #expect(!page.html.contains("<b>TU</b>") && !page.html.contains("<i>Hochschule</i>"))

            // A request without a question has no such section.
            let (_, fresh) = try await Self.prepare(fixture)
            let plain = try await Browser(client).get("/e/\(try #require(fresh[.approve]))")
            #expect(plain.status == 200 && !plain.html.contains("Rückfragen und Antworten"))
        }
    }

    @Test("GET and HEAD change no decision; the password confirms; the audit says email_link; a used link says so")
    func approveWithPassword() async throws {
        try await WebFixture.with { fixture, client in
            let (view, tokens) = try await Self.prepare(fixture)
            let scanner = Browser(client)
            let before = try await fixture.allCounts()
            let page = try await scanner.get("/e/\(try #require(tokens[.approve]))")
            #expect(page.status == 200)
            #expect(page.html.contains("Zustimmung bestätigen"))
            // Everything the request states is on the page the approval is confirmed on.
            #expect(page.html.contains("Hochschule (Stelle außerhalb der Stadtverwaltung)"), "\(page.html)")
            #expect(
                page.html.contains("<dt>Personenbezug</dt><dd class=\"user-text\">keine personenbezogenen Daten</dd>"))
            #expect(page.html.contains("<dt>Schutzbedarf</dt>") && page.html.contains("<dt>Einstufung</dt>"))
            #expect(page.html.contains("Passwort von otto"))
            // A comment may go with the approval (a condition of use), but need not.
            #expect(page.html.contains("name=\"text\""), "\(page.html)")
            #expect(page.html.contains("Kommentar, etwa Auflagen zur Nutzung (freiwillig)"))
            _ = try await scanner.send(.head, "/e/\(try #require(tokens[.reject]))", body: nil)
            _ = try await Browser(client).get("/e/\(try #require(tokens[.reject]))")
            // Not even a session row: the form's token lives in the browser only (double-submit cookie).
            #expect(try await fixture.allCounts() == before, "opening a link changes no row of any table")
            let cookie = try #require(page.headers[values: .setCookie].first { $0.hasPrefix("freigabe-form=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
            // Confirmed hours or a day after it was opened, the form still carries its token.
            #expect(cookie.contains("Max-Age=1209600"), "\(cookie)")
            #expect(!page.headers[values: .setCookie].contains { $0.hasPrefix("freigabe-session=") })
            let token = try #require(page.hidden("_csrf"))
            #expect(cookie.hasPrefix("freigabe-form=\(token);"))

            // Forged posts: without the cookie (another site's form), with another token, with a cookie
            // that is not one of ours: 403, nothing changes.
            let forger = Browser(client)
            let noCookie = try await forger.post(
                "/e/\(try #require(tokens[.approve]))", [("password", "demo")], csrf: token)
            #expect(noCookie.status == 403)
            let otherToken = try await scanner.post(
                "/e/\(try #require(tokens[.approve]))", [("password", "demo")], csrf: WebSession.newToken())
            #expect(otherToken.status == 403)
            forger.cookies["freigabe-form"] = "kurz"
            let shortCookie = try await forger.post(
                "/e/\(try #require(tokens[.approve]))", [("password", "demo")], csrf: "kurz")
            #expect(shortCookie.status == 403)
            let noToken = try await scanner.post(
                "/e/\(try #require(tokens[.approve]))", [("password", "demo")], csrf: nil)
            #expect(noToken.status == 403)
            // The cookie opens no form that needs a session.
            let elsewhere = try await scanner.post(
                "/vertretungen", [("deputy", "paul"), ("valid_from", "2026-03-02"), ("valid_until", "2026-03-20")],
                csrf: token)
            #expect(elsewhere.status == 403)
            #expect(try await fixture.allCounts() == before, "refused posts change nothing")

            let wrong = try await scanner.post(
                "/e/\(try #require(tokens[.approve]))", [("password", "falsch")], csrf: page.hidden("_csrf"))
            #expect(wrong.status == 401)
            // The wrong password is a failed login of the link's person, as at /anmelden; nothing else.
            var afterWrong = before
            afterWrong["audit_events", default: 0] += 1
            #expect(try await fixture.allCounts() == afterWrong)
            #expect(try await fixture.store.auditEvents().last == "login_failed")
            let done = try await scanner.post(
                "/e/\(try #require(tokens[.approve]))", [("password", "demo"), ("text", "Passt")],
                csrf: page.hidden("_csrf"))
            #expect(done.status == 200, "\(done.html.prefix(600))")
            #expect(done.html.contains("Ihre Entscheidung ist gespeichert"))
            let audit = try await fixture.store.admin.query(
                "SELECT details->>'via' FROM audit_events WHERE request_id = \(view.id) AND event = 'approved'",
                logger: fixture.store.logger)
            var channels: [String?] = []
            for try await via in audit.decode(String?.self) { channels.append(via) }
            #expect(channels == ["email_link"])
            let comments = try await fixture.store.admin.query(
                "SELECT comment FROM decisions WHERE request_id = \(view.id) AND outcome = 'approved'",
                logger: fixture.store.logger)
            var stated: [String?] = []
            for try await comment in comments.decode(String?.self) { stated.append(comment) }
            #expect(stated == ["Passt"])

            let readsBefore = try await fixture.store.counts()
            let again = try await scanner.get("/e/\(try #require(tokens[.approve]))")
            #expect(again.status == 409)
            #expect(again.html.contains("bereits verwendet"))
            // A used link is no key to read the request: no purpose, requester or number, no read.
            for fact in ["Stadtklima", "anna", view.number] { #expect(!again.html.contains(fact), "\(fact)") }
            #expect(try await fixture.store.counts() == readsBefore)
            // The reject link of the same mail: the step has moved on; it says who decided.
            let moved = try await scanner.get("/e/\(try #require(tokens[.reject]))")
            #expect(moved.status == 409)
            #expect(moved.html.contains("nicht mehr entschieden"))
            #expect(moved.html.contains("otto"))
        }
    }

    /// otto opens the link, anna's question round (asked and answered without a change) brings the request
    /// back to the same step: a new stay with a task mail of its own. The first mail's links decide
    /// nothing any more, by GET or POST (they were for the stay before); the new mail's link works, and a
    /// confirmation of a version other than the request's decides nothing either.
    @Test("a link of the step's earlier stay decides nothing after a question round; the new mail's link does")
    func linkOfAnEarlierStayDecidesNothing() async throws {
        try await WebFixture.with { fixture, client in
            let (view, tokens) = try await Self.prepare(fixture)
            let path = "/e/\(try #require(tokens[.approve]))"
            let otto = Browser(client)
            let page = try await otto.get(path)
            #expect(page.hidden("version") == String(view.version))
            let logger = fixture.store.logger
            _ = try await fixture.service.decide(
                requestID: view.id, decision: .requestChanges(question: "Welche Bäume?"), caller: People.otto,
                now: fixture.clock.now(), logger: logger)
            fixture.clock.advance(days: 0.1)
            let answered = try await fixture.service.resubmit(
                requestID: view.id, changes: Resubmission(comment: "Alle Straßenbäume"), caller: People.anna,
                now: fixture.clock.now(), logger: logger)
            #expect(answered.status.step == "owner_review")
            let before = try await fixture.store.counts()
            let stale = try await otto.post(
                path, [("password", "demo"), ("version", String(answered.version))], csrf: page.hidden("_csrf"))
            #expect(stale.status == 409)
            #expect(stale.html.contains("nicht mehr entschieden"), "\(stale.html.prefix(800))")
            #expect(try await otto.get(path).status == 409)
            #expect(try await fixture.store.counts()["decisions"] == before["decisions"])

            let fresh = try await DecisionLinkStore(client: fixture.store.app, logger: logger).mint(
                requestID: view.id, step: "owner_review", stepEnteredAt: answered.status.since, branch: "owner_review",
                uid: "otto", actions: [.approve], now: fixture.clock.now(), days: 1)
            let freshPath = "/e/\(try #require(fresh[.approve]))"
            let freshPage = try await otto.get(freshPath)
            #expect(freshPage.status == 200)
            let changed = try await otto.post(
                freshPath, [("password", "demo"), ("version", String(view.version))], csrf: freshPage.hidden("_csrf"))
            #expect(changed.status == 409)
            #expect(changed.html.contains("hat sich geändert, seit Sie diese Seite geöffnet haben"))
            #expect(changed.hidden("version") == String(answered.version))
            #expect(try await fixture.store.counts()["decisions"] == before["decisions"])
            let done = try await otto.post(
                freshPath, [("password", "demo"), ("version", try #require(changed.hidden("version")))],
                csrf: changed.hidden("_csrf"))
            #expect(done.status == 200, "\(done.html.prefix(600))")
            #expect(done.html.contains("Ihre Entscheidung ist gespeichert"))
        }
    }

    /// A mail scanner (or whoever the mail was forwarded to) opening otto's link after the dataset got
    /// another owner: the link says it is no longer his, shows nothing of the request, and writes no
    /// `read_denied` event in otto's name; a GET changes nothing.
    @Test("a link whose step moved to another person says so, shows nothing and records nothing")
    func linkOfSomeoneNoLongerConcerned() async throws {
        try await WebFixture.with { fixture, client in
            let (view, tokens) = try await Self.prepare(fixture)
            // otto opened his link before the change and confirms after it.
            let otto = Browser(client)
            let form = try await otto.get("/e/\(try #require(tokens[.approve]))")
            #expect(form.html.contains("Zustimmung bestätigen"))
            let dataset = try await fixture.service.dataset(id: "baumkataster", logger: fixture.store.logger)
            _ = try await fixture.service.upsertDataset(
                DatasetInput(
                    id: dataset.id, title: dataset.title, description: dataset.description, domain: dataset.domain,
                    owner: "paul", ownerGroup: nil, classification: dataset.classification,
                    personalData: dataset.personalData, protectionNeed: dataset.protectionNeed,
                    licence: dataset.licence, highValue: dataset.highValue, formats: dataset.formats),
                caller: People.adam, now: fixture.clock.now(), logger: fixture.store.logger)
            let before = try await fixture.allCounts()
            for action in [DecisionLinkAction.approve, .reject] {
                let page = try await Browser(client).get("/e/\(try #require(tokens[action]))")
                #expect(page.status == 409)
                #expect(page.html.contains("gilt nicht mehr für Sie"), "\(page.html.prefix(400))")
                for fact in ["Stadtklima", "Hochschule", view.number] { #expect(!page.html.contains(fact), "\(fact)") }
                // On to his inbox, not to the request he may no longer read (a refused read in his name).
                #expect(page.html.contains("href=\"/eingang\""))
                #expect(!page.html.contains("/antraege/"))
            }
            // His confirmation with his password: refused the same way, nothing decided or logged.
            let posted = try await otto.post(
                "/e/\(try #require(tokens[.approve]))", [("password", "demo")], csrf: form.hidden("_csrf"))
            #expect(posted.status == 409)
            #expect(posted.html.contains("gilt nicht mehr für Sie"))
            #expect(try await fixture.allCounts() == before, "no row of any table changed")
        }
    }

    /// Two requests on ``StoreTestSupport/jointReview``, overdue and escalated: the governance office may
    /// decide the Data Owner's and the Data Steward's part of each. greta's links are minted as the
    /// dispatcher mints them for her escalation mail (the row's branches, one set each). Each decides its
    /// branch through the confirm page; a branch field slipped into the form, a tampered token or a used
    /// link decides nothing else.
    @Test("each branch's link of an escalation decides its branch, and no other; a used link changes nothing")
    func escalationLinksDecideTheirBranch() async throws {
        try await WebFixture.with(workflows: StoreTestSupport.jointReview) { fixture, client in
            let logger = fixture.store.logger
            var requests: [RequestView] = []
            for _ in 0..<2 {
                requests.append(
                    try await fixture.service.createRequest(
                        NewRequest(
                            kind: .sharedData, datasetID: "baumkataster",
                            details: RequestDetails(
                                purpose: "Stadtklima", recipient: RecipientInput(name: "Hochschule", type: .external),
                                accessEnd: Clock.days(200)), submit: true),
                        caller: People.anna, now: fixture.clock.now(), logger: logger))
            }
            let deadline = try #require(requests[0].status.deadline)
            #expect(try await fixture.service.fireDueTimers(now: deadline, logger: logger) == 4)
            fixture.clock.advance(days: deadline.timeIntervalSince(fixture.clock.now()) / 86_400 + 0.01)
            let payloads = try await fixture.store.admin.query(
                "SELECT payload::text FROM outbox WHERE topic = 'escalated' ORDER BY id", logger: logger)
            var links: [[BranchLinks]] = []
            for try await payload in payloads.decode(String.self) {
                let message = try OutboxMessage.decode(fromStoredJSON: payload)
                #expect(message.linkBranches == ["owner_part", "steward_part"])
                links.append(
                    try await DecisionLinkStore(client: fixture.store.app, logger: logger).mint(
                        requestID: message.requestID, step: try #require(message.step),
                        stepEnteredAt: message.stepEnteredAt, branches: message.linkBranches,
                        uid: "greta", actions: [.approve, .reject, .requestChanges], now: fixture.clock.now(),
                        days: 14, deadline: nil))
            }
            #expect(links.count == 2)
            func token(_ request: Int, _ branch: String, _ action: DecisionLinkAction) throws -> String {
                try #require(links[request].first { $0.branch == branch }?.tokens[action])
            }
            func decidedBranches(_ request: Int) async throws -> [String] {
                let rows = try await fixture.store.admin.query(
                    "SELECT branch FROM decisions WHERE request_id = \(requests[request].id) ORDER BY position",
                    logger: logger)
                var branches: [String] = []
                for try await branch in rows.decode(String.self) { branches.append(branch) }
                return branches
            }
            // The first request's owner link, with the steward's branch slipped into the form: it decides
            // the branch it was minted for.
            let greta = Browser(client)
            let ownerLink = "/e/\(try token(0, "owner_part", .approve))"
            let page = try await greta.get(ownerLink)
            #expect(page.status == 200 && page.html.contains("Zustimmung bestätigen"), "\(page.html.prefix(600))")
            #expect(page.html.contains("Gemeinsame Prüfung – Teil des Data Owners"), "the page names the branch")
            let done = try await greta.post(
                ownerLink, [("password", "demo"), ("branch", "steward_part")], csrf: page.hidden("_csrf"))
            #expect(done.html.contains("Ihre Entscheidung ist gespeichert"), "\(done.html.prefix(600))")
            #expect(try await decidedBranches(0) == ["owner_part"])

            // The second request's steward link decides the steward's part.
            let stewardLink = "/e/\(try token(1, "steward_part", .approve))"
            let second = try await greta.get(stewardLink)
            #expect(second.status == 200, "\(second.html.prefix(600))")
            #expect(second.html.contains("Gemeinsame Prüfung – Teil des Data Stewardship"))
            let secondDone = try await greta.post(stewardLink, [("password", "demo")], csrf: second.hidden("_csrf"))
            #expect(secondDone.html.contains("Ihre Entscheidung ist gespeichert"), "\(secondDone.html.prefix(600))")
            #expect(try await decidedBranches(1) == ["steward_part"])

            // Replayed, tampered or reused for the other branch: nothing changes.
            let before = try await fixture.store.counts()
            let used = try await greta.get(ownerLink)
            #expect(used.status == 409 && used.html.contains("bereits verwendet"))
            let replayed = try await greta.post(
                ownerLink, [("password", "demo"), ("branch", "steward_part")], csrf: page.hidden("_csrf"))
            #expect(replayed.status == 409, "\(replayed.html.prefix(600))")
            var tampered = try token(0, "owner_part", .approve)
            tampered = String(tampered.dropLast()) + (tampered.hasSuffix("A") ? "B" : "A")
            #expect(try await greta.get("/e/\(tampered)").status == 404)
            let forged = try await greta.post(
                "/e/\(tampered)", [("password", "demo")], csrf: page.hidden("_csrf"))
            #expect(forged.status == 404)
            #expect(try await fixture.store.counts() == before)
            #expect(try await decidedBranches(0) == ["owner_part"])
            #expect(try await decidedBranches(1) == ["steward_part"])
        }
    }

    @Test("without passwords on link pages, a visit without a session gets the way to log in, not a dead button")
    func linkWithoutPasswordAsksForLogin() async throws {
        var settings = WebSettings()
        settings.decisionLinkPassword = false
        try await WebFixture.with(settings: settings) { fixture, client in
            let (_, tokens) = try await Self.prepare(fixture)
            let approve = try #require(tokens[.approve])
            let phone = Browser(client)
            let page = try await phone.get("/e/\(approve)")
            #expect(page.status == 200)
            #expect(!page.html.contains(#"action="/e/"#), "no form that could only fail")
            #expect(page.html.contains("Bitte melden Sie sich an, um zu entscheiden"))
            #expect(page.html.contains("/anmelden?weiter=/e/\(approve)"))
            // Hostile: a POST as the old form sent it decides nothing (the page no longer has its token).
            let before = try await fixture.store.counts()
            #expect(page.hidden("_csrf") == nil)
            let posted = try await phone.post("/e/\(approve)", [("password", "demo")], csrf: nil)
            #expect(posted.status == 403)
            #expect(try await fixture.store.counts() == before)
        }
    }

    @Test("hostile links: unknown, malformed, expired; another person's session; a rejection without reason")
    func hostileLinks() async throws {
        // The notices the pages log: a closed link must say which and why (the access log drops the token).
        let (logger, lines) = JSONLogTests.capturingLogger(level: .notice)
        try await WebFixture.with(logger: logger) { fixture, client in
            let (_, tokens) = try await Self.prepare(fixture)
            let browser = Browser(client)
            for token in ["x", String(repeating: "A", count: 43), "../../etc/passwd", "%00"] {
                let status = try await browser.get("/e/\(token)").status
                // Hummingbird itself refuses a path with dot segments (400); the others are unknown links.
                #expect(status == (token.hasPrefix("..") ? 400 : 404), "\(token): \(status)")
            }
            let reject = try #require(tokens[.reject])
            let before = try await fixture.store.counts()
            // Logged in as someone else: refused, nothing changed.
            let paul = Browser(client)
            try await paul.login("paul")
            let foreign = try await paul.get("/e/\(reject)")
            #expect(foreign.html.contains("mit einem anderen Konto angemeldet"))
            let refused = try await paul.post("/e/\(reject)", [("text", "Nein")], csrf: foreign.hidden("_csrf"))
            #expect(refused.status == 403)
            // Logging out from there leads to a login that comes back to the link, not to the start page.
            let shared = Browser(client)
            try await shared.login("paul")
            let onShared = try await shared.get("/e/\(reject)")
            #expect(onShared.html.contains(#"name="weiter" value="/e/\#(reject)""#))
            let loggedOut = try await shared.post(
                "/abmelden", [("weiter", "/e/\(reject)")], csrf: onShared.hidden("_csrf"))
            #expect(loggedOut.location?.hasPrefix("/anmelden?abgemeldet=1&weiter=%2Fe%2F") == true)
            let login = try await shared.get(try #require(loggedOut.location))
            #expect(login.hidden("next") == "/e/\(reject)")
            // Hostile: a logout that names another site goes to the plain login.
            try await shared.login("paul")
            let away = try await shared.get("/")
            let elsewhere = try await shared.post(
                "/abmelden", [("weiter", "//evil.example/e")], csrf: away.hidden("_csrf"))
            #expect(elsewhere.location == "/anmelden?abgemeldet=1")
            // The bound person's session, but no reason.
            let otto = Browser(client)
            try await otto.login("otto")
            let confirm = try await otto.get("/e/\(reject)")
            #expect(!confirm.html.contains("Passwort von"), "the session is enough")
            let noReason = try await otto.post("/e/\(reject)", [("text", " ")], csrf: confirm.hidden("_csrf"))
            #expect(noReason.status == 422)
            #expect(noReason.html.contains("Bitte begründen Sie die Ablehnung."))
            #expect(try await fixture.store.counts() == before)
            // Past its lifetime.
            fixture.clock.advance(days: 15)
            let expired = try await otto.get("/e/\(reject)")
            #expect(expired.status == 410)
            #expect(expired.html.contains("abgelaufen"))
            let closed = try lines.objects().filter { $0["message"] == "decision link closed" }
            #expect(
                closed.contains {
                    $0["link.outcome"] == "expired" && $0["link.uid"] == "otto" && $0["link.action"] == "reject"
                        && $0["request.id"] != nil && $0["hb.request.id"] != nil
                }, "\(closed)")
            #expect(!expired.html.contains("Stadtklima"), "an expired link shows nothing of the request")
            #expect(try await Browser(client).get("/e/\(reject)").html.contains("Stadtklima") == false)
            #expect(try await fixture.store.counts() == before)
        }
    }
}

/// Für Prüfer: the sealed decision log on a page.
@Suite("Audit page", .serialized)
struct AuditPageTests {
    /// A sibling subdomain's page loads the auditor's views as an image or in a frame: the session cookie
    /// (Lax) goes along, the auditor sees nothing, and nothing may be recorded in their name. A link
    /// followed from another site is a navigation the auditor sees: it passes.
    @Test("another site's image or frame of an auditor's page gets 403 and records no reading; a followed link passes")
    func embeddedAuditPagesAreRefused() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            let alex = Browser(client)
            try await alex.login("alex")
            let site = CrossSiteRequestMiddleware<AppRequestContext>.fetchSite
            let mode = ForeignEmbeddingMiddleware<AppRequestContext>.fetchMode
            let dest = ForeignEmbeddingMiddleware<AppRequestContext>.fetchDest
            let before = try await fixture.store.counts()
            for path in ["/pruefung?person=dora", "/pruefung/antraege/\(view.id.uuidString)", "/antraege/\(view.id)"] {
                for (from, how, what) in [
                    ("same-site", "no-cors", "image"), ("cross-site", "navigate", "iframe"),
                    ("same-site", "cors", "empty"), ("cross-site", "no-cors", "script"),
                ] {
                    let page = try await alex.send(
                        .get, path, body: nil, headers: [site: from, mode: how, dest: what])
                    #expect(page.status == 403, "\(path) \(from) \(what)")
                }
            }
            #expect(try await fixture.store.counts() == before, "no reading recorded, no session touched")
            let followed = try await alex.send(
                .get, "/antraege/\(view.id)", body: nil,
                headers: [site: "cross-site", mode: "navigate", dest: "document"])
            #expect(followed.status == 200)
            let own = try await alex.send(
                .get, "/pruefung", body: nil, headers: [site: "same-origin", mode: "cors", dest: "empty"])
            #expect(own.status == 200)
        }
    }

    @Test("auditors see sealed events with filters and paging; others get 403; a bad filter is a clear error")
    func auditorsQueryTheLog() async throws {
        try await WebFixture.with { fixture, client in
            let (view, _) = try await DecisionLinkTests.prepare(fixture)
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil).sealAll(
                now: fixture.clock.now(), logger: fixture.store.logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let refused = try await anna.get("/pruefung")
            #expect(refused.status == 403)
            // The error page's header as on every page: still logged in (the way out), and in English too.
            #expect(refused.html.contains(#"action="/abmelden""#) && !refused.html.contains(#"href="/anmelden""#))
            #expect(refused.html.contains("href=\"/sprache/en?zurueck=%2Fpruefung\""), "\(refused.html)")
            #expect(try await anna.get("/pruefung/antraege/\(view.id.uuidString)").status == 403)
            #expect(
                try await fixture.store.refusedCommands(of: "anna") == [
                    "web:GET /pruefung", "web:GET /pruefung/antraege/\(view.id.uuidString)",
                ])
            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung")
            #expect(page.status == 200)
            #expect(page.html.contains("Eingereicht"))
            #expect(page.html.contains(view.number))
            let filtered = try await alex.get("/pruefung?request=\(view.id.uuidString)&type=submitted")
            #expect(filtered.html.contains("Eingereicht"))
            // One row: the submission of this request (the filter form lists every event type as an option).
            #expect(filtered.html.components(separatedBy: "<th scope=\"row\">").count == 2)
            // By its number, as the requester's screenshot shows it: the same row; a number of no request
            // finds nothing, a number with more in it is refused.
            func readsOfTheRequest() async throws -> Int? {
                try await fixture.store.admin.query(
                    "SELECT count(*)::int FROM audit_events WHERE event = 'audit_read' AND request_id = \(view.id)",
                    logger: fixture.store.logger
                ).decode(Int.self).first(where: { _ in true })
            }
            let requestReadsBefore = try await readsOfTheRequest()
            let byNumber = try await alex.get("/pruefung?request=\(view.number)&type=submitted")
            #expect(byNumber.html.components(separatedBy: "<th scope=\"row\">").count == 2, "\(byNumber.html)")
            // Recorded against the request, as a search by its id is (its Verfahrensakte counts it).
            #expect(try await readsOfTheRequest() == requestReadsBefore.map { $0 + 1 })
            let noSuch = try await alex.get("/pruefung?request=FG-1999-000001")
            #expect(noSuch.status == 200 && noSuch.html.components(separatedBy: "<th scope=\"row\">").count == 1)
            let hostileNumber = try await alex.get("/pruefung?request=\(view.number)%27%20OR%201%3D1")
            #expect(hostileNumber.status == 400 && hostileNumber.html.contains("Antragsnummer (FG-2026-000042)"))
            // The request's page by its number: the page itself for whoever may read it; for anyone else the
            // same 404 as a number of no request (recorded as `read_denied`), so numbers tell nothing.
            let byItsNumber = try await alex.get("/antraege/\(view.number)")
            #expect(byItsNumber.status == 200 && byItsNumber.html.contains(view.number))
            #expect(try await alex.get("/antraege/FG-1999-000001").status == 404)
            let bea = Browser(client)
            try await bea.login("bea")
            let deniedBefore = try await fixture.store.counts()["audit_events"]
            let unreadable = try await bea.get("/antraege/\(view.number)")
            let noSuchNumber = try await bea.get("/antraege/FG-1999-000001")
            #expect(unreadable.status == 404 && noSuchNumber.status == 404)
            #expect(
                unreadable.html == noSuchNumber.html.replacingOccurrences(of: "FG-1999-000001", with: view.number))
            #expect(try await fixture.store.counts()["audit_events"] == deniedBefore.map { $0 + 1 })
            let bad = try await alex.get("/pruefung?from=gestern&person=%3Cscript%3E")
            #expect(bad.status == 400)
            #expect(bad.html.contains("Ungültige Auswahl"))
            #expect(!bad.html.contains("<script>"))
            // A selection with an error offers no command to copy; a valid one quotes what a shell would read.
            // A place past what the log can hold (it trapped the server once), or no number: a clear
            // error, and the server answers the next page as before.
            let readsBefore = try await fixture.store.counts()["audit_events"]
            for place in ["18446744073709551615", "9223372036854775808", "-1", "%2B5", "zwei", ""] {
                let beyond = try await alex.get("/pruefung?nach=\(place)")
                #expect(beyond.status == 400, "\(place)")
                #expect(beyond.html.contains("Position im Protokoll"), "\(place)")
            }
            #expect(
                try await fixture.store.counts()["audit_events"] == readsBefore, "a refused page records no reading")
            #expect(try await alex.get("/pruefung?nach=9223372036854775807").status == 200)
            let planted = try await alex.get("/pruefung?person=%24(curl%20-s%20evil%7Csh)")
            #expect(planted.status == 400)
            #expect(!planted.html.contains("audit export"))
            let valid = try await alex.get("/pruefung?dataset=baumkataster")
            #expect(
                valid.html.contains(
                    "freigabe audit export --format jsonl --output pruefung.jsonl --dataset baumkataster"))
            // The downloads are plain links (a refusal shows as a page instead of being saved as a file),
            // and a selection with errors offers none: they would only fetch the refusal.
            #expect(valid.html.contains("<a href=\"/pruefung/export?format=jsonl&amp;dataset=baumkataster\">"))
            #expect(!valid.html.contains(" download>"))
            let unknown = try await alex.get("/pruefung?domain=umwelt")
            for refused in [bad, planted, unknown] {
                #expect(refused.status == 400)
                #expect(!refused.html.contains("/pruefung/export"))
            }
            #expect(AuditPages.shellQuoted("baumkataster") == "baumkataster")
            #expect(AuditPages.shellQuoted("2026-03-01T00:00:00+01:00") == "2026-03-01T00:00:00+01:00")
            #expect(AuditPages.shellQuoted("a b;c") == "'a b;c'")
            #expect(AuditPages.shellQuoted("it's") == "'it'\\''s'")
            #expect(AuditPages.shellQuoted("") == "''")

            // Newest first: the places the other way round; the download and the command keep the log's
            // order (no `order` in them); a made-up order is refused and nothing is read.
            func places(_ html: String) -> [Int] {
                html.components(separatedBy: "<th scope=\"row\">").dropFirst().compactMap {
                    Int($0.prefix { $0.isNumber })
                }
            }
            let oldest = places(page.html)
            #expect(oldest.count >= 3)
            let newest = try await alex.get("/pruefung?order=newest")
            #expect(newest.status == 200)
            #expect(places(newest.html) == oldest.reversed())
            #expect(newest.html.contains("<option value=\"newest\" selected"))
            #expect(!newest.html.contains("order=newest&amp;") && !newest.html.contains("--order"))
            let reads = try await fixture.store.counts()["audit_events"]
            let sideways = try await alex.get("/pruefung?order=%3Cscript%3E")
            #expect(sideways.status == 400)
            #expect(sideways.html.contains("ist keine Reihenfolge"))
            #expect(!sideways.html.contains("<script>"))
            #expect(try await fixture.store.counts()["audit_events"] == reads)

            // A parameter the page does not know, or one given twice, is named in the error summary and
            // nothing is read: ignored, it would show the whole log as the selection.
            for (query, message) in [
                ("domain=umwelt", "Unbekannter Parameter „domain“"),
                ("datset=baumkataster", "Unbekannter Parameter „datset“"),
                ("person=anna&person=otto", "Der Parameter „person“ ist mehrfach angegeben"),
                ("nach=1&nach=2", "Der Parameter „nach“ ist mehrfach angegeben"),
            ] {
                let refused = try await alex.get("/pruefung?\(query)")
                #expect(refused.status == 400, "\(query)")
                #expect(refused.html.contains("class=\"error-summary\""), "\(query)")
                #expect(refused.html.contains(message), "\(query)")
            }
            #expect(try await fixture.store.counts()["audit_events"] == reads)
        }
    }
}
