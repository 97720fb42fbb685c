import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Testing

@testable import FreigabeServer

/// What one view of a request page costs the database, counted by PostgreSQL itself: the statements of
/// the application role in the test's own database (`pg_stat_statements`, which counts at once;
/// `pg_stat_database.xact_commit` publishes only after up to ten seconds and also counts autovacuum's
/// transactions in a fresh database, so it cannot say exactly what one page did).
@Suite("Web: transactions of a request page view")
struct WebRequestPageCostTests {
    /// Calls per statement of the application role in `database` (`pg_stat_statements` is installed in
    /// the main database by `make services`; its view is cluster-wide).
    func statements(in database: String, _ fixture: WebFixture) async throws -> [String: Int] {
        let base = try DatabaseSettings(environment: try StoreTestSupport.environment())
        return try await Database.withClient(try base.clientConfiguration(admin: true), logger: fixture.store.logger) {
            main in
            var calls: [String: Int] = [:]
            let rows = try await main.query(
                """
                SELECT s.query, sum(s.calls)::bigint FROM pg_stat_statements s
                    JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles u ON u.oid = s.userid
                WHERE d.datname = \(database) AND u.rolname = \(base.user) GROUP BY s.query
                """, logger: fixture.store.logger)
            for try await (query, count) in rows.decode((String, Int).self) { calls[query] = count }
            return calls
        }
    }

    @Test(
        "a request page naming the approver and their deputy takes two statements, each its own transaction: the session's and the request's"
    )
    func pageViewTakesTwoTransactions() async throws {
        try await WebFixture.with { fixture, client in
            let rows = try await fixture.store.admin.query("SELECT current_database()", logger: fixture.store.logger)
            let database = try #require(try await rows.decode(String.self).first(where: { _ in true }))
            let request = try await fixture.store.submittedRequest()
            // otto (Otto Oberle) owns baumkataster; paul (Paul Peters) is his deputy now.
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(principal: nil, deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(30)),
                caller: People.otto, now: Clock.start, logger: fixture.store.logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let path = "/antraege/\(request.id.uuidString)"
            // The first view fills the caches (pinned definition, role holders, directory).
            let first = try await anna.get(path)
            #expect(first.html.contains("Vertretung: Paul Peters"))

            let before = try await statements(in: database, fixture)
            let page = try await anna.get(path)
            let after = try await statements(in: database, fixture)

            #expect(page.status == 200)
            // What is shown is what the deputies' own transaction showed.
            #expect(page.html.contains("(Otto Oberle)."))
            #expect(page.html.contains("Vertretung: Paul Peters"))
            #expect(page.html == first.html)
            let ran = after.compactMap { query, calls in
                calls > (before[query] ?? 0) ? (query, calls - (before[query] ?? 0)) : nil
            }
            let listing = ran.map { "\($0.1)× \($0.0.prefix(100))" }.joined(separator: "\n")
            // No BEGIN/COMMIT: each statement is a transaction of its own, one round trip.
            #expect(ran.map(\.1).reduce(0, +) == 2, "statements of one request page view:\n\(listing)")
            #expect(!ran.contains { $0.0.hasPrefix("BEGIN") || $0.0.hasPrefix("COMMIT") }, "\(listing)")
            #expect(ran.contains { $0.0.contains("FROM web_sessions") }, "\(listing)")
            #expect(ran.contains { $0.0.contains("FROM requests r") }, "\(listing)")
        }
    }
}
