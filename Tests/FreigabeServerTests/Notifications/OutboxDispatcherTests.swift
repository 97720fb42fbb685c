import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SMTPClient
import ServiceLifecycle
import Synchronization
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The dispatcher against the real PostgreSQL, slapd and SMTP sink of `make services`.
@Suite("Outbox mail dispatcher", .serialized)
struct OutboxDispatcherTests {
    @Test("a Shared Data lifecycle mails owner, steward and requester, each in their language, in one thread")
    func lifecycle() async throws {
        let english = try TestPeople.add("lena", language: "en")
        defer { TestPeople.remove([english]) }
        try await MailFixture.with { fixture in
            let requester = Caller(uid: english, displayName: "Test Lena")
            let created = try await fixture.service.shared("baumkataster", by: requester)
            // Each sent mail is logged at info with whom it reached: support's "did otto get it?".
            let (logger, lines) = JSONLogTests.capturingLogger()
            let dispatcher = try fixture.dispatcher(logger: logger)
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 2, sent: 2))
            let sent = try lines.objects().filter { $0["message"] == "mail sent" }
            #expect(
                sent.contains {
                    $0["outbox.topic"] == "request_decision" && $0["outbox.delivered_to"] == "otto"
                        && $0["request.id"] == created.id.uuidString
                        && $0["mail.message_ids"]?.hasPrefix("<") == true
                }, "\(sent)")
            let owner = try await fixture.service.decide(created, by: People.otto, at: Clock.days(1))
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, sent: 1))
            let granted = try await fixture.service.decide(owner, by: People.stefan, at: Clock.days(2))
            #expect(granted.status.phase == .granted)
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 2, sent: 2))
            #expect(
                try await fixture.service.outboxTopics(request: created.id)
                    == ["submitted", "request_decision", "request_decision", "granted", "access_granted"])

            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.count == 5)
            let number = created.number
            let thread = "<freigabe.request.\(created.id.uuidString.lowercased())@\(fixture.host)>"
            for mail in mails {
                #expect(mail.inReplyTo == thread)
                #expect(mail.references == thread)
                #expect(mail.defects.isEmpty, "\(mail.defects)")
                #expect(mail.to.count == 1)
                #expect(mail.envelopeTo == mail.to.first)
                #expect(mail.headerNames.contains("Auto-Submitted"))
            }
            #expect(Set(mails.map(\.messageID)).count == 5)

            // The owner is told of the grant on his dataset: until when, and where he may revoke it.
            let grantToOtto = try #require(
                mails.first {
                    $0.to == ["otto.oberle@stadt.example"] && $0.subject.contains("Datensatz wurde freigegeben")
                })
            #expect(grantToOtto.subject == "\(number): Ihr Datensatz wurde freigegeben – Baumkataster")
            #expect(grantToOtto.text.contains("Nutzung erlaubt bis: "), "\(grantToOtto.text)")
            #expect(grantToOtto.text.contains("„Laufende Freigaben“") && grantToOtto.text.contains("Zweck: "))
            let toOtto = mails.filter {
                $0.to == ["otto.oberle@stadt.example"] && $0.subject.contains("Entscheidung ist gefragt")
            }
            #expect(toOtto.count == 1)
            if let mail = toOtto.first {
                #expect(mail.subject == "\(number): Ihre Entscheidung ist gefragt – Baumkataster")
                #expect(mail.text.contains("Ein Antrag wartet auf Ihre Entscheidung"))
                #expect(mail.text.contains("Antragsnummer: \(number)"))
                #expect(mail.text.contains("Datensatz: Baumkataster"))
                #expect(mail.text.contains("Art: Shared Data"))
                #expect(mail.text.contains("Zweck: Planung der Grünflächen 2027"))
                // What the dataset holds, as the request was routed on it: what a review is about.
                #expect(mail.text.contains("Einstufung: öffentlich\n"), "\(mail.text)")
                #expect(mail.text.contains("Personenbezug: keine personenbezogenen Daten\n"))
                #expect(mail.text.contains("Schutzbedarf: normal\n"))
                #expect(mail.html.contains(">Personenbezug</th>"))
                #expect(mail.text.contains("Schritt: Prüfung durch den Data Owner"))
                #expect(mail.text.contains("Frist: "))
                #expect(mail.html.contains("<html lang=\"de\">"))
                #expect(mail.html.contains("Prüfung durch den Data Owner"))
                // The three decision links (the owner step allows questions) and the request's page.
                #expect(mail.text.contains("Zustimmen: http://127.0.0.1:8080/e/"))
                #expect(mail.text.contains("Ablehnen: http://127.0.0.1:8080/e/"))
                #expect(mail.text.contains("Rückfrage stellen: http://127.0.0.1:8080/e/"))
                #expect(mail.text.contains("http://127.0.0.1:8080/antraege/\(created.id.uuidString)"))
                #expect(mail.text.contains("Zustimmen können Sie") == false)
                #expect(mail.text.contains("Hochwertiger Datensatz") == false)
                #expect(mail.html.contains("href=\"http://127.0.0.1:8080/e/"))
                // Only hashes are stored: no token of the mail is in the table.
                let token = try #require(mail.text.split(separator: "/e/").dropFirst().first?.prefix(43))
                let stored = try await fixture.service.app.query(
                    "SELECT count(*)::int FROM decision_links WHERE uid = 'otto' AND action = 'approve'",
                    logger: fixture.logger)
                for try await count in stored.decode(Int.self) { #expect(count == 1) }
                #expect(DecisionLinkStore.isWellFormed(String(token)))
            }
            let toSteward = mails.filter { $0.to == ["stefan.stein@stadt.example"] }
            #expect(toSteward.map(\.subject) == ["\(number): Ihre Entscheidung ist gefragt – Baumkataster"])
            #expect(toSteward.first?.text.contains("Freigabe durch das Data Stewardship der Domäne") == true)

            let toRequester = mails.filter { $0.to == ["\(english)@stadt.example"] }
            #expect(
                toRequester.map(\.subject) == [
                    "\(number): your request was received", "\(number): your request was granted",
                ])
            #expect(toRequester.allSatisfy { $0.text.hasPrefix("Hello Test Lena,") })
            #expect(toRequester.allSatisfy { $0.html.contains("<html lang=\"en\">") })
            #expect(toRequester.last?.text.contains("Use allowed until: ") == true)

            for row in try await fixture.rows() {
                #expect(row.sentAt != nil && row.failedAt == nil && row.lastError == nil, "\(row)")
            }
        }
    }

    @Test("a principal away: the deputy gets a copy saying whom they stand in for; requesters' mail has none")
    func deputyCopy() async throws {
        try await MailFixture.with { fixture in
            try await fixture.paulDeputises(for: People.otto)
            let created = try await fixture.service.shared("baumkataster")
            // Sent on the clock the request was filed on: the deputyship is in force then (Clock.days(0)).
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 2, sent: 2))
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(
                mails.map(\.to).sorted { $0[0] < $1[0] } == [
                    ["anna.albers@stadt.example"], ["otto.oberle@stadt.example"], ["paul.peters@stadt.example"],
                ])
            let toPaul = try #require(mails.first { $0.to == ["paul.peters@stadt.example"] })
            #expect(toPaul.subject == "\(created.number): Ihre Entscheidung ist gefragt – Baumkataster")
            #expect(toPaul.text.contains("Sie erhalten diese Nachricht als Vertretung von Otto Oberle."))
            #expect(toPaul.html.contains("Sie erhalten diese Nachricht als Vertretung von Otto Oberle."))
            #expect(mails.first { $0.to == ["otto.oberle@stadt.example"] }?.text.contains("Vertretung") == false)
            let rows = try await fixture.rows()
            #expect(rows.first { $0.topic == "request_decision" }?.deliveredTo == ["otto", "paul"])
            #expect(rows.first { $0.topic == "submitted" }?.deliveredTo == ["anna"])
            // An escalation that may decide: the deputy of its recipient gets a copy too, as the engine lets
            // a deputy decide in the principal's stead as the escalation instance.
            var escalated = fixture.message(.escalated, about: created, to: [MailFixture.person("otto")])
            escalated.step = "owner_review"
            escalated.mayDecide = true
            _ = try await fixture.enqueue(escalated, at: Clock.days(0.5))
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 1, sent: 1))
            #expect(
                try await fixture.rows().filter { $0.topic == "escalated" }.map(\.deliveredTo) == [["otto", "paul"]])
            // A task mail of the deputyship's time that goes out only after it ended (SMTP was away, a
            // retry): otto is back, paul gets no copy and no links.
            _ = try await fixture.enqueue(
                fixture.message(.requestDecision, about: created, to: [MailFixture.person("otto")]), at: Clock.days(6))
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(8)) == .init(claimed: 1, sent: 1))
            let late = try await fixture.rows().filter { $0.topic == "request_decision" }.map(\.deliveredTo)
            #expect(late == [["otto", "paul"], ["otto"]], "\(late)")
        }
    }

    /// otto is away and paul decides for him: otto learns from a mail of his own what was decided in his
    /// name, by whom and why; paul, who decided, gets no copy of it.
    @Test("a deputy's decision is told to the principal it counts for, not to the deputy")
    func deputyDecisionTellsThePrincipal() async throws {
        try await MailFixture.with { fixture in
            try await fixture.paulDeputises(for: People.otto)
            let created = try await fixture.service.shared("baumkataster")
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 2, sent: 2))
            _ = try await fixture.service.decide(
                created, by: People.paul, .reject(reason: "Zweck <b>unklar</b>"), at: Clock.days(1))
            // The requester's rejection and otto's notice.
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(1)) == .init(claimed: 2, sent: 2))
            let rows = try await fixture.rows()
            #expect(rows.first { $0.topic == "deputy_decided" }?.deliveredTo == ["otto"], "\(rows)")
            let mails = try await MailSink.mails(host: fixture.host).filter { $0.subject.contains("Vertretung") }
            #expect(mails.map(\.to) == [["otto.oberle@stadt.example"]], "\(mails.map(\.to))")
            let mail = try #require(mails.first)
            #expect(mail.subject == "\(created.number): In Ihrer Vertretung entschieden")
            #expect(
                mail.text.contains(
                    "Paul Peters (paul) hat in Ihrer Vertretung im Schritt „Prüfung durch den Data Owner“ entschieden: abgelehnt."
                ),
                "\(mail.text)")
            #expect(mail.text.contains("Begründung:\nZweck <b>unklar</b>"), "\(mail.text)")
            #expect(mail.html.contains("Zweck &lt;b&gt;unklar&lt;/b&gt;") && !mail.html.contains("<b>unklar"))
            #expect(mail.text.contains("Schritt: Prüfung durch den Data Owner"), "\(mail.text)")
            #expect(mail.text.contains("Antragsteller/in: ") && mail.text.contains("(anna)"), "\(mail.text)")
            #expect(!mail.text.contains("Sie erhalten diese Nachricht als Vertretung"))
            // otto's own decision tells nobody this way.
            let second = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.decide(second, by: People.otto, at: Clock.days(1.5))
            #expect(try await fixture.rows().filter { $0.topic == "deputy_decided" }.count == 1)
        }
    }

    /// A task mail that waited (the SMTP server was away, a retry, a slow directory) while the request
    /// moved past it is not sent: no "please decide" after "withdrawn", no links that only say "moved
    /// on", no second task mail for a step entered anew (its new stay has one of its own).
    @Test("task mails the request moved past while they waited are dropped unsent, with the reason on the row")
    func mootTaskMails() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            // Withdrawn before the dispatcher ran: otto's task is dropped, the withdrawal goes out.
            let withdrawn = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.service.withdraw(
                requestID: withdrawn.id, caller: People.anna, now: Clock.days(0.1), logger: logger)
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 3, sent: 2, moot: 1))
            let dropped = try #require(try await fixture.rows().first { $0.topic == "request_decision" })
            #expect(dropped.sentAt != nil && dropped.failedAt == nil && dropped.deliveredTo.isEmpty)
            #expect(
                dropped.lastError?.contains("überholt: der Antrag steht nicht mehr im Schritt owner_review") == true)
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(!mails.contains { $0.subject.contains("Ihre Entscheidung ist gefragt") }, "\(mails.map(\.subject))")
            #expect(mails.contains { $0.to == ["otto.oberle@stadt.example"] && $0.subject.contains("zurückgezogen") })
            let links = try await fixture.service.admin.query(
                "SELECT count(*)::int FROM decision_links", logger: logger)
            for try await count in links.decode(Int.self) { #expect(count == 0, "no links for a dropped task") }

            // Asked, answered unchanged: owner_review is entered anew, with a task mail of its own. The
            // first stay's mail, still waiting, is dropped: otto gets one task mail, not two.
            try await fixture.service.admin.query("DELETE FROM outbox", logger: logger)
            let asked = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.decide(
                asked, by: People.otto, .requestChanges(question: "Welche Flächen?"), at: Clock.days(0.2))
            let again = try await fixture.service.service.resubmit(
                requestID: asked.id, changes: Resubmission(comment: "Alle"), caller: People.anna,
                now: Clock.days(0.3), logger: logger)
            #expect(again.status.step == "owner_review")
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision'", logger: logger)
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 2, sent: 1, moot: 1))
            let rows = try await fixture.rows().filter { $0.topic == "request_decision" }
            #expect(rows.map(\.deliveredTo) == [[], ["otto"]])
            #expect(rows.first?.lastError?.contains("wurde seitdem neu begonnen") == true, "\(rows)")
            // Support, asked "did otto get the task?": the request's mail by its number, sent ones too.
            let listed = await OutboxTool.list(
                failed: false, request: asked.number, environment: try await fixture.databaseEnvironment())
            #expect(listed.standardOutput.first == "id\ttopic\tcreated\tstate\tattempts\tdelivered to\tlast error")
            let tasks = listed.standardOutput.filter { $0.contains("\trequest_decision\t") }
            #expect(tasks.count == 2, "\(listed)")
            #expect(tasks.last?.split(separator: "\t")[3].hasPrefix("sent ") == true, "\(listed)")
            #expect(tasks.last?.split(separator: "\t")[5] == "otto", "\(listed)")
            #expect(tasks.first?.contains("wurde seitdem neu begonnen") == true, "\(listed)")

            // Decided before its mail went out: the step was left, the mail is dropped.
            try await fixture.service.admin.query("DELETE FROM outbox", logger: logger)
            _ = try await fixture.service.decide(again, by: People.otto, at: Clock.days(0.4))
            try await fixture.service.admin.query(
                "UPDATE outbox SET available_at = now() + interval '1 hour'", logger: logger)
            let stale = fixture.message(.reminder, about: again, to: [MailFixture.person("otto")])
            var reminder = stale
            reminder.step = "owner_review"
            _ = try await fixture.enqueue(reminder, at: Date())
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, moot: 1))
        }
    }

    /// The Governance Office hears of a question left unanswered, with the question (escaped in the HTML
    /// part) and who filed; an answer that comes before the mail goes out drops it, as a decision drops a
    /// task mail.
    @Test("the unanswered question's mail reaches the Governance Office, unless the answer came first")
    func unansweredQuestionMail() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            let dispatcher = try fixture.dispatcher()
            let asked = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.decide(
                asked, by: People.otto, .requestChanges(question: "Welche Flächen <genau>?"), at: Clock.days(1))
            _ = try await fixture.service.service.fireDueTimers(now: Clock.days(9), logger: logger)
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'question_unanswered'", logger: logger)
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, sent: 1))
            let mails = try await MailSink.mails(host: fixture.host)
            let mail = try #require(mails.first { $0.subject.contains("Rückfrage unbeantwortet") }, "\(mails)")
            #expect(mail.to == ["greta.graf@stadt.example"])
            #expect(mail.text.contains("Welche Flächen <genau>?") && mail.text.contains("einstellen"))
            #expect(mail.html.contains("Welche Flächen &lt;genau&gt;?"))

            // Answered before the mail went out: dropped unsent, the reason on the row.
            try await fixture.service.admin.query("DELETE FROM outbox", logger: logger)
            let second = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.decide(
                second, by: People.otto, .requestChanges(question: "Welche Bezirke?"), at: Clock.days(1))
            _ = try await fixture.service.service.fireDueTimers(now: Clock.days(9), logger: logger)
            _ = try await fixture.service.service.resubmit(
                requestID: second.id, changes: Resubmission(comment: "Nordend"), caller: People.anna,
                now: Clock.days(9.1), logger: logger)
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'question_unanswered'", logger: logger)
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, moot: 1))
            let dropped = try #require(try await fixture.rows().first)
            #expect(dropped.lastError?.contains("überholt: die Rückfrage im Schritt owner_review") == true)
        }
    }

    /// The approver whose task a withdrawal ended learns why, in the requester's words: as plain text in
    /// the text part, escaped in the HTML part.
    @Test("the withdrawal mail carries the requester's comment, escaped in its HTML part")
    func withdrawalMailCarriesTheComment() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            let created = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.service.withdraw(
                requestID: created.id, comment: "Projekt entfällt <b>sofort</b>", caller: People.anna,
                now: Clock.days(0.1), logger: logger)
            let dispatcher = try fixture.dispatcher()
            _ = try await dispatcher.runRound(now: Date())
            let mails = try await MailSink.mails(host: fixture.host)
            let mail = try #require(
                mails.first { $0.to == ["otto.oberle@stadt.example"] && $0.subject.contains("zurückgezogen") },
                "\(mails.map(\.subject))")
            #expect(mail.text.contains("Kommentar der antragstellenden Person:"), "\(mail.text)")
            // Who withdrew: the requester, named as the task mail names them.
            #expect(mail.text.contains("Antragsteller/in: ") && mail.text.contains("(anna)"), "\(mail.text)")
            #expect(mail.text.contains("Projekt entfällt <b>sofort</b>"), "\(mail.text)")
            #expect(mail.html.contains("Kommentar der antragstellenden Person"))
            #expect(mail.html.contains("Projekt entfällt &lt;b&gt;sofort&lt;/b&gt;"), "\(mail.html)")
            #expect(!mail.html.contains("<b>sofort</b>"))
        }
    }

    /// otto asked a question and anna answered: otto decides on the answer, so his new task mail shows
    /// both, in the text part as written and escaped in the HTML part. An answer without a comment says so.
    @Test("the task after a resubmission shows the question and the answer, escaped in its HTML part")
    func taskAfterResubmissionShowsQuestionAndAnswer() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            func askAndAnswer(_ answer: String?) async throws {
                let created = try await fixture.service.shared("baumkataster")
                _ = try await fixture.service.decide(
                    created, by: People.otto, .requestChanges(question: "Welche <i>Bezirke</i> genau?"),
                    at: Clock.days(0.1))
                _ = try await fixture.service.service.resubmit(
                    requestID: created.id, changes: Resubmission(comment: answer), caller: People.anna,
                    now: Clock.days(0.2), logger: logger)
            }
            try await askAndAnswer("Nur <b>Nord</b> & Süd")
            try await askAndAnswer(nil)
            // Only the tasks after the answers: the first tasks had no question.
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision' OR created_at < \(Clock.days(0.2))",
                logger: logger)
            #expect(try await fixture.dispatcher().runRound(now: Date()) == .init(claimed: 2, sent: 2))
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.count == 2)
            for mail in mails {
                #expect(mail.text.contains("Rückfrage vor der erneuten Einreichung:\nWelche <i>Bezirke</i> genau?"))
                #expect(mail.html.contains("Welche &lt;i&gt;Bezirke&lt;/i&gt; genau?"), "\(mail.html)")
                #expect(!mail.html.contains("<i>Bezirke"))
            }
            let answered = try #require(mails.first { $0.text.contains("Nur <b>Nord</b>") }, "\(mails.map(\.text))")
            #expect(answered.text.contains("Antwort der antragstellenden Person:\nNur <b>Nord</b> & Süd"))
            #expect(answered.html.contains("Nur &lt;b&gt;Nord&lt;/b&gt; &amp; Süd"), "\(answered.html)")
            #expect(mails.filter { $0.text.contains("Ohne Kommentar erneut eingereicht") }.count == 1)
            // The links belong to the step's stay after the answer: those of the first mail are void.
            let links = try await fixture.service.admin.query(
                """
                SELECT count(*) FILTER (WHERE l.step_entered_at = r.step_entered_at), count(*)
                FROM decision_links l JOIN requests r ON r.id = l.request_id
                """, logger: logger)
            for try await (ofThisStay, all) in links.decode((Int, Int).self) {
                #expect(all == 6 && ofThisStay == all)
            }
        }
    }

    /// stefan (steward) asked; anna's answer changed the purpose, so the request started again at the
    /// owner. otto did not ask: his task shows no question. stefan's step, taken up again after otto's
    /// approval, is where the answer is decided on: that task shows his question and anna's answer. The
    /// next step's task, which followed no question, shows none.
    @Test("the asking step's task after a restart shows the question and the answer; the others do not")
    func taskAfterRestartShowsQuestionAtTheAskingStep() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            let created = try await fixture.service.shared(
                "altlastenkataster", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
            let owner = try await fixture.service.decide(created, by: People.otto, at: Clock.days(0.1))
            #expect(owner.status.step == "steward_review")
            _ = try await fixture.service.decide(
                owner, by: People.stefan, .requestChanges(question: "Wozu <i>genau</i>?"), at: Clock.days(0.2))
            let answered = try await fixture.service.service.resubmit(
                requestID: created.id,
                changes: Resubmission(
                    comment: "Für die Baumpflege",
                    changes: RequestDetails.Patch(
                        values: RequestDetails(purpose: "Baumpflege 2027"), given: [.purpose])),
                caller: People.anna, now: Clock.days(0.3), logger: logger)
            #expect(answered.status.step == "owner_review", "a changed request starts again")
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision' OR created_at < \(Clock.days(0.3))",
                logger: logger)
            _ = try await fixture.dispatcher().runRound(now: Date())
            let toOtto = try await MailSink.mails(host: fixture.host)
            #expect(toOtto.map(\.to) == [["otto.oberle@stadt.example"]])
            #expect(toOtto.allSatisfy { !$0.text.contains("Rückfrage vor") }, "\(toOtto.map(\.text))")
            let again = try await fixture.service.decide(answered, by: People.otto, at: Clock.days(0.4))
            #expect(again.status.step == "steward_review")
            _ = try await fixture.dispatcher().runRound(now: Date())
            let mails = try await MailSink.mails(host: fixture.host)
            let toStefan = try #require(mails.first { $0.text.contains("Wozu <i>genau</i>?") }, "\(mails.map(\.text))")
            #expect(toStefan.text.contains("Rückfrage vor der erneuten Einreichung:\nWozu <i>genau</i>?"))
            #expect(toStefan.text.contains("Antwort der antragstellenden Person:\nFür die Baumpflege"))
            #expect(toStefan.html.contains("Wozu &lt;i&gt;genau&lt;/i&gt;?"))
            // stefan approves: the next step followed no question.
            let steward = try await fixture.service.service.request(
                id: created.id, caller: People.stefan, now: Clock.days(0.5), logger: logger)
            let next = try await fixture.service.decide(steward, by: People.stefan, at: Clock.days(0.5))
            #expect(next.status.phase == .inReview && next.status.step != "steward_review")
            _ = try await fixture.dispatcher().runRound(now: Date())
            let seen = Set(mails.map(\.messageID))
            let later = try await MailSink.mails(host: fixture.host).filter {
                !seen.contains($0.messageID) && $0.subject.contains(next.number)
            }
            #expect(!later.isEmpty)
            for mail in later { #expect(!mail.text.contains("Rückfrage vor"), "\(mail.subject)") }
        }
    }

    /// Open Data v2, a harmless dataset, "trade secrets: yes" and "personal reference: yes": the DSB's and
    /// the governance office's branches of the parallel legal step wait. Escalated, its mail's links must
    /// name the office's branch (the engine's notice says which; never the DSB's): links for the step as a
    /// whole only ever said "moved on".
    @Test("an escalation of a parallel step mails links for the branch the instance may decide")
    func escalationLinksNameTheBranch() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            var check = ServiceFixture.noConcerns
            check.tradeSecrets = CheckAnswer(applies: true, note: "Preise der Baumschulen")
            check.personalReference = CheckAnswer(applies: true, note: "Bäume auf Privatgrund")
            let created = try await fixture.service.service.createRequest(
                NewRequest(
                    kind: .openData, datasetID: "baumkataster",
                    details: RequestDetails(
                        purpose: "Open-Data-Portal", licence: "dl-de-zero-2.0", format: "CSV", openDataCheck: check),
                    submit: true),
                caller: People.anna, now: Clock.start, logger: logger)
            let owner = try await fixture.service.decide(created, by: People.otto, at: Clock.start)
            let legal = try await fixture.service.decide(owner, by: People.stefan, at: Clock.start)
            #expect(legal.status.step == "legal_review" && legal.status.waitingFor.sorted() == ["dsb", "governance"])
            let deadline = try #require(legal.status.deadline)
            try await fixture.service.admin.query("DELETE FROM outbox", logger: logger)
            // The reminder before the deadline (to the DSB and the office), the escalation at it (to the
            // office, for the branch that is no independent controller's).
            #expect(
                try await fixture.service.service.fireDueTimers(now: deadline.addingTimeInterval(-1), logger: logger)
                    == 1)
            #expect(try await fixture.service.service.fireDueTimers(now: deadline, logger: logger) == 1)
            // Reminder, escalation, and the DSB's part reminded as overdue.
            #expect(try await fixture.dispatcher().runRound(now: Date()) == .init(claimed: 4, sent: 4))
            let rows = try await fixture.service.admin.query(
                "SELECT DISTINCT branch FROM decision_links WHERE uid = 'greta' ORDER BY branch", logger: logger)
            var branches: [String] = []
            for try await branch in rows.decode(String.self) { branches.append(branch) }
            #expect(branches == ["exclusions_review"], "reminder and escalation links name the branch")
            // What the link's page asks: greta's view for that branch offers her the decision.
            let view = try await fixture.service.service.request(
                id: created.id, caller: People.greta, now: deadline, recording: .decisionLink,
                branch: "exclusions_review", logger: logger)
            #expect(view.decisionOptions?.branch == "exclusions_review")
            let escalated = try await MailSink.mails(host: fixture.host).filter { $0.subject.contains("Frist") }
            #expect(
                escalated.count == 1 && escalated.allSatisfy { $0.text.contains("/e/") }, "\(escalated.map(\.subject))")
        }
    }

    /// dora owns the dataset and is the only DSB: she approved the owner step, so separation of duties
    /// keeps her from the DSB step. She gets no task mail and no link for it (the engine would refuse
    /// them); the row, which reached nobody who may decide, is failed with that reason (a step nobody may
    /// decide must not wait unseen).
    @Test("nobody is asked to decide what separation of duties keeps from them: no task mail, no link")
    func separationOfDutiesKeepsTaskMailsBack() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            let dorasData = DatasetInput(
                id: "doras-daten", title: "Doras Daten", description: "", domain: "umwelt", owner: "dora",
                ownerGroup: nil, classification: .internal, personalData: .personal, protectionNeed: .normal,
                licence: nil, highValue: false, formats: [])
            try await Database.transaction(fixture.service.app, logger: logger) { connection in
                _ = try await CatalogRepository.upsert(dorasData, on: connection, now: Clock.start, logger: logger)
            }
            let request = try await fixture.service.shared("doras-daten", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
            let owner = try await fixture.service.decide(request, by: People.dora, at: Clock.start)
            try await fixture.service.admin.query("DELETE FROM outbox", logger: logger)
            let steward = try await fixture.service.decide(owner, by: People.stefan, at: Clock.start)
            #expect(steward.status.waitingFor.contains("dsb"), "\(steward.status)")
            _ = try await fixture.dispatcher().runRound(now: Date())
            let links = try await fixture.service.admin.query(
                "SELECT count(*)::int FROM decision_links WHERE uid = 'dora'", logger: logger
            ).decode(Int.self).first(where: { _ in true })
            #expect(links == 0)
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(!mails.contains { $0.to.contains { $0.contains("dora") } }, "\(mails.map(\.to))")
            var failed: [String] = []
            for try await row in try await fixture.service.admin.query(
                """
                SELECT topic || ': ' || coalesce(last_error, '') FROM outbox
                WHERE kind = 'mail' AND (failed_at IS NOT NULL OR sent_at IS NULL)
                """, logger: logger
            ).decode(String.self) {
                failed.append(row)
            }
            let reason = "request_decision: dauerhaft: niemand darf entscheiden"
            #expect(failed.count == 1 && failed[0].hasPrefix(reason), "\(failed)")
        }
    }

    /// The workflow file of a request in flight was changed (here: removed) by an administrator; its mails
    /// still follow the version the request is pinned to, read from the database as the engine reads it:
    /// the publication step's title, and no approve link (publishing needs the licence and the portal
    /// address, which only the request's page asks for).
    @Test("mails of a request whose workflow file changed follow its pinned version: step title and link actions")
    func mailsFollowThePinnedWorkflow() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            // A high-value dataset is published under the EU's terms: the officer reads that it is one.
            try await fixture.service.admin.query(
                "UPDATE datasets SET high_value = true WHERE id = 'baumkataster'", logger: logger)
            var request = try await fixture.service.service.createRequest(
                NewRequest(
                    kind: .openData, datasetID: "baumkataster",
                    details: RequestDetails(
                        purpose: "Open-Data-Portal", licence: "dl-de-zero-2.0", format: "CSV",
                        openDataCheck: ServiceFixture.noConcerns),
                    submit: true),
                caller: People.anna, now: Clock.start, logger: logger)
            request = try await fixture.service.decide(request, by: People.otto, at: Clock.start)
            request = try await fixture.service.decide(request, by: People.stefan, at: Clock.start)
            try #require(request.status.step == "publication", "\(request.status)")
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision'", logger: logger)
            let withoutTheFile = try StoreTestSupport.workflows(keeping: { $0 != "open-data.yaml" })
            let pin = WorkflowPin(
                id: request.workflow.id, version: request.workflow.version, contentHash: request.workflow.contentHash)
            #expect(withoutTheFile.entry(for: pin) == nil)
            _ = try await fixture.dispatcher(workflows: withoutTheFile).runRound(now: Date())
            let rows = try await fixture.service.admin.query(
                "SELECT DISTINCT action FROM decision_links WHERE uid = 'olga' ORDER BY action", logger: logger)
            var actions: [String] = []
            for try await action in rows.decode(String.self) { actions.append(action) }
            #expect(actions == ["reject", "request_changes"])
            let mails = try await MailSink.mails(host: fixture.host).filter { $0.to.contains { $0.contains("olga") } }
            #expect(mails.count == 1)
            #expect(mails.allSatisfy { $0.text.contains("Veröffentlichung durch die Open-Data-Koordination") })
            // Where the approval is given instead, in both parts.
            let onPage =
                "Zustimmen können Sie auf der Seite des Antrags (Link unten): Dort geben Sie die Lizenz und die Adresse "
                + "im Open-Data-Portal an."
            #expect(mails.allSatisfy { $0.text.contains(onPage) && $0.html.contains(onPage) }, "\(mails.map(\.text))")
            #expect(
                mails.allSatisfy {
                    $0.text.contains("Hochwertiger Datensatz: ja (Durchführungsverordnung (EU) 2023/138)")
                })
        }
    }

    /// Approvers read on a phone whose request it is: the directory's name, not the uid alone. The name is
    /// the directory's, so whoever edits an entry writes into the mail: markup is escaped in the HTML
    /// part, CR/LF become spaces (no header, no forged line), and the requester's own mail carries the name
    /// in `To` without a header of its own.
    @Test("task mails name the requester as the directory does; a hostile name is one escaped line; else the uid")
    func taskMailsNameTheRequester() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            let eve = try TestPeople.add("eve")
            let gone = try TestPeople.add("gone")
            defer { TestPeople.remove([eve, gone]) }
            try TestPeople.setDisplayName(eve, "Eve\r\nBcc: evil@example.org\r\n<b>Böse</b> & Co")
            let fromAnna = try await fixture.service.shared("baumkataster")
            let fromEve = try await fixture.service.shared("baumkataster", by: Caller(uid: eve, displayName: "Eve"))
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 4, sent: 4))
            let mails = try await MailSink.mails(host: fixture.host)
            let tasks = mails.filter { $0.to == ["otto.oberle@stadt.example"] }
            let annas = try #require(tasks.first { $0.subject.hasPrefix(fromAnna.number + ":") })
            #expect(annas.text.contains("Antragsteller/in: Anna Albers (anna)\n"), "\(annas.text)")
            #expect(annas.html.contains(">Anna Albers (anna)</td>"), "\(annas.html)")
            let eves = try #require(tasks.first { $0.subject.hasPrefix(fromEve.number + ":") })
            #expect(
                eves.text.contains("Antragsteller/in: Eve Bcc: evil@example.org <b>Böse</b> & Co (\(eve))\n"),
                "\(eves.text)")
            #expect(
                eves.html.contains(">Eve Bcc: evil@example.org &lt;b&gt;Böse&lt;/b&gt; &amp; Co (\(eve))</td>"),
                "\(eves.html)")
            #expect(mails.count == 4)
            for mail in mails {
                #expect(!mail.headerNames.contains { $0.lowercased() == "bcc" }, "\(mail.headerNames)")
                #expect(mail.to.count == 1 && mail.envelopeTo == mail.to[0], "\(mail.to)")
                #expect(!mail.html.contains("<b>Böse"))
                #expect(mail.defects.isEmpty, "\(mail.defects)")
            }

            // The directory no longer knows the requester, or fails when asked for them: the task still
            // goes at once, naming the uid.
            try await fixture.service.admin.query("DELETE FROM outbox", logger: logger)
            let fromGone = try await fixture.service.shared("baumkataster", by: Caller(uid: gone, displayName: "G"))
            TestPeople.remove([gone])
            let again = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision'", logger: logger)
            let failing = DirectoryFailing(for: "anna", base: LDAPMailDirectory(directory: fixture.directory))
            #expect(
                try await fixture.dispatcher(directory: failing).runRound(now: Date()) == .init(claimed: 2, sent: 2))
            let later = try await MailSink.mails(host: fixture.host).filter { $0.to == ["otto.oberle@stadt.example"] }
            let gones = try #require(later.first { $0.subject.hasPrefix(fromGone.number + ":") })
            #expect(gones.text.contains("Antragsteller/in: \(gone)\n"), "\(gones.text)")
            let agains = try #require(later.first { $0.subject.hasPrefix(again.number + ":") })
            #expect(agains.text.contains("Antragsteller/in: anna\n"), "\(agains.text)")
        }
    }

    /// The real directory, but asking for one person fails as a directory that is down does.
    struct DirectoryFailing: MailDirectory {
        struct Down: Error {}
        var uid: String
        var base: any MailDirectory
        init(for uid: String, base: any MailDirectory) {
            self.uid = uid
            self.base = base
        }
        func person(uid: String) async throws -> MailPerson? {
            if uid == self.uid { throw Down() }
            return try await base.person(uid: uid)
        }
        func memberUIDs(ofGroup dn: String) async throws -> [String] { try await base.memberUIDs(ofGroup: dn) }
        func groups(ofRole identifier: String) -> [String] { base.groups(ofRole: identifier) }
        func stewardGroups(ofDomain domain: String) -> [String] { base.stewardGroups(ofDomain: domain) }
    }

    /// A step of three branches (``StoreTestSupport/jointReview``), overdue: the governance office may take
    /// over the Data Owner's and the Data Steward's part, not the DSB's. Its mail carries one set of links
    /// for each of the two, headed by the branch; the links of the mail decide through the confirm page
    /// (``DecisionLinkTests/escalationLinksDecideTheirBranch()``).
    @Test("an escalation of a step with two branches the instance may decide mails a set of links for each")
    func escalationLinksEveryBranch() async throws {
        try await MailFixture.with(workflows: StoreTestSupport.jointReview) { fixture in
            let logger = fixture.logger
            let created = try await fixture.service.shared("baumkataster")
            #expect(created.status.step == "joint_review")
            let deadline = try #require(created.status.deadline)
            #expect(try await fixture.service.service.fireDueTimers(now: deadline, logger: logger) == 2)
            try await fixture.service.admin.query("DELETE FROM outbox WHERE topic <> 'escalated'", logger: logger)
            #expect(try await fixture.dispatcher().runRound(now: Date()) == .init(claimed: 1, sent: 1))
            let rows = try await fixture.service.admin.query(
                "SELECT branch, action FROM decision_links WHERE uid = 'greta' ORDER BY branch, action",
                logger: logger)
            var links: [String] = []
            for try await (branch, action) in rows.decode((String, String).self) { links.append("\(branch) \(action)") }
            #expect(
                links == [
                    "owner_part approve", "owner_part reject", "owner_part request_changes", "steward_part approve",
                    "steward_part reject", "steward_part request_changes",
                ])
            let mail = try #require(try await MailSink.mails(host: fixture.host).first)
            #expect(mail.to == ["greta.graf@stadt.example"])
            let text = mail.text
            let owner = try #require(text.range(of: "Für „Teil des Data Owners“:\n  Zustimmen: http"), "\(text)")
            let steward = try #require(text.range(of: "Für „Teil des Data Stewardship“:\n  Zustimmen: http"))
            #expect(owner.lowerBound < steward.lowerBound)
            #expect(text.components(separatedBy: "/e/").count - 1 == 6)
            #expect(!text.contains("Teil des DSB"), "the DSB's part is nobody else's to decide")
            #expect(mail.html.contains("Für „Teil des Data Stewardship“:</h3>"), "\(mail.html)")
            #expect(mail.html.components(separatedBy: "/e/").count - 1 == 6)
        }
    }

    /// The DSB's part is nobody else's to decide: at the deadline the governance office is told, and the
    /// DSB is reminded that the part is overdue (before, the escalation was the last anyone heard of it).
    @Test("at the escalation the DSB's part, which nobody may take over, is reminded as overdue")
    func escalationRemindsTheIndependentController() async throws {
        try await MailFixture.with(workflows: StoreTestSupport.jointReview) { fixture in
            let logger = fixture.logger
            let request = try await fixture.service.shared("baumkataster")
            let deadline = try #require(request.status.deadline)
            // The reminder timer fires at its time, the escalation at the deadline.
            try await fixture.service.admin.query("DELETE FROM outbox", logger: logger)
            let reminderDue = try await fixture.service.admin.query(
                "SELECT due_at FROM timers WHERE request_id = \(request.id) AND kind = 'reminder'", logger: logger
            ).decode(Date.self).first(where: { _ in true })
            #expect(
                try await fixture.service.service.fireDueTimers(now: try #require(reminderDue), logger: logger) == 1)
            #expect(try await fixture.service.service.fireDueTimers(now: deadline, logger: logger) == 1)
            let rows = try await fixture.service.admin.query(
                """
                SELECT topic, payload->>'branch', payload->>'overdueSince' IS NOT NULL FROM outbox
                WHERE topic IN ('reminder', 'escalated') ORDER BY id
                """, logger: logger)
            var written: [String] = []
            for try await (topic, branch, overdue) in rows.decode((String, String?, Bool).self) {
                written.append("\(topic) \(branch ?? "-") \(overdue ? "overdue" : "")")
            }
            #expect(
                written == [
                    "reminder owner_part ", "reminder steward_part ", "reminder privacy_part ",
                    "escalated - overdue", "reminder privacy_part overdue",
                ], "\(written)")
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE NOT (topic = 'reminder' AND payload->>'overdueSince' IS NOT NULL)",
                logger: logger)
            #expect(try await fixture.dispatcher().runRound(now: Date()) == .init(claimed: 1, sent: 1))
            let mail = try #require(try await MailSink.mails(host: fixture.host).first)
            #expect(mail.to == ["dora.dietz@stadt.example"])
            #expect(mail.text.contains("und die Frist ist abgelaufen"), "\(mail.text)")
            #expect(!mail.text.contains("die Frist läuft bald ab"))
            // Its deadline once, as passed ("Frist (abgelaufen)"), not also as a deadline still ahead.
            let deadlines = mail.text.split(separator: "\n").filter { $0.hasPrefix("  Frist") }
            #expect(deadlines.count == 1 && deadlines[0].hasPrefix("  Frist (abgelaufen):"), "\(mail.text)")
            #expect(mail.html.components(separatedBy: ">Frist").count == 2, "\(mail.html)")
        }
    }

    /// The escalation mail waited (a retry, a slow directory) while its branches were decided on the page:
    /// with one left it links only that one; with none left while the step is still overdue (the DSB's
    /// part, which is not the instance's, waits) it still goes, without links: whether the instance
    /// hears of an overdue step must not depend on how long the mail waited.
    @Test("a queued escalation links only its branches still open, and goes without links when none is")
    func escalationOfDecidedBranchesLinksNone() async throws {
        try await MailFixture.with(workflows: StoreTestSupport.jointReview) { fixture in
            let logger = fixture.logger
            let both = try await fixture.service.shared("baumkataster")
            let one = try await fixture.service.shared("baumkataster")
            let deadline = try #require(both.status.deadline)
            #expect(try await fixture.service.service.fireDueTimers(now: deadline, logger: logger) == 4)
            let later = deadline.addingTimeInterval(60)
            _ = try await fixture.service.decide(both, by: People.otto, at: later, branch: "owner_part")
            _ = try await fixture.service.decide(both, by: People.stefan, at: later, branch: "steward_part")
            _ = try await fixture.service.decide(one, by: People.otto, at: later, branch: "owner_part")
            try await fixture.service.admin.query("DELETE FROM outbox WHERE topic <> 'escalated'", logger: logger)
            let metrics = AppMetrics()
            // The step is still overdue (the DSB's part waits): the instance is told all the same, with
            // links only for what is still open.
            #expect(try await fixture.dispatcher(metrics: metrics).runRound(now: Date()) == .init(claimed: 2, sent: 2))
            #expect(!(try metricsText(metrics).contains(#"outcome="moot""#)))
            let rows = try await fixture.service.admin.query(
                "SELECT DISTINCT request_id, branch FROM decision_links WHERE uid = 'greta'", logger: logger)
            var links: [String] = []
            for try await (request, branch) in rows.decode((UUID, String).self) {
                links.append("\(request == one.id ? "one" : "both") \(branch)")
            }
            #expect(links == ["one steward_part"])
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.count == 2 && mails.allSatisfy { !$0.text.contains("Teil des Data Owners") })
            #expect(mails.filter { $0.text.contains("/e/") }.count == 1, "no links where everything is decided")
            #expect(
                mails.filter { $0.text.contains("Bitte klären Sie mit der zuständigen Stelle, wie es weitergeht.") }
                    .count == 1, "and it does not say they may decide")
            #expect(mails.contains { $0.text.contains("Für „Teil des Data Stewardship“:\n  Zustimmen: http") })
        }
    }

    /// paul deputises for otto (the owner) and for greta (the governance office). The task goes to both
    /// otto and paul, the escalation to greta and to paul as her deputy (who may decide in her stead), with
    /// links; the withdrawal afterwards tells paul in both capacities, once per mail.
    @Test("the escalation and the withdrawal after it reach the escalation instance's deputy too")
    func escalationReachesTheInstancesDeputies() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            for principal in [People.otto, People.greta] {
                try await fixture.paulDeputises(for: principal, until: Clock.days(60))
            }
            let created = try await fixture.service.shared("baumkataster")
            let deadline = try #require(created.status.deadline)
            _ = try await fixture.service.service.fireDueTimers(now: deadline, logger: logger)
            try await fixture.service.admin.query("DELETE FROM outbox WHERE topic <> 'escalated'", logger: logger)
            #expect(try await fixture.dispatcher().runRound(now: deadline) == .init(claimed: 1, sent: 1))
            #expect(try await fixture.rows().map { $0.deliveredTo.sorted() } == [["greta", "paul"]])
            let mails = try await MailSink.mails(host: fixture.host)
            let copy = try #require(mails.first { $0.to.first?.hasPrefix("paul.") == true }, "\(mails.map(\.to))")
            #expect(copy.text.contains("Zustimmen: http") && copy.text.contains("Greta"), "\(copy.text)")
            _ = try await fixture.service.service.withdraw(
                requestID: created.id, caller: People.anna, now: deadline.addingTimeInterval(60), logger: logger)
            try await fixture.service.admin.query("DELETE FROM outbox WHERE topic <> 'withdrawn'", logger: logger)
            #expect(
                try await fixture.dispatcher().runRound(now: deadline.addingTimeInterval(120))
                    == .init(claimed: 2, sent: 2))
            #expect(
                try await fixture.rows().map { $0.deliveredTo.sorted() } == [["otto", "paul"], ["greta", "paul"]])
        }
    }

    /// otto's step went overdue and greta decided it in his stead: otto (and paul, his deputy, who was
    /// asked too) learn that it is decided, by whom, how and why; greta, who decided, is not told.
    @Test("a step the escalation instance decided in the owner's stead is told to the owner and his deputy")
    func takenOverStepIsTold() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            try await fixture.paulDeputises(for: People.otto, until: Clock.days(60))
            let created = try await fixture.service.shared("baumkataster")
            let deadline = try #require(created.status.deadline)
            _ = try await fixture.service.service.fireDueTimers(now: deadline, logger: logger)
            _ = try await fixture.service.decide(
                created, by: People.greta, .reject(reason: "Zweck <i>nicht</i> gedeckt"), at: deadline)
            // Everything the request wrote goes out (receipt, rejection, this notice) or is moot (the task
            // and the escalation of a step decided meanwhile).
            let report = try await fixture.dispatcher().runRound(now: deadline)
            #expect(report.claimed == report.sent + report.moot, "\(report)")
            let taken = try await fixture.rows().filter { $0.topic == "step_taken_over" }
            #expect(taken.map { $0.deliveredTo.sorted() } == [["otto", "paul"]], "\(taken)")
            let mails = try await MailSink.mails(host: fixture.host).filter {
                $0.subject.contains("Eskalationsinstanz entschieden")
            }
            #expect(mails.count == 2, "\(mails.map(\.to))")
            let toOtto = try #require(mails.first { $0.to == ["otto.oberle@stadt.example"] }, "\(mails.map(\.to))")
            #expect(
                toOtto.subject
                    == "\(created.number): Ihr Schritt wurde von der Eskalationsinstanz entschieden – Baumkataster")
            #expect(toOtto.text.contains("hat als Eskalationsinstanz an Ihrer Stelle entschieden: abgelehnt."))
            #expect(toOtto.text.contains("(greta)"), "\(toOtto.text)")
            #expect(toOtto.text.contains("Begründung:\nZweck <i>nicht</i> gedeckt"), "\(toOtto.text)")
            #expect(toOtto.html.contains("Zweck &lt;i&gt;nicht&lt;/i&gt; gedeckt"))
            let toPaul = try #require(mails.first { $0.to == ["paul.peters@stadt.example"] })
            #expect(toPaul.text.contains("Sie erhalten diese Nachricht als Vertretung von Otto Oberle."))

            // Whoever decided, or the member their deputy acted for, is not told so: paul, otto's deputy,
            // deciding as the escalation instance's deputy; otto, were he the member paul acted for.
            for member in [nil, "otto"] as [String?] {
                var message = fixture.message(.stepTakenOver, about: created, to: [MailFixture.person("otto")])
                message.step = "owner_review"
                message.decidedBy = "paul"
                message.decidedFor = member
                message.outcome = .approved
                message.asEscalation = true
                _ = try await fixture.enqueue(message, at: deadline)
            }
            #expect(try await fixture.dispatcher().runRound(now: deadline) == .init(claimed: 2, sent: 2))
            let later = try await fixture.rows().filter { $0.topic == "step_taken_over" }.dropFirst()
            #expect(later.map(\.deliveredTo) == [["otto"], []], "\(later)")
        }
    }

    /// The publication went overdue and greta published in olga's stead: olga, who keeps the portal,
    /// reads under which licence and at which address, as a deputy's decision mail would tell her.
    @Test("a publication the escalation instance approved is told to the officer with its licence and address")
    func takenOverPublicationNamesLicenceAndAddress() async throws {
        try await MailFixture.with { fixture in
            let logger = fixture.logger
            var request = try await fixture.service.open("baumkataster")
            request = try await fixture.service.decide(request, by: People.otto, at: Clock.start)
            request = try await fixture.service.decide(request, by: People.stefan, at: Clock.start)
            let deadline = try #require(request.status.deadline)
            try #require(request.status.step == "publication")
            _ = try await fixture.service.service.fireDueTimers(now: deadline, logger: logger)
            _ = try await fixture.service.decide(
                request, by: People.greta,
                .approve(
                    comment: nil, licence: "cc-by-4.0", portalURL: "https://opendata.stadt.example/dataset/baeume"),
                at: deadline)
            _ = try await fixture.dispatcher().runRound(now: deadline)
            let toOlga = try #require(
                try await MailSink.mails(host: fixture.host).first {
                    $0.subject.contains("Eskalationsinstanz entschieden") && $0.to.contains { $0.contains("olga") }
                })
            #expect(toOlga.text.contains("an Ihrer Stelle entschieden: zugestimmt."), "\(toOlga.text)")
            #expect(toOlga.text.contains("Lizenz: Creative Commons Namensnennung 4.0"), "\(toOlga.text)")
            #expect(toOlga.text.contains("https://opendata.stadt.example/dataset/baeume"))
            #expect(toOlga.html.contains("https://opendata.stadt.example/dataset/baeume"))
            // The requester reads that it is published (the end is called so), and where.
            let toAnna = try #require(
                try await MailSink.mails(host: fixture.host).first {
                    $0.subject.hasSuffix("Der Datensatz ist veröffentlicht")
                })
            #expect(toAnna.text.contains("der Datensatz ist als Open Data veröffentlicht"), "\(toAnna.text)")
            #expect(toAnna.text.contains("https://opendata.stadt.example/dataset/baeume"))
        }
    }

    /// One request whose stored details this version cannot read (a hand-made change, a newer release's
    /// shape) holds back no other mail of the batch: its own task goes without the details.
    @Test("a request with unreadable details holds back no mail of the batch")
    func unreadableDetailsHoldBackNothing() async throws {
        try await MailFixture.with { fixture in
            let first = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision'", logger: fixture.logger)
            try await fixture.service.admin.query(
                "UPDATE requests SET open_data_check = '{\"security\": true}' WHERE id = \(first.id)",
                logger: fixture.logger)
            #expect(try await fixture.dispatcher().runRound(now: Date()) == .init(claimed: 2, sent: 2))
            #expect(try await MailSink.mails(host: fixture.host).count == 2)
        }
    }

    /// otto's step went overdue and was handed to greta; otto then rejected it himself: greta learns that
    /// nothing is left for her to decide there, by whom and why.
    @Test("the rejection of an escalated step is told to the escalation instance")
    func lateRejectionIsToldToTheEscalationInstance() async throws {
        try await MailFixture.with { fixture in
            let created = try await fixture.service.shared("baumkataster")
            let deadline = try #require(created.status.deadline)
            _ = try await fixture.service.service.fireDueTimers(now: deadline, logger: fixture.logger)
            _ = try await fixture.service.decide(
                created, by: People.otto, .reject(reason: "Zweck <i>nicht</i> gedeckt"), at: deadline)
            let report = try await fixture.dispatcher().runRound(now: deadline)
            #expect(report.claimed == report.sent + report.moot, "\(report)")
            let told = try await fixture.rows().filter { $0.topic == "step_rejected" }
            #expect(told.map(\.deliveredTo) == [["greta"]], "\(told)")
            let mails = try await MailSink.mails(host: fixture.host).filter { $0.subject.contains("entfällt") }
            let mail = try #require(mails.first, "\(mails.map(\.subject))")
            #expect(mails.count == 1 && mail.to.first?.hasPrefix("greta.") == true, "\(mails.map(\.to))")
            #expect(mail.subject == "\(created.number): Antrag im Schritt abgelehnt – Ihre Entscheidung entfällt")
            #expect(mail.text.contains("der Antrag lag Ihnen als Eskalationsinstanz vor."), "\(mail.text)")
            #expect(mail.text.contains("(otto) hat ihn inzwischen in diesem Schritt abgelehnt"), "\(mail.text)")
            #expect(mail.text.contains("Begründung:\nZweck <i>nicht</i> gedeckt"), "\(mail.text)")
            #expect(mail.html.contains("Zweck &lt;i&gt;nicht&lt;/i&gt; gedeckt"))
        }
    }

    /// A withdrawal row written before 2026-12-05 for the escalation instance carries `to_escalation`: its
    /// deputies got no escalation mail then, so they get no withdrawal of it now either.
    @Test("an older withdrawal row told to the escalation instance spares its deputies")
    func olderWithdrawalToEscalationSparesDeputies() async throws {
        try await MailFixture.with { fixture in
            try await fixture.paulDeputises(for: People.greta, until: Clock.days(60))
            let created = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            for older in [true, false] {
                var withdrawn = fixture.message(.withdrawn, about: created, to: [MailFixture.person("greta")])
                withdrawn.step = "owner_review"
                withdrawn.toEscalation = older ? true : nil
                _ = try await fixture.enqueue(withdrawn, at: Clock.days(0.5))
            }
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 2, sent: 2))
            #expect(try await fixture.rows().map { $0.deliveredTo.sorted() } == [["greta"], ["greta", "paul"]])
        }
    }

    /// `ldap.stewards` makes the members of a group stewards of a domain: the engine lets them decide,
    /// so the steward step's task mail goes to them as to the catalogue's steward group.
    @Test("stewards the directory maps to a domain (ldap.stewards) get the steward step's mail")
    func stewardsMappedInTheDirectoryAreMailed() async throws {
        let mapped = ["FREIGABE_LDAP_STEWARDS": "umwelt=cn=freigabe-governance,ou=groups,dc=stadt,dc=example"]
        try await MailFixture.with(overrides: mapped) { fixture in
            let created = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.decide(created, by: People.otto, at: Clock.start)
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision' OR payload->>'step' <> 'steward_review'",
                logger: fixture.logger)
            #expect(try await fixture.dispatcher().runRound(now: Date()) == .init(claimed: 1, sent: 1))
            let rows = try await fixture.rows()
            #expect(rows.first?.deliveredTo.sorted() == ["greta", "stefan"], "\(rows)")
        }
    }

    /// The task to otto waits (an SMTP outage, a retry pause) while an administrator makes paul the
    /// dataset's owner: the handover's own task goes to paul, and otto's, which his links and inbox no
    /// longer honour, is dropped rather than showing him the whole request.
    @Test("a task that waited while the step was handed over goes to the new holder only")
    func taskWaitingThroughAHandover() async throws {
        try await MailFixture.with { fixture in
            let created = try await fixture.service.shared("baumkataster")
            let service = fixture.service.service
            let dataset = try await service.dataset(id: "baumkataster", logger: fixture.logger)
            #expect(dataset.owner == "otto")
            _ = try await service.upsertDataset(
                DatasetInput(
                    id: dataset.id, title: dataset.title, description: dataset.description, domain: dataset.domain,
                    owner: "paul", ownerGroup: nil, classification: dataset.classification,
                    personalData: dataset.personalData, protectionNeed: dataset.protectionNeed,
                    licence: dataset.licence, highValue: dataset.highValue, formats: dataset.formats),
                caller: People.adam, now: Clock.days(0.1), logger: fixture.logger)
            _ = try await service.fireDueTimers(now: Clock.days(0.2), logger: fixture.logger)
            #expect(
                try await fixture.dispatcher().runRound(now: Clock.days(0.3)) == .init(claimed: 3, sent: 2, moot: 1))
            let tasks = try await fixture.rows().filter { $0.topic == "request_decision" }
            #expect(tasks.count == 2)
            #expect(
                tasks.first?.deliveredTo == [] && tasks.first?.lastError?.contains("an andere übergegangen") == true)
            #expect(tasks.last?.deliveredTo == ["paul"])
            let toOtto = try await MailSink.mails(host: fixture.host).filter { $0.to == ["otto.oberle@stadt.example"] }
            #expect(toOtto.isEmpty, "\(toOtto.map(\.subject))")
            #expect(created.status.step == "owner_review")
        }
    }

    /// The catalogue tells a handover by the group's DN key, so a group saved again with other spaces is
    /// none: the waiting steward task still goes.
    @Test("a steward task still goes when the domain's group was saved again in another spelling")
    func taskThroughARespelledGroup() async throws {
        try await MailFixture.with { fixture in
            let created = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.decide(created, by: People.otto, at: Clock.start)
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision' OR payload->>'step' <> 'steward_review'",
                logger: fixture.logger)
            try await fixture.service.admin.query(
                "UPDATE domains SET steward_group = replace(steward_group, ',', ' , ') WHERE id = 'umwelt'",
                logger: fixture.logger)
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 1, sent: 1))
            #expect(try await fixture.rows().first?.deliveredTo.contains("stefan") == true)
        }
    }

    /// A steward who files a request for their own domain: neither they nor their deputy (who would act
    /// for them, which the engine refuses as well) get the steward step's task; the other steward does.
    @Test("the requester's own deputy gets no copy of a task for the requester's request")
    func noCopyForTheRequestersDeputy() async throws {
        let mapped = ["FREIGABE_LDAP_STEWARDS": "umwelt=cn=freigabe-governance,ou=groups,dc=stadt,dc=example"]
        try await MailFixture.with(overrides: mapped) { fixture in
            try await fixture.paulDeputises(for: People.stefan)
            let created = try await fixture.service.shared("baumkataster", by: People.stefan)
            _ = try await fixture.service.decide(created, by: People.otto, at: Clock.start)
            try await fixture.service.admin.query(
                "DELETE FROM outbox WHERE topic <> 'request_decision' OR payload->>'step' <> 'steward_review'",
                logger: fixture.logger)
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 1, sent: 1))
            #expect(try await fixture.rows().first?.deliveredTo == ["greta"])
        }
    }

    /// A role holder or deputy who files a request is asked by nobody to decide it: the engine refuses
    /// the requester, so a task mail with links could never be used. They get the requester's mails.
    @Test("the requester gets no task mail for their own request, as deputy or role holder")
    func noTaskMailToTheRequester() async throws {
        try await MailFixture.with { fixture in
            try await fixture.paulDeputises(for: People.otto)
            let created = try await fixture.service.shared("baumkataster", by: People.paul)
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 2, sent: 2))
            let rows = try await fixture.rows()
            #expect(rows.first { $0.topic == "request_decision" }?.deliveredTo == ["otto"])
            #expect(rows.first { $0.topic == "submitted" }?.deliveredTo == ["paul"])
            _ = try await fixture.service.service.withdraw(
                requestID: created.id, caller: People.paul, now: Clock.days(0.6), logger: fixture.logger)
            #expect(try await fixture.dispatcher().runRound(now: Clock.days(0.7)) == .init(claimed: 1, sent: 1))
            #expect(try await fixture.rows().first { $0.topic == "withdrawn" }?.deliveredTo == ["otto"])
            let toPaul = try await MailSink.mails(host: fixture.host).filter { $0.to == ["paul.peters@stadt.example"] }
            #expect(toPaul.count == 1 && toPaul.allSatisfy { !$0.text.contains("/e/") }, "\(toPaul.map(\.subject))")
        }
    }

    /// The Data Owner files a request for their own dataset: the owner step's task goes to nobody (the
    /// engine refuses the requester). Recorded as sent, the step would wait unseen until its deadline.
    @Test("a task no holder of the role may take is failed with the reason, not recorded as sent")
    func taskForNobodyFails() async throws {
        try await MailFixture.with { fixture in
            _ = try await fixture.service.shared("baumkataster", by: People.otto)
            #expect(
                try await fixture.dispatcher().runRound(now: Clock.days(0.5)) == .init(claimed: 2, sent: 1, failed: 1))
            let rows = try await fixture.rows()
            let task = try #require(rows.first { $0.topic == "request_decision" })
            #expect(task.failedAt != nil && task.deliveredTo.isEmpty)
            #expect(task.lastError?.contains("niemand darf entscheiden") == true, "\(task.lastError ?? "")")
            #expect(rows.first { $0.topic == "submitted" }?.deliveredTo == ["otto"])
            #expect(try await MailSink.mails(host: fixture.host).allSatisfy { !$0.text.contains("/e/") })
        }
    }

    /// A uid two directory entries hold and a group that is no DN are problems of that recipient, as a
    /// missing person is: the others get their mail at once, not after the whole retry schedule.
    @Test("a recipient the directory holds twice, or a group that is no name, fails alone; the others get their mail")
    func ambiguousAndMalformedRecipients() async throws {
        let twice = try TestPeople.add("doppelt")
        let second = "dn: cn=zweiter-\(twice),ou=people,dc=stadt,dc=example"
        try TestPeople.modify(
            "\(second)\nchangetype: add\nobjectClass: inetOrgPerson\nuid: \(twice)\ncn: zweiter-\(twice)\nsn: doppelt\n"
        )
        defer {
            TestPeople.remove([twice])
            try? TestPeople.modify("\(second)\nchangetype: delete\n")
        }
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            try await fixture.enqueue(
                fixture.message(
                    .rejected, about: request,
                    to: [
                        MailFixture.person(twice), MailFixture.person("anna"),
                        OutboxRecipient(role: "data_owner", uid: nil, group: "kein gültiger Name="),
                    ],
                    text: "Der Zweck trägt die Weitergabe nicht."))
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, failed: 1))
            let row = try #require(try await fixture.rows().first)
            #expect(row.deliveredTo == ["anna"])
            let error = row.lastError ?? ""
            #expect(error.contains("\(twice): mehrdeutig im Verzeichnis"), "\(error)")
            #expect(error.contains("Gruppe kein gültiger Name= ist kein Name im Verzeichnis"), "\(error)")
        }
    }

    @Test("a refused address and a person without one are recorded on the row; the others get their mail")
    func permanentFailures() async throws {
        let refused = try TestPeople.add("abgelehnt", mailPrefix: "reject-")
        let withoutMail = try TestPeople.add("ohnemail", mailPrefix: nil)
        defer { TestPeople.remove([refused, withoutMail]) }
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            let id = try await fixture.enqueue(
                fixture.message(
                    .rejected, about: request,
                    to: [MailFixture.person(refused), MailFixture.person("anna"), MailFixture.person(withoutMail)],
                    text: "Der Zweck trägt die Weitergabe nicht."))
            let metrics = AppMetrics()
            let dispatcher = try fixture.dispatcher(metrics: metrics)
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, failed: 1))

            let row = try #require(try await fixture.rows().first)
            #expect(row.id == id)
            #expect(row.sentAt != nil)
            #expect(row.failedAt != nil)
            #expect(row.deliveredTo == ["anna"])
            #expect(row.undeliverableTo == [refused])
            let error = row.lastError ?? ""
            #expect(error.contains("\(refused): rejected 550"), "\(error)")
            #expect(error.contains("\(withoutMail): keine Mailadresse im Verzeichnis"), "\(error)")
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.map(\.to) == [["anna.albers@stadt.example"]])
            #expect(mails.first?.text.contains("Begründung:\nDer Zweck trägt die Weitergabe nicht.") == true)

            // What an operator sees and does: the CLI on this database.
            let environment = try await fixture.databaseEnvironment()
            let listed = await OutboxTool.list(failed: true, environment: environment)
            #expect(listed.succeeded)
            #expect(listed.standardOutput.count == 2)
            #expect(listed.standardOutput.last?.hasPrefix("\(id)\trejected\t") == true)
            #expect(listed.standardOutput.last?.contains("keine Mailadresse") == true)
            #expect(
                await OutboxTool.list(failed: false, environment: environment).standardOutput == ["no pending mail"])

            // While a dispatcher holds the row (its lease runs), it is not taken away from it.
            try await fixture.service.admin.query(
                "UPDATE outbox SET claim_token = gen_random_uuid(), available_at = now() + interval '5 minutes' WHERE id = \(id)",
                logger: fixture.logger)
            #expect(await OutboxTool.retry(id: id, environment: environment).succeeded == false)
            try await fixture.service.admin.query(
                "UPDATE outbox SET claim_token = NULL, available_at = now() WHERE id = \(id)", logger: fixture.logger)
            let retried = await OutboxTool.retry(id: id, environment: environment)
            #expect(retried.standardOutput == ["outbox row \(id) is due again"])
            #expect(await OutboxTool.retry(id: id + 1000, environment: environment).succeeded == false)
            // Anna had hers: only the refused address is tried again (and refused again).
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, failed: 1))
            #expect(try await MailSink.mails(host: fixture.host).count == 1)
            let again = try #require(try await fixture.rows().first)
            #expect(again.attempts == 1)
            #expect(again.deliveredTo == ["anna"])
            #expect(again.undeliverableTo == [refused])
            #expect(try metricsText(metrics).contains(#"freigabe_outbox_mails_total{outcome="failed"} 2"#))
        }
    }

    @Test("a deferred recipient is retried after the back-off, the one who got it is not mailed twice")
    func temporaryFailure() async throws {
        let deferred = try TestPeople.add("spaeter", mailPrefix: "tempfail-")
        defer { TestPeople.remove([deferred]) }
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            let start = Date()
            let id = try await fixture.enqueue(
                fixture.message(
                    .submitted, about: request, to: [MailFixture.person(deferred), MailFixture.person("anna")]),
                at: start)
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: start) == .init(claimed: 1, retried: 1))
            let first = try #require(try await fixture.rows().first)
            #expect(first.attempts == 1)
            #expect(first.sentAt == nil && first.failedAt == nil)
            #expect(first.deliveredTo == ["anna"])
            #expect(first.lastError?.contains("\(deferred): rejected 451") == true, "\(first.lastError ?? "")")
            // The first pause of the schedule, 5 s (the test's jitter is 0).
            #expect(abs(first.availableAt.timeIntervalSince(start) - 5) < 0.01)
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(1)) == .init())

            // The mailbox works again: the same message reaches them, under the same Message-ID.
            try TestPeople.setMail(deferred, "\(deferred)@stadt.example")
            fixture.directory.invalidateCache()
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(6)) == .init(claimed: 1, sent: 1))
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(
                mails.map(\.to).sorted { $0[0] < $1[0] } == [
                    ["anna.albers@stadt.example"], ["\(deferred)@stadt.example"],
                ])
            let key = try #require(try await fixture.deliveryKey(id))
            let expected = try OutboxDispatcher.messageID(row: id, key: key, uid: deferred, host: fixture.host)
            #expect(mails.first { $0.to == ["\(deferred)@stadt.example"] }?.messageID == expected.bracketed)
            let done = try #require(try await fixture.rows().first)
            #expect(done.attempts == 2 && done.sentAt != nil && done.failedAt == nil && done.lastError == nil)
        }
    }

    @Test("sent again after a crash between 'accepted' and 'marked sent': the same Message-ID")
    func resendKeepsMessageID() async throws {
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            try await fixture.enqueue(fixture.message(.submitted, about: request, to: [MailFixture.person("anna")]))
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: Date()).sent == 1)
            // What the row looks like when the instance died before recording the outcome: claimed, lease over.
            try await fixture.service.admin.query(
                "UPDATE outbox SET sent_at = NULL, delivered_to = '{}', available_at = now() - interval '1 second'",
                logger: fixture.logger)
            #expect(try await dispatcher.runRound(now: Date()).sent == 1)
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.count == 2)
            #expect(Set(mails.map(\.messageID)).count == 1)
        }
    }

    /// The database is restored from last night's backup: the outbox ids of today's rows are handed out
    /// again. A new message must not go out under the Message-ID of one already delivered, or a mail
    /// system that drops repeats drops it (and a webhook receiver, whose id is built alike).
    @Test("after a restore hands an outbox id out again, the new row's Message-ID and webhook-id are new")
    func restoredIDsNameNewMessages() async throws {
        try await MailFixture.with(hostPrefix: "restore-") { fixture in
            let request = try await fixture.service.shared("baumkataster")
            let admin = fixture.service.admin
            try await admin.query("DELETE FROM outbox", logger: fixture.logger)
            let message = fixture.message(.submitted, about: request, to: [MailFixture.person("anna")])
            let id = try await fixture.enqueue(message)
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, sent: 1))
            let firstKey = try #require(try await fixture.deliveryKey(id))
            // The restore: the row is gone and its id is handed out again.
            try await admin.query("DELETE FROM outbox", logger: fixture.logger)
            try await admin.query(
                PostgresQuery(unsafeSQL: "ALTER TABLE outbox ALTER COLUMN id RESTART WITH \(id)"),
                logger: fixture.logger)
            #expect(try await fixture.enqueue(message) == id)
            let secondKey = try #require(try await fixture.deliveryKey(id))
            #expect(secondKey != firstKey)
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 1, sent: 1))
            let ids = try await MailSink.mails(host: fixture.host).map(\.messageID)
            #expect(ids.count == 2 && Set(ids).count == 2, "\(ids)")
            #expect(
                ids.sorted()
                    == [
                        try OutboxDispatcher.messageID(row: id, key: firstKey, uid: "anna", host: fixture.host),
                        try OutboxDispatcher.messageID(row: id, key: secondKey, uid: "anna", host: fixture.host),
                    ].map(\.bracketed).sorted())
            func webhookID(_ key: UUID?) -> String {
                ClaimedDelivery(
                    id: 1, outboxID: id, subscription: "portal", attempts: 1, payload: "{}", createdAt: Date(),
                    deliveryKey: key
                ).webhookID
            }
            #expect(webhookID(firstKey) != webhookID(secondKey))
            #expect(webhookID(secondKey) == "msg_\(id)_\(secondKey.compactHex)_portal")
            // A row written before migration 25 keeps the ids it had (a retry in flight stays recognisable).
            #expect(webhookID(nil) == "msg_\(id)_portal")
            let legacy = try OutboxDispatcher.messageID(row: id, key: nil, uid: "anna", host: fixture.host)
            let prefix = "<freigabe.outbox.\(id)."
            #expect(legacy.bracketed.hasPrefix(prefix))
            #expect(legacy.bracketed.dropFirst(prefix.count).prefix { $0 != "@" }.count == 12, "only the uid's tag")
        }
    }

    @Test("SMTP drops the connection in the middle of DATA: sent again once, under the same Message-ID")
    func connectionLostDuringData() async throws {
        try await MailFixture.with(hostPrefix: "dropdata-") { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            let start = Date()
            let id = try await fixture.enqueue(
                fixture.message(.submitted, about: request, to: [MailFixture.person("anna")]), at: start)
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: start) == .init(claimed: 1, retried: 1))
            let lost = try #require(try await fixture.rows().first)
            #expect(lost.attempts == 1 && lost.sentAt == nil && lost.failedAt == nil && lost.deliveredTo.isEmpty)
            #expect(
                lost.lastError == "vorübergehend: anna: SMTP error: connectionClosed during messageContent, temporary")
            #expect(try await MailSink.mails(host: fixture.host).isEmpty, "the sink stored nothing")
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(6)) == .init(claimed: 1, sent: 1))
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.count == 1)
            let key = try #require(try await fixture.deliveryKey(id))
            let expected = try OutboxDispatcher.messageID(row: id, key: key, uid: "anna", host: fixture.host)
            #expect(mails.first?.messageID == expected.bracketed)
            let done = try #require(try await fixture.rows().first)
            #expect(done.attempts == 2 && done.sentAt != nil && done.lastError == nil && done.deliveredTo == ["anna"])
            #expect(
                try await dispatcher.runRound(now: start.addingTimeInterval(600)) == .init(), "nothing is sent twice")
        }
    }

    @Test("an SMTP server busy for a while (421 to the first two sessions): every mail arrives once")
    func serverBusyForAWhile() async throws {
        try await MailFixture.with(hostPrefix: "busy-") { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            let start = Date()
            for person in ["anna", "otto", "stefan"] {
                try await fixture.enqueue(
                    fixture.message(.submitted, about: request, to: [MailFixture.person(person)]), at: start)
            }
            let dispatcher = try fixture.dispatcher()
            // Refused twice (the pauses of the schedule: 5 s, then 60 s), then accepted.
            #expect(try await dispatcher.runRound(now: start) == .init(claimed: 3, retried: 3))
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(4)) == .init(), "not before its pause")
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(5)) == .init(claimed: 3, retried: 3))
            for row in try await fixture.rows() {
                #expect(row.attempts == 2 && row.sentAt == nil && row.failedAt == nil)
                #expect(row.lastError?.contains("421 4.3.2") == true, "\(row.lastError ?? "")")
                #expect(abs(row.availableAt.timeIntervalSince(start) - 65) < 0.01)
            }
            #expect(try await MailSink.mails(host: fixture.host).isEmpty)
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(65)) == .init(claimed: 3, sent: 3))
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(6000)) == .init())
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(
                mails.map(\.to).flatMap { $0 }.sorted() == [
                    "anna.albers@stadt.example", "otto.oberle@stadt.example", "stefan.stein@stadt.example",
                ])
            #expect(Set(mails.map(\.messageID)).count == 3)
            #expect(try await fixture.rows().allSatisfy { $0.attempts == 3 && $0.sentAt != nil && $0.lastError == nil })
        }
    }

    @Test("SMTP unreachable: rows stay pending with attempts and back-off, and go out once it is back")
    func serverDown() async throws {
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            let start = Date()
            let down = try fixture.dispatcher(port: try await MailFixture.closedPort())
            #expect(try await down.runRound(now: start) == .init(claimed: 2, retried: 2, sessionFailed: true))
            for row in try await fixture.rows() {
                #expect(row.attempts == 1 && row.sentAt == nil && row.failedAt == nil)
                #expect(row.lastError?.hasPrefix("vorübergehend: ") == true, "\(row.lastError ?? "")")
                #expect(row.lastError?.contains("connectionFailed") == true, "\(row.lastError ?? "")")
                #expect(abs(row.availableAt.timeIntervalSince(start) - 5) < 0.01)
            }
            let later = start.addingTimeInterval(6)
            #expect(try await down.runRound(now: later) == .init(claimed: 2, retried: 2, sessionFailed: true))
            for row in try await fixture.rows() {
                #expect(row.attempts == 2)
                #expect(abs(row.availableAt.timeIntervalSince(later) - 60) < 0.01)
            }
            #expect(try await MailSink.mails(host: fixture.host).isEmpty)

            let up = try fixture.dispatcher()
            #expect(try await up.runRound(now: later.addingTimeInterval(30)) == .init())
            #expect(try await up.runRound(now: later.addingTimeInterval(61)) == .init(claimed: 2, sent: 2))
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(
                mails.map(\.to).sorted { $0[0] < $1[0] } == [
                    ["anna.albers@stadt.example"], ["otto.oberle@stadt.example"],
                ])
            #expect(mails.allSatisfy { $0.subject.hasPrefix(request.number + ": ") })
            #expect(try await fixture.rows().allSatisfy { $0.sentAt != nil && $0.failedAt == nil })
        }
    }

    @Test(
        "a server that accepts the connection and never answers: the session ends at its deadline, rows retried",
        .runsAlone)
    func silentServer() async throws {
        try await MailFixture.with { fixture in
            _ = try await fixture.service.shared("baumkataster")
            // Half the lease is the session's deadline: 1 s here, far below the 30 s per SMTP step.
            let (silent, dispatcher) = try await Self.silentServer(fixture, lease: .seconds(2))
            let clock = ContinuousClock()
            let started = clock.now
            let report = try await dispatcher.runRound(now: Date())
            let elapsed = clock.now - started
            try await silent.close()
            #expect(report == .init(claimed: 2, retried: 2, sessionFailed: true))
            #expect(elapsed < .seconds(5), "\(elapsed)")
            for row in try await fixture.rows() {
                #expect(row.sentAt == nil && row.attempts == 1)
                #expect(row.lastError?.contains("timeout") == true, "\(row.lastError ?? "")")
            }
        }
    }

    /// An SMTP server that accepts connections and never answers, and a dispatcher sending to it whose
    /// sessions end at half of `lease`.
    static func silentServer(_ fixture: MailFixture, lease: Duration) async throws -> (Channel, OutboxDispatcher) {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        var settings = fixture.settings
        settings.lease = lease
        return (silent, try fixture.dispatcher(port: try #require(silent.localAddress?.port), settings: settings))
    }

    /// SIGTERM while a round talks to a slow SMTP server: the service lets the round end (its session
    /// deadline, half the lease) and records what happened, instead of leaving the rows claimed for the
    /// lease and sending them again afterwards.
    @Test("a graceful shutdown lets the mail round in flight finish and record its rows", .runsAlone)
    func shutdownFinishesTheRound() async throws {
        try await MailFixture.with { fixture in
            _ = try await fixture.service.shared("baumkataster")
            let (silent, dispatcher) = try await Self.silentServer(fixture, lease: .seconds(4))
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            let group = ServiceGroup(
                configuration: .init(
                    services: [OutboxDispatcherService(dispatcher: dispatcher, logger: logger)],
                    gracefulShutdownSignals: [], logger: logger))
            func claimed() async throws -> Int {
                let rows = try await fixture.service.admin.query(
                    "SELECT count(*)::int FROM outbox WHERE claim_token IS NOT NULL", logger: fixture.logger)
                return try await rows.decode(Int.self).first(where: { _ in true }) ?? 0
            }
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let clock = ContinuousClock()
                let started = clock.now
                while try await claimed() == 0 && clock.now - started < .seconds(10) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(try await claimed() == 2, "the round is talking to the silent server")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            try await silent.close()
            #expect(try await claimed() == 0, "every row recorded, none left under its lease")
            for row in try await fixture.rows() {
                #expect(row.attempts == 1 && row.sentAt == nil)
                #expect(row.lastError?.contains("timeout") == true, "\(row.lastError ?? "")")
            }
        }
    }

    /// An SMTP server that takes the first `accepted` messages and then never answers the end of the
    /// next one: what a slow relay does to a long session.
    final class StallingSMTPServer: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let accepted: Int
        private var buffer = ""
        private var inData = false
        private var messages = 0

        init(accepted: Int) { self.accepted = accepted }

        func channelActive(context: ChannelHandlerContext) {
            reply("220 stalling.test ESMTP", context: context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            buffer += String(buffer: unwrapInboundIn(data))
            while true {
                if inData {
                    guard let end = buffer.range(of: "\r\n.\r\n") else { return }
                    buffer.removeSubrange(..<end.upperBound)
                    inData = false
                    messages += 1
                    if messages <= accepted { reply("250 queued", context: context) }
                    continue
                }
                guard let end = buffer.range(of: "\r\n") else { return }
                let line = buffer[..<end.lowerBound].uppercased()
                buffer.removeSubrange(..<end.upperBound)
                if line.hasPrefix("EHLO") {
                    reply("250 stalling.test", context: context)
                } else if line.hasPrefix("DATA") {
                    inData = true
                    // The message may have arrived in the same read as the command.
                    buffer = "\r\n" + buffer
                    reply("354 go ahead", context: context)
                } else if line.hasPrefix("QUIT") {
                    reply("221 bye", context: context)
                } else {
                    reply("250 ok", context: context)
                }
            }
        }

        private func reply(_ text: String, context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
        }
    }

    /// The session's deadline ends it in the middle: the message the server took is recorded as
    /// delivered and never sent again; only the other row is retried.
    @Test("a session cut off at its deadline keeps what the server took: no mail is sent twice", .runsAlone)
    func deadlineKeepsWhatWasDelivered() async throws {
        try await MailFixture.with { fixture in
            _ = try await fixture.service.shared("baumkataster")
            let stalling = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(StallingSMTPServer(accepted: 1))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            var settings = fixture.settings
            settings.lease = .seconds(2)
            settings.smtp.security = .plaintext
            settings.smtp.credentials = nil
            let dispatcher = try fixture.dispatcher(port: try #require(stalling.localAddress?.port), settings: settings)
            let report = try await dispatcher.runRound(now: Date())
            try await stalling.close()
            #expect(report == .init(claimed: 2, sent: 1, retried: 1), "\(report)")
            let rows = try await fixture.rows()
            #expect(rows.filter { $0.sentAt != nil }.count == 1, "\(rows)")
            #expect(rows.filter { $0.sentAt == nil }.allSatisfy { $0.deliveredTo.isEmpty && $0.attempts == 1 })
        }
    }

    @Test("rows whose recipients are not looked up within a quarter of the lease go back untried")
    func lookupsBoundedByTheLease() async throws {
        try await MailFixture.with { fixture in
            _ = try await fixture.service.shared("baumkataster")
            var settings = fixture.settings
            // No time at all for lookups: as if the directory had taken the whole quarter.
            settings.lease = .zero
            let start = Date()
            let report = try await fixture.dispatcher(settings: settings).runRound(now: start)
            #expect(report == .init(claimed: 2, retried: 2), "\(report)")
            // Untried, they go back as they were: no attempt counted, no error, due at once.
            for row in try await fixture.rows() {
                #expect(row.attempts == 0 && row.sentAt == nil && row.deliveredTo.isEmpty && row.lastError == nil)
                #expect(abs(row.availableAt.timeIntervalSince(start)) < 0.01)
            }
            #expect(try await MailSink.mails(host: fixture.host).isEmpty)
            // With time for them, the next round sends both.
            let later = start.addingTimeInterval(1)
            #expect(try await fixture.dispatcher().runRound(now: later) == .init(claimed: 2, sent: 2))
        }
    }

    @Test("the retry schedule runs out: the row is marked failed")
    func scheduleRunsOut() async throws {
        try await MailFixture.with { fixture in
            _ = try await fixture.service.shared("baumkataster")
            var settings = fixture.settings
            settings.retrySchedule = RetrySchedule(delays: [.seconds(1)])
            let down = try fixture.dispatcher(port: try await MailFixture.closedPort(), settings: settings)
            let start = Date()
            #expect(try await down.runRound(now: start) == .init(claimed: 2, retried: 2, sessionFailed: true))
            #expect(
                try await down.runRound(now: start.addingTimeInterval(2))
                    == .init(claimed: 2, failed: 2, sessionFailed: true))
            for row in try await fixture.rows() {
                #expect(row.failedAt != nil && row.sentAt != nil && row.attempts == 2)
                #expect(row.lastError?.hasPrefix("aufgegeben nach 2 Versuchen; vorübergehend: ") == true)
            }
        }
    }

    @Test("two dispatchers at once send every row exactly once")
    func twoInstances() async throws {
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            for _ in 0..<50 {
                try await fixture.enqueue(fixture.message(.submitted, about: request, to: [MailFixture.person("anna")]))
            }
            let first = try fixture.dispatcher()
            let second = try fixture.dispatcher()
            @Sendable func drain(_ dispatcher: OutboxDispatcher) async throws -> Int {
                var sent = 0
                while true {
                    let report = try await dispatcher.runRound(now: Date())
                    if report.claimed == 0 { return sent }
                    sent += report.sent
                }
            }
            async let a = drain(first)
            async let b = drain(second)
            let (sentByFirst, sentBySecond) = try await (a, b)
            #expect(sentByFirst + sentBySecond == 50)
            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.count == 50)
            #expect(Set(mails.map(\.messageID)).count == 50)
            #expect(try await fixture.rows().allSatisfy { $0.sentAt != nil && $0.attempts == 1 })
        }
    }

    @Test("a mail row of a topic a newer release added is left to it: not attempted, not failed, still due")
    func unknownTopicIsLeftToANewerRelease() async throws {
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            let start = Date()
            let message = fixture.message(.submitted, about: request, to: [MailFixture.person("anna")])
            try await fixture.enqueue(message, at: start)
            let future = try await fixture.enqueue(message, at: start)
            // As a newer release writes it during a rolling update: a topic this one cannot word.
            try await fixture.service.admin.query(
                """
                UPDATE outbox SET topic = 'future_topic', payload = jsonb_set(payload, '{topic}', '"future_topic"')
                WHERE id = \(future)
                """, logger: fixture.logger)
            let dispatcher = try fixture.dispatcher()
            #expect(try await dispatcher.runRound(now: start) == .init(claimed: 1, sent: 1))
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(3600)) == .init())
            let row = try #require(try await fixture.rows().first { $0.id == future })
            #expect(row.topic == "future_topic" && row.attempts == 0 && row.lastError == nil)
            #expect(row.sentAt == nil && row.failedAt == nil)
            #expect(abs(row.availableAt.timeIntervalSince(start)) < 0.01, "due at once for an instance that knows it")
            // Nor does it wake this dispatcher every moment for a claim that leaves it alone.
            #expect(try await OutboxStore.nextDue(client: fixture.service.app, logger: fixture.logger) == nil)
        }
    }

    @Test(
        "a mail row of a known topic whose content this release cannot read is left for a newer one: pending, not failed, pushed back, nothing sent"
    )
    func unreadablePayloadIsLeftToANewerRelease() async throws {
        try await MailFixture.with { fixture in
            let request = try await fixture.service.shared("baumkataster")
            try await fixture.service.admin.query("DELETE FROM outbox", logger: fixture.logger)
            let start = Date()
            let message = fixture.message(.submitted, about: request, to: [MailFixture.person("anna")])
            let id = try await fixture.enqueue(message, at: start)
            // As a newer release might write it during a rolling update: a known topic, a changed shape.
            try await fixture.service.admin.query(
                """
                UPDATE outbox SET payload = (payload - 'recipients')
                    || jsonb_build_object('addressees', payload->'recipients')
                WHERE id = \(id)
                """, logger: fixture.logger)
            let dispatcher = try fixture.dispatcher()
            let schedule = fixture.settings.retrySchedule
            var report = try await dispatcher.runRound(now: start)
            #expect(report.claimed == 1 && report.sent == 0 && report.failed == 0 && report.retried == 0, "\(report)")
            var row = try #require(try await fixture.rows().first { $0.id == id })
            #expect(row.sentAt == nil && row.failedAt == nil, "not failed")
            #expect(row.attempts == 0, "the attempt is given back")
            #expect(row.lastError?.contains("nicht lesbar") == true, "\(row.lastError ?? "-")")
            let first = try #require(schedule.delay(afterFailedAttempts: 1, random: 0.5))
            #expect(abs(row.availableAt.timeIntervalSince(start) - Double(first.components.seconds)) < 0.01)
            // Not claimed before then; then again, and pushed back further (the schedule's second pause).
            #expect(try await dispatcher.runRound(now: start.addingTimeInterval(1)) == .init())
            let again = row.availableAt.addingTimeInterval(1)
            report = try await dispatcher.runRound(now: again)
            #expect(report.claimed == 1 && report.sent == 0 && report.failed == 0, "\(report)")
            row = try #require(try await fixture.rows().first { $0.id == id })
            let second = try #require(schedule.delay(afterFailedAttempts: 2, random: 0.5))
            #expect(abs(row.availableAt.timeIntervalSince(again) - Double(second.components.seconds)) < 0.01)
            #expect(row.attempts == 0 && row.sentAt == nil && row.failedAt == nil)
            #expect(try await MailSink.mails(host: fixture.host).isEmpty, "nothing sent")
            // An instance that reads it (here: the shape restored) sends it when due, its schedule fresh.
            try await fixture.service.admin.query(
                """
                UPDATE outbox SET payload = (payload - 'addressees')
                    || jsonb_build_object('recipients', payload->'addressees')
                WHERE id = \(id)
                """, logger: fixture.logger)
            #expect(try await dispatcher.runRound(now: row.availableAt) == .init(claimed: 1, sent: 1))
            row = try #require(try await fixture.rows().first { $0.id == id })
            #expect(row.attempts == 1 && row.sentAt != nil && row.failedAt == nil)
            #expect(try await MailSink.waitForMails(host: fixture.host, count: 1, within: 10).count == 1)
        }
    }

    @Test("CR/LF and markup in purpose, reason and title neither add headers nor markup")
    func hostileText() async throws {
        try await MailFixture.with { fixture in
            let purpose = "Planung\r\nBcc: evil@example.org\r\n<img src=x onerror=alert(1)>"
            let created = try await fixture.service.service.createRequest(
                NewRequest(
                    kind: .sharedData, datasetID: "baumkataster",
                    details: RequestDetails(
                        purpose: purpose,
                        recipient: RecipientInput(name: "Amt für Stadtentwicklung", type: .internal),
                        accessStart: Clock.start, accessEnd: Clock.days(60)),
                    submit: true),
                caller: People.anna, now: Clock.start, logger: fixture.logger)
            let reason = "Nein.\r\nBcc: evil@example.org\r\nSubject: gefälscht\r\n\r\n<script>alert(1)</script> & Co"
            _ = try await fixture.service.decide(created, by: People.otto, .reject(reason: reason), at: Clock.days(1))
            try await fixture.enqueue(
                fixture.message(
                    .requestDecision, about: created, to: [MailFixture.person("otto")],
                    title: "Baum\r\nBcc: evil@example.org\r\n<b>fett</b>"))
            let dispatcher = try fixture.dispatcher()
            // otto's first task was overtaken by his rejection: dropped unsent (``mootTaskMails``).
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 4, sent: 3, moot: 1))

            let mails = try await MailSink.mails(host: fixture.host)
            #expect(mails.count == 3)
            for mail in mails {
                #expect(!mail.headerNames.contains { $0.lowercased() == "bcc" }, "\(mail.headerNames)")
                #expect(mail.headerNames.filter { $0.lowercased() == "subject" }.count == 1)
                #expect(mail.to.count == 1 && mail.envelopeTo == mail.to[0])
                #expect(!mail.subject.contains("\r") && !mail.subject.contains("\n"))
                #expect(!mail.html.contains("<script") && !mail.html.contains("<img") && !mail.html.contains("<b>"))
                #expect(mail.defects.isEmpty, "\(mail.defects)")
            }
            let rejected = try #require(mails.first { $0.subject == "\(created.number): Ihr Antrag wurde abgelehnt" })
            #expect(rejected.html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"))
            #expect(rejected.html.contains("&lt;img src=x onerror=alert(1)&gt;"))
            // The text part is plain text: shown as typed, nothing to escape.
            #expect(rejected.text.contains("<script>alert(1)</script> & Co"))
            let titled = try #require(mails.first { $0.subject.contains("Baum") && $0.subject.contains("fett") })
            #expect(titled.subject.contains("Bcc: evil@example.org"))
            #expect(titled.html.contains("&lt;b&gt;fett&lt;/b&gt;"))
        }
    }

    /// An instance that cannot reach the mail server (its own network path, an old password during a
    /// rolling update) pauses after a failed session: batches of one, three due rows, and in the first
    /// second it has tried one row, not all three (a healthy instance takes the rest meanwhile).
    @Test("a failed SMTP session pauses this instance's claiming instead of using up every row's attempts")
    func failedSessionPausesClaiming() async throws {
        try await MailFixture.with { fixture in
            _ = try await fixture.service.shared("baumkataster")
            _ = try await fixture.service.shared("luftmessstationen")
            let due = try await fixture.rows().count
            #expect(due >= 3)
            var settings = fixture.settings
            settings.batchSize = 1
            settings.pollInterval = .seconds(600)
            let down = OutboxDispatcherService(
                dispatcher: try fixture.dispatcher(port: try await MailFixture.closedPort(), settings: settings),
                logger: fixture.logger)
            let running = Task { try await down.run() }
            try await Task.sleep(for: .seconds(1))
            running.cancel()
            try await running.value
            let tried = try await fixture.rows().filter { $0.attempts > 0 }
            #expect(tried.count == 1, "\(tried.count) of \(due) rows tried")
            #expect(tried.first?.lastError?.hasPrefix("vorübergehend: ") == true)
        }
    }

    @Test("LISTEN/NOTIFY: a committed command wakes the service, mail leaves within a second or two", .runsAlone)
    func notifyWakesTheService() async throws {
        try await MailFixture.with { fixture in
            var settings = fixture.settings
            // Only the notification can wake it within this test.
            settings.pollInterval = .seconds(600)
            let service = OutboxDispatcherService(
                dispatcher: try fixture.dispatcher(settings: settings), logger: fixture.logger)
            let running = Task { try await service.run() }
            // Let it claim nothing and start listening.
            try await Task.sleep(for: .seconds(1))
            let start = Date()
            _ = try await fixture.service.shared("baumkataster")
            let mails = try await MailSink.waitForMails(host: fixture.host, count: 2, within: 10)
            let elapsed = Date().timeIntervalSince(start)
            running.cancel()
            try await running.value
            #expect(mails.count == 2)
            #expect(elapsed < 3, "mail took \(elapsed) s")
        }
    }
}

@Suite("Outbox listener faults", .serialized)
struct OutboxListenerFaultTests {
    @Test("the listening connection is killed: the service listens again and the next command still wakes it")
    func listenerReconnects() async throws {
        try await MailFixture.with { fixture in
            var settings = fixture.settings
            settings.pollInterval = .seconds(600)
            let service = OutboxDispatcherService(
                dispatcher: try fixture.dispatcher(settings: settings), logger: fixture.logger)
            let running = Task { try await service.run() }
            try await Task.sleep(for: .seconds(1))
            // The application role may end its own sessions (as an administrator's pg_terminate_backend would).
            let killed = try await fixture.service.app.query(
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'
                """, logger: fixture.logger)
            #expect(try await killed.decode(Int.self).first(where: { _ in true }) == 1)
            // Back within the first pause (2 s) of the reconnect loop.
            try await Task.sleep(for: .seconds(3))
            _ = try await fixture.service.shared("baumkataster")
            let mails = try await MailSink.waitForMails(host: fixture.host, count: 2, within: 10)
            running.cancel()
            try await running.value
            #expect(mails.count == 2)
        }
    }

    /// A firewall that drops an idle connection without a word, or a failover, leaves the socket open
    /// with nobody answering on it: a stopped backend (SIGSTOP) is exactly that. Without a liveness
    /// check the listener waited on it forever, without a warning, and mail waited for the poll.
    @Test("the listening connection falls silent: the liveness check closes it, warns, and listens again", .runsAlone)
    func silentListenerIsReplaced() async throws {
        try await MailFixture.with { fixture in
            let lines = JSONLogTests.Lines()
            let logger = Logger(label: "freigabe") { label in
                JSONLogHandler(label: label) { line in lines.all.withLock { $0.append(line) } }
            }
            let listener = OutboxListener(
                client: fixture.service.app, logger: logger, livenessInterval: .milliseconds(500),
                livenessDeadline: .seconds(1))
            let doorbell = Doorbell()
            let running = Task { await listener.listen(ringing: doorbell) }
            let silent = try await Self.listeningBackend(fixture, besides: 0)
            // The tests run on the database's machine as root or as its owner, so they may stop it.
            #expect(kill(silent, SIGSTOP) == 0)
            defer { kill(silent, SIGCONT) }
            let replacement = try await Self.listeningBackend(fixture, besides: silent)
            #expect(replacement != silent)
            let warnings = lines.all.withLock { $0 }.filter {
                $0.contains("Listening for new outbox rows failed; polling until it is back")
            }
            #expect(warnings.count == 1 && warnings.first?.contains("did not answer within") == true, "\(warnings)")
            // Listening again: the reconnect rang once, and a notification rings at once.
            await doorbell.wait(atMost: .seconds(5))
            try await Database.transaction(fixture.service.app, logger: fixture.logger) { connection in
                try await connection.query("NOTIFY freigabe_outbox", logger: fixture.logger)
            }
            let started = ContinuousClock.now
            await doorbell.wait(atMost: .seconds(10))
            #expect(ContinuousClock.now - started < .seconds(3))
            running.cancel()
            await running.value
        }
    }

    /// A connection that fell silent while it sat in the pool: the listener's LISTEN on it waited for
    /// ever (the liveness check starts only once listening), and mail waited for the poll.
    @Test(
        "a LISTEN that is not answered: the connection is given up after the deadline, and listening starts anew",
        .runsAlone)
    func unansweredListenIsGivenUp() async throws {
        try await MailFixture.with { fixture in
            var settings = try DatabaseSettings(environment: try await fixture.databaseEnvironment())
            settings.maxConnections = 1
            let logger = fixture.logger
            try await Database.withClient(settings, logger: logger) { client in
                // The pool's one connection, stopped (SIGSTOP) while it waits in the pool.
                let silent = try await Database.transaction(client, logger: logger) { connection in
                    try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self)
                        .first(where: { _ in true })
                }
                let pid = try #require(silent)
                #expect(kill(pid, SIGSTOP) == 0)
                let listening = Mutex(false)
                let listener = OutboxListener(
                    client: client, logger: logger, livenessInterval: .seconds(60), livenessDeadline: .seconds(1))
                let running = Task {
                    await listener.listen { wake in if wake == .listening { listening.withLock { $0 = true } } }
                }
                var listened = false
                for _ in 0..<100 where !listened {
                    try await Task.sleep(for: .milliseconds(100))
                    listened = listening.withLock { $0 }
                }
                kill(pid, SIGCONT)
                #expect(listened, "still waiting for the LISTEN on the silent connection after 10 s")
                running.cancel()
                await running.value
            }
        }
    }

    /// The backend listening for outbox rows other than `besides`, as soon as there is one (20 s at most).
    static func listeningBackend(_ fixture: MailFixture, besides other: Int32) async throws -> Int32 {
        for _ in 0..<200 {
            // As the application role: only its own sessions' statements are shown to it. Through
            // Database.transaction, which takes another connection when the pool hands out the one the
            // listener closed.
            let pid = try await Database.transaction(fixture.service.app, logger: fixture.logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT pid FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> \(other)
                        AND (query ILIKE 'LISTEN%' OR query = \(OutboxListener.livenessCheck))
                    """, logger: fixture.logger)
                return try await rows.decode(Int32.self).first(where: { _ in true })
            }
            if let pid { return pid }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ListenerNotFound()
    }

    struct ListenerNotFound: Error {}
}

extension MailFixture {
    /// `FREIGABE_DB_*` for this test's database, as the CLI reads them.
    func databaseEnvironment() async throws -> [String: String] {
        let rows = try await service.app.query("SELECT current_database()", logger: logger)
        let name = try #require(try await rows.decode(String.self).first(where: { _ in true }))
        var environment = try StoreTestSupport.environment()
        environment["FREIGABE_DB_NAME"] = name
        return environment
    }
}

func metricsText(_ metrics: AppMetrics) throws -> String {
    metrics.registry.emitToString()
}

extension MailFixture {
    /// paul deputises for `principal` from yesterday until `until`.
    func paulDeputises(for principal: Caller, until: Date = Clock.days(7)) async throws {
        _ = try await service.service.createDeputyship(
            NewDeputyship(deputy: "paul", validFrom: Clock.days(-1), validUntil: until), caller: principal,
            now: Clock.days(-1), logger: logger)
    }
}
