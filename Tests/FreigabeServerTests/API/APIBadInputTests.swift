import Foundation
import Hummingbird
import Testing

@testable import FreigabeServer

/// The issue's "Bad input" over HTTP: a clear 4xx problem with a stable type, no row changed, and no
/// audit event except for the security-relevant refusals.
@Suite("JSON API: bad input")
struct APIBadInputTests {
    static var sharedData: [String: Any] {
        [
            "kind": "shared_data", "dataset_id": "altlastenkataster", "purpose": "Sanierungsplanung",
            "recipient": ["name": "Stadtwerke", "type": "external"], "legal_basis": "Art. 6 Abs. 1 lit. e DSGVO",
            "access_end": "2026-12-31", "submit": true,
        ]
    }

    /// Sends, expects `status` and `type`, and checks that no table changed (audit events by
    /// `auditDelta`).
    @discardableResult
    static func expectRefused(
        _ fixture: APIFixture, status: Int, type: String, auditDelta: Int = 0,
        sourceLocation: SourceLocation = #_sourceLocation, _ send: () async throws -> APIResponse
    ) async throws -> APIResponse {
        let before = try await fixture.store.counts()
        let response = try await send()
        let after = try await fixture.store.counts()
        #expect(response.status == status, "\(response.body)", sourceLocation: sourceLocation)
        #expect(response.problemType == type, "\(response.body)", sourceLocation: sourceLocation)
        #expect(response.contentType == "application/problem+json", sourceLocation: sourceLocation)
        #expect(response.json?["title"]?.string?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(response.json?["status"]?.int == status, sourceLocation: sourceLocation)
        var expected = before
        expected["audit_events", default: 0] += auditDelta
        #expect(after == expected, "rows changed: \(before) → \(after)", sourceLocation: sourceLocation)
        return response
    }

    static func with(_ change: [String: Any?], _ base: [String: Any] = sharedData) -> [String: Any] {
        var body = base
        for (key, value) in change { body[key] = value }
        return body
    }

    @Test(
        "Unknown dataset, missing purpose, missing legal basis, end before start, Open Data without anonymisation statement: 422 naming the field"
    )
    func validation() async throws {
        try await APIFixture.with { fixture, api in
            var response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(Self.with(["dataset_id": "gibt-es-nicht"]))
            }
            #expect(response.errors["dataset_id"] != nil)

            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(Self.with(["purpose": nil]))
            }
            #expect(response.errors["purpose"] == "Bitte beschreiben Sie, wofür die Daten gebraucht werden.")
            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(Self.with(["purpose": "   "]))
            }
            #expect(response.errors["purpose"] != nil)

            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(Self.with(["legal_basis": nil]))
            }
            #expect(response.errors["legal_basis"] != nil)

            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(Self.with(["access_start": "2026-08-01", "access_end": "2026-07-01"]))
            }
            #expect(response.errors["access_end"] != nil)

            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create([
                    "kind": "open_data", "dataset_id": "meldestatistik", "purpose": "Transparenz",
                    "open_data_check": APILifecycleTests.cleanCheck, "submit": true,
                ])
            }
            #expect(response.errors["anonymisation_statement"] != nil)

            // Several problems at once, each named.
            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(Self.with(["purpose": "", "legal_basis": nil, "recipient": nil]))
            }
            #expect(Set(response.errors.keys).isSuperset(of: ["purpose", "legal_basis", "recipient"]))
        }
    }

    @Test(
        "Deciding a step that is not yours or your own request: 403 and a security event; deciding again: 409 naming who decided"
    )
    func forbiddenDecisions() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(Self.sharedData)
            let id = try #require(created.json?["id"]?.string)

            var response = try await Self.expectRefused(fixture, status: 403, type: "forbidden", auditDelta: 1) {
                try await api.decide(id, as: "ingo", ["decision": "approve"])
            }
            #expect(response.json?["code"]?.string != nil)
            try await Self.expectRefused(fixture, status: 403, type: "forbidden", auditDelta: 1) {
                try await api.decide(id, as: "anna", ["decision": "approve"])
            }
            let events = try await fixture.store.auditEvents(request: UUID(uuidString: id))
            #expect(events.filter { $0 == "forbidden" }.count == 2)

            // Deciding twice: the owner approved; a second click is a conflict, not an attack.
            let approved = try await api.decide(id, as: "otto", ["decision": "approve"])
            #expect(approved.status == 200)
            response = try await Self.expectRefused(fixture, status: 409, type: "conflict") {
                try await api.decide(id, as: "otto", ["decision": "approve"])
            }
            #expect(response.json?["detail"]?.string?.contains("Sie haben über diesen Schritt bereits am ") == true)

            // Someone who may not see the request gets 404, recorded too.
            try await Self.expectRefused(fixture, status: 404, type: "not-found", auditDelta: 1) {
                try await api.send(.get, "/api/v1/requests/\(id)", as: "jürgen")
            }
            // Administrators only maintain the catalogue.
            try await Self.expectRefused(fixture, status: 403, type: "forbidden", auditDelta: 1) {
                try await api.send(
                    .put, "/api/v1/datasets/neu", as: "anna",
                    json: jsonText([
                        "title": "Neu", "domain": "umwelt", "owner": "otto", "classification": "public",
                        "personal_data": "none", "protection_need": "normal",
                    ]))
            }
        }
    }

    /// A browser that once answered the API's login prompt sends the credentials along with a request
    /// another site starts; the browser also says so (`Sec-Fetch-Site`), and that call changes nothing.
    @Test("A state change or a read with credentials another site started in the browser is refused; programs pass")
    func crossSiteCallsAreRefused() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(Self.sharedData)
            let id = try #require(created.json?["id"]?.string)
            for site in ["cross-site", "same-site", "Cross-Site"] {
                let refused = try await Self.expectRefused(fixture, status: 403, type: "forbidden") {
                    try await api.send(
                        .post, "/api/v1/requests/\(id)/withdraw", as: "anna", headers: [Self.fetchSite: site])
                }
                #expect(refused.json?["detail"]?.string?.contains("anderen Website") == true, "\(site)")
            }
            // A read with credentials from another site (an <img> on its page) is refused too: an
            // auditor's reading would be recorded in their name. Nothing is written.
            for path in ["/api/v1/requests/\(id)", "/api/v1/audit/events"] {
                let refused = try await Self.expectRefused(fixture, status: 403, type: "forbidden") {
                    try await api.send(.get, path, as: "alex", headers: [Self.fetchSite: "cross-site"])
                }
                #expect(refused.json?["detail"]?.string?.contains("Zugangsdaten") == true, "\(path)")
            }
            // A browser without Sec-Fetch-Site (Safari before 16.4) names the page's origin: another
            // site's, or none (`null`), is refused; Freigabe's own address (`web.public_url`) passes.
            for origin in [
                "https://evil.example", "null", "http://127.0.0.1:8081", "https://127.0.0.1:8080", "https://localhost",
                "http://localhost:81", "http://localhost.evil.example",
            ] {
                let refused = try await Self.expectRefused(fixture, status: 403, type: "forbidden") {
                    try await api.send(
                        .post, "/api/v1/requests/\(id)/withdraw", as: "anna", headers: [Self.origin: origin])
                }
                #expect(refused.json?["detail"]?.string?.contains("anderen Website") == true, "\(origin)")
            }
            // Freigabe's public address, or the host the call went to with the public address's scheme.
            for origin in ["HTTP://127.0.0.1:8080", "http://localhost", "http://LOCALHOST:80"] {
                let read = try await api.send(
                    .get, "/api/v1/requests/\(id)", as: "anna", headers: [Self.origin: origin])
                #expect(read.status == 200, "\(origin)")
            }
            // A public read without credentials passes from anywhere (a portal links the catalogue).
            let catalogue = try await api.send(
                .get, "/api/v1/dcat/catalog.ttl", as: nil, headers: [Self.fetchSite: "cross-site"])
            #expect(catalogue.status == 200)
            let own = try await api.send(
                .post, "/api/v1/requests/\(id)/withdraw", as: "anna", headers: [Self.fetchSite: "same-origin"])
            #expect(own.status == 200)
        }
    }

    static let fetchSite = CrossSiteRequestMiddleware<AppRequestContext>.fetchSite
    static let origin = CrossSiteRequestMiddleware<AppRequestContext>.origin

    @Test("Deciding a withdrawn request: 409 invalid-state, nothing written")
    func decidingWithdrawn() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(Self.sharedData)
            let id = try #require(created.json?["id"]?.string)
            let withdrawn = try await api.send(.post, "/api/v1/requests/\(id)/withdraw", as: "anna")
            #expect(withdrawn.status == 200)
            try await Self.expectRefused(fixture, status: 409, type: "invalid-state") {
                try await api.decide(id, as: "otto", ["decision": "approve"])
            }
            try await Self.expectRefused(fixture, status: 409, type: "invalid-state") {
                try await api.send(.post, "/api/v1/requests/\(id)/withdraw", as: "anna")
            }
        }
    }

    @Test(
        "Malformed JSON, wrong shape, wrong content type, too large, invalid UTF-8: 400/415/413 before anything is read"
    )
    func malformedBodies() async throws {
        try await APIFixture.with { fixture, api in
            let created = try await api.create(Self.sharedData)
            let id = try #require(created.json?["id"]?.string)
            let decisions = "/api/v1/requests/\(id)/decisions"

            try await Self.expectRefused(fixture, status: 400, type: "invalid-json") {
                try await api.send(.post, decisions, as: "otto", json: #"{"decision": "approve""#)
            }
            try await Self.expectRefused(fixture, status: 400, type: "invalid-json") {
                try await api.send(.post, decisions, as: "otto", json: #"["approve"]"#)
            }
            try await Self.expectRefused(fixture, status: 400, type: "invalid-json") {
                try await api.send(.post, "/api/v1/requests", as: "anna", json: "")
            }
            var response = try await Self.expectRefused(fixture, status: 400, type: "invalid-body") {
                try await api.send(
                    .post, decisions, as: "otto", json: #"{"decision": "approve", "reason": "x", "extra": 1}"#)
            }
            #expect(Set(response.errors.keys) == ["reason", "extra"])
            response = try await Self.expectRefused(fixture, status: 400, type: "invalid-body") {
                try await api.create(Self.with(["purpse": "Tippfehler", "submit": "yes", "kind": "closed_data"]))
            }
            #expect(Set(response.errors.keys) == ["purpse", "submit", "kind"])
            response = try await Self.expectRefused(fixture, status: 400, type: "invalid-body") {
                try await api.create(Self.with(["access_end": "31.12.2026"]))
            }
            #expect(response.errors["access_end"] != nil)

            try await Self.expectRefused(fixture, status: 415, type: "unsupported-media-type") {
                try await api.send(
                    .post, decisions, as: "otto", body: ByteBuffer(string: "decision=approve"),
                    headers: [.contentType: "application/x-www-form-urlencoded"])
            }
            try await Self.expectRefused(fixture, status: 415, type: "unsupported-media-type") {
                try await api.send(
                    .post, decisions, as: "otto", body: ByteBuffer(string: #"{"decision":"approve"}"#))
            }
            try await Self.expectRefused(fixture, status: 415, type: "unsupported-media-type") {
                try await api.send(
                    .post, decisions, as: "otto", json: #"{"decision":"approve"}"#,
                    headers: [.contentType: "application/json; charset=iso-8859-1"])
            }

            let megabyte = String(repeating: "Ä", count: 512 * 1024)
            try await Self.expectRefused(fixture, status: 413, type: "payload-too-large") {
                try await api.decide(id, as: "otto", ["decision": "approve", "comment": megabyte])
            }
            // Below the body limit but above the text limit: the service's 422.
            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.decide(
                    id, as: "otto", ["decision": "reject", "reason": String(repeating: "x", count: 4001)])
            }
            #expect(response.errors["reason"] != nil)

            var invalid = ByteBuffer(string: #"{"decision": "approve", "comment": ""#)
            invalid.writeBytes([0xC3, 0x28, 0xFF])
            invalid.writeString(#""}"#)
            try await Self.expectRefused(fixture, status: 400, type: "invalid-json") {
                try await api.send(
                    .post, decisions, as: "otto", body: invalid, headers: [.contentType: "application/json"])
            }
            // UTF-16 is not UTF-8, even though JSONDecoder could guess it.
            var utf16 = ByteBuffer()
            utf16.writeBytes(Array(#"{"decision":"approve"}"#.utf16).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] })
            try await Self.expectRefused(fixture, status: 400, type: "invalid-json") {
                try await api.send(
                    .post, decisions, as: "otto", body: utf16, headers: [.contentType: "application/json"])
            }
            // Duplicate names: Foundation would keep one value silently; the API names the field.
            response = try await Self.expectRefused(fixture, status: 400, type: "invalid-body") {
                try await api.send(
                    .post, decisions, as: "otto", json: #"{"decision": "reject", "reason": "nein", "reason": ""}"#)
            }
            #expect(Set(response.errors.keys) == ["reason"])
            response = try await Self.expectRefused(fixture, status: 400, type: "invalid-body") {
                try await api.send(
                    .post, "/api/v1/requests", as: "anna",
                    json: #"{"kind": "shared_data", "recipient": {"name": "A", "type": "internal", "n\u0061me": "B"}}"#)
            }
            #expect(Set(response.errors.keys) == ["recipient.name"])
            // A NUL character escaped inside a string is valid JSON but no valid text.
            response = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.send(
                    .post, decisions, as: "otto", json: #"{"decision": "approve", "comment": "a\u0000b"}"#)
            }
            #expect(response.errors["comment"] != nil)
            // Unknown and malformed ids are plain 404s.
            try await Self.expectRefused(fixture, status: 404, type: "not-found") {
                try await api.decide(UUID().uuidString, as: "otto", ["decision": "approve"])
            }
            try await Self.expectRefused(fixture, status: 404, type: "not-found") {
                try await api.send(.get, "/api/v1/requests/1'%20OR%20'1'='1", as: "otto")
            }
            // A query parameter of the wrong form.
            try await Self.expectRefused(fixture, status: 400, type: "bad-request") {
                try await api.send(.get, "/api/v1/datasets?classification=geheim&limit=0", as: "anna")
            }
            // A parameter the list does not know, or one given twice: refused, not ignored (the answer would
            // look like the selection asked for).
            for path in [
                "/api/v1/datasets?datset=baumkataster", "/api/v1/datasets?q=baum&q=luft", "/api/v1/me/requests?after=x",
                "/api/v1/me/requests?limit=1&limit=2", "/api/v1/inbox?offset=50", "/api/v1/inbox/stalled?limit=5",
                "/api/v1/inbox/revocable?limit=5",
                "/api/v1/me/deputy-decisions?since=2026-01-01", "/api/v1/domains?q=umwelt", "/api/v1/deputyships?all=1",
            ] {
                try await Self.expectRefused(fixture, status: 400, type: "bad-request") {
                    try await api.send(.get, path, as: "anna")
                }
            }
            // Paging and filters of the wrong form, each named at its parameter.
            for (path, parameter) in [
                ("/api/v1/datasets?offset=-1", "offset"), ("/api/v1/datasets?offset=100001", "offset"),
                ("/api/v1/me/requests?offset=9223372036854775808", "offset"),
                ("/api/v1/me/requests?offset=1e3", "offset"),
                ("/api/v1/me/requests?offset=%00", "offset"), ("/api/v1/me/requests?limit=%2B5", "limit"),
                ("/api/v1/me/requests?offset=", "offset"), ("/api/v1/datasets?limit=", "limit"),
                ("/api/v1/me/requests?phase=geheim", "phase"), ("/api/v1/me/requests?phase=GRANTED", "phase"),
                ("/api/v1/me/requests?phase=granted%00", "phase"), ("/api/v1/me/requests?phase=%27--", "phase"),
            ] {
                let refused = try await Self.expectRefused(fixture, status: 400, type: "bad-request") {
                    try await api.send(.get, path, as: "anna")
                }
                #expect(refused.errors[parameter] != nil, "\(path): \(refused.body)")
                if parameter == "phase" { #expect(refused.errors["phase"]?.contains("granted") == true, "\(path)") }
            }
            // If-Match that is no version.
            try await Self.expectRefused(fixture, status: 400, type: "bad-request") {
                try await api.decide(id, as: "otto", ["decision": "approve"], headers: [.ifMatch: "\"abc\""])
            }
        }
    }

    @Test("GET /datasets?owner= lists only that person's datasets; hostile owners find nothing or get 400")
    func datasetOwnerFilter() async throws {
        try await APIFixture.with { fixture, api in
            let before = try await fixture.store.counts()
            let otto = try await api.send(.get, "/api/v1/datasets?owner=otto", as: "anna")
            #expect(otto.status == 200)
            #expect(otto.json?["items"]?.array.map { $0["owner"]?.string } == Array(repeating: "otto", count: 4))
            let ids = otto.json?["items"]?.array.compactMap { $0["id"]?.string }
            #expect(ids?.sorted() == ["altlastenkataster", "baumkataster", "laermkartierung", "luftmessstationen"])
            // Combined with the other filters, and without regard to case.
            let combined = try await api.send(.get, "/api/v1/datasets?owner=OTTO&q=baum", as: "anna")
            #expect(combined.json?["items"]?.array.map { $0["id"]?.string } == ["baumkataster"])
            let elsewhere = try await api.send(.get, "/api/v1/datasets?owner=otto&domain=mobilitaet", as: "anna")
            #expect(elsewhere.json?["items"]?.array.isEmpty == true)
            // Bound, not spliced: SQL characters and an owner nobody has find nothing.
            for hostile in ["%27%20OR%20%271%27%3D%271", "niemand", "otto%27--", "%25"] {
                let response = try await api.send(.get, "/api/v1/datasets?owner=\(hostile)", as: "anna")
                #expect(response.status == 200, "\(hostile)")
                #expect(response.json?["items"]?.array.isEmpty == true, "\(hostile)")
            }
            // Too long, or with a control character (a NUL would reach PostgreSQL): 400 naming the field.
            for refused in [String(repeating: "a", count: 101), "ot%00to", "ot%0Ato"] {
                let response = try await Self.expectRefused(fixture, status: 400, type: "bad-request") {
                    try await api.send(.get, "/api/v1/datasets?owner=\(refused)", as: "anna")
                }
                #expect(response.errors["owner"]?.contains("Benutzerkennung") == true, "\(refused)")
            }
            // The search text and the domain the same way (schemathesis found a NUL in `q` answered 500).
            for (name, refused, words) in [
                ("q", "baum%00", "Steuerzeichen"), ("q", "%008%3F%C2%97Kt%7F", "Steuerzeichen"),
                ("q", String(repeating: "b", count: 201), "200 Zeichen"), ("domain", "umwelt%00", "Steuerzeichen"),
                ("domain", "um%0Dwelt", "Steuerzeichen"), ("domain", String(repeating: "d", count: 101), "100 Zeichen"),
            ] {
                let response = try await Self.expectRefused(fixture, status: 400, type: "bad-request") {
                    try await api.send(.get, "/api/v1/datasets?\(name)=\(refused)", as: "anna")
                }
                #expect(response.errors[name]?.contains(words) == true, "\(name)=\(refused): \(response.errors)")
            }
            #expect(try await fixture.store.counts() == before)
        }
    }

    @Test("SQL meta characters and HTML in every text field are stored verbatim and returned JSON-escaped")
    func hostileText() async throws {
        try await APIFixture.with { fixture, api in
            let hostile = #"Robert'); DROP TABLE requests;-- <script>alert("x")</script> \ %_ $1 ' OR 1=1 --"#
            let created = try await api.create([
                "kind": "shared_data", "dataset_id": "altlastenkataster", "purpose": hostile,
                "recipient": ["name": hostile, "type": "external"], "legal_basis": hostile,
                "format": hostile, "access_end": "2026-12-31", "submit": true,
            ])
            #expect(created.status == 201)
            #expect(created.body.contains(#"<script>alert(\"x\")</script>"#))
            let id = try #require(created.json?["id"]?.string)
            for field in ["purpose", "legal_basis", "format"] {
                #expect(created.json?[field]?.string == hostile, "\(field)")
            }
            // A licence is one of the open licences, by a name the engine knows (stored by its
            // identifier); anything else, hostile text included, is refused and stores nothing.
            let beforeLicence = try await fixture.store.counts()
            let otherLicence = try await api.create([
                "kind": "open_data", "dataset_id": "baumkataster", "purpose": "Portal", "licence": hostile,
            ])
            #expect(otherLicence.status == 422)
            #expect(otherLicence.errors["licence"]?.contains("dl-de-by-2.0") == true, "\(otherLicence.body)")
            #expect(
                otherLicence.errors["licence"]?.contains(
                    "Datenlizenz Deutschland – Zero – Version 2.0 (dl-de-zero-2.0)")
                    == true, "\(otherLicence.body)")
            #expect(try await fixture.store.counts() == beforeLicence)
            let named = try await api.create([
                "kind": "open_data", "dataset_id": "baumkataster", "purpose": "Portal",
                "licence": "Datenlizenz Deutschland – Zero – Version 2.0",
            ])
            #expect(named.json?["licence"]?.string == "dl-de-zero-2.0", "\(named.body)")
            #expect(created.json?["recipient"]?["name"]?.string == hostile)

            let asked = try await api.decide(id, as: "otto", ["decision": "request_changes", "question": hostile])
            #expect(asked.json?["status"]?["question"]?.string == hostile)
            let answered = try await api.send(
                .post, "/api/v1/requests/\(id)/resubmit", as: "anna", json: jsonText(["comment": hostile]))
            #expect(answered.status == 200)
            let approved = try await api.decide(id, as: "otto", ["decision": "approve", "comment": hostile])
            #expect(approved.json?["decisions"]?.array.last?["comment"]?.string == hostile)
            let rejected = try await api.decide(id, as: "stefan", ["decision": "reject", "reason": hostile])
            #expect(rejected.json?["decisions"]?.array.last?["comment"]?.string == hostile)

            let openData = try await api.create([
                "kind": "open_data", "dataset_id": "bevoelkerungsprognose", "purpose": hostile,
                "anonymisation_statement": hostile,
                "open_data_check": [
                    "personal_reference": ["applies": true, "note": hostile], "trade_secrets": ["applies": false],
                    "third_party_rights": ["applies": false], "security": ["applies": false],
                    "confidentiality": ["applies": false],
                ],
            ])
            #expect(openData.json?["anonymisation_statement"]?.string == hostile)
            #expect(openData.json?["open_data_check"]?["personal_reference"]?["note"]?.string == hostile)
            let openID = try #require(openData.json?["id"]?.string)
            let withdrawn = try await api.send(
                .post, "/api/v1/requests/\(openID)/withdraw", as: "anna", json: jsonText(["comment": hostile]))
            #expect(withdrawn.status == 200)

            // Search text is bound, not spliced: it finds nothing and breaks nothing.
            let search = try await api.send(
                .get, "/api/v1/datasets?q=%27%29%3B%20DROP%20TABLE%20datasets%3B--", as: "anna")
            #expect(search.status == 200)
            #expect(search.json?["items"]?.array.isEmpty == true)

            // Refused where it must be: a hostile dataset id names no dataset, and nothing is written.
            try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(Self.with(["dataset_id": hostile]))
            }
            let counts = try await fixture.store.counts()
            #expect(counts["requests"] == 3, "the shared, the named-licence and the open request")
            #expect(counts["datasets"] == 11)
        }
    }

    @Test("Without credentials 401 with a Basic challenge; wrong password 401 and a login_failed event")
    func authentication() async throws {
        try await APIFixture.with { fixture, api in
            var response = try await Self.expectRefused(fixture, status: 401, type: "unauthorized") {
                try await api.send(.get, "/api/v1/inbox")
            }
            #expect(response.headers[.wwwAuthenticate] == #"Basic realm="Freigabe", charset="UTF-8""#)
            response = try await Self.expectRefused(fixture, status: 401, type: "unauthorized") {
                try await api.send(.post, "/api/v1/requests", json: jsonText(Self.sharedData))
            }
            response = try await Self.expectRefused(fixture, status: 401, type: "unauthorized", auditDelta: 1) {
                try await api.send(
                    .get, "/api/v1/inbox", headers: [.authorization: APIClient.basic("anna", "falsch")])
            }
            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            #expect(try await fixture.store.auditEvents().last == "login_failed")
            // A known user's wrong password names the user; a name the directory does not know (here a
            // password typed into the name field) is not written anywhere in the log, which keeps its
            // actors for good.
            let secret = "Geheim!Pass1"
            try await Self.expectRefused(fixture, status: 401, type: "unauthorized", auditDelta: 1) {
                try await api.send(.get, "/api/v1/inbox", headers: [.authorization: APIClient.basic(secret, "x")])
            }
            let failures = try await fixture.store.admin.query(
                "SELECT actor, details::text FROM audit_events WHERE event = 'login_failed' ORDER BY id",
                logger: fixture.store.logger)
            var rows: [(String?, String)] = []
            for try await (actor, details) in failures.decode((String?, String).self) { rows.append((actor, details)) }
            #expect(rows.map(\.0) == ["anna", nil])
            #expect(rows.last?.1.contains("unknown") == true)
            let anywhere = try await fixture.store.admin.query(
                "SELECT count(*)::int FROM audit_events e WHERE e::text LIKE '%' || \(secret) || '%'",
                logger: fixture.store.logger)
            #expect(try await anywhere.decode(Int.self).first(where: { _ in true }) == 0)
            // An umlaut in the user name works (UTF-8 in Basic credentials).
            let juergen = try await api.send(.get, "/api/v1/me", as: "jürgen")
            #expect(juergen.status == 200)
            #expect(juergen.json?["uid"]?.string == "jürgen")

            // Guessing slows down: after the free attempts 429 with Retry-After, as a problem too.
            var last: APIResponse? = nil
            for _ in 0..<6 {
                last = try await api.send(
                    .get, "/api/v1/inbox", headers: [.authorization: APIClient.basic("ingo", "rate")])
                if last?.status == 429 { break }
            }
            #expect(last?.status == 429)
            #expect(last?.problemType == "too-many-requests")
            #expect(last?.headers[.retryAfter] != nil)
        }
    }

    @Test("Problems speak the language Accept-Language asks for: catalogue texts, the workflow's own words, titles")
    func problemsInTheAskedLanguage() async throws {
        try await APIFixture.with { fixture, api in
            let body = Self.with(["purpose": nil, "legal_basis": nil, "recipient": ["name": "Stadtwerke"]])
            let english = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(body, headers: [.acceptLanguage: "en-GB, de;q=0.5"])
            }
            #expect(english.headers[.contentLanguage] == "en")
            #expect(english.headers[.vary] == "Accept-Language")
            #expect(english.json?["title"]?.string == "Invalid input")
            #expect(english.errors["recipient.type"]?.hasPrefix("Please state whether") == true)

            let valid = Self.with(["purpose": nil, "legal_basis": nil])
            let german = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(valid)
            }
            #expect(german.headers[.contentLanguage] == "de")
            let shape = try await Self.expectRefused(fixture, status: 400, type: "invalid-body") {
                try await api.create(Self.with(["purpose": 7]), headers: [.acceptLanguage: "en"])
            }
            #expect(shape.json?["title"]?.string == "Malformed request")
            #expect(shape.errors["purpose"] == "A text is expected, not a number.")
            #expect(german.json?["title"]?.string == "Ungültige Eingaben")
            #expect(german.errors["purpose"] == "Bitte beschreiben Sie, wofür die Daten gebraucht werden.")
            #expect(
                german.errors["legal_basis"]
                    == "Für personenbezogene oder pseudonymisierte Daten ist die Rechtsgrundlage anzugeben.")
            let translated = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(valid, headers: [.acceptLanguage: "en"])
            }
            #expect(translated.json?["detail"]?.string == "The input is incomplete or invalid.")
            #expect(translated.errors["purpose"] == "Please describe what the data is needed for.")
            // The workflow definition's own English message (Workflows/shared-data.yaml).
            #expect(translated.errors["legal_basis"] == "Personal or pseudonymised data needs a legal basis.")
            // A language without a catalogue falls back to German.
            let french = try await Self.expectRefused(fixture, status: 422, type: "validation") {
                try await api.create(valid, headers: [.acceptLanguage: "fr"])
            }
            #expect(french.errors["purpose"] == german.errors["purpose"])
            // Login problems too.
            let login = try await api.send(
                .get, "/api/v1/me", headers: [.acceptLanguage: "en", .authorization: "Basic bm9jb2xvbg=="])
            #expect(login.status == 401)
            #expect(login.json?["detail"]?.string?.hasPrefix("The credentials are incomplete") == true)
        }
    }
}
