import AuditLog
import Foundation
import PostgresNIO
import Testing

@testable import FreigabeServer

/// `GET /api/v1/audit/export` and the Prüfung page's download through the production router against
/// real PostgreSQL: auditors get an export the offline verifier accepts, others nothing, hostile
/// parameters a 400 with nothing read or recorded, CSV cells that cannot run as formulas.
@Suite("Decision log: streamed export through the API")
struct AuditExportAPITests {
    static let signer = AuditSealTests.signer
    static let comments = ["=SUM(A1:A9)", "@cmd", "+49 30", "-2", "Er sagte \"ja\"; dann\nneu", "Jürgen ✓ \u{2028}"]

    /// Events with hostile texts, sealed under a signed checkpoint; the checkpoint's note.
    func sealedLog(_ store: ServiceFixture) async throws -> (UInt64, String) {
        for (index, comment) in Self.comments.enumerated() {
            try await store.admin.query(
                """
                INSERT INTO audit_events (occurred_at, actor, event, comment)
                VALUES (now(), \(index % 2 == 0 ? "anna" : "mallory"), 'login_failed', \(comment))
                """, logger: store.logger)
        }
        let size = try await AuditSealer(client: store.app, signer: Self.signer, checkpointFile: nil)
            .sealAll(now: Date(), logger: store.logger)
        let note = try await AuditQuery(client: store.app).latestSignedCheckpoint(logger: store.logger)
        return (size, try #require(note?.signedNote))
    }

    func verify(_ body: String, note: String) -> Result<ExportVerificationSummary, ExportVerificationFailure> {
        ExportVerifier(key: Self.signer.verifierKey).verify(
            lines: ExportLines.split(Array(body.utf8)), checkpoints: [CheckpointRecord(signedNote: note)])
    }

    /// A download as ``APIClient/send`` makes it, checked against `openapi.yaml` the same way, without
    /// reading JSON Lines as one JSON text.
    func download(_ api: APIClient, _ path: String, as user: String) async throws -> APIResponse {
        let response = try await api.client.executeRequest(
            uri: path, method: .get, headers: [.authorization: APIClient.basic(user)], body: nil)
        let result = APIResponse(
            status: Int(response.status.code), headers: response.headers, body: String(buffer: response.body), json: nil
        )
        let problems = api.validator.check(
            method: .get, path: path, status: result.status, contentType: result.contentType, body: nil)
        #expect(problems.isEmpty, "GET \(path) → \(result.status) does not match openapi.yaml: \(problems)")
        return result
    }

    func reads(_ store: ServiceFixture) async throws -> [String] {
        var reads: [String] = []
        for try await details in try await store.admin.query(
            "SELECT details::text FROM audit_events WHERE event = 'audit_read' ORDER BY id", logger: store.logger
        ).decode(String.self) {
            reads.append(details)
        }
        return reads
    }

    @Test("an auditor downloads the whole log and a filtered selection; both verify offline; each read is recorded")
    func auditorGetsAVerifiableExport() async throws {
        try await APIFixture.with { fixture, api in
            let (size, note) = try await sealedLog(fixture.store)
            let complete = try await download(api, "/api/v1/audit/export", as: "alex")
            #expect(complete.status == 200)
            #expect(complete.contentType?.hasPrefix("application/jsonl") == true)
            #expect(complete.headers[.contentDisposition] == "attachment; filename=\"pruefung-\(size).jsonl\"")
            let summary = try verify(complete.body, note: note).get()
            #expect(summary.selection == .complete)
            #expect(summary.eventCount == size)

            let filtered = try await download(api, "/api/v1/audit/export?format=jsonl&person=mallory", as: "alex")
            #expect(filtered.status == 200)
            let selection = try verify(filtered.body, note: note).get()
            #expect(selection.selection == .filtered)
            #expect(selection.eventCount == 3)
            // One changed byte in the download is found.
            let changed = complete.body.replacingOccurrences(of: "mallory", with: "mallorx")
            #expect(throws: ExportVerificationFailure.self) { try verify(changed, note: note).get() }
            // A cut-off download is found.
            #expect(throws: ExportVerificationFailure.self) {
                try verify(String(complete.body.dropLast(40)), note: note).get()
            }

            let reads = try await reads(fixture.store)
            #expect(reads.count == 2)
            #expect(reads.allSatisfy { $0.contains("\"via\": \"api\"") && $0.contains("\"export\": \"jsonl\"") })
            #expect(reads.last?.contains("\"person\": \"mallory\"") == true)
        }
    }

    /// Each download reads its batches through the pool the commands need: a few at once per instance,
    /// beyond that 503 with Retry-After, before anything is recorded or read.
    @Test(
        "while the instance's download slots are taken, an export is 503 with Retry-After and not recorded", .runsAlone)
    func downloadsAreCapped() async throws {
        try await APIFixture.with { fixture, api in
            _ = try await sealedLog(fixture.store)
            let slots = AuditExportDownload.slots
            var held = (0..<slots.capacity).compactMap { _ in slots.lease() }
            #expect(held.count == slots.capacity && slots.lease() == nil)
            let busy = try await download(api, "/api/v1/audit/export", as: "alex")
            #expect(busy.status == 503, "\(busy.body)")
            #expect(busy.headers[.retryAfter] == "60")
            #expect(busy.body.contains("Exporte des Protokolls"), "\(busy.body)")
            #expect(try await reads(fixture.store).isEmpty, "a refused export is no read")
            held.removeLast()
            let served = try await download(api, "/api/v1/audit/export", as: "alex")
            #expect(served.status == 200)
            #expect(try await reads(fixture.store).count == 1)
            held.removeAll()
            // Written or refused, every download gave its slot back.
            #expect(slots.inUse == 0)
        }
    }

    @Test("others get 401 or 403 and nothing is recorded; without a signed checkpoint 409")
    func othersGetNothing() async throws {
        try await APIFixture.with { fixture, api in
            #expect(try await api.send(.get, "/api/v1/audit/export", as: "alex").status == 409)
            _ = try await sealedLog(fixture.store)
            #expect(try await api.send(.get, "/api/v1/audit/export").status == 401)
            let anna = try await api.send(.get, "/api/v1/audit/export?format=csv", as: "anna")
            #expect(anna.status == 403)
            #expect(!anna.body.contains("SUM"))
            #expect(try await reads(fixture.store).count == 1, "only the auditor's read before the checkpoint")
        }
    }

    @Test("hostile parameters are refused with 400 naming the parameter; nothing is read, recorded or changed")
    func hostileParameters() async throws {
        try await APIFixture.with { fixture, api in
            _ = try await sealedLog(fixture.store)
            let before = try await fixture.store.admin.query(
                "SELECT count(*), coalesce(max(id), 0) FROM audit_events", logger: fixture.store.logger
            ).decode((Int, Int64).self).first(where: { _ in true })
            for (query, field) in [
                ("format=xml", "format"), ("format=JSONL", "format"), ("format=csv&separator=tab", "separator"),
                ("format=csv&bom=yes", "bom"), ("from=gestern", "from"), ("to=2026-02-30", "to"),
                ("person=anna'%20OR%201=1%20--", "person"), ("dataset=Baum%20kataster", "dataset"),
                ("request=not-a-uuid", "request"), ("type=drop_table", "type"), ("decision=maybe", "decision"),
                ("role=DSB;", "role"), ("deputies=yes", "deputies"), ("capacity=%3Cscript%3E", "capacity"),
                ("after=3", "after"), ("limit=10", "limit"),
                ("from=2026-03-05&to=2026-03-01", "to"), ("person=%00", "person"),
            ] {
                let answer = try await api.send(.get, "/api/v1/audit/export?\(query)", as: "alex")
                #expect(answer.status == 400, "\(query)")
                #expect(answer.errors[field] != nil, "\(query): \(answer.errors)")
            }
            let after = try await fixture.store.admin.query(
                "SELECT count(*), coalesce(max(id), 0) FROM audit_events", logger: fixture.store.logger
            ).decode((Int, Int64).self).first(where: { _ in true })
            #expect(after?.0 == before?.0)
            #expect(after?.1 == before?.1)
        }
    }

    @Test("CSV: every cell that would start a formula is neutralised; semicolons and BOM on request")
    func csvNeutralisesFormulas() async throws {
        try await APIFixture.with { fixture, api in
            let (size, _) = try await sealedLog(fixture.store)
            let answer = try await api.send(
                .get, "/api/v1/audit/export?format=csv&separator=semicolon&bom=true", as: "alex")
            #expect(answer.status == 200)
            #expect(answer.contentType?.hasPrefix("text/csv") == true)
            #expect(answer.body.hasPrefix("\u{feff}sequence;event_id;occurred_at;type;"))
            for expected in [
                #";"'=SUM(A1:A9)";"#, #";"'@cmd";"#, #";"'+49 30";"#, #";"'-2";"#,
                ";\"Er sagte \"\"ja\"\"; dann\nneu\";",
            ] {
                #expect(answer.body.contains(expected), "\(expected)")
            }
            #expect(!answer.body.contains(";=SUM"))
            // The column names, one record per event, the end record (then nothing after the last CRLF).
            #expect(answer.body.components(separatedBy: "\r\n").count == Int(size) + 3)
            #expect(answer.body.contains("\r\nend;\(size);\(size);complete;\""))
        }
    }

    /// The default batch covers these small logs in one statement: every cut must write its bytes.
    @Test("reading in batches of any size writes exactly the bytes of reading in one statement")
    func batchesWriteTheSameBytes() async throws {
        try await ServiceFixture.with { store in
            _ = try await AuditExportTests().lifecycles(store)
            let query = AuditQuery(client: store.app)
            for filter in [AuditFilter(), AuditFilter(person: "otto"), AuditFilter(datasetID: "baumkataster")] {
                for format in AuditExportFormat.allCases {
                    var streamed: [UInt8] = []
                    let whole = AuditQuery.Batching(rows: 1_000_000, window: 1_000_000)
                    _ = try await AuditExporter(query: query, batching: whole).export(
                        filter, format: format, logger: store.logger
                    ) { streamed += $0 }
                    for batching in [
                        AuditQuery.Batching(rows: 1, window: 1), AuditQuery.Batching(rows: 2, window: 3),
                        AuditQuery.Batching(rows: 5, window: 1_000),
                    ] {
                        var batched: [UInt8] = []
                        _ = try await AuditExporter(query: query, batching: batching).export(
                            filter, format: format, logger: store.logger
                        ) { batched += $0 }
                        #expect(batched == streamed, "\(filter) \(format) \(batching)")
                    }
                    #expect(streamed.count > 500)
                }
            }
        }
    }

    @Test("the Prüfung page links its selection as downloads; the link streams the same export for auditors only")
    func pageDownload() async throws {
        try await WebFixture.with { fixture, client in
            _ = try await sealedLog(fixture.store)
            let note = try #require(
                try await AuditQuery(client: fixture.store.app).latestSignedCheckpoint(logger: fixture.store.logger))
            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung?person=mallory")
            #expect(page.html.contains("href=\"/pruefung/export?format=jsonl&amp;person=mallory\""))
            #expect(
                page.html.contains(
                    "href=\"/pruefung/export?format=csv&amp;separator=semicolon&amp;bom=true&amp;person=mallory\""))
            // The English page's spreadsheet download splits at commas.
            alex.language = "en"
            let english = try await alex.get("/pruefung?person=mallory")
            #expect(
                english.html.contains(
                    "href=\"/pruefung/export?format=csv&amp;separator=comma&amp;bom=true&amp;person=mallory\""))
            alex.language = "de"
            let download = try await alex.get("/pruefung/export?format=jsonl&person=mallory")
            #expect(download.status == 200)
            #expect(try verify(download.html, note: note.signedNote).get().eventCount == 3)
            #expect(try await alex.get("/pruefung/export?format=xml").status == 400)
            let anna = Browser(client)
            try await anna.login("anna")
            #expect(try await anna.get("/pruefung/export").status == 403)
        }
    }

    @Test("exports refuse unknown and repeated parameters with 400 naming each, before anything is read or recorded")
    func unknownAndRepeatedParameters() async throws {
        try await WebFixture.with { fixture, client in
            _ = try await sealedLog(fixture.store)
            let api = APIClient(client: client, validator: APITestSupport.validator)
            for (query, field) in [
                ("format=csv&dataset_id=baumkataster", "dataset_id"), ("format=jsonl&format=csv", "format"),
                ("person=anna&person=mallory", "person"), ("datset=x", "datset"), ("request_id=1", "request_id"),
                ("bom=true&bom=false&format=csv", "bom"),
            ] {
                let answer = try await api.send(.get, "/api/v1/audit/export?\(query)", as: "alex")
                #expect(answer.status == 400, "\(query)")
                #expect(answer.errors[field] != nil, "\(query): \(answer.errors)")
                #expect(!answer.body.contains("SUM"), "\(query)")
            }
            // The page's download: the same checks, the same filters as the API's export.
            let alex = Browser(client)
            try await alex.login("alex")
            for query in ["format=csv&dataset_id=baumkataster", "datset=x", "person=anna&person=mallory", "nach=3"] {
                let answer = try await alex.get("/pruefung/export?\(query)")
                #expect(answer.status == 400, "\(query)")
                #expect(!answer.html.contains("SUM"), "\(query)")
            }
            #expect(try await reads(fixture.store).isEmpty)
            let domain = try await alex.get("/pruefung/export?format=csv&domain=umwelt&role=dsb")
            #expect(domain.status == 200)
            #expect(!domain.html.contains("SUM"), "the domain is a filter of the download too")
        }
    }

}
