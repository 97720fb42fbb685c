import AuditLog
import Foundation
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The person filter compares uids case-insensitively in all three of its arms (actor, acting for,
/// requester of the event's request): the log keeps the directory's spelling (an AD `sAMAccountName`
/// such as `MMueller`), and an auditor who types `mmueller` must not read "did nothing".
@Suite("Decision log: the person filter ignores case")
struct AuditPersonFilterTests {
    static let signer = AuditSealTests.signer

    /// MMueller acts once and is represented once; a system event of Anna's request; all sealed under a
    /// signed checkpoint. The request's id.
    static func log(_ store: ServiceFixture) async throws -> UUID {
        let request = try await store.shared("baumkataster")
        try await store.admin.query(
            """
            INSERT INTO audit_events (occurred_at, actor, acting_for, request_id, event) VALUES
                (now(), 'MMueller', NULL, NULL, 'login_failed'),
                (now(), 'otto', 'MMueller', NULL, 'forbidden'),
                (now(), NULL, NULL, \(request.id), 'reminded')
            """, logger: store.logger)
        _ = try await AuditSealer(client: store.app, signer: signer, checkpointFile: nil)
            .sealAll(now: Date(), logger: store.logger)
        return request.id
    }

    @Test("API and export: person=mmueller finds MMueller acting and represented; person=ANNA her request's events")
    func apiAndExport() async throws {
        try await APIFixture.with { fixture, api in
            let request = try await Self.log(fixture.store)
            let found = try await api.send(.get, "/api/v1/audit/events?person=mmueller", as: "alex")
            #expect(found.status == 200)
            let items = found.json?["items"]?.array ?? []
            #expect(items.compactMap { $0["type"]?.string }.sorted() == ["forbidden", "login_failed"], "\(found.body)")
            let requester = try await api.send(.get, "/api/v1/audit/events?person=ANNA&type=reminded", as: "alex")
            let requested = requester.json?["items"]?.array.compactMap { $0["request_id"]?.string?.lowercased() }
            #expect(requested == [request.uuidString.lowercased()], "\(requester.body)")
            // The export of the API and the command line's (the same filter and exporter).
            let export = try await api.client.executeRequest(
                uri: "/api/v1/audit/export?format=csv&person=mMUELLER", method: .get,
                headers: [.authorization: APIClient.basic("alex")], body: nil)
            #expect(export.status.code == 200)
            let csv = String(buffer: export.body)
            #expect(csv.components(separatedBy: "\r\n").filter { $0.contains("MMueller") }.count == 2, "\(csv)")
            let filter = try AuditFilter.parse(person: "mmueller")
            let result = try await AuditExporter(query: AuditQuery(client: fixture.store.app)).export(
                filter, format: .jsonl, logger: fixture.store.logger
            ) { _ in }
            #expect(result.eventCount == 2)
        }
    }

    @Test("page and its download: person=mmueller lists and exports MMueller's events")
    func page() async throws {
        try await WebFixture.with { fixture, client in
            _ = try await Self.log(fixture.store)
            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung?person=mmueller")
            #expect(page.status == 200)
            #expect(page.html.components(separatedBy: "<th scope=\"row\">").count == 3, "two rows")
            let download = try await alex.get("/pruefung/export?format=csv&person=mmueller")
            #expect(download.status == 200)
            #expect(download.html.components(separatedBy: "\r\n").filter { $0.contains("MMueller") }.count == 2)
        }
    }
}
