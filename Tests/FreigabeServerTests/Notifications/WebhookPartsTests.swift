import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Webhooks without the network: signer, payload, address policy, settings")
struct WebhookPartsTests {
    @Test("the signature of the specification's example, as the reference implementation computes it")
    func knownSignature() throws {
        // Expected value printed by standardwebhooks 1.1.0 (PyPI), Webhook.sign, for these inputs.
        let secret = try #require(WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let headers = try WebhookSigner.sign(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8),
            secrets: [secret])
        #expect(
            headers
                == .init(
                    id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="))
    }

    @Test("two secrets while rotating: two signatures, the current one first; ids that blur the content refused")
    func rotation() throws {
        let body = Data("{}".utf8)
        let one = try WebhookSigner.sign(
            id: "msg_1_portal", timestamp: 1, body: body, secrets: [WebhookTestSupport.secret])
        let both = try WebhookSigner.sign(
            id: "msg_1_portal", timestamp: 1, body: body,
            secrets: [WebhookTestSupport.secret, WebhookTestSupport.oldSecret])
        let parts = both.signature.split(separator: " ").map(String.init)
        #expect(parts.count == 2)
        #expect(parts[0] == one.signature)
        #expect(parts[1] != one.signature && parts[1].hasPrefix("v1,"))
        for id in ["", "msg.1", "msg 1", "msg_1\r\nX: y", String(repeating: "a", count: 129)] {
            #expect(throws: WebhookSigner.InvalidID.self) {
                try WebhookSigner.sign(id: id, timestamp: 1, body: body, secrets: [WebhookTestSupport.secret])
            }
        }
    }

    @Test("secrets: whsec_ and 24 to 64 bytes of base64, unpadded accepted; never printed")
    func secrets() {
        #expect(WebhookSecret("whsec_" + Data(count: 24).base64EncodedString()) != nil)
        #expect(
            WebhookSecret("whsec_" + Data(count: 32).base64EncodedString().replacingOccurrences(of: "=", with: ""))
                != nil)
        #expect(WebhookSecret("whsec_" + Data(count: 64).base64EncodedString()) != nil)
        for bad in [
            "", "whsec_", Data(count: 32).base64EncodedString(), "whsec_" + Data(count: 23).base64EncodedString(),
            "whsec_" + Data(count: 65).base64EncodedString(), "whsec_not base64!",
            "WHSEC_" + Data(count: 32).base64EncodedString(),
        ] {
            #expect(WebhookSecret(bad) == nil, "\(bad)")
        }
        #expect("\(WebhookTestSupport.secret)" == "whsec_***")
        #expect(String(reflecting: WebhookTestSupport.secret) == "whsec_***")
    }

    @Test("the payload: version 1, type, timestamp, data without personal data; the same bytes every time")
    func payload() throws {
        var message = OutboxMessage(
            topic: .webhook, requestID: UUID(uuidString: "6f1c1a52-6a35-4a53-9d43-1e3c0c2b1a10")!,
            requestNumber: "FG-2026-000042", datasetID: "baumkataster", datasetTitle: "Bäume & <Sträucher>",
            kind: .sharedData, recipients: [], step: "owner_review", text: "Warum? (Anna Albers, 0151 …)")
        message.event = .requestRejected
        message.occurredAt = Date(timeIntervalSince1970: 1_772_438_400)
        message.state = "closed"
        message.role = "data_owner"
        let payload = try #require(WebhookPayload(message, sequence: 4711, createdAt: Date(timeIntervalSince1970: 0)))
        let body = try payload.body()
        #expect(
            String(decoding: body, as: UTF8.self)
                == #"{"data":{"dataset_id":"baumkataster","dataset_title":"Bäume & <Sträucher>","kind":"shared_data","#
                + #""request_id":"6f1c1a52-6a35-4a53-9d43-1e3c0c2b1a10","request_number":"FG-2026-000042","role":"data_owner","#
                + #""sequence":4711,"state":"closed","step":"owner_review"},"timestamp":"2026-03-02T08:00:00Z","type":"request.rejected","#
                + #""version":1}"#)
        #expect(try payload.body() == body)
        message.event = nil
        #expect(WebhookPayload(message, sequence: 4711, createdAt: Date()) == nil)
    }

    @Test("openapi.yaml describes the webhook: every event type, and a payload of each shape validates")
    func documented() throws {
        let validator = APITestSupport.validator
        let documented =
            validator.resolve("#/components/schemas/WebhookEvent")?["properties"]?["type"]?["enum"]?.array.compactMap(
                \.string) ?? []
        #expect(documented == WebhookEventType.allCases.map(\.rawValue))
        let schema = JSONValue.object(["$ref": .string("#/components/schemas/WebhookEvent")])
        func keys(_ value: JSONValue?) -> Set<String> {
            guard case .object(let fields)? = value else { return [] }
            return Set(fields.keys)
        }
        let documentedEvent = keys(validator.resolve("#/components/schemas/WebhookEvent")?["properties"])
        let documentedData = keys(validator.resolve("#/components/schemas/WebhookEventData")?["properties"])
        for event in WebhookEventType.allCases {
            var message = OutboxMessage(
                topic: .webhook, requestID: UUID(), requestNumber: "FG-2026-000001", datasetID: "baumkataster",
                datasetTitle: "Baumkataster", kind: .openData, recipients: [], step: "owner_review", branch: "b",
                deadline: Date(timeIntervalSince1970: 1_772_438_400),
                grantedUntil: Date(timeIntervalSince1970: 1_772_438_400),
                licence: "dl-de-by-2.0", portalURL: "https://opendata.stadt.example/x")
            message.event = event
            message.state = "in_review"
            message.role = "data_owner"
            let body = try #require(WebhookPayload(message, sequence: 1, createdAt: Date())).body()
            let value = try JSONDecoder().decode(JSONValue.self, from: body)
            #expect(validator.validate(value, against: schema, at: "$") == [], "\(event)")
            // The schemas are open for receivers (new optional fields may come), so what is sent is held
            // to what is documented here: nothing undocumented, above all no person.
            #expect(keys(value["data"]).isSubset(of: documentedData), "\(event)")
            #expect(!keys(value["data"]).isEmpty && keys(value).isSubset(of: documentedEvent), "\(event)")
        }
        #expect(!documentedData.contains("requester") && documentedData.contains("request_id"))
    }

    @Test("every engine event is decided on: announced or deliberately not")
    func engineEvents() {
        let announced = AuditRecord.Event.allCases.compactMap(WebhookEventType.init)
        #expect(Set(announced).count == announced.count)
        #expect(WebhookEventType(.reminded) == nil)
        #expect(WebhookEventType(.approved) == .requestDecided)
        #expect(WebhookEventType(.expiryAnnounced) == nil)
        // The rest come from other effects: step assigned, granted, published, expiring (with the end).
        #expect(
            Set(WebhookEventType.allCases).subtracting(announced)
                == [.stepAssigned, .requestGranted, .requestPublished, .grantExpiring])
    }

    @Test(
        "the address policy refuses loopback, link-local, metadata, private, and wrapped forms; allows what is listed")
    func addressPolicy() throws {
        let policy = AddressPolicy()
        for refused in [
            "127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "169.254.1.1", "10.1.2.3", "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "fe80::1", "fd00:ec2::254",
            "fc00::1",
            "::", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "ff02::1",
        ] {
            let address = try #require(IPAddress(refused), "\(refused)")
            #expect(policy.refusal(of: address) != nil, "\(refused) must be refused")
        }
        #expect(policy.refusal(of: IPAddress("169.254.169.254")!)?.contains("Metadatendienst") == true)
        #expect(policy.refusal(of: IPAddress("127.0.0.1")!)?.contains("Loopback") == true)
        for allowed in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2a00:1450:4001::1", "[2001:4860::8888]"] {
            let address = try #require(IPAddress(allowed), "\(allowed)")
            #expect(policy.refusal(of: address) == nil, "\(allowed) must be allowed")
        }
        let local = AddressPolicy(allowed: [IPNetwork("127.0.0.1/32")!, IPNetwork("10.20.0.0/16")!])
        #expect(local.refusal(of: IPAddress("127.0.0.1")!) == nil)
        #expect(local.refusal(of: IPAddress("10.20.3.4")!) == nil)
        #expect(local.refusal(of: IPAddress("127.0.0.2")!) != nil)
        #expect(local.refusal(of: IPAddress("10.21.0.1")!) != nil)
        #expect(local.refusal(of: IPAddress("169.254.169.254")!) != nil)
    }

    @Test("the connection's peer is checked too: a connection to a refused address is not used")
    func peerCheck() async throws {
        func check(_ policy: AddressPolicy, peer: String) async throws -> Bool {
            let channel = EmbeddedChannel()
            try await channel.connect(to: SocketAddress(ipAddress: peer, port: 80)).get()
            defer { _ = try? channel.finish() }
            do {
                try await WebhookSender.peerCheck(policy)(channel).get()
                return true
            } catch is WebhookSender.RefusedAddress {
                return false
            }
        }
        #expect(try await check(AddressPolicy(), peer: "127.0.0.1") == false)
        #expect(try await check(AddressPolicy(), peer: "169.254.169.254") == false)
        #expect(try await check(AddressPolicy(), peer: "::ffff:10.0.0.1") == false)
        #expect(try await check(AddressPolicy(), peer: "93.184.216.34") == true)
        #expect(try await check(AddressPolicy(allowed: [IPNetwork("127.0.0.1/32")!]), peer: "127.0.0.1") == true)
    }

    @Test(
        "answers: 2xx delivered, 410 gone, other 4xx rejected (not 408, 425, 429), redirects not followed, Retry-After")
    func judge() {
        let now = Date(timeIntervalSince1970: 1_772_438_400)
        #expect(WebhookSender.judge(status: 200, headers: [:], now: now) == .delivered(status: 200))
        #expect(WebhookSender.judge(status: 204, headers: [:], now: now) == .delivered(status: 204))
        #expect(WebhookSender.judge(status: 410, headers: [:], now: now) == .gone)
        guard
            case .failed(307, let error, nil) = WebhookSender.judge(
                status: 307, headers: ["Location": "http://169.254.169.254/"], now: now)
        else {
            Issue.record("a redirect is a failure")
            return
        }
        #expect(error.contains("nicht gefolgt"))
        #expect(
            WebhookSender.judge(status: 503, headers: ["Retry-After": "120"], now: now)
                == .failed(status: 503, error: "HTTP 503", retryAfter: .seconds(120)))
        #expect(
            WebhookSender.judge(status: 429, headers: ["Retry-After": "Mon, 02 Mar 2026 08:10:00 GMT"], now: now)
                == .failed(status: 429, error: "HTTP 429", retryAfter: .seconds(600)))
        // Every 4xx is retried: a new timestamp and signature each time, and most pass by themselves.
        for status in [400, 401, 403, 404, 405, 413, 415, 422, 451, 499, 408, 425, 429, 500, 502, 504, 599, 399, 100] {
            guard case .failed(status, _, _) = WebhookSender.judge(status: status, headers: [:], now: now) else {
                Issue.record("\(status) is retried")
                continue
            }
        }
        #expect(WebhookSender.retryAfter("9999999", now: now) == .seconds(86_400))
        #expect(WebhookSender.retryAfter("soon", now: now) == nil)
        #expect(WebhookSender.retryAfter("-5", now: now) == nil)
    }

    private func configuration(_ environment: [String: String]) async throws -> AppConfiguration {
        try AppConfiguration(reader: try await ConfigurationSources.reader(environment: environment))
    }

    private var secretText: String { WebhookTestSupport.text(of: WebhookTestSupport.secret) }

    @Test("settings: several subscriptions, rotation, event types, allow-list, timeout, schedule")
    func settings() async throws {
        #expect(try await configuration([:]).webhooks.subscriptions.isEmpty)
        #expect(try await configuration([:]).webhooks.timeout == .seconds(10))
        let webhooks = try await configuration([
            "FREIGABE_WEBHOOKS_SUBSCRIPTIONS": "portal, tickets",
            "FREIGABE_WEBHOOKS_PORTAL_URL": "https://93.184.216.34/hooks/freigabe?token=abc",
            "FREIGABE_WEBHOOKS_PORTAL_SECRET": secretText,
            "FREIGABE_WEBHOOKS_PORTAL_OLD_SECRET": WebhookTestSupport.text(of: WebhookTestSupport.oldSecret),
            "FREIGABE_WEBHOOKS_PORTAL_EVENTS": "request.published, grant.revoked",
            "FREIGABE_WEBHOOKS_TICKETS_URL": "http://127.0.0.1:9/in",
            "FREIGABE_WEBHOOKS_TICKETS_SECRET": secretText,
            "FREIGABE_WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.1/32, fd00::/8",
            "FREIGABE_WEBHOOKS_TIMEOUT_SECONDS": "5", "FREIGABE_WEBHOOKS_RETRY_SCHEDULE": "1s, 1m",
        ]).webhooks
        #expect(webhooks.subscriptions.map(\.name) == ["portal", "tickets"])
        #expect(webhooks.subscriptions[0].secrets == [WebhookTestSupport.secret, WebhookTestSupport.oldSecret])
        #expect(webhooks.subscriptions[0].events == [.requestPublished, .grantRevoked])
        #expect(webhooks.subscriptions[1].events == nil)
        #expect(webhooks.subscriptions[0].description == "portal → https://93.184.216.34:443")
        #expect(webhooks.timeout == .seconds(5))
        #expect(webhooks.retrySchedule == RetrySchedule(delays: [.seconds(1), .seconds(60)]))
        #expect(webhooks.policy.allowed.map(\.description) == ["127.0.0.1/32", "fd00::/8"])
    }

    @Test("hostile settings: each refused with the key named and no secret in the message")
    func hostileSettings() async throws {
        let base = [
            "FREIGABE_WEBHOOKS_SUBSCRIPTIONS": "portal",
            "FREIGABE_WEBHOOKS_PORTAL_URL": "https://portal.stadt.example/h",
            "FREIGABE_WEBHOOKS_PORTAL_SECRET": secretText,
        ]
        let cases: [(String, String, String)] = [
            ("FREIGABE_WEBHOOKS_SUBSCRIPTIONS", "portal, portal", "webhooks.subscriptions"),
            ("FREIGABE_WEBHOOKS_SUBSCRIPTIONS", "Portal", "webhooks.subscriptions"),
            ("FREIGABE_WEBHOOKS_SUBSCRIPTIONS", "por.tal", "webhooks.subscriptions"),
            ("FREIGABE_WEBHOOKS_SUBSCRIPTIONS", "portal, tickets", "webhooks.tickets.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "ftp://portal.stadt.example/", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "https://user:pw@portal.stadt.example/", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "https://portal.stadt.example/a#frag", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "https://hooks.example/services/T0/B0/pwTOKEN#x", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "https://hooks.example:70000/in?token=pwTOKEN", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "https://portal.stadt.example/a\r\nX-Evil: 1", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "https:///nohost", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "https://portal.stadt.example:70000/", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "http://127.0.0.1:8080/hook", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "http://169.254.169.254/latest/meta-data/", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "http://[::1]/hook", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "http://[::ffff:10.0.0.1]/hook", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "http://localhost:8080/hook", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_URL", "http://192.168.0.10/hook", "webhooks.portal.url"),
            ("FREIGABE_WEBHOOKS_PORTAL_SECRET", "geheim", "webhooks.portal.secret"),
            ("FREIGABE_WEBHOOKS_PORTAL_SECRET", "whsec_c2hvcnQ=", "webhooks.portal.secret"),
            ("FREIGABE_WEBHOOKS_PORTAL_OLD_SECRET", "whsec_%%%", "webhooks.portal.old_secret"),
            ("FREIGABE_WEBHOOKS_PORTAL_EVENTS", "request.granted, request.everything", "webhooks.portal.events"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "0.0.0.0/0", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "::/0", "webhooks.allowed_networks"),
            // IPv6 ranges that wrap the whole IPv4 space (loopback and private networks inside).
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "::ffff:0:0/96", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "::ffff:0.0.0.0/100", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "::/8", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "64:ff9b::/96", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "2002::/16", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "2000::/7", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_ALLOWED_NETWORKS", "localhost", "webhooks.allowed_networks"),
            ("FREIGABE_WEBHOOKS_TIMEOUT_SECONDS", "0", "webhooks.timeout_seconds"),
            ("FREIGABE_WEBHOOKS_TIMEOUT_SECONDS", "3600", "webhooks.timeout_seconds"),
            ("FREIGABE_WEBHOOKS_RETRY_SCHEDULE", "1m, 5s", "webhooks.retry_schedule"),
        ]
        for (variable, value, key) in cases {
            var environment = base
            environment[variable] = value
            do {
                _ = try await configuration(environment)
                Issue.record("\(variable)=\(value) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.key == key, "\(variable)=\(value): \(error)")
                #expect(!error.description.contains(secretText))
                #expect(!error.description.contains("pw@"))
                // The receiver's token in a path or query is no part of the message either.
                #expect(!error.description.contains("pwTOKEN"), "\(error.description)")
            }
        }
        // Missing secret: named too.
        var environment = base
        environment["FREIGABE_WEBHOOKS_PORTAL_SECRET"] = nil
        await #expect(throws: ConfigurationError.self) { try await configuration(environment) }
        // The allow-list admits what it names.
        environment = base
        environment["FREIGABE_WEBHOOKS_PORTAL_URL"] = "http://127.0.0.1:8080/hook"
        environment["FREIGABE_WEBHOOKS_ALLOWED_NETWORKS"] = "127.0.0.1"
        #expect(try await configuration(environment).webhooks.subscriptions.count == 1)
    }

    @Test(
        "host lookups: at most so many under way at once, a slot back when a lookup ends; waiting for one", .runsAlone)
    func lookupSlots() async throws {
        let slots = Slots(capacity: 2)
        #expect(slots.take() && slots.take())
        #expect(!slots.take(), "a third lookup while two hang")
        #expect(slots.inUse == 2)
        slots.release()
        #expect(slots.take())
        slots.release()
        slots.release()
        #expect(slots.inUse == 0)
        // The resolver's own slot comes back after a lookup (from /etc/hosts: no network needed).
        #expect(try await HostResolver.addresses(of: "localhost", port: 80, timeout: .seconds(5)).isEmpty == false)
        for _ in 0..<100 where HostResolver.slots.inUse > 0 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(HostResolver.slots.inUse == 0)
        // Every slot held by hung lookups: a lookup waits for one within its timeout (a round of twenty
        // deliveries to one host failed twelve of them at once) and fails only at that timeout.
        let held = (0..<HostResolver.slots.capacity).filter { _ in HostResolver.slots.take() }.count
        #expect(held == HostResolver.slots.capacity)
        let started = ContinuousClock.now
        await #expect(throws: HostResolver.Failure.self) {
            try await HostResolver.addresses(of: "localhost", port: 80, timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        async let waited = HostResolver.addresses(of: "localhost", port: 80, timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(200))
        HostResolver.slots.release()
        #expect(try await waited.isEmpty == false, "a slot freed meanwhile is taken")
        for _ in 1..<held { HostResolver.slots.release() }
        for _ in 0..<100 where HostResolver.slots.inUse > 0 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(HostResolver.slots.inUse == 0)
    }

    @Test(
        "hostile Retry-After values: a sign, a fraction, words, a past date or nothing ask for no pause; too many digits a day"
    )
    func hostileRetryAfterValues() {
        let now = Date(timeIntervalSince1970: 1_772_438_400)
        let cases: [(String, Duration?)] = [
            ("-5", nil), ("-0", nil), ("+30", nil), ("1.5", nil), ("1e9", nil), ("", nil), ("   ", nil),
            ("soon", nil), ("30s", nil), ("0x10", nil), ("٣٠", nil), ("30", .seconds(30)), (" 30 ", .seconds(30)),
            ("0", .seconds(0)), ("000030", .seconds(30)),
            ("99999999999999999999999999", .seconds(86_400)), (String(repeating: "9", count: 5000), .seconds(86_400)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", .seconds(0)), ("Mon, 02 Mar 2026 08:10:00 GMT", .seconds(600)),
            ("Mon, 02 Mar 2126 08:10:00 GMT", .seconds(86_400)),
        ]
        for (value, expected) in cases {
            #expect(WebhookSender.retryAfter(value, now: now) == expected, "\(value.prefix(40))")
        }
    }

    @Test("a lookup waiting for a slot gets the one freed, in turn; a waiter that gives up or is cancelled holds none")
    func lookupSlotWaiters() async throws {
        let slots = Slots(capacity: 1)
        #expect(slots.take())
        let clock = ContinuousClock()
        // Two waiters: the first in line gets the first slot freed, the second the next.
        let first = Task { await slots.take(before: clock.now + .seconds(30)) }
        while slots.waiting < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let second = Task { await slots.take(before: clock.now + .seconds(30)) }
        while slots.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(!slots.take(), "a newcomer does not jump the line")
        let released = clock.now
        slots.release()
        #expect(await first.value == true)
        #expect(clock.now - released < .milliseconds(500))
        #expect(slots.inUse == 1 && slots.waiting == 1)
        slots.release()
        #expect(await second.value == true)
        #expect(slots.inUse == 1 && slots.waiting == 0)
        // A cancelled waiter answers at once, leaves the line and holds no slot.
        let cancelled = Task { await slots.take(before: clock.now + .seconds(30)) }
        while slots.waiting < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let began = clock.now
        cancelled.cancel()
        #expect(await cancelled.value == false)
        #expect(clock.now - began < .seconds(1))
        #expect(slots.waiting == 0 && slots.inUse == 1)
        // A waiter past its deadline likewise.
        let late = clock.now
        #expect(await slots.take(before: clock.now + .milliseconds(200)) == false)
        #expect(clock.now - late >= .milliseconds(200) && clock.now - late < .seconds(2))
        #expect(slots.waiting == 0)
        // A task cancelled before it waits does not wait.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await slots.take(before: clock.now + .seconds(30))
        }
        #expect(await early.value == false)
        slots.release()
        #expect(slots.inUse == 0, "no slot leaked")
        #expect(slots.take())
        slots.release()
        // Many waiters, few slots: every one gets a slot in the end, none is lost.
        let busy = Slots(capacity: 2)
        let taken = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                group.addTask {
                    let deadline = clock.now + .seconds(index % 5 == 0 ? 0 : 30)
                    guard await busy.take(before: deadline) else { return false }
                    try? await Task.sleep(for: .milliseconds(1))
                    busy.release()
                    return true
                }
            }
            var taken = 0
            for await got in group where got { taken += 1 }
            return taken
        }
        #expect(taken >= 40)
        #expect(busy.inUse == 0 && busy.waiting == 0)
    }

    @Test("an allow-list entry must name a range: at least /8 of IPv4, also inside IPv6 ranges wrapping it")
    func allowListRanges() {
        let narrow = [
            "10.20.0.0/16", "127.0.0.1", "10.0.0.0/8", "::1", "fc00::/7", "2001:db8::/32", "::ffff:10.20.0.0/112",
            "::ffff:10.0.0.0/104", "64:ff9b::a14:0/112", "2002:a14::/32",
        ]
        for text in narrow { #expect(AddressPolicy.isNarrowEnough(IPNetwork(text)!), "\(text)") }
        let wide = [
            "0.0.0.0/0", "8.0.0.0/7", "::/0", "::/6", "::/8", "::ffff:0:0/96", "::ffff:0.0.0.0/103", "64:ff9b::/96",
            "2002::/16", "2002::/23", "2000::/7", "::/64",
        ]
        for text in wide { #expect(!AddressPolicy.isNarrowEnough(IPNetwork(text)!), "\(text)") }
    }

    @Test("at start a host name resolving to loopback is refused; a name that does not resolve is a warning")
    func startCheck() async throws {
        let settings = WebhookTestSupport.settings(url: "http://localhost:9/hook", allowLoopback: false)
        await #expect(throws: ConfigurationError.self) { try await WebhookAddressCheck.check(settings) }
        let allowed = WebhookTestSupport.settings(url: "http://localhost:9/hook", allowLoopback: true)
        // localhost may also resolve to ::1, which the allow-list (127.0.0.1/32) does not name.
        var both = allowed
        both.policy = AddressPolicy(allowed: [IPNetwork("127.0.0.1/32")!, IPNetwork("::1/128")!])
        #expect(try await WebhookAddressCheck.check(both).isEmpty)
        let unknown = WebhookTestSupport.settings(url: "http://no-such-host.invalid/hook")
        #expect(try await WebhookAddressCheck.check(unknown).count == 1)
    }
}
