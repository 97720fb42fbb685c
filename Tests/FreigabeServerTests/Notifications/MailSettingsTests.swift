import Foundation
import LDAPDirectory
import Logging
import PostgresNIO
import SMTPClient
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Mail settings, retry schedule, languages")
struct MailSettingsTests {
    /// With the public address every installation mailing beyond this machine needs (for the links).
    private func configuration(_ environment: [String: String]) async throws -> AppConfiguration {
        let environment = ["FREIGABE_WEB_PUBLIC_URL": "https://freigabe.stadt.example"].merging(environment) { $1 }
        return try AppConfiguration(reader: try await ConfigurationSources.reader(environment: environment))
    }

    @Test("no smtp.host: no mail settings, no dispatcher")
    func notConfigured() async throws {
        #expect(try await configuration([:]).mail == nil)
        #expect(try await configuration(["FREIGABE_MAIL_FROM": "freigabe@stadt.example"]).mail == nil)
    }

    @Test("every key read, password from a file, host name from the sender's domain by default")
    func allKeys() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("smtp-\(UUID().uuidString)")
        try Data("geheim\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let mail = try #require(
            try await configuration([
                "FREIGABE_SMTP_HOST": "mail.stadt.example", "FREIGABE_SMTP_PORT": "465",
                "FREIGABE_SMTP_SECURITY": "TLS",
                "FREIGABE_SMTP_USER": "svc-freigabe", "FREIGABE_SMTP_PASSWORD_FILE": file.path,
                "FREIGABE_SMTP_SERVER_NAME": "relay.stadt.example", "FREIGABE_MAIL_FROM": "freigabe@Stadt.Example",
                "FREIGABE_OUTBOX_RETRY_SCHEDULE": "10s, 2m, 1h, 1d", "FREIGABE_SMTP_CONNECT_TIMEOUT_SECONDS": "5",
                "FREIGABE_SMTP_COMMAND_TIMEOUT_SECONDS": "20", "FREIGABE_SMTP_DATA_TIMEOUT_SECONDS": "90",
            ]).mail)
        #expect(mail.smtp.connectTimeout == .seconds(5))
        #expect(mail.smtp.commandTimeout == .seconds(20))
        #expect(mail.smtp.dataTimeout == .seconds(90))
        #expect(mail.smtp.host == "mail.stadt.example")
        #expect(mail.smtp.port == 465)
        #expect(mail.smtp.security == .implicitTLS)
        #expect(mail.smtp.credentials == SMTPCredentials(username: "svc-freigabe", password: "geheim"))
        #expect(mail.smtp.tls.serverName == "relay.stadt.example")
        #expect(mail.smtp.clientHostname == "stadt.example")
        #expect(mail.hostName == "stadt.example")
        #expect(mail.from == Mailbox(try EmailAddress("freigabe@Stadt.Example"), displayName: "Freigabe"))
        #expect(mail.retrySchedule.delays == [.seconds(10), .seconds(120), .seconds(3600), .seconds(86_400)])
        // Defaults: STARTTLS on 587, the standard schedule.
        let plain = try #require(
            try await configuration([
                "FREIGABE_SMTP_HOST": "127.0.0.1", "FREIGABE_MAIL_FROM": "f@stadt.example",
                "FREIGABE_MAIL_HOST_NAME": "freigabe.stadt.example",
            ]).mail)
        #expect(plain.smtp.security == .startTLS && plain.smtp.port == 587 && plain.smtp.credentials == nil)
        #expect(plain.hostName == "freigabe.stadt.example")
        #expect(plain.retrySchedule == .standard)
        #expect(
            plain.smtp.connectTimeout == .seconds(10) && plain.smtp.commandTimeout == .seconds(30)
                && plain.smtp.dataTimeout == .seconds(120))
        #expect(!String(describing: mail).contains("geheim"))
    }

    @Test(
        "a bad value stops the start with a German message naming the key",
        arguments: [
            (["FREIGABE_SMTP_SECURITY": "ssl"], "smtp.security"),
            (["FREIGABE_SMTP_HOST": "smtp://mail.stadt.example"], "smtp.host"),
            (["FREIGABE_SMTP_HOST": "mail.stadt.example:587"], "smtp.host"),
            (["FREIGABE_SMTP_HOST": "10.0.0.25:587"], "smtp.host"), (["FREIGABE_SMTP_HOST": "cafe:25"], "smtp.host"),
            (["FREIGABE_SMTP_PORT": "0"], "smtp.port"),
            (["FREIGABE_MAIL_FROM": "kein at"], "mail.from"),
            (["FREIGABE_MAIL_FROM": ""], "mail.from"),
            (["FREIGABE_OUTBOX_RETRY_SCHEDULE": "5m, 1m"], "outbox.retry_schedule"),
            (["FREIGABE_OUTBOX_RETRY_SCHEDULE": "5 Minuten"], "outbox.retry_schedule"),
            (["FREIGABE_SMTP_USER": "svc"], "smtp.password"),
            (["FREIGABE_SMTP_PASSWORD": "x"], "smtp.user"),
            (["FREIGABE_SMTP_PASSWORD_FILE": "/nonexistent/smtp"], "smtp.password_file"),
            (["FREIGABE_SMTP_CA_FILE": "/nonexistent/ca.pem"], "smtp.host"),
            (
                ["FREIGABE_SMTP_SECURITY": "plain", "FREIGABE_SMTP_USER": "u", "FREIGABE_SMTP_PASSWORD": "p"],
                "smtp.host"
            ),
            (["FREIGABE_MAIL_HOST_NAME": "bad_name"], "mail.host_name"),
            (["FREIGABE_SMTP_CONNECT_TIMEOUT_SECONDS": "0"], "smtp.connect_timeout_seconds"),
            (["FREIGABE_SMTP_COMMAND_TIMEOUT_SECONDS": "121"], "smtp.command_timeout_seconds"),
            (["FREIGABE_SMTP_DATA_TIMEOUT_SECONDS": "zwei Minuten"], "smtp.data_timeout_seconds"),
            // Every mail in clear across the network: not without saying so.
            (["FREIGABE_SMTP_SECURITY": "plain"], "smtp.host"),
            (["FREIGABE_SMTP_SECURITY": "plain", "FREIGABE_SMTP_HOST": "127.example"], "smtp.host"),
            (["FREIGABE_SMTP_SECURITY": "plain", "FREIGABE_SMTP_HOST": "127.0.0.1.nip.io"], "smtp.host"),
            (
                ["FREIGABE_SMTP_SECURITY": "plain", "FREIGABE_SMTP_ALLOW_PLAIN_NON_LOOPBACK": "vielleicht"],
                "smtp.allow_plain_non_loopback"
            ),
        ])
    func badValues(overrides: [String: String], key: String) async throws {
        var environment = ["FREIGABE_SMTP_HOST": "mail.stadt.example", "FREIGABE_MAIL_FROM": "freigabe@stadt.example"]
        environment.merge(overrides) { _, new in new }
        let error = await #expect(throws: ConfigurationError.self) { try await configuration(environment) }
        #expect(error?.key == key)
        #expect(error?.description.contains("„\(key)“") == true || error?.description.contains(key) == true)
        #expect(error?.description.contains("geheim") == false)
    }

    @Test("plain SMTP: to a relay on this machine, or elsewhere only when allowed by name")
    func plainRelay() async throws {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"] {
            let mail = try await configuration([
                "FREIGABE_SMTP_HOST": host, "FREIGABE_SMTP_SECURITY": "plain", "FREIGABE_MAIL_FROM": "f@stadt.example",
            ]).mail
            #expect(mail?.smtp.security == .plaintext && mail?.smtp.port == 25, "\(host)")
        }
        let allowed = try await configuration([
            "FREIGABE_SMTP_HOST": "relay.stadt.example", "FREIGABE_SMTP_SECURITY": "plain",
            "FREIGABE_SMTP_ALLOW_PLAIN_NON_LOOPBACK": "true", "FREIGABE_MAIL_FROM": "f@stadt.example",
        ]).mail
        #expect(allowed?.smtp.allowPlaintextNonLoopback == true && allowed?.smtp.security == .plaintext)
        // The permission is for plain only; it changes nothing about TLS.
        let tls = try await configuration([
            "FREIGABE_SMTP_HOST": "relay.stadt.example", "FREIGABE_SMTP_ALLOW_PLAIN_NON_LOOPBACK": "true",
            "FREIGABE_MAIL_FROM": "f@stadt.example",
        ]).mail
        #expect(tls?.smtp.security == .startTLS)
    }

    @Test("retry schedule: pauses in order, jitter within ±20 %, none after the last")
    func retrySchedule() throws {
        let schedule = RetrySchedule.standard
        #expect(schedule.description == "5s, 1m, 5m, 30m, 2h, 6h, 1d")
        #expect(schedule.delay(afterFailedAttempts: 1, random: 0.5) == .seconds(5))
        #expect(schedule.delay(afterFailedAttempts: 1, random: 0) == .seconds(4))
        #expect(schedule.delay(afterFailedAttempts: 1, random: 1) == .seconds(6))
        #expect(schedule.delay(afterFailedAttempts: 7, random: 0.5) == .seconds(86_400))
        #expect(schedule.delay(afterFailedAttempts: 8, random: 0.5) == nil)
        #expect(schedule.delay(afterFailedAttempts: 0, random: 0.5) == nil)
        #expect(RetrySchedule.parse(schedule.description) == schedule)
        #expect(RetrySchedule.parse("") == nil)
        #expect(RetrySchedule.parse("0s") == nil)
        #expect(RetrySchedule.parse("8d") == nil)
        // Numbers whose seconds would not fit an Int are refused, not a crash at start.
        for huge in ["999999999999999d", "9223372036854775807s", "153722867280912931m", "2562047788015216h"] {
            #expect(RetrySchedule.parse(huge) == nil, "\(huge)")
        }
        #expect(RetrySchedule.parse("7d") == RetrySchedule.parse("604800s"))
        #expect(RetrySchedule.parse("168h")?.description == "7d")
    }

    @Test("language from preferredLanguage: English variants are English, everything else German")
    func languages() {
        #expect(MailPerson.language(preferred: "en") == "en")
        #expect(MailPerson.language(preferred: "en-GB") == "en")
        #expect(MailPerson.language(preferred: "EN_us") == "en")
        #expect(MailPerson.language(preferred: "de-DE") == "de")
        #expect(MailPerson.language(preferred: "fr") == "de")
        #expect(MailPerson.language(preferred: nil) == "de")
        #expect(MailPerson.language(preferred: "english") == "de")
        // The attribute's syntax is Accept-Language's (RFC 2798): lists, weights, blanks.
        for english in ["en;q=1", "en, de;q=0.5", " en ", "fr, en;q=0.5", "EN_GB;q=0.9"] {
            #expect(MailPerson.language(preferred: english) == "en", "\(english)")
        }
        for german in ["de, en;q=0.3", "en;q=0", "", "*"] {
            #expect(MailPerson.language(preferred: german) == "de", "\(german)")
        }
    }

    @Test("every topic has both parts in both languages; the text part is not HTML-escaped")
    func everyTopicRenders() async throws {
        let composer = MailComposer(
            renderer: try await TestSupport.makeRenderer(), workflows: StoreTestSupport.workflows)
        let pin = try #require(StoreTestSupport.workflows.current(for: .sharedData)).definition
        for topic in OutboxTopic.allCases where topic != .webhook {
            let message = OutboxMessage(
                topic: topic, requestID: UUID(), requestNumber: "FG-2026-000042", datasetID: "baumkataster",
                datasetTitle: "Bäume & <Sträucher>", kind: .sharedData,
                recipients: [OutboxRecipient(role: "requester", uid: "anna", group: nil)], step: "owner_review",
                deadline: Clock.days(7), mayDecide: true, overdueSince: Clock.days(8), text: "Warum <so>?",
                grantedUntil: Clock.days(60), licence: "dl-de-by-2.0", portalURL: "https://opendata.stadt.example/x")
            for language in ["de", "en"] {
                let person = MailPerson(
                    uid: "anna", displayName: "Anna <A>", mail: "a@stadt.example", language: language)
                let mail = try composer.compose(
                    message, details: RequestDetails(purpose: "Zweck & Ziel"), requester: "anna", definition: pin,
                    for: person)
                #expect(mail.subject.hasPrefix("FG-2026-000042"), "\(topic) \(language)")
                #expect(!mail.subject.contains("{"), "\(topic) \(language): \(mail.subject)")
                #expect(mail.text.contains("Bäume & <Sträucher>"), "\(topic) \(language)")
                #expect(mail.text.contains("Anna <A>,"), "\(topic) \(language)")
                #expect(mail.text.contains("Warum <so>?"), "\(topic) \(language)")
                #expect(!mail.text.contains("&lt;") && !mail.text.contains("&amp;"), "\(topic) \(language)")
                #expect(mail.html.contains("Bäume &amp; &lt;Sträucher&gt;"), "\(topic) \(language)")
                #expect(mail.html.contains("<html lang=\"\(language)\">"), "\(topic) \(language)")
                #expect(!mail.html.contains("<so>") && !mail.html.contains("<A>"), "\(topic) \(language)")
                let title = language == "de" ? "Prüfung durch den Data Owner" : "Data Owner review"
                #expect(mail.text.contains(title) && mail.html.contains(title), "\(topic) \(language)")
                #expect(!mail.text.contains("\n\n\n"), "\(topic) \(language)")
                // The licence by its name, as the pages show it, never by its key.
                #expect(!mail.text.contains("dl-de-by-2.0"), "\(topic) \(language)")
                if topic == .published {
                    let licence = language == "de" ? "Datenlizenz Deutschland – Namensnennung" : "Data licence Germany"
                    #expect(mail.text.contains(licence), "\(language)")
                }
            }
        }
    }

    /// The mail to the person a deputy decided for says who decided what, in words (never a raw code or
    /// an unfilled placeholder), and calls the deputy's text what the decision calls it; in every shape the
    /// engine writes: a step's decision in the principal's role or as the escalation instance, a revocation
    /// (no step; what the request states, and the deletion to see to), a discontinuation (always as the
    /// escalation instance, and not for a missed deadline).
    @Test("the principal's mail names the deputy and what they decided, for every outcome", arguments: ["de", "en"])
    func deputyDecidedWords(language: String) async throws {
        let renderer = try await TestSupport.makeRenderer()
        let composer = MailComposer(renderer: renderer, workflows: StoreTestSupport.workflows)
        let pin = try #require(StoreTestSupport.workflows.current(for: .sharedData)).definition
        let catalog = renderer.catalog(for: language)
        let escalation = language == "de" ? "als Eskalationsinstanz" : "as the escalation instance"
        let missedDeadline = language == "de" ? "Frist abgelaufen war" : "deadline had passed"
        let deletion = language == "de" ? "bestätigt die empfangende Stelle die Löschung" : "confirms the deletion"
        let recipient = "Amt für <Umwelt>"
        let shapes: [(Decision.Outcome, asEscalation: Bool)] = [
            (.approved, false), (.approved, true), (.rejected, false), (.rejected, true),
            (.changesRequested, false), (.changesRequested, true), (.revoked, false), (.discontinued, true),
        ]
        var labels: Set<String> = []
        for (outcome, asEscalation) in shapes {
            var message = OutboxMessage(
                topic: .deputyDecided, requestID: UUID(), requestNumber: "FG-2026-000042", datasetID: "baumkataster",
                datasetTitle: "Baumkataster", kind: .sharedData,
                recipients: [OutboxRecipient(role: "data_owner", uid: "otto", group: nil)],
                step: outcome == .revoked ? nil : "owner_review", text: "Nicht <so>.")
            message.decidedBy = "paul"
            message.outcome = outcome
            message.asEscalation = asEscalation
            let mail = try composer.compose(
                message,
                details: RequestDetails(purpose: "Zweck", recipient: RecipientInput(name: recipient, type: .external)),
                requester: "Anna Albers (anna)", definition: pin,
                for: MailPerson(uid: "otto", displayName: "Otto", mail: nil, language: language),
                decidedBy: "Paul <P> (paul)")
            let label = try #require(catalog["mail.decision.text_labels.\(outcome.rawValue)"])
            labels.insert(label)
            let context = "\(outcome) \(asEscalation)"
            #expect(mail.text.contains("Paul <P> (paul)"), "\(context)")
            #expect(mail.html.contains("Paul &lt;P&gt; (paul)") && !mail.html.contains("<P>"), "\(context)")
            #expect(mail.text.contains(label + ":\nNicht <so>."), "\(context): \(mail.text)")
            #expect(mail.html.contains("Nicht &lt;so&gt;."), "\(context)")
            #expect(!mail.text.contains("{") && !mail.subject.contains("{"), "\(context): \(mail.text)")
            #expect(mail.text.contains("Anna Albers (anna)"), "\(context)")
            #expect(mail.text.contains(escalation) == asEscalation, "\(context)")
            // The request's details and the deletion only after a revocation.
            #expect(mail.text.contains(recipient) == (outcome == .revoked), "\(context)")
            #expect(mail.text.contains(deletion) == (outcome == .revoked), "\(context)")
            #expect(mail.html.contains(deletion) == (outcome == .revoked), "\(context)")
            let lead = try #require(mail.text.split(separator: "\n").first { $0.contains("Paul <P> (paul)") })
            let title = language == "de" ? "„Prüfung durch den Data Owner“" : "“Data Owner review”"
            #expect(lead.contains(title) == (outcome != .revoked && outcome != .discontinued), "\(lead)")
            switch outcome {
            case .discontinued:
                #expect(!mail.text.contains(missedDeadline), "\(mail.text)")
            case .approved, .rejected:
                let words = try #require(catalog["mail.decision.outcomes.\(outcome.rawValue)"])
                #expect(lead.hasSuffix(words + "."), "\(lead)")
                #expect(mail.text.contains(missedDeadline) == asEscalation, "\(context)")
            case .changesRequested:
                #expect(lead.contains(language == "de" ? "eine Rückfrage" : "asked the requester a question"))
                #expect(mail.text.contains(missedDeadline) == asEscalation, "\(context)")
            case .revoked:
                #expect(lead.contains(language == "de" ? "die Freigabe" : "revoked the release"), "\(lead)")
            }
        }
        // A reason, a comment, a question: not one word for all.
        #expect(labels.count == 3, "\(labels)")
    }

    /// A workflow step may have no deadline (Workflows/README): its task mail then must not send the
    /// approver looking for a date that is not there.
    @Test("a task mail promises a deadline only when its step has one", arguments: ["de", "en"])
    func taskMailWithoutDeadline(language: String) async throws {
        let renderer = try await TestSupport.makeRenderer()
        let composer = MailComposer(renderer: renderer, workflows: StoreTestSupport.workflows)
        let catalog = renderer.catalog(for: language)
        let withDeadline = try #require(catalog["mail.request_decision.lead"])
        let withoutDeadline = try #require(catalog["mail.request_decision.lead_without_deadline"])
        let deadlineLabel = try #require(catalog["mail.facts.deadline"])
        let pin = try #require(StoreTestSupport.workflows.current(for: .sharedData)).definition
        let person = MailPerson(uid: "olaf", displayName: "Olaf O.", mail: "o@stadt.example", language: language)
        for deadline in [Clock.days(7), nil] {
            let message = OutboxMessage(
                topic: .requestDecision, requestID: UUID(), requestNumber: "FG-2026-000042",
                datasetID: "baumkataster", datasetTitle: "Baumkataster", kind: .sharedData,
                recipients: [OutboxRecipient(role: "data_owner", uid: "olaf", group: nil)], step: "owner_review",
                deadline: deadline, mayDecide: true)
            let mail = try composer.compose(
                message, details: RequestDetails(purpose: "Zweck"), requester: "anna", definition: pin, for: person)
            let deadlineRows = [(mail.text, "\(deadlineLabel): "), (mail.html, ">\(deadlineLabel)</th>")]
            for (part, deadlineRow) in deadlineRows {
                #expect(part.contains(withDeadline) == (deadline != nil), "\(language) \(String(describing: deadline))")
                #expect(part.contains(withoutDeadline) == (deadline == nil), "\(language)")
                #expect(part.contains(deadlineRow) == (deadline != nil), "\(language)")
            }
        }
    }

    /// Whoever decides from a mail decides on what it states: the task, the reminder and the escalation
    /// show every detail the request states, in the reader's language, escaped in HTML, with the
    /// branch of a parallel step; deadlines and access ends by their last day, as the pages show them.
    @Test("task mails state every detail, the branch, and deadlines by their last day; other mails only the purpose")
    func taskMailsStateEveryDetail() async throws {
        let composer = MailComposer(
            renderer: try await TestSupport.makeRenderer(), workflows: StoreTestSupport.workflows)
        let openData = try #require(StoreTestSupport.workflows.current(for: .openData)).definition
        let sharedData = try #require(StoreTestSupport.workflows.current(for: .sharedData)).definition
        // Friday 6 March 2026 + 5 working days: the deadline is the midnight that ends Friday 13 March.
        let deadline = try Date("2026-03-13T23:00:00Z", strategy: .iso8601)  // 14 March, 00:00 in Berlin
        let until = try Date("2026-06-30T22:00:00Z", strategy: .iso8601)  // 1 July, 00:00 in Berlin
        let shared = RequestDetails(
            purpose: "Stadtklima", recipient: RecipientInput(name: "Stadtwerke <GmbH>", type: .external),
            legalBasis: "Art. 6 Abs. 1 lit. e DSGVO", accessEnd: until)
        let check = OpenDataCheck(
            personalReference: CheckAnswer(applies: false), tradeSecrets: CheckAnswer(applies: true, note: "Lieferant"),
            thirdPartyRights: CheckAnswer(applies: false), security: CheckAnswer(applies: false),
            confidentiality: CheckAnswer(applies: false))
        let open = RequestDetails(
            purpose: "Transparenz", licence: "dl-de-zero-2.0", format: "CSV", anonymisationStatement: "aggregiert",
            openDataCheck: check)
        func message(_ topic: OutboxTopic, step: String, branch: String? = nil, kind: ReleaseKind) -> OutboxMessage {
            OutboxMessage(
                topic: topic, requestID: UUID(), requestNumber: "FG-2026-000042", datasetID: "baumkataster",
                datasetTitle: "Baumkataster", kind: kind,
                recipients: [OutboxRecipient(role: "data_owner", uid: "otto", group: nil)], step: step, branch: branch,
                deadline: deadline, overdueSince: deadline, grantedUntil: until)
        }
        let otto = MailPerson(uid: "otto", displayName: "Otto", mail: "o@stadt.example", language: "de")
        for topic in [OutboxTopic.requestDecision, .reminder, .escalated] {
            let mail = try composer.compose(
                message(topic, step: "owner_review", kind: .sharedData), details: shared, requester: "anna",
                definition: sharedData, for: otto)
            for fact in [
                "Antragsteller/in: anna", "Stadtwerke <GmbH> (", "Art. 6 Abs. 1 lit. e DSGVO", "30. Juni 2026",
                "13. März 2026",
            ] {
                #expect(mail.text.contains(fact), "\(topic): \(fact)")
            }
            #expect(!mail.text.contains("14. März 2026") && !mail.text.contains("00:00"), "\(topic)")
            #expect(mail.html.contains("Stadtwerke &lt;GmbH&gt;") && !mail.html.contains("<GmbH>"), "\(topic)")
        }
        let english = MailPerson(uid: "greta", displayName: "Greta", mail: "g@stadt.example", language: "en")
        let branchMail = try composer.compose(
            message(.requestDecision, step: "legal_review", branch: "exclusions_review", kind: .openData),
            details: open, requester: "anna", definition: openData, for: english)
        for fact in ["Requested by: anna", "Lieferant", "CSV", "aggregiert", "13 March 2026", " – "] {
            #expect(branchMail.text.contains(fact), "\(fact)\n\(branchMail.text)")
        }
        // The requester's own mails say what they asked for, not the details back.
        let granted = try composer.compose(
            message(.granted, step: "owner_review", kind: .sharedData), details: shared, requester: "anna",
            definition: sharedData, for: otto)
        #expect(granted.text.contains("Stadtklima") && !granted.text.contains("Stadtwerke"))
        #expect(granted.text.contains("Nutzung erlaubt bis: 30. Juni 2026 (einschließlich)"), "\(granted.text)")
    }

    /// The link page asks only for a comment or a reason: a step whose approval needs more (the
    /// publication's licence and portal address) gets no approve link, which could never succeed.
    /// An escalation with a set of links per branch heads each set by the branch's title, in the reader's
    /// language, escaped in HTML; a task's one set has no heading (its step's title names the branch).
    @Test("links of several branches are headed by the branch, in both languages; one set is not")
    func branchLinksAreHeaded() async throws {
        let composer = MailComposer(
            renderer: try await TestSupport.makeRenderer(), workflows: StoreTestSupport.jointReview)
        let pin = try #require(StoreTestSupport.jointReview.current(for: .sharedData)).definition
        var message = OutboxMessage(
            topic: .escalated, requestID: UUID(), requestNumber: "FG-2026-000042", datasetID: "baumkataster",
            datasetTitle: "Baumkataster", kind: .sharedData,
            recipients: [OutboxRecipient(role: "governance", uid: nil, group: nil)], step: "joint_review",
            mayDecide: true, overdueSince: Clock.days(7))
        message.branches = ["owner_part", "steward_part"]
        let sets = [
            BranchLinks(branch: "owner_part", tokens: [.approve: "owner-approve", .reject: "owner-reject"]),
            BranchLinks(branch: "steward_part", tokens: [.approve: "steward-approve", .reject: "steward-reject"]),
        ]
        for (language, owner, approve) in [
            ("de", "Für „Teil des Data Owners“:", "Zustimmen"), ("en", "For “Data Owner's part”:", "Approve"),
        ] {
            let person = MailPerson(
                uid: "greta", displayName: "Greta Graf", mail: "g@stadt.example", language: language)
            let mail = try composer.compose(
                message, details: RequestDetails(purpose: "Zweck"), requester: "Anna Albers (anna)", definition: pin,
                for: person, links: sets)
            #expect(
                mail.text.contains("  \(owner)\n  \(approve): http://127.0.0.1:8080/e/owner-approve\n"), "\(mail.text)")
            #expect(mail.text.contains("/e/steward-reject\n"))
            #expect(mail.html.contains(owner.replacingOccurrences(of: "'", with: "&#39;")), "\(mail.html)")
            let one = try composer.compose(
                message, details: RequestDetails(purpose: "Zweck"), requester: "anna", definition: pin, for: person,
                links: [sets[0]])
            #expect(one.text.contains(owner), "one set left of two: still headed by its branch")
            var task = message
            task.topic = .requestDecision
            task.branch = "owner_part"
            let taskMail = try composer.compose(
                task, details: RequestDetails(purpose: "Zweck"), requester: "anna", definition: pin, for: person,
                links: [sets[0]])
            #expect(!taskMail.text.contains(owner) && taskMail.text.contains("/e/owner-approve"))
        }
    }

    @Test("decision links follow the step's definition: no approve link where the approval needs details")
    func linkActionsFollowTheStep() async throws {
        let composer = MailComposer(
            renderer: try await TestSupport.makeRenderer(), workflows: StoreTestSupport.workflows)
        let openData = try #require(StoreTestSupport.workflows.current(for: .openData)).definition
        let sharedData = try #require(StoreTestSupport.workflows.current(for: .sharedData)).definition
        #expect(!(try #require(openData.step("publication"))).approvalRequires.isEmpty)
        #expect(composer.linkActions(step: "publication", definition: openData) == [.reject, .requestChanges])
        #expect(
            composer.linkActions(step: "owner_review", definition: sharedData) == [
                .approve, .reject, .requestChanges,
            ])
        for step in openData.steps where step.approvalRequires.isEmpty {
            #expect(composer.linkActions(step: step.id, definition: openData).first == .approve, "\(step.id)")
        }
    }
}

@Suite("Mail dispatcher wiring")
struct MailWiringTests {
    private let logger = Logger(label: "freigabe.mail.wiring.tests")
    private let client = PostgresClient(
        configuration: .init(host: "127.0.0.1", username: "nobody", password: nil, database: "none", tls: .disable))

    private func settings() throws -> MailSettings {
        MailSettings(
            smtp: SMTPConfiguration(host: "127.0.0.1", port: 2525, security: .plaintext),
            from: Mailbox(try EmailAddress("freigabe@stadt.example")), hostName: "freigabe.stadt.example")
    }

    @Test("no smtp.host or no directory: no dispatcher (the rows wait); both: one")
    func dispatcherOnlyWithServerAndDirectory() async throws {
        let renderer = try await TestSupport.makeRenderer()
        var configuration = TestSupport.configuration
        let directoryConfiguration = try #require(try await DirectoryFixtures.configuration().directory)
        let directory = try LDAPDirectory(configuration: directoryConfiguration, logger: logger)
        func make(_ directory: LDAPDirectory?) throws -> OutboxDispatcher? {
            try makeOutboxDispatcher(
                configuration: configuration, client: client, directory: directory, renderer: renderer,
                workflows: StoreTestSupport.workflows, metrics: AppMetrics(), logger: logger)
        }
        #expect(try make(directory) == nil)
        configuration.mail = try settings()
        #expect(try make(nil) == nil)
        #expect(try make(directory) != nil)
        await directory.shutdown()
    }

    @Test("a missing mail template stops the start, naming the file")
    func missingTemplate() async throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: TestSupport.templatesDirectory, toPath: copy.path)
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.removeItem(at: copy.appendingPathComponent("email/granted-html.mustache"))
        let renderer = try await PageRenderer.load(templatesDirectory: copy.path)
        var configuration = TestSupport.configuration
        configuration.mail = try settings()
        let directoryConfiguration = try #require(try await DirectoryFixtures.configuration().directory)
        let directory = try LDAPDirectory(configuration: directoryConfiguration, logger: logger)
        let error = #expect(throws: ConfigurationError.self) {
            try makeOutboxDispatcher(
                configuration: configuration, client: client, directory: directory, renderer: renderer,
                workflows: StoreTestSupport.workflows, metrics: AppMetrics(), logger: logger)
        }
        #expect(error?.code == .invalidTemplates)
        #expect(error?.description.contains("email/granted-html.mustache") == true)
        await directory.shutdown()
    }
}
