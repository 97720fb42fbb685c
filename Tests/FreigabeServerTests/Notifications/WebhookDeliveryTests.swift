import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// Webhooks from real commands (the EffectWriter's rows), through the real PostgreSQL, to a real HTTP
/// receiver on 127.0.0.1; signatures checked by the reference implementation (PyPI).
@Suite("Webhook delivery", .serialized)
struct WebhookDeliveryTests {
    @Test("every command's events become webhook rows in its transaction, beside the mail")
    func eventsFromCommands() async throws {
        try await ServiceFixture.with { fixture in
            let request = try await fixture.submittedRequest()
            _ = try await fixture.decide(request, by: People.otto, at: Clock.days(1))
            let rows = try await fixture.admin.query(
                "SELECT payload::text FROM outbox WHERE kind = 'webhook' AND request_id = \(request.id) ORDER BY id",
                logger: fixture.logger)
            var events: [WebhookEventType] = []
            for try await text in rows.decode(String.self) {
                let message = try OutboxMessage.decode(fromStoredJSON: text)
                #expect(message.topic == .webhook && message.recipients.isEmpty)
                events.append(try #require(message.event))
            }
            #expect(events == [.requestSubmitted, .stepAssigned, .requestDecided, .stepAssigned])
            // The mail rows are unchanged.
            #expect(
                try await fixture.outboxTopics(request: request.id) == [
                    "submitted", "request_decision", "request_decision",
                ])
        }
    }

    /// The log names the branch a decision was taken on; a receiver is told its step, and the branch
    /// where the step has several, as `request.step_assigned` named them. A revocation is at no step.
    @Test("a decision on a branch names the step and the branch; a revocation names no step")
    func decisionsNameTheirStep() async throws {
        @Sendable func decided(
            _ fixture: ServiceFixture, _ request: RequestView, _ event: String
        ) async throws -> [String] {
            let rows = try await fixture.admin.query(
                """
                SELECT coalesce(payload->>'step', '-') || ' ' || coalesce(payload->>'branch', '-') FROM outbox
                WHERE kind = 'webhook' AND request_id = \(request.id) AND payload->>'event' = \(event) ORDER BY id
                """, logger: fixture.logger)
            return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
        }
        try await ServiceFixture.with(workflows: StoreTestSupport.jointReview) { fixture in
            let request = try await fixture.shared("baumkataster")
            #expect(
                try await decided(fixture, request, "request.step_assigned") == [
                    "joint_review owner_part", "joint_review steward_part", "joint_review privacy_part",
                ])
            try await fixture.decide(request, by: People.otto, at: Clock.days(1), branch: "owner_part")
            #expect(try await decided(fixture, request, "request.decided") == ["joint_review owner_part"])
            try await fixture.decide(
                request, by: People.stefan, .reject(reason: "Nein"), at: Clock.days(2), branch: "steward_part")
            #expect(try await decided(fixture, request, "request.rejected") == ["joint_review steward_part"])
        }
        try await ServiceFixture.with { fixture in
            let (_, granted) = try await GrantExpiryTests.granted(fixture)
            #expect(try await decided(fixture, granted, "request.decided") == ["owner_review -", "steward_review -"])
            _ = try await fixture.service.revoke(
                requestID: granted.id, reason: "Missbrauch", caller: People.stefan, now: Clock.days(10),
                logger: fixture.logger)
            #expect(try await decided(fixture, granted, "grant.revoked") == ["- -"])
        }
    }

    /// A draft is announced to nobody; its withdrawal would name a request no receiver has heard of.
    @Test("withdrawing a draft writes no webhook; withdrawing a submitted request writes request.withdrawn")
    func draftWithdrawalIsNotAnnounced() async throws {
        try await ServiceFixture.with { fixture in
            func events(_ request: RequestView) async throws -> [String] {
                let rows = try await fixture.admin.query(
                    "SELECT payload->>'event' FROM outbox WHERE kind = 'webhook' AND request_id = \(request.id) ORDER BY id",
                    logger: fixture.logger)
                return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
            }
            let draft = try await fixture.shared("baumkataster", submit: false)
            _ = try await fixture.service.withdraw(
                requestID: draft.id, caller: People.anna, now: Clock.days(0.1), logger: fixture.logger)
            #expect(try await events(draft) == [])
            let submitted = try await fixture.submittedRequest()
            _ = try await fixture.service.withdraw(
                requestID: submitted.id, caller: People.anna, now: Clock.days(0.1), logger: fixture.logger)
            #expect(try await events(submitted) == ["request.submitted", "request.step_assigned", "request.withdrawn"])
        }
    }

    @Test(
        "events no configured subscription wants are not written: none without subscriptions, only the wanted types with one"
    )
    func onlyWantedEventsWritten() async throws {
        try await ServiceFixture.with { base in
            func fixture(_ subscriptions: [WebhookSettings.Subscription]) -> ServiceFixture {
                let service = RequestService(
                    client: base.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                    principals: People.resolver, webhookEvents: WebhookEventSelection(subscriptions: subscriptions))
                return ServiceFixture(service: service, app: base.app, admin: base.admin)
            }
            func webhookEvents(_ request: RequestView) async throws -> [WebhookEventType] {
                let rows = try await base.admin.query(
                    "SELECT payload::text FROM outbox WHERE kind = 'webhook' AND request_id = \(request.id) ORDER BY id",
                    logger: base.logger)
                var events: [WebhookEventType] = []
                for try await text in rows.decode(String.self) {
                    events.append(try #require(try OutboxMessage.decode(fromStoredJSON: text).event))
                }
                return events
            }
            let unsubscribed = fixture([])
            let quiet = try await unsubscribed.submittedRequest()
            try await unsubscribed.decide(quiet, by: People.otto, at: Clock.days(1))
            #expect(try await webhookEvents(quiet) == [])
            #expect(
                try await base.outboxTopics(request: quiet.id) == [
                    "submitted", "request_decision", "request_decision",
                ],
                "mail is written as before")

            let decisionsOnly = fixture(
                WebhookTestSupport.settings(url: "http://127.0.0.1:9/hook", events: [.requestDecided]).subscriptions)
            let watched = try await decisionsOnly.submittedRequest()
            try await decisionsOnly.decide(watched, by: People.otto, at: Clock.days(1))
            #expect(try await webhookEvents(watched) == [.requestDecided])

            let everything = fixture(
                WebhookTestSupport.settings(url: "http://127.0.0.1:9/hook", events: [.requestDecided]).subscriptions
                    + WebhookTestSupport.settings(url: "http://127.0.0.1:9/all", events: nil).subscriptions)
            let all = try await everything.submittedRequest()
            try await everything.decide(all, by: People.otto, at: Clock.days(1))
            #expect(try await webhookEvents(all) == [.requestSubmitted, .stepAssigned, .requestDecided, .stepAssigned])
        }
    }

    @Test("500 three times, then 200: delivered on the 4th attempt, same webhook-id, verified by the reference")
    func retriedUntilDelivered() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ index, _ in .init(status: index < 3 ? 500 : 200) }) { port, receiver in
                let metrics = AppMetrics()
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook"), metrics: metrics)
                let request = try await fixture.submittedRequest()
                let start = Date()
                var reports: [WebhookDispatcher.RoundReport] = []
                for round in 0..<4 {
                    reports.append(try await dispatcher.runRound(now: start.addingTimeInterval(Double(round) * 2)))
                }
                #expect(reports.map(\.retried) == [1, 1, 1, 0])
                #expect(reports.map(\.delivered) == [0, 0, 0, 1])
                #expect(reports[0].fannedOut == 2, "both events handled, only request.submitted subscribed")
                // Nothing left: a fifth round sends nothing.
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(10)).claimed == 0)
                let requests = receiver.requests
                #expect(requests.count == 4)
                let ids = Set(requests.map { $0.headers["webhook-id"] ?? "" })
                #expect(
                    ids.count == 1 && ids.first?.hasPrefix("msg_") == true && ids.first?.hasSuffix("_portal") == true)
                #expect(Set(requests.map(\.body)).count == 1, "the same body on every attempt")
                for received in requests {
                    #expect(
                        try await WebhookTestSupport.verifyWithReference(received, secret: WebhookTestSupport.secret)
                            == "request.submitted")
                    #expect(received.headers["content-type"] == "application/json")
                }
                let body = try #require(
                    try JSONSerialization.jsonObject(with: requests[3].body) as? [String: Any])
                let data = try #require(body["data"] as? [String: Any])
                #expect(data["request_id"] as? String == request.id.uuidString.lowercased())
                #expect(data["request_number"] as? String == request.number)
                #expect(data["dataset_id"] as? String == "baumkataster")
                #expect(body["version"] as? Int == 1)
                let text = String(decoding: requests[3].body, as: UTF8.self)
                #expect(!text.contains("anna") && !text.contains("Grünflächen"), "no requester, no purpose")
                #expect(
                    try await WebhookTestSupport.deliveries(fixture) == [
                        .init(
                            subscription: "portal", event: "request.submitted", attempts: 4, delivered: true,
                            failed: false, status: 200, error: nil)
                    ])
                let exposition = metrics.registry.emitToString()
                #expect(
                    exposition.contains(
                        #"freigabe_webhook_deliveries_total{subscription="portal",outcome="retried"} 3"#)
                        || exposition.contains(
                            #"freigabe_webhook_deliveries_total{outcome="retried",subscription="portal"} 3"#)
                )
            }
        }
    }

    @Test("a delivery of an event type a newer release added is left to it: not attempted, not failed, still due")
    func unknownEventIsLeftToANewerRelease() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 200) }) { port, receiver in
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", events: nil))
                _ = try await fixture.submittedRequest()
                // As a newer release writes it during a rolling update: an event type this one cannot send.
                try await fixture.admin.query(
                    """
                    UPDATE outbox SET payload = jsonb_set(payload, '{event}', '"request.future_event"')
                    WHERE kind = 'webhook' AND payload->>'event' = 'request.step_assigned'
                    """, logger: fixture.logger)
                let start = Date()
                let first = try await dispatcher.runRound(now: start)
                #expect(first.fannedOut == 2 && first.claimed == 1 && first.delivered == 1 && first.failed == 0)
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(3600)).claimed == 0)
                #expect(receiver.requests.count == 1)
                #expect(
                    try await WebhookTestSupport.deliveries(fixture).sorted { $0.event < $1.event } == [
                        .init(
                            subscription: "portal", event: "request.future_event", attempts: 0, delivered: false,
                            failed: false, status: nil, error: nil),
                        .init(
                            subscription: "portal", event: "request.submitted", attempts: 1, delivered: true,
                            failed: false, status: 200, error: nil),
                    ])
                let due = try await fixture.admin.query(
                    "SELECT available_at <= \(start) FROM webhook_deliveries WHERE event = 'request.future_event'",
                    logger: fixture.logger)
                #expect(try await due.decode(Bool.self).first(where: { _ in true }) == true)
                // Nor does it wake this dispatcher every moment for a claim that leaves it alone.
                #expect(
                    try await WebhookStore.nextDue(
                        subscription: try #require(dispatcher.settings.subscriptions.first), client: fixture.app,
                        logger: fixture.logger) == nil)
            }
        }
    }

    /// An older instance in a rolling update claims a delivery a newer one wrote in a shape it cannot
    /// read: it failed it for good, and the event was lost for the receiver. Now it is left for an
    /// instance that reads it, by the rule mail rows follow (``RetrySchedule/pauseWhileUnreadable(age:random:)``).
    @Test(
        "a delivery whose content this release cannot read is left for a newer one: never failed, no attempt counted; readable, it is sent"
    )
    func unreadablePayloadIsRetried() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 200) }) { port, receiver in
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", events: nil))
                _ = try await fixture.submittedRequest()
                // A known event type, a changed shape (a field renamed).
                try await fixture.admin.query(
                    """
                    UPDATE outbox SET payload = (payload - 'requestNumber')
                        || jsonb_build_object('number', payload->'requestNumber')
                    WHERE kind = 'webhook' AND payload->>'event' = 'request.step_assigned'
                    """, logger: fixture.logger)
                let start = Date()
                let first = try await dispatcher.runRound(now: start)
                #expect(first.claimed == 2 && first.delivered == 1 && first.failed == 0, "\(first)")
                let spoiled = try #require(
                    try await WebhookTestSupport.deliveries(fixture).first { $0.event == "request.step_assigned" })
                #expect(!spoiled.failed && !spoiled.delivered && spoiled.attempts == 0, "\(spoiled)")
                #expect(spoiled.error == RetrySchedule.unreadableError)
                // Claimed again long after its four-attempt schedule would have run out: still pending.
                for round in 1...6 {
                    let again = try await dispatcher.runRound(now: start.addingTimeInterval(Double(round) * 600))
                    #expect(again.claimed == 1 && again.failed == 0, "round \(round): \(again)")
                }
                let waiting = try #require(
                    try await WebhookTestSupport.deliveries(fixture).first { $0.event == "request.step_assigned" })
                #expect(!waiting.failed && !waiting.delivered && waiting.attempts == 0, "\(waiting)")
                // Readable again (as for a newer instance): sent at its next attempt.
                try await fixture.admin.query(
                    """
                    UPDATE outbox SET payload = (payload - 'number')
                        || jsonb_build_object('requestNumber', payload->'number')
                    WHERE kind = 'webhook' AND payload->>'event' = 'request.step_assigned'
                    """, logger: fixture.logger)
                let later = try await dispatcher.runRound(now: start.addingTimeInterval(86_400))
                #expect(later.delivered == 1, "\(later)")
                #expect(receiver.requests.count == 2)
            }
        }
    }

    @Test("a receiver that hangs: the attempt ends at the timeout and is retried", .runsAlone)
    func hangingReceiver() async throws {
        try await ServiceFixture.with { fixture in
            let script: WebhookReceiver.Script = { index, _ in
                index == 0 ? .init(status: 200, delay: .seconds(20)) : .init()
            }
            try await WebhookReceiver.run(script) { port, receiver in
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", timeout: .seconds(1)))
                _ = try await fixture.submittedRequest()
                let start = Date()
                let clock = ContinuousClock()
                let began = clock.now
                let first = try await dispatcher.runRound(now: start)
                #expect(clock.now - began < .seconds(5), "bounded by the 1 s timeout")
                #expect(first.retried == 1)
                let row = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                #expect(row.error?.hasPrefix("Zeitüberschreitung") == true, "\(row.error ?? "")")
                #expect(row.status == nil)
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(2)).delivered == 1)
                #expect(receiver.requests.count == 2)
                #expect(receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"])
            }
        }
    }

    @Test("410 Gone disables the subscription, in the database and the metrics; later events are not sent")
    func goneDisables() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 410) }) { port, receiver in
                let metrics = AppMetrics()
                let settings = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", events: nil)
                let dispatcher = try await WebhookTestSupport.dispatcher(fixture, settings, metrics: metrics)
                let request = try await fixture.submittedRequest()
                let start = Date()
                let report = try await dispatcher.runRound(now: start)
                #expect(report.disabled == ["portal"])
                #expect(report.failed >= 1)
                let sent = receiver.requests.count
                #expect(sent >= 1 && sent <= 2)
                func switchedOff() async throws -> [String] {
                    try await WebhookStore.outOfService(now: start, client: fixture.app, logger: fixture.logger)
                        .filter { $0.disabledAt != nil }.map(\.name)
                }
                #expect(try await switchedOff() == ["portal"])
                // The operator's listing says so.
                let offListed = await OutboxTool.list(
                    failed: false, environment: try await fixture.databaseEnvironment())
                #expect(
                    offListed.standardOutput.contains { $0.hasPrefix("webhook subscription portal disabled since ") })
                _ = try await fixture.decide(request, by: People.otto, at: Clock.days(1))
                _ = try await dispatcher.runRound(now: start.addingTimeInterval(5))
                _ = try await dispatcher.runRound(now: start.addingTimeInterval(10))
                #expect(receiver.requests.count == sent, "nothing more after the 410")
                // Registering again with the same URL keeps it off; a new URL enables it.
                try await dispatcher.register(now: start)
                #expect(try await switchedOff().count == 1)
                let moved = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/new", events: nil)
                try await WebhookStore.register(
                    moved.subscriptions, now: start, client: fixture.app, logger: fixture.logger)
                #expect(try await switchedOff().isEmpty)
                #expect(metrics.registry.emitToString().contains("freigabe_webhook_subscriptions_disabled_total"))
                let listed = await OutboxTool.list(failed: true, environment: try await fixture.databaseEnvironment())
                #expect(listed.standardOutput.contains { $0.contains("\tportal\t") && $0.contains("410") })
            }
        }
    }

    @Test("a subscription pointed at a new receiver gives up what waited for the old one; the new gets none of it")
    func repointedGivesUpOldDeliveries() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 503) }) { port, receiver in
                let old = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", events: nil)
                let dispatcher = try await WebhookTestSupport.dispatcher(fixture, old)
                _ = try await fixture.submittedRequest()
                let start = Date()
                #expect(try await dispatcher.runRound(now: start).retried >= 1)
                let waiting = try await WebhookTestSupport.deliveries(fixture)
                #expect(!waiting.isEmpty && waiting.allSatisfy { !$0.failed && !$0.delivered })
                let moved = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/new", events: nil)
                try await WebhookStore.register(
                    moved.subscriptions, now: start, client: fixture.app, logger: fixture.logger)
                let given = try await WebhookTestSupport.deliveries(fixture)
                #expect(given.count == waiting.count)
                #expect(given.allSatisfy { $0.failed && $0.error?.contains("Empfänger geändert") == true }, "\(given)")
                _ = try await WebhookTestSupport.dispatcher(fixture, moved).runRound(
                    now: start.addingTimeInterval(3600))
                #expect(!receiver.requests.contains { $0.path == "/new" })
                // Registering the same URL again gives up nothing more.
                try await WebhookStore.register(
                    moved.subscriptions, now: start, client: fixture.app, logger: fixture.logger)
                #expect(try await WebhookTestSupport.deliveries(fixture) == given)
                // Nor does a manual retry of one of them (`freigabe outbox retry w<id>`, the outbox page).
                for try await id in try await fixture.admin.query(
                    "SELECT id FROM webhook_deliveries", logger: fixture.logger
                ).decode(Int64.self) {
                    let later = start.addingTimeInterval(7200)
                    #expect(
                        try await WebhookStore.retry(
                            id: id, by: OutboxRetry(actor: "adam", via: .web), now: later, client: fixture.app,
                            logger: fixture.logger) == false)
                }
                _ = try await WebhookTestSupport.dispatcher(fixture, moved).runRound(
                    now: start.addingTimeInterval(7200))
                #expect(!receiver.requests.contains { $0.path == "/new" })
                #expect(try await WebhookTestSupport.deliveries(fixture) == given)
            }
        }
    }

    /// During a rolling change of a subscription's URL, an instance not yet restarted claimed its
    /// deliveries too and sent events that happened after the change to the former receiver.
    @Test("an instance still configured with a subscription's former address sends it nothing after the change")
    func staleInstanceSendsNothing() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 204) }) { port, receiver in
                let stale = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", events: nil))
                let current = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/new", events: nil))
                _ = try await fixture.submittedRequest()
                let now = Date()
                #expect(try await stale.runRound(now: now).delivered == 0)
                #expect(receiver.requests.isEmpty)
                #expect(try await current.runRound(now: now).delivered >= 1)
                #expect(!receiver.requests.isEmpty && receiver.requests.allSatisfy { $0.path == "/new" })

                // The stale instance is restarted (kill -9, a supervisor) with its configuration unchanged:
                // it registers the former address again, which takes the subscription back no more.
                let delivered = receiver.requests.count
                #expect(try await stale.register(now: Date(timeIntervalSince1970: 0)) == ["portal"])
                _ = try await fixture.submittedRequest()
                #expect(try await stale.runRound(now: Date()).delivered == 0)
                #expect(try await current.runRound(now: Date()).delivered >= 1)
                #expect(receiver.requests.count > delivered)
                #expect(receiver.requests.allSatisfy { $0.path == "/new" }, "\(receiver.requests.map(\.path))")
                let given = try await WebhookTestSupport.deliveries(fixture).filter {
                    $0.error?.hasPrefix("Empfänger geändert") == true
                }
                #expect(given.isEmpty, "no delivery for the new address given up: \(given)")
            }
        }
    }

    /// While the instances' settings differ (a subscription `erp` added, the instances restarted one by
    /// one), an event fanned out by the instance without `erp` still reaches it: the fan-out serves every
    /// subscription some instance has registered recently, each with its filter as registered. One no
    /// instance has said it has for longer than ten minutes (removed everywhere) gets nothing new.
    @Test("an instance without a subscription fans events out to it as registered by another")
    func fanOutServesOtherInstancesSubscriptions() async throws {
        try await ServiceFixture.with { fixture in
            func subscription(_ name: String, events: Set<WebhookEventType>?) -> WebhookSettings.Subscription {
                WebhookSettings.Subscription(
                    name: name, url: URL(string: "http://127.0.0.1:9/\(name)")!, secrets: [WebhookTestSupport.secret],
                    events: events)
            }
            var both = WebhookTestSupport.settings(url: "http://127.0.0.1:9/portal", events: [.requestSubmitted])
            both.subscriptions.append(subscription("erp", events: [.requestSubmitted, .stepAssigned]))
            let older = WebhookTestSupport.settings(url: "http://127.0.0.1:9/portal", events: [.requestSubmitted])
            let withErp = try await WebhookTestSupport.dispatcher(fixture, both)
            let withoutErp = try await WebhookTestSupport.dispatcher(fixture, older)
            _ = withErp
            // Registered now: seen within the last ten minutes.
            try await fixture.admin.query("UPDATE webhook_subscriptions SET seen_at = now()", logger: fixture.logger)
            _ = try await fixture.submittedRequest()
            let fanned = try await withoutErp.fanOut(now: Date())
            #expect(fanned.receiving == ["portal", "erp"], "\(fanned)")
            let rows = try await WebhookTestSupport.deliveries(fixture)
            #expect(
                rows.filter { $0.subscription == "erp" }.map(\.event).sorted() == [
                    "request.step_assigned", "request.submitted",
                ], "\(rows)")
            #expect(rows.filter { $0.subscription == "portal" }.map(\.event) == ["request.submitted"], "\(rows)")

            // erp removed from every instance's settings: nobody has said so for eleven minutes.
            try await fixture.admin.query(
                "UPDATE webhook_subscriptions SET seen_at = now() - interval '11 minutes' WHERE name = 'erp'",
                logger: fixture.logger)
            _ = try await fixture.submittedRequest()
            let later = try await withoutErp.fanOut(now: Date())
            #expect(later.receiving == ["portal"], "\(later)")
            // An instance with erp says so again (once a minute): served again.
            try await WebhookStore.touch(both.subscriptions, now: Date(), client: fixture.app, logger: fixture.logger)
            _ = try await fixture.submittedRequest()
            #expect(try await withoutErp.fanOut(now: Date()).receiving == ["portal", "erp"])
        }
    }

    @Test("a redirect is not followed: the target gets nothing, the delivery is retried")
    func redirectNotFollowed() async throws {
        try await ServiceFixture.with { fixture in
            let script: WebhookReceiver.Script = { _, path in
                path == "/hook" ? .init(status: 307, headers: ["Location": "/elsewhere"]) : .init(status: 200)
            }
            try await WebhookReceiver.run(script) { port, receiver in
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook"))
                _ = try await fixture.submittedRequest()
                #expect(try await dispatcher.runRound(now: Date()).retried == 1)
                #expect(receiver.requests.map(\.path) == ["/hook"])
                let row = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                #expect(row.status == 307 && row.delivered == false)
                #expect(row.error?.contains("nicht gefolgt") == true)
            }
        }
    }

    @Test(
        "127.0.0.1, localhost and 169.254.169.254 refused at send time without the allow-list; nothing connects",
        .runsAlone)
    func refusedAddresses() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init() }) { port, receiver in
                _ = try await fixture.submittedRequest()
                var start = Date()
                for (url, reason) in [
                    ("http://127.0.0.1:\(port)/hook", "Loopback"), ("http://localhost:\(port)/hook", "Loopback"),
                    ("http://169.254.169.254/latest/meta-data/", "Metadatendienst"),
                ] {
                    try await fixture.admin.query("DELETE FROM webhook_deliveries", logger: fixture.logger)
                    try await fixture.admin.query(
                        "UPDATE outbox SET sent_at = NULL WHERE kind = 'webhook'", logger: fixture.logger)
                    let dispatcher = try await WebhookTestSupport.dispatcher(
                        fixture, WebhookTestSupport.settings(url: url, allowLoopback: false))
                    let clock = ContinuousClock()
                    let began = clock.now
                    #expect(try await dispatcher.runRound(now: start).retried == 1, "\(url)")
                    #expect(clock.now - began < .seconds(3), "refused before connecting: \(url)")
                    let row = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                    #expect(row.error?.contains(reason) == true, "\(url): \(row.error ?? "")")
                    start = start.addingTimeInterval(60)
                }
                #expect(receiver.requests.isEmpty)
            }
        }
    }

    @Test("one round sends every delivery to one receiver through one HTTP client, shut down with the round")
    func oneClientPerRound() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 204) }) { port, receiver in
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", events: nil))
                _ = try await fixture.submittedRequest()
                let report = try await dispatcher.runRound(now: Date())
                // submitted and step_assigned at least.
                #expect(report.claimed >= 2)
                #expect(report.delivered == report.claimed)
                #expect(report.httpClients == 1)
                #expect(receiver.requests.count == report.claimed)
                // Sent side by side, they arrive in any order: `data.sequence` (the number in webhook-id) orders them.
                var sequences: [String: Int] = [:]
                for request in receiver.requests {
                    let json = try JSONDecoder().decode(JSONValue.self, from: request.body)
                    let type = try #require(json["type"]?.string)
                    let sequence = try #require(json["data"]?["sequence"]?.int)
                    let key = try #require(
                        try await fixture.admin.query(
                            "SELECT delivery_key FROM outbox WHERE id = \(Int64(sequence))", logger: fixture.logger
                        ).decode(UUID?.self).first(where: { _ in true }) ?? nil)
                    #expect(request.headers["webhook-id"] == "msg_\(sequence)_\(key.compactHex)_portal")
                    // As openapi.yaml describes the header to receivers that check it.
                    let id = try #require(request.headers["webhook-id"])
                    #expect(try id.firstMatch(of: Self.documentedPattern(ofHeader: "webhook-id")) != nil, "\(id)")
                    sequences[type] = sequence
                }
                let submitted = try #require(sequences["request.submitted"])
                let assigned = try #require(sequences["request.step_assigned"])
                #expect(submitted < assigned)
                // The next round makes its own client again.
                _ = try await fixture.decide(try await fixture.submittedRequest(), by: People.otto, at: Clock.days(1))
                let next = try await dispatcher.runRound(now: Date())
                #expect(next.delivered >= 1 && next.httpClients == 1)
            }
        }
    }

    /// A receiver that switched to the new secret before every sender did, or whose ingress answers 404
    /// while it restarts: the events of that minute used to fail for good at the first 4xx.
    @Test("a 401 or 404 is retried on the schedule with the same webhook-id, and delivered once the receiver is fixed")
    func clientErrorsAreRetried() async throws {
        try await ServiceFixture.with { fixture in
            let statuses = [401, 404]
            try await WebhookReceiver.run({ index, _ in .init(status: index < statuses.count ? statuses[index] : 204) })
            {
                port, receiver in
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", schedule: "1s, 1s"))
                _ = try await fixture.submittedRequest()
                let start = Date()
                let first = try await dispatcher.runRound(now: start)
                #expect(first.retried == 1 && first.failed == 0, "\(first)")
                var row = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                #expect(!row.failed && !row.delivered && row.attempts == 1 && row.status == 401)
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(1.5)).retried == 1)
                row = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                #expect(!row.failed && row.status == 404)
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(3)).delivered == 1)
                row = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                #expect(row.delivered && row.attempts == 3)
                #expect(receiver.requests.count == 3)
                #expect(Set(receiver.requests.map { $0.headers["webhook-id"] }).count == 1)
                // Each attempt signs anew: a receiver that rejected an old timestamp gets a new one.
                #expect(Set(receiver.requests.map { $0.headers["webhook-signature"] }).count == 3)
            }
        }
    }

    /// The head decides: a receiver that answers 200 and then holds its body open accepted the event.
    @Test("a 200 whose body is held open past the timeout is delivered, not retried")
    func slowBodyAfterSuccess() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 200, bodyHeldOpen: .seconds(5)) }) { port, receiver in
                var settings = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook")
                settings.timeout = .seconds(2)
                let dispatcher = try await WebhookTestSupport.dispatcher(fixture, settings)
                _ = try await fixture.submittedRequest()
                let started = ContinuousClock.now
                let report = try await dispatcher.runRound(now: Date())
                #expect(report.delivered >= 1 && report.retried == 0, "\(report)")
                #expect(ContinuousClock.now - started < .seconds(4), "the body was waited for")
                let rows = try await WebhookTestSupport.deliveries(fixture)
                #expect(!rows.isEmpty && rows.allSatisfy { $0.delivered && $0.attempts == 1 }, "\(rows)")
                #expect(receiver.requests.count == rows.count)
            }
        }
    }

    @Test("after the schedule the delivery fails and is listed by `freigabe outbox list --failed`")
    func scheduleRunsOut() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init(status: 503, headers: ["Retry-After": "3"]) }) { port, _ in
                let dispatcher = try await WebhookTestSupport.dispatcher(
                    fixture, WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook", schedule: "1s"))
                let request = try await fixture.submittedRequest()
                let start = Date()
                #expect(try await dispatcher.runRound(now: start).retried == 1)
                // Retry-After (3 s) outweighs the schedule's 1 s.
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(2)).claimed == 0)
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(3.5)).failed == 1)
                let row = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                #expect(row.failed && row.attempts == 2 && row.status == 503)
                #expect(row.error?.hasPrefix("aufgegeben nach 2 Versuchen") == true)
                let environment = try await fixture.databaseEnvironment()
                let listed = await OutboxTool.list(failed: true, environment: environment)
                #expect(listed.succeeded)
                let line = try #require(
                    listed.standardOutput.first { $0.range(of: #"^w[0-9]+\t"#, options: .regularExpression) != nil })
                #expect(line.contains("\tportal\trequest.submitted\t\(request.id.uuidString.lowercased())\t"))
                #expect(line.contains("\t503\t"))
                // The operator tries again: due now, the schedule starts over.
                let id = try #require(Int64(line.prefix { $0 != "\t" }.dropFirst()))
                #expect(
                    await OutboxTool.retryWebhook(id: id, environment: environment).standardOutput == [
                        "webhook delivery w\(id) is due again"
                    ])
                #expect(await OutboxTool.retryWebhook(id: id + 1000, environment: environment).succeeded == false)
                // The operator's account is on the record, with the delivery, once (the refused one is not).
                let logged = try await fixture.admin.query(
                    """
                    SELECT actor, request_id, details->>'row', details->>'via' FROM audit_events
                    WHERE event = 'outbox_retried'
                    """, logger: fixture.logger)
                let entries = try await logged.decode((String, UUID?, String, String).self).reduce(into: []) {
                    $0.append("\($1.0) \($1.1?.uuidString ?? "-") \($1.2) \($1.3)")
                }
                #expect(
                    entries == ["\(AuditTool.operatingSystemUser() ?? "unknown") \(request.id.uuidString) w\(id) cli"])
                // Due now, but not before the last 503's Retry-After (3 s after 3.5 s) has ended: it paused
                // the subscription.
                #expect(try await dispatcher.runRound(now: start.addingTimeInterval(6)).claimed == 0)
                #expect(try await dispatcher.runRound(now: max(Date(), start.addingTimeInterval(7))).retried == 1)
                let again = try #require(try await WebhookTestSupport.deliveries(fixture).first)
                #expect(again.attempts == 1 && !again.failed)
            }
        }
    }

    @Test("two dispatchers at once deliver each event once; a rotated secret signs twice, both verify")
    func twoInstancesAndRotation() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init() }) { port, receiver in
                let settings = WebhookTestSupport.settings(
                    url: "http://127.0.0.1:\(port)/hook", events: nil,
                    secrets: [WebhookTestSupport.secret, WebhookTestSupport.oldSecret])
                let one = try await WebhookTestSupport.dispatcher(fixture, settings)
                let two = try await WebhookTestSupport.dispatcher(fixture, settings)
                for day in 0..<3 {
                    _ = try await fixture.submittedRequest(at: Clock.days(Double(day)))
                }
                let now = Date()
                async let first = one.runRound(now: now)
                async let second = two.runRound(now: now)
                let reports = try await [first, second]
                #expect(reports.map(\.delivered).reduce(0, +) == 6)
                let ids = receiver.requests.compactMap { $0.headers["webhook-id"] }
                #expect(ids.count == 6 && Set(ids).count == 6)
                let received = try #require(receiver.requests.first)
                #expect(received.headers["webhook-signature"]?.split(separator: " ").count == 2)
                #expect(
                    try await WebhookTestSupport.verifyWithReference(received, secret: WebhookTestSupport.secret) != "")
                #expect(
                    try await WebhookTestSupport.verifyWithReference(received, secret: WebhookTestSupport.oldSecret)
                        != "")
                let stranger = try #require(WebhookSecret("whsec_" + Data(count: 32).base64EncodedString()))
                await #expect(throws: (any Error).self) {
                    try await WebhookTestSupport.verifyWithReference(received, secret: stranger)
                }
            }
        }
    }

    @Test("the service is woken by the commit (LISTEN/NOTIFY), not by its 30 s poll", .runsAlone)
    func serviceWokenByCommit() async throws {
        try await ServiceFixture.with { fixture in
            try await WebhookReceiver.run({ _, _ in .init() }) { port, receiver in
                let settings = WebhookTestSupport.settings(url: "http://127.0.0.1:\(port)/hook")
                let dispatcher = try await WebhookTestSupport.dispatcher(fixture, settings)
                var logger = Logger(label: "t")
                logger.logLevel = .critical
                let service = WebhookDispatcherService(dispatcher: dispatcher, logger: logger)
                let group = ServiceGroup(
                    configuration: .init(services: [service], gracefulShutdownSignals: [], logger: logger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    // Let the first round (and the listener) start, then commit an event.
                    try await Task.sleep(for: .milliseconds(500))
                    let clock = ContinuousClock()
                    let committed = clock.now
                    _ = try await fixture.submittedRequest()
                    while receiver.requests.isEmpty && clock.now - committed < .seconds(10) {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let waited = clock.now - committed
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    #expect(receiver.requests.count == 1)
                    #expect(waited < .seconds(3), "delivered \(waited) after the commit")
                }
            }
        }
    }

    @Test("without subscriptions events are only marked handled; a subscription gets no events older than itself")
    func noSubscriptions() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await fixture.submittedRequest()
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            let idle = WebhookDispatcher(client: fixture.app, settings: WebhookSettings(), metrics: nil, logger: logger)
            #expect(try await idle.runRound(now: Date()).fannedOut == 2)
            let rows = try await fixture.admin.query(
                "SELECT count(*) FROM outbox WHERE kind = 'webhook' AND sent_at IS NULL", logger: fixture.logger)
            #expect(try await rows.decode(Int.self).first(where: { _ in true }) == 0)
            #expect(try await WebhookTestSupport.deliveries(fixture).isEmpty)
            // Registered now: the next event happened (by the test clock) before, so it is not sent.
            let settings = WebhookTestSupport.settings(url: "http://127.0.0.1:9/hook", events: nil)
            let late = WebhookDispatcher(client: fixture.app, settings: settings, metrics: nil, logger: logger)
            try await late.register(now: Date())
            _ = try await fixture.submittedRequest(at: Clock.days(1))
            #expect(try await late.runRound(now: Date()).fannedOut == 2)
            #expect(try await WebhookTestSupport.deliveries(fixture).isEmpty)
        }
    }
}

extension WebhookDeliveryTests {
    /// The `pattern` openapi.yaml gives the webhook header `name`.
    static func documentedPattern(ofHeader name: String) throws -> Regex<AnyRegexOutput> {
        let document = try String(contentsOfFile: APIFixture.openAPIPath, encoding: .utf8)
        let parameter = try #require(document.range(of: "- name: \(name)\n"))
        let start = try #require(document.range(of: "pattern: '", range: parameter.upperBound..<document.endIndex))
        let end = try #require(document.range(of: "'", range: start.upperBound..<document.endIndex))
        return try Regex(String(document[start.upperBound..<end.lowerBound]))
    }
}
