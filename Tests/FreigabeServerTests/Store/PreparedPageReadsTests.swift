import Foundation
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The inbox's and the request page's statements run as prepared statements (parsed and planned once
/// per connection), and answer as the same text sent unprepared does.
@Suite("Store: the pages' reads run prepared")
struct PreparedPageReadsTests {
    @Test("the inbox's and the request read's texts depend on their shape only")
    func textsDependOnShapeOnly() throws {
        let filter = InboxFilter(
            caller: "otto", uids: ["otto", "volker"], roleNames: ["dsb", "isb"], domains: ["umwelt"],
            groupKeys: ["cn=stewards-umwelt,ou=groups,dc=stadt,dc=example"])
        let places = [
            InboxCursor(deadline: nil, createdAt: 1, id: UUID()), InboxCursor(deadline: 2, createdAt: 1, id: UUID()),
        ]
        for after in [nil] + places {
            for limit in [1, 51, 500] {
                let withDeputyships = try filter.statement(after: after, limit: limit, deputyshipsAt: Clock.start)
                #expect(withDeputyships.sql == InboxFilter.CandidatesWithDeputyships.sql)
                let without = try filter.statement(after: after, limit: limit, deputyshipsAt: nil)
                #expect(without.sql == InboxFilter.Candidates.sql)
            }
        }
        #expect(!InboxFilter.Candidates.sql.isEmpty && !InboxFilter.CandidatesWithDeputyships.sql.isEmpty)
        #expect(InboxFilter.Candidates.sql != InboxFilter.CandidatesWithDeputyships.sql)
        #expect(InboxFilter.CandidatesWithDeputyships.sql.contains("FROM deputyships"))
        #expect(!InboxFilter.Candidates.sql.contains("FROM deputyships"))

        let read = try RequestService.readStatement(id: UUID(), caller: "paul", now: Clock.start, actingFacts: false)
        #expect(read.sql == RequestService.RequestRead.sql && !read.sql.isEmpty)
        let page = try RequestService.readStatement(id: UUID(), caller: "jürgen", now: Clock.days(3), actingFacts: true)
        #expect(page.sql == RequestService.RequestPageRead.sql && !page.sql.isEmpty)
        #expect(RequestService.RequestRead.sql != RequestService.RequestPageRead.sql)
    }

    /// The texts of the statements prepared on `connection` (its session's `pg_prepared_statements`).
    func prepared(on connection: PostgresConnection) async throws -> Set<String> {
        let rows = try await connection.query("SELECT statement FROM pg_prepared_statements", logger: logger)
        var texts: Set<String> = []
        for try await text in rows.decode(String.self) { texts.insert(text) }
        return texts
    }

    let logger = StoreTestSupport.logger

    @Test("on a connection, the inbox's and the request page's reads are prepared and answer as unprepared")
    func preparedOnTheConnection() async throws {
        try await ServiceFixture.with { fixture in
            let first = try await fixture.shared("baumkataster")
            let second = try await fixture.shared("luftmessstationen", at: Clock.days(1))
            let filter = InboxFilter(CallerContext(caller: People.otto, deputies: []), now: Clock.days(2))
            try await fixture.app.withConnection { connection in
                // The connection may have run other prepared statements (a command's) before.
                let before = try await prepared(on: connection)
                var ids: [[UUID]] = []
                for deputyshipsAt in [Clock.days(2), nil, Clock.days(2)] {
                    let batch = try await filter.candidates(
                        after: nil, limit: 51, deputyshipsAt: deputyshipsAt, on: connection, logger: logger)
                    ids.append(batch.rows.map(\.record.id))
                    #expect(batch.total == 2)
                    #expect((batch.deputyships != nil) == (deputyshipsAt != nil))
                }
                #expect(ids == Array(repeating: [first.id, second.id], count: 3))
                // The keyset: after the first's place, only the second.
                let all = try await filter.candidates(
                    after: nil, limit: 51, deputyshipsAt: nil, on: connection, logger: logger)
                let rest = try await filter.candidates(
                    after: try #require(all.rows.first).place, limit: 51, deputyshipsAt: nil, on: connection,
                    logger: logger)
                #expect(rest.rows.map(\.record.id) == [second.id])

                // The same text sent unprepared answers the same rows.
                let query = try filter.statement(after: nil, limit: 51, deputyshipsAt: Clock.days(2))
                var unprepared: [UUID] = []
                for try await row in try await connection.query(query, logger: logger) {
                    var cells = RowCursor(row)
                    _ = try cells.next(String?.self)
                    guard try cells.next(Int?.self) != nil else { continue }
                    _ = try cells.next(Int64.self)  // the place: creation time and deadline
                    _ = try cells.next(Int64?.self)
                    unprepared.append(try RequestRecord.from(&cells, rememberSnapshot: false).id)
                }
                #expect(unprepared == [first.id, second.id])

                let read = try RequestService.readStatement(
                    id: first.id, caller: "otto", now: Clock.days(2), actingFacts: true)
                let rows = try await connection.rows(of: read, as: RequestService.RequestPageRead.self, logger: logger)
                #expect(rows.count == 1)
                var cells = try RowCursor(#require(rows.first))
                #expect(try RequestRecord.from(&cells, rememberSnapshot: false).id == first.id)

                #expect(
                    try await prepared(on: connection).subtracting(before) == [
                        InboxFilter.CandidatesWithDeputyships.sql, InboxFilter.Candidates.sql,
                        RequestService.RequestPageRead.sql,
                    ])
            }
        }
    }
}
