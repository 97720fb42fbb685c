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

    /// One view of a request page waiting for otto, whose deputy paul is, after a first view filled the
    /// caches (pinned definition, role holders, directory): its page and the statements it ran
    /// (query text → calls), after `prepare` ran on the admin role.
    func measuredView(
        _ fixture: WebFixture, _ client: any TestClientProtocol,
        prepare: (WebFixture) async throws -> Void = { _ in }
    ) async throws -> (page: Browser.Page, first: Browser.Page, ran: [(query: String, calls: Int)]) {
        let rows = try await fixture.store.admin.query("SELECT current_database()", logger: fixture.store.logger)
        let database = try #require(try await rows.decode(String.self).first(where: { _ in true }))
        let request = try await fixture.store.submittedRequest()
        // otto (Otto Oberle) owns baumkataster; paul (Paul Peters) is his deputy now.
        _ = try await fixture.service.createDeputyship(
            NewDeputyship(principal: nil, deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(30)),
            caller: People.otto, now: Clock.start, logger: fixture.store.logger)
        try await prepare(fixture)
        let anna = Browser(client)
        try await anna.login("anna")
        let path = "/antraege/\(request.id.uuidString)"
        let first = try await anna.get(path)
        let before = try await statements(in: database, fixture)
        let page = try await anna.get(path)
        let after = try await statements(in: database, fixture)
        let ran = after.compactMap { query, calls in
            calls > (before[query] ?? 0) ? (query, calls - (before[query] ?? 0)) : nil
        }
        return (page, first, ran)
    }

    static func listing(_ ran: [(query: String, calls: Int)]) -> String {
        "statements of one request page view:\n"
            + ran.map { "\($0.calls)× \($0.query.prefix(100))" }.joined(separator: "\n")
    }

    @Test(
        "a request page naming the approver and their deputy takes two statements, each its own transaction: the session's and the request's"
    )
    func pageViewTakesTwoTransactions() async throws {
        try await WebFixture.with { fixture, client in
            let (page, first, ran) = try await measuredView(fixture, client)
            #expect(page.status == 200)
            // What is shown is what the deputies' own transaction showed.
            #expect(page.html.contains("(Otto Oberle)."))
            #expect(page.html.contains("Vertretung: Paul Peters"))
            #expect(page.html == first.html)
            let listing = Self.listing(ran)
            // No BEGIN/COMMIT: each statement is a transaction of its own, one round trip.
            #expect(ran.map(\.calls).reduce(0, +) == 2, "\(listing)")
            #expect(!ran.contains { $0.query.hasPrefix("BEGIN") || $0.query.hasPrefix("COMMIT") }, "\(listing)")
            #expect(ran.contains { $0.query.contains("FROM web_sessions") }, "\(listing)")
            #expect(ran.contains { $0.query.contains("FROM requests r") }, "\(listing)")
        }
    }

    @Test("past 500 deputyships in force the page asks for the approvers' own: the same page, one statement more")
    func manyDeputyshipsFallBack() async throws {
        try await WebFixture.with { fixture, client in
            let (page, first, ran) = try await measuredView(fixture, client) { fixture in
                try await fixture.store.admin.query(
                    """
                    INSERT INTO deputyships (id, principal, deputy, valid_from, valid_until, created_by, created_at)
                    SELECT gen_random_uuid(), 'kollege' || n, 'vertretung' || n, \(Clock.start), \(Clock.days(30)),
                        'adam', \(Clock.start)
                    FROM generate_series(1, \(ActingFacts.limit)) AS n
                    """, logger: fixture.store.logger)
            }
            #expect(page.status == 200)
            #expect(page.html.contains("Vertretung: Paul Peters"))
            #expect(page.html == first.html)
            let listing = Self.listing(ran)
            #expect(ran.map(\.calls).reduce(0, +) == 3, "\(listing)")
            #expect(
                ran.contains { $0.query.contains("FROM deputyships") && !$0.query.contains("FROM requests r") },
                "\(listing)")
        }
    }
}
