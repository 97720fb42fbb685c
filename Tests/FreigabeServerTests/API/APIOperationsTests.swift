import Foundation
import Hummingbird
import Testing
import Yams

@testable import FreigabeServer

@Suite("JSON API: document, operations, catalogue, idempotency, concurrency")
struct APIOperationsTests {
    @Test("The served openapi.yaml parses, needs no login and lists exactly the routes the router has")
    func documentMatchesRoutes() async throws {
        try await APIFixture.with { fixture, api in
            let served = try await api.send(.get, "/api/v1/openapi.yaml")
            #expect(served.status == 200)
            #expect(served.contentType?.hasPrefix("application/yaml") == true)
            let document = try #require(try Yams.load(yaml: served.body) as? [String: Any])
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = try #require(document["paths"] as? [String: Any])
            var documented: Set<String> = []
            for (path, item) in paths {
                for method in (item as? [String: Any] ?? [:]).keys where method != "parameters" {
                    documented.insert("\(method.uppercased()) /api/v1\(path)")
                }
            }
            let routed = fixture.routes
            #expect(
                routed == documented,
                "only routed: \(routed.subtracting(documented)); only documented: \(documented.subtracting(routed))")
            // The repository's file is what is served.
            #expect(served.body == fixture.document.yaml)
        }
    }

    @Test("The document's examples match their schemas; every property has a schema object")
    func documentIsConsistent() {
        #expect(APITestSupport.validator.documentProblems() == [])
    }

    @Test("The validator catches a body that drifted from its schema")
    func validatorCatchesDrift() throws {
        let validator = APITestSupport.validator
        let schema = JSONValue.object(["$ref": .string("#/components/schemas/Domain")])
        #expect(
            validator.validate(
                .object(["id": .string("umwelt"), "title": .string("Umwelt"), "steward_group": .string("cn=x")]),
                against: schema, at: "$"
            ).isEmpty)
        let drifted = validator.validate(
            .object(["id": .number(1), "title": .string("Umwelt"), "extra": .bool(true)]), against: schema, at: "$")
        #expect(drifted.count == 3, "\(drifted)")
    }

    @Test("Every problem type of the server is in the document's enum, with its German title")
    func problemTypesDocumented() throws {
        let validator = APITestSupport.validator
        let documented = Set(
            validator.resolve("#/components/schemas/Problem")?["properties"]?["type"]?["enum"]?.array.compactMap(
                \.string) ?? [])
        #expect(documented == Set(ProblemType.allCases.map(\.uri)))
    }

    @Test("Health and readiness without login; unknown API paths are problems too")
    func operations() async throws {
        try await APIFixture.with { fixture, api in
            let health = try await api.send(.get, "/api/v1/health")
            #expect(health.status == 200)
            let ready = try await api.send(.get, "/api/v1/ready")
            #expect(ready.status == 200)
            #expect(ready.json?["status"]?.string == "ready")
            #expect(ready.json?["migrations"]?.string == "current")
            #expect(ready.json?["workflows"]?.string == "current")
            #expect(ready.json?["audit_log"]?.string == "protected")
            #expect(ready.json?["clock"]?.string == "ok")
            // The owner switches the decision log's protection off: reported, the instance stays in service.
            try await fixture.store.admin.query(
                "ALTER TABLE decisions DISABLE TRIGGER USER", logger: APITestSupport.logger)
            let exposed = try await api.send(.get, "/api/v1/ready")
            #expect(exposed.status == 200)
            #expect(exposed.json?["audit_log"]?.string == "triggers_disabled")
            let unknown = try await api.send(.get, "/api/v1/gibt-es-nicht", as: "anna", validate: false)
            #expect(unknown.status == 404)
            #expect(unknown.problemType == "not-found")
            #expect(unknown.json?["instance"]?.string == "/api/v1/gibt-es-nicht")
        }
    }

    /// Among several instances, each stamps leases and due times with its own clock: an instance whose
    /// clock is off must be told apart. Measured against the real PostgreSQL, with this instance's clock
    /// as it is and as if it ran two minutes fast; `/metrics` shows the offset beside the database's figures.
    @Test("the clock offset against the database: near zero here, -120 s for a clock two minutes fast")
    func clockOffset() async throws {
        try await APIFixture.with { fixture, _ in
            let logger = APITestSupport.logger
            let (actual, skewed) = try await Database.read(fixture.store.app, logger: logger) { connection in
                (
                    try await ClockOffset.measure(on: connection, logger: logger),
                    try await ClockOffset.measure(
                        on: connection, now: { Date().addingTimeInterval(120) }, logger: logger)
                )
            }
            #expect(abs(actual) < 1, "\(actual)")
            #expect(ClockOffset.isWithinTolerance(actual))
            #expect(abs(skewed + 120) < 1, "\(skewed)")
            #expect(!ClockOffset.isWithinTolerance(skewed))
            #expect(ClockOffset.isWithinTolerance(-4.9) && !ClockOffset.isWithinTolerance(5.1))

            // /ready says so, and keeps the instance in service.
            let skewedReady = await ReadinessCheck.database(
                fixture.store.app, now: { Date().addingTimeInterval(120) })(logger: logger)
            #expect(skewedReady.clock == .off && skewedReady.isReady, "\(skewedReady)")
            #expect(await ReadinessCheck.database(fixture.store.app)(logger: logger).clock == .ok)

            let metrics = AppMetrics()
            await MetricsRoutes(metrics: metrics, token: nil, directory: nil, database: fixture.store.app)
                .sample(logger: logger)
            let text = String(buffer: ByteBuffer(bytes: metrics.registry.emitToBuffer()))
            #expect(text.contains("freigabe_metrics_database_up 1"), "\(text)")
            let line = try #require(
                text.split(separator: "\n").first { $0.hasPrefix("freigabe_clock_offset_seconds ") }, "\(text)")
            let value = try #require(Double(line.split(separator: " ").last ?? ""))
            #expect(abs(value) < 1, "\(line)")
        }
    }

    @Test("Catalogue: search, filter, one dataset, domains; administrators create and replace datasets")
    func catalogue() async throws {
        try await APIFixture.with { fixture, api in
            let all = try await api.send(.get, "/api/v1/datasets", as: "anna")
            #expect(all.json?["items"]?.array.count == 11)
            let search = try await api.send(.get, "/api/v1/datasets?q=baum", as: "anna")
            #expect(search.json?["items"]?.array.map { $0["id"]?.string } == ["baumkataster"])
            let confidential = try await api.send(
                .get, "/api/v1/datasets?domain=umwelt&classification=confidential&limit=5", as: "anna")
            #expect(confidential.json?["items"]?.array.map { $0["id"]?.string } == ["altlastenkataster"])
            #expect(confidential.json?["limit"]?.int == 5)
            let one = try await api.send(.get, "/api/v1/datasets/altlastenkataster", as: "anna")
            #expect(one.json?["personal_data"]?.string == "personal")
            #expect(one.json?["domain_title"]?.string == "Umwelt")
            let missing = try await api.send(.get, "/api/v1/datasets/gibt-es-nicht", as: "anna")
            #expect(missing.status == 404)
            let domains = try await api.send(.get, "/api/v1/domains", as: "anna")
            #expect(domains.json?["items"]?.array.count == 3)

            let body: [String: Any] = [
                "title": "Spielplätze", "description": "Standorte und Ausstattung.", "domain": "umwelt",
                "owner_group": "cn=umweltamt,ou=groups,dc=stadt,dc=example", "classification": "public",
                "personal_data": "none", "protection_need": "normal", "formats": ["CSV"], "high_value": false,
            ]
            let created = try await api.send(.put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(body))
            #expect(created.status == 201)
            #expect(created.json?["owner_group"]?.string == "cn=umweltamt,ou=groups,dc=stadt,dc=example")
            var changed = body
            changed["title"] = "Spielplätze und Bolzplätze"
            fixture.clock.advance(days: 0.01)  // a change later than the creation moves the ETag
            let replaced = try await api.send(
                .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(changed))
            #expect(replaced.status == 200)
            #expect(replaced.json?["title"]?.string == "Spielplätze und Bolzplätze")

            // If-Match: a PUT from a copy read before another administrator's change saves nothing (409);
            // one from the current ETag saves; a malformed one is 400; `*` checks nothing.
            let stale = try #require(created.headers[.eTag])
            let current = try #require(replaced.headers[.eTag])
            #expect(stale != current)
            #expect(try await api.send(.get, "/api/v1/datasets/spielplaetze", as: "anna").headers[.eTag] == current)
            var mine = body
            mine["title"] = "Spielplätze (veraltet)"
            let before = try await fixture.store.counts()
            let refused = try await api.send(
                .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(mine), headers: [.ifMatch: stale])
            #expect(refused.status == 409)
            #expect(try await fixture.store.counts() == before)
            #expect(
                try await api.send(.get, "/api/v1/datasets/spielplaetze", as: "adam").json?["title"]?.string
                    == "Spielplätze und Bolzplätze")
            // What a refused PUT must leave as it was: the dataset as read (body and ETag) and every row count.
            func stored() async throws -> (body: String, eTag: String?, counts: [String: Int]) {
                let read = try await api.send(.get, "/api/v1/datasets/spielplaetze", as: "adam")
                return (read.body, read.headers[.eTag], try await fixture.store.counts())
            }
            let untouched = try await stored()
            for malformed in [
                "\"abc\"", "\"12345678901234567890\"", "W/", "\"1\", \"2\"", "\"9223372036854775807\"",
                "\"253402300800000000\"",
            ] {
                let bad = try await api.send(
                    .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(mine),
                    headers: [.ifMatch: malformed], validate: false)
                #expect(bad.status == 400, "\(malformed)")
            }
            #expect(try await stored() == untouched, "a malformed If-Match saved something")
            // Someone who may not change the catalogue gets the recorded 403, whatever If-Match says.
            let notAdmin = try await api.send(
                .put, "/api/v1/datasets/spielplaetze", as: "anna", json: jsonText(mine), headers: [.ifMatch: "x"],
                validate: false)
            #expect(notAdmin.status == 403)
            var afterRefusal = untouched
            afterRefusal.counts["audit_events", default: 0] += 1  // the recorded `forbidden`
            #expect(try await stored() == afterRefusal, "a refused PUT by anna saved something")
            #expect(try await fixture.store.auditEvents().last == "forbidden")
            let saved = try await api.send(
                .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(mine), headers: [.ifMatch: current])
            #expect(saved.status == 200)
            #expect(saved.json?["title"]?.string == "Spielplätze (veraltet)")
            let any = try await api.send(
                .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(changed), headers: [.ifMatch: "*"])
            #expect(any.status == 200)

            var wrong = body
            wrong["domain"] = "weltall"
            let unknownDomain = try await api.send(
                .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(wrong))
            #expect(unknownDomain.status == 422)
            #expect(unknownDomain.errors["domain"] != nil)
            let beforeMisnamed = try await stored()
            // The owner and owner group must be in the directory; nothing is stored otherwise. The owner
            // is stored as the directory spells the uid.
            let countsBefore = try await fixture.store.counts()
            for (field, value, other) in [
                ("owner", "ottto", "owner_group"), ("owner", "otto)(uid=*", "owner_group"),
                ("owner_group", "cn=stewards-kultur,ou=groups,dc=stadt,dc=example", "owner"),
                ("owner_group", "uid=otto,ou=people,dc=stadt,dc=example", "owner"),
            ] {
                var misnamed = body
                misnamed[other] = nil
                misnamed[field] = value
                let refused = try await api.send(
                    .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(misnamed))
                #expect(refused.status == 422, "\(field) \(value)")
                #expect(refused.errors[field]?.contains("Im Verzeichnis gibt es keine") == true, "\(refused.errors)")
            }
            #expect(try await fixture.store.counts() == countsBefore)
            #expect(try await stored() == beforeMisnamed, "a refused owner or group changed the dataset")
            // A path id that is none: refused, nothing stored.
            for hostile in ["Gro%C3%9F%20X", "..%2Fx", String(repeating: "a", count: 101)] {
                let refused = try await api.send(
                    .put, "/api/v1/datasets/\(hostile)", as: "adam", json: jsonText(body), validate: false)
                #expect([400, 404, 422].contains(refused.status), "\(hostile): \(refused.status)")
            }
            #expect(try await stored() == beforeMisnamed)
            var spelt = body
            spelt["owner_group"] = nil
            spelt["owner"] = "OTTO"
            let respelt = try await api.send(.put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(spelt))
            #expect(respelt.status == 200)
            #expect(respelt.json?["owner"]?.string == "otto")
            let incomplete = try await api.send(
                .put, "/api/v1/datasets/spielplaetze", as: "adam", json: jsonText(["title": "Nur ein Titel"]))
            #expect(incomplete.status == 422)
            #expect(Set(incomplete.errors.keys) == ["domain", "classification", "personal_data", "protection_need"])
        }
    }

    @Test("The same Idempotency-Key repeats the answer without a second effect; with another body it is 422")
    func idempotency() async throws {
        try await APIFixture.with { fixture, api in
            let key: HTTPFields = [HTTPFields.Element.Name("Idempotency-Key")!: "create-0001"]
            let first = try await api.create(APIBadInputTests.sharedData, headers: key)
            #expect(first.status == 201)
            let countsAfterFirst = try await fixture.store.counts()
            let again = try await api.create(APIBadInputTests.sharedData, headers: key)
            #expect(again.status == 201)
            #expect(again.json?["id"] == first.json?["id"])
            #expect(try await fixture.store.counts() == countsAfterFirst)

            let reused = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "idempotency-key-reused")
            {
                try await api.create(APIBadInputTests.with(["purpose": "Etwas anderes"]), headers: key)
            }
            #expect(reused.json?["detail"]?.string?.contains("Idempotency-Key") == true)
            // Keys are per user: another user's identical key is a new request.
            let other = try await api.create(APIBadInputTests.sharedData, as: "jürgen", headers: key)
            #expect(other.status == 201)
            #expect(other.json?["id"] != first.json?["id"])

            let id = try #require(first.json?["id"]?.string)
            let decisionKey: HTTPFields = [HTTPFields.Element.Name("Idempotency-Key")!: "decide-0001"]
            let decided = try await api.decide(id, as: "otto", ["decision": "approve"], headers: decisionKey)
            #expect(decided.status == 200)
            let countsAfterDecision = try await fixture.store.counts()
            let repeated = try await api.decide(id, as: "otto", ["decision": "approve"], headers: decisionKey)
            #expect(repeated.status == 200)
            #expect(repeated.json?["version"] == decided.json?["version"])
            #expect(try await fixture.store.counts() == countsAfterDecision)

            // Keys that are none (a space, too long, empty, not ASCII, a tab), on a decision and on a new
            // deputyship: 422 at `idempotency_key`, nothing stored, nothing remembered.
            for key in ["mit leerzeichen", String(repeating: "k", count: 256), "", "schlüssel", "a\tb"] {
                let header: HTTPFields = [HTTPFields.Element.Name("Idempotency-Key")!: key]
                let decision = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                    try await api.decide(id, as: "stefan", ["decision": "approve"], headers: header)
                }
                #expect(decision.errors["idempotency_key"] != nil, "\(key.debugDescription)")
                let deputyship = try await APIBadInputTests.expectRefused(fixture, status: 422, type: "validation") {
                    try await api.send(
                        .post, "/api/v1/deputyships", as: "otto",
                        json: #"{"deputy": "paul", "valid_from": "2026-03-02", "valid_until": "2026-03-20"}"#,
                        headers: header)
                }
                #expect(deputyship.errors["idempotency_key"] != nil, "\(key.debugDescription)")
            }
            // The longest key there may be is one.
            let longest: HTTPFields = [HTTPFields.Element.Name("Idempotency-Key")!: String(repeating: "k", count: 255)]
            #expect(try await api.decide(id, as: "stefan", ["decision": "approve"], headers: longest).status == 200)
        }
    }

    @Test("If-Match with a stale version is 409; of two concurrent decisions on one step one wins, the other gets 409")
    func concurrency() async throws {
        try await APIFixture.with { fixture, api in
            let deputyship = try await api.send(
                .post, "/api/v1/deputyships", as: "otto",
                json: jsonText(["deputy": "paul", "valid_from": "2026-03-01", "valid_until": "2026-04-01"]))
            #expect(deputyship.status == 201)
            let created = try await api.create(APIBadInputTests.sharedData)
            let id = try #require(created.json?["id"]?.string)
            let etag = try #require(created.headers[.eTag])

            let stale: HTTPFields = [.ifMatch: "\"\((created.json?["version"]?.int ?? 0) + 7)\""]
            try await APIBadInputTests.expectRefused(fixture, status: 409, type: "conflict") {
                try await api.decide(id, as: "otto", ["decision": "approve"], headers: stale)
            }

            // The owner and the owner's deputy decide the same step at the same time, both with the version
            // they saw.
            let before = try await fixture.store.counts()
            async let owner = api.decide(id, as: "otto", ["decision": "approve"], headers: [.ifMatch: etag])
            async let deputy = api.decide(
                id, as: "paul", ["decision": "reject", "reason": "Nicht freigeben."], headers: [.ifMatch: etag])
            let statuses = [try await owner.status, try await deputy.status].sorted()
            #expect(statuses == [200, 409])
            let after = try await fixture.store.counts()
            #expect(after["decisions"] == (before["decisions"] ?? 0) + 1)
            let seen = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(seen.json?["decisions"]?.array.count == 1)
        }
    }
}

@Suite("JSON API: Prefer: return=minimal")
struct APIPreferMinimalTests {
    @Test(
        "Prefer header values",
        arguments: [
            ("return=minimal", true), ("Return=Minimal", true), (#"return="minimal""#, true),
            ("respond-async, return=minimal; foo=bar", true), ("return=representation", false),
            ("minimal", false), ("return=minimalx", false), ("", false), (String(repeating: "=,;", count: 300), false),
        ] as [(String, Bool)])
    func parsing(value: String, minimal: Bool) {
        #expect(CommandHeaders.prefersMinimalReturn([value]) == minimal)
    }

    @Test("a command with return=minimal answers 204 with the new version; without it, the whole request")
    func minimalAnswer() async throws {
        try await APIFixture.with { _, api in
            let created = try await api.create(APIBadInputTests.sharedData)
            let id = try #require(created.json?["id"]?.string)
            let version = try #require(created.json?["version"]?.int)
            let minimal = try await api.decide(
                id, as: "otto", ["decision": "approve"], headers: [CommandHeaders.prefer: "return=minimal"])
            #expect(minimal.status == 204)
            #expect(minimal.body.isEmpty)
            #expect(minimal.headers[.eTag] == "\"\(version + 1)\"")
            #expect(minimal.headers[CommandHeaders.preferenceApplied] == "return=minimal")
            // The decision happened: the request moved on.
            let seen = try await api.send(.get, "/api/v1/requests/\(id)", as: "anna")
            #expect(seen.json?["version"]?.int == version + 1)
            let full = try await api.decide(
                id, as: "stefan", ["decision": "approve"], headers: [CommandHeaders.prefer: "return=representation"])
            #expect(full.status == 200)
            #expect(full.json?["version"]?.int == version + 2)
        }
    }
}
