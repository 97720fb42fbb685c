import Foundation
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The engine's expiry notice and expiry timers, fired by the server's timer round with a chosen `now`:
/// outbox rows (mail to the requester and the Data Owner, one webhook), the mails in the SMTP sink, and
/// nothing for a grant revoked in the meantime.
@Suite("Grant expiring and expired: timers, mails, webhooks", .serialized)
struct GrantExpiryTests {
    /// `ServiceFixture.shared` grants until `Clock.start` + 60 days = Friday 1 May 2026, 10:00 Berlin (a
    /// holiday, but the access runs until then). Ten working days before that day in Hessen: 30, 29,
    /// 28, 27, 24, 23, 22, 21, 20, 17 April: the notice is due at the end of Friday 17 April, 24:00
    /// Berlin = 22:00 UTC.
    static let noticeDue = Clock.date("2026-04-17T22:00:00Z")
    static let accessEnd = Clock.days(60)

    /// A Shared Data request for baumkataster, as filed and as granted (otto approved on day 1, stefan on day 2).
    static func granted(_ fixture: ServiceFixture) async throws -> (created: RequestView, granted: RequestView) {
        let created = try await fixture.shared("baumkataster")
        let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
        return (created, try await fixture.decide(owner, by: People.stefan, at: Clock.days(2)))
    }

    /// anna asks for use from a day a month after the grant: her grant mail names that first day, in both
    /// parts; a grant whose use starts at once names only the end, as before.
    @Test("the grant mail names a later first day of use")
    func grantMailNamesALaterStart() async throws {
        try await MailFixture.with { mail in
            let fixture = mail.service
            let later = try await fixture.shared("baumkataster", accessStart: Clock.date("2026-03-31T22:00:00Z"))
            let atOnce = try await fixture.shared("baumkataster")
            for created in [later, atOnce] {
                let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
                #expect(try await fixture.decide(owner, by: People.stefan, at: Clock.days(2)).status.phase == .granted)
            }
            _ = try await mail.dispatcher().runRound(now: Date())
            let grants = try await MailSink.mails(host: mail.host).filter { $0.subject.contains("ist freigegeben") }
            let laterMail = try #require(grants.first { $0.subject.hasPrefix(later.number) })
            #expect(laterMail.text.contains("Nutzung erlaubt ab: 1. April 2026\n"), "\(laterMail.text)")
            #expect(laterMail.html.contains("Nutzung erlaubt ab</th><td style=\"padding:4px 0;\">1. April 2026</td>"))
            #expect(laterMail.text.contains("in der genannten Zeit genutzt werden"))
            let atOnceMail = try #require(grants.first { $0.subject.hasPrefix(atOnce.number) })
            #expect(!atOnceMail.text.contains("Nutzung erlaubt ab"), "\(atOnceMail.text)")
            #expect(atOnceMail.text.contains("Nutzung erlaubt bis: 1. Mai 2026"))
        }
    }

    /// Otto approved with a condition; Stefan asked a question, then approved with one of his own after
    /// the answer. The grant mail carries both conditions under their steps (Stefan's question is no
    /// condition); a grant without comments has no such section.
    @Test("the grant mail carries the conditions the approvers attached")
    func grantMailCarriesTheConditions() async throws {
        try await MailFixture.with { mail in
            let fixture = mail.service
            let created = try await fixture.shared("baumkataster")
            let owner = try await fixture.decide(
                created, by: People.otto, .approve(comment: "Nur aggregiert verwenden.", licence: nil, portalURL: nil),
                at: Clock.days(1))
            _ = try await fixture.decide(
                owner, by: People.stefan, .requestChanges(question: "Welche Bezirke?"), at: Clock.days(2))
            let answered = try await fixture.service.resubmit(
                requestID: created.id,
                changes: Resubmission(
                    comment: "Alle", changes: RequestDetails.Patch(values: RequestDetails(), given: [])),
                caller: People.anna, now: Clock.days(3), logger: mail.logger)
            #expect(answered.status.step == "steward_review", "\(answered.status)")
            let granted = try await fixture.decide(
                answered, by: People.stefan,
                .approve(comment: "Keine Weitergabe <b>an Dritte</b>.", licence: nil, portalURL: nil), at: Clock.days(3)
            )
            #expect(granted.status.phase == .granted)
            _ = try await mail.dispatcher().runRound(now: Date())
            let grant = try #require(
                try await MailSink.mails(host: mail.host).first { $0.subject.contains("ist freigegeben") })
            #expect(
                grant.text.contains(
                    "Hinweise und Auflagen aus der Prüfung:\n\nPrüfung durch den Data Owner:\nNur aggregiert verwenden.\n\n"
                        + "Freigabe durch das Data Stewardship der Domäne:\nKeine Weitergabe <b>an Dritte</b>.\n"),
                "\(grant.text)")
            #expect(!grant.text.contains("Welche Bezirke?"))
            #expect(grant.html.contains("Keine Weitergabe &lt;b&gt;an Dritte&lt;/b&gt;."), "\(grant.html)")

            let plain = try await fixture.shared("baumkataster")
            let plainOwner = try await fixture.decide(plain, by: People.otto, at: Clock.days(1))
            _ = try await fixture.decide(plainOwner, by: People.stefan, at: Clock.days(2))
            _ = try await mail.dispatcher().runRound(now: Date())
            let plainGrant = try #require(
                try await MailSink.mails(host: mail.host).first {
                    $0.subject.hasPrefix(plain.number) && $0.subject.contains("ist freigegeben")
                })
            #expect(!plainGrant.text.contains("Hinweise und Auflagen"), "\(plainGrant.text)")
        }
    }

    @Test("ten working days before the end the requester and the owner are mailed, at the end again")
    func noticeThenExpiry() async throws {
        try await MailFixture.with { mail in
            let fixture = mail.service
            let logger = mail.logger
            let (created, granted) = try await Self.granted(fixture)
            #expect(granted.status.phase == .granted)
            #expect(
                try await Self.timers(created.id, fixture) == [
                    Timer(kind: "expiry_notice", dueAt: Self.noticeDue, fired: false, cancelled: false),
                    Timer(kind: "expiry", dueAt: Self.accessEnd, fired: false, cancelled: false),
                ])

            #expect(
                try await fixture.service.fireDueTimers(now: Self.noticeDue.addingTimeInterval(-1), logger: logger) == 0
            )
            #expect(try await fixture.service.fireDueTimers(now: Self.noticeDue, logger: logger) == 1)
            #expect(
                try await fixture.outboxTopics(request: created.id)
                    == [
                        "submitted", "request_decision", "request_decision", "granted", "access_granted", "expiring",
                        "access_expiring",
                    ])
            let view = try await fixture.service.request(
                id: created.id, caller: People.anna, now: Self.noticeDue, logger: logger)
            #expect(view.status.phase == .granted)
            // The notice changes nothing of the request: its version (an open page's If-Match) stays.
            #expect(view.version == granted.version)

            // One webhook event, documented in openapi.yaml, with the end of access.
            let expiring = try await Self.webhooks(created.id, fixture).filter { $0.event == .grantExpiring }
            #expect(expiring.count == 1)
            let event = try #require(expiring.first)
            #expect(event.grantedUntil == Self.accessEnd)
            #expect(event.occurredAt == Self.noticeDue)
            let body = try #require(WebhookPayload(event, sequence: 1, createdAt: Date())).body()
            let value = try JSONDecoder().decode(JSONValue.self, from: body)
            let schema = JSONValue.object(["$ref": .string("#/components/schemas/WebhookEvent")])
            #expect(APITestSupport.validator.validate(value, against: schema, at: "$") == [])
            #expect(String(decoding: body, as: UTF8.self).contains(#""type":"grant.expiring""#))
            #expect(String(decoding: body, as: UTF8.self).contains(#""granted_until":"2026-05-01T08:00:00Z""#))

            let dispatcher = try mail.dispatcher()
            // The two task mails were overtaken by the decisions before the dispatcher ran: dropped unsent.
            #expect(try await dispatcher.runRound(now: Date()) == .init(claimed: 7, sent: 5, moot: 2))
            let notices = try await MailSink.mails(host: mail.host).filter { $0.subject.contains("läuft bald ab") }
            #expect(notices.map(\.to) == [["anna.albers@stadt.example"], ["otto.oberle@stadt.example"]])
            #expect(
                notices.map(\.subject) == [
                    "\(created.number): Die Freigabe läuft bald ab",
                    "\(created.number): Eine Freigabe Ihres Datensatzes läuft bald ab – Baumkataster",
                ])
            for notice in notices {
                #expect(notice.defects.isEmpty)
                #expect(notice.text.contains("Nutzung erlaubt bis: 1. Mai 2026 um 10:00 Uhr"))
                #expect(notice.html.contains("<td style=\"padding:4px 0;\">1. Mai 2026 um 10:00 Uhr</td>"))
                #expect(notice.text.contains("endet bald"))
                #expect(notice.html.contains("endet bald"))
            }
            // The owner learns which of the grants of the dataset it is: who has the data, who filed.
            #expect(notices[1].text.contains("Amt für Stadtentwicklung") && notices[1].text.contains("(anna)"))
            #expect(notices[1].html.contains("Amt für Stadtentwicklung"))

            #expect(try await fixture.service.fireDueTimers(now: Self.accessEnd, logger: logger) == 1)
            #expect(
                try await fixture.outboxTopics(request: created.id).suffix(2) == ["expired", "access_expired"])
            #expect(try await Self.webhooks(created.id, fixture).map(\.event).suffix(1) == [.grantExpired])
            #expect(try await dispatcher.runRound(now: Date()).sent == 2)
            let ended = try await MailSink.mails(host: mail.host).filter { $0.subject.contains("abgelaufen") }
            #expect(ended.map(\.to) == [["anna.albers@stadt.example"], ["otto.oberle@stadt.example"]])
            #expect(ended[1].text.contains("Amt für Stadtentwicklung") && ended[1].text.contains("(anna)"))
            #expect(
                try await fixture.auditEvents(request: created.id).suffix(3) == [
                    "ended", "expiry_announced", "expired",
                ])
        }
    }

    /// The server was down over both moments: the notice "access ends on 1 May" would arrive after 1 May.
    @Test("both timers due at once after the end: the expiry alone is told, the notice is moot")
    func noticeAfterTheEndIsMoot() async throws {
        try await ServiceFixture.with { fixture in
            let logger = fixture.logger
            let (created, _) = try await Self.granted(fixture)
            #expect(try await fixture.service.fireDueTimers(now: Self.accessEnd, logger: logger) == 2)
            #expect(try await fixture.outboxTopics(request: created.id).suffix(2) == ["expired", "access_expired"])
            #expect(try await !fixture.outboxTopics(request: created.id).contains("expiring"))
            #expect(try await Self.webhooks(created.id, fixture).map(\.event).suffix(1) == [.grantExpired])
            #expect(try await !Self.webhooks(created.id, fixture).map(\.event).contains(.grantExpiring))
            #expect(try await fixture.auditEvents(request: created.id).suffix(2) == ["ended", "expired"])
            let notice = try await fixture.admin.query(
                "SELECT last_error FROM timers WHERE request_id = \(created.id) AND kind = 'expiry_notice'",
                logger: logger
            ).decode(String?.self).first(where: { _ in true })
            #expect(notice??.hasPrefix("moot") == true, "\(String(describing: notice))")
        }
    }

    /// The steward revokes a grant: the requester is told, and so is the Data Owner, who answers for the
    /// dataset and follows up on the deletion. An owner who revokes gets no mail about it (the test above).
    @Test("a revocation by someone else tells the Data Owner, with the reason and who has the data")
    func revocationTellsTheOwner() async throws {
        try await MailFixture.with { mail in
            let fixture = mail.service
            let logger = mail.logger
            let (created, granted) = try await Self.granted(fixture)
            _ = try await fixture.service.revoke(
                requestID: granted.id, reason: "Missbrauch <b>gemeldet</b>", caller: People.stefan, now: Clock.days(10),
                logger: logger)
            #expect(try await fixture.outboxTopics(request: created.id).suffix(2) == ["revoked", "access_revoked"])
            try await fixture.admin.query("DELETE FROM outbox WHERE topic <> 'access_revoked'", logger: logger)
            #expect(try await mail.dispatcher().runRound(now: Date()).sent == 1)
            let toOwner = try #require(try await MailSink.mails(host: mail.host).first)
            #expect(toOwner.to == ["otto.oberle@stadt.example"])
            #expect(
                toOwner.subject == "\(created.number): Eine Freigabe Ihres Datensatzes wurde widerrufen – Baumkataster")
            #expect(toOwner.text.contains("Begründung des Widerrufs:\nMissbrauch <b>gemeldet</b>"), "\(toOwner.text)")
            #expect(toOwner.html.contains("Missbrauch &lt;b&gt;gemeldet&lt;/b&gt;"))
            #expect(toOwner.text.contains("Amt für Stadtentwicklung"), "who has the data")
        }
    }

    @Test("a grant revoked before the notice: both timers cancelled, no expiring or expired mail or webhook")
    func revokedBeforeNotice() async throws {
        try await ServiceFixture.with { fixture in
            let logger = fixture.logger
            let (created, granted) = try await Self.granted(fixture)
            _ = try await fixture.service.revoke(
                requestID: granted.id, reason: "Zweck entfallen", caller: People.otto, now: Clock.days(10),
                logger: logger)
            #expect(
                try await Self.timers(created.id, fixture) == [
                    Timer(kind: "expiry_notice", dueAt: Self.noticeDue, fired: false, cancelled: true),
                    Timer(kind: "expiry", dueAt: Self.accessEnd, fired: false, cancelled: true),
                ])
            #expect(try await fixture.service.fireDueTimers(now: Clock.days(90), logger: logger) == 0)
            let topics = try await fixture.outboxTopics(request: created.id)
            #expect(topics.last == "revoked", "the owner revoked: no mail to himself about it")
            #expect(!topics.contains("expiring") && !topics.contains("expired"))
            let events = try await Self.webhooks(created.id, fixture).compactMap(\.event)
            #expect(!events.contains(.grantExpiring) && !events.contains(.grantExpired))
        }
    }

    @Test("a timer fired after a revocation it was not cancelled by (an older row) is moot: no mail")
    func staleNoticeIsMoot() async throws {
        try await ServiceFixture.with { fixture in
            let logger = fixture.logger
            let (created, granted) = try await Self.granted(fixture)
            _ = try await fixture.service.revoke(
                requestID: granted.id, reason: "Zweck entfallen", caller: People.otto, now: Clock.days(10),
                logger: logger)
            // As if a notice row had escaped the cancellation (e.g. written by an older release).
            try await fixture.admin.query(
                "UPDATE timers SET cancelled_at = NULL WHERE request_id = \(created.id) AND kind = 'expiry_notice'",
                logger: logger)
            #expect(try await fixture.service.fireDueTimers(now: Self.noticeDue, logger: logger) == 1)
            let rows = try await fixture.admin.query(
                "SELECT last_error FROM timers WHERE request_id = \(created.id) AND kind = 'expiry_notice'",
                logger: logger)
            let note = try await rows.decode(String?.self).first(where: { _ in true }) ?? nil
            #expect(note == "moot: invalid_transition in closed:revoked")
            #expect(!(try await fixture.outboxTopics(request: created.id)).contains("expiring"))
        }
    }

    struct Timer: Equatable, CustomStringConvertible {
        var kind: String
        var dueAt: Date
        var fired: Bool
        var cancelled: Bool
        var description: String { "\(kind)@\(dueAt) fired:\(fired) cancelled:\(cancelled)" }
    }

    static func timers(_ request: UUID, _ fixture: ServiceFixture) async throws -> [Timer] {
        let rows = try await fixture.admin.query(
            """
            SELECT kind, due_at, fired_at IS NOT NULL, cancelled_at IS NOT NULL FROM timers
            WHERE request_id = \(request) AND kind IN ('expiry', 'expiry_notice') ORDER BY due_at
            """, logger: fixture.logger)
        var result: [Timer] = []
        for try await (kind, due, fired, cancelled) in rows.decode((String, Date, Bool, Bool).self) {
            result.append(Timer(kind: kind, dueAt: due, fired: fired, cancelled: cancelled))
        }
        return result
    }

    static func webhooks(_ request: UUID, _ fixture: ServiceFixture) async throws -> [OutboxMessage] {
        let rows = try await fixture.admin.query(
            "SELECT payload::text FROM outbox WHERE request_id = \(request) AND kind = 'webhook' ORDER BY id",
            logger: fixture.logger)
        var result: [OutboxMessage] = []
        for try await payload in rows.decode(String.self) {
            result.append(try OutboxMessage.decode(fromStoredJSON: payload))
        }
        return result
    }
}
