import Foundation
import PostgresNIO
import Testing

@testable import FreigabeServer

/// `GET /api/v1/audit/events` through the production router: auditors only, the checked filters,
/// keyset pages, erased events shown as such, and every read recorded.
@Suite("Decision log: the auditor API")
struct AuditAPITests {
    /// Old and new events with texts, sealed, the old ones erased.
    func sealedLog(_ fixture: APIFixture) async throws {
        let admin = fixture.store.admin
        let logger = fixture.store.logger
        for (actor, at) in [("mallory", "2012-05-04T10:00:00Z"), ("anna", "2026-03-02T10:00:00Z")] {
            try await admin.query(
                """
                INSERT INTO audit_events (occurred_at, actor, event, comment)
                VALUES (\(at)::timestamptz, \(actor), 'login_failed', 'Text von ' || \(actor))
                """, logger: logger)
        }
        let sealer = AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
        _ = try await sealer.sealAll(now: Date(), logger: logger)
        let order = try AuditRedaction.order(
            before: "2016-01-01", actor: "revision", osUser: nil, retentionYears: 10, now: Date())
        _ = try await AuditRedaction(client: admin).run(order, logger: logger)
        _ = try await sealer.sealAll(now: Date(), logger: logger)
    }

    func sequences(_ response: APIResponse) -> [Int] {
        guard case .array(let items)? = response.json?["items"] else { return [] }
        return items.compactMap { $0["sequence"]?.int }
    }

    @Test("auditors page through the sealed log by time; others get 401 or 403; each read is recorded")
    func pagesAndRecordsReads() async throws {
        try await APIFixture.with { fixture, api in
            try await sealedLog(fixture)
            #expect(try await api.send(.get, "/api/v1/audit/events").status == 401)
            #expect(try await api.send(.get, "/api/v1/audit/events", as: "anna").status == 403)
            #expect(try await api.send(.get, "/api/v1/audit/export", as: "anna").status == 403)
            // Who probes the log is recorded as who reads it is: a security event naming what was asked.
            #expect(
                try await fixture.store.refusedCommands(of: "anna") == [
                    "api:GET /api/v1/audit/events", "api:GET /api/v1/audit/export",
                ])

            let all = try await api.send(.get, "/api/v1/audit/events?limit=1000", as: "alex")
            #expect(all.status == 200)
            #expect(all.json?["next_after"] == nil)
            let everything = sequences(all)
            #expect(everything.count >= 4)
            // Every place once (sorted by time: the catalogue's import, written now, comes after 2012).
            #expect(everything.sorted() == Array(0..<everything.count))
            // Keyset pages of two: the same events, none twice, none missing.
            var paged: [Int] = []
            var path = "/api/v1/audit/events?limit=2"
            while true {
                let page = try await api.send(.get, path, as: "alex")
                #expect(page.status == 200)
                paged += sequences(page)
                guard let next = page.json?["next_after"]?.int else { break }
                path = "/api/v1/audit/events?limit=2&after=\(next)"
            }
            #expect(paged == everything)
            // Newest first, in pages of two: the same events the other way round.
            var newest: [Int] = []
            path = "/api/v1/audit/events?limit=2&order=newest"
            while true {
                let page = try await api.send(.get, path, as: "alex")
                #expect(page.status == 200)
                newest += sequences(page)
                guard let next = page.json?["next_after"]?.int else { break }
                path = "/api/v1/audit/events?limit=2&order=newest&after=\(next)"
            }
            #expect(newest == everything.reversed())

            // Filters: the erased event shows the erasure and no text; the new one its text.
            let logins = try await api.send(.get, "/api/v1/audit/events?type=login_failed", as: "alex")
            guard case .array(let items)? = logins.json?["items"] else {
                Issue.record("no items: \(logins.body)")
                return
            }
            #expect(items.count == 2)
            #expect(items.first?["actor"]?.string == "mallory")
            #expect(items.first?["comment"] == nil)
            #expect(items.first?["redacted"]?["by"]?.string == "revision")
            #expect(items.last?["comment"]?.string == "Text von anna")
            #expect(items.last?["redacted"] == nil)
            let mallory = try await api.send(.get, "/api/v1/audit/events?person=mallory", as: "alex")
            #expect(sequences(mallory).count == 1)

            // Every read is itself in the log, with its filters, by whom.
            var reads: [(String?, String?, String?)] = []
            for try await read in try await fixture.store.admin.query(
                "SELECT actor, details->>'type', details->>'via' FROM audit_events WHERE event = 'audit_read' ORDER BY id",
                logger: fixture.store.logger
            ).decode((String?, String?, String?).self) {
                reads.append(read)
            }
            // The whole log, its pages of two both ways, the two filtered reads; the refused calls read nothing.
            #expect(reads.count == 1 + 2 * ((everything.count + 1) / 2) + 2)
            #expect(reads.allSatisfy { $0.0 == "alex" && $0.2 == "api" })
            #expect(reads.contains { $0.1 == "login_failed" })
            // Recorded as the pages record them: with the reader's role, for an auditor's role filter.
            var roles: [String?] = []
            for try await role in try await fixture.store.admin.query(
                "SELECT DISTINCT role FROM audit_events WHERE event = 'audit_read'", logger: fixture.store.logger
            ).decode(String?.self) { roles.append(role) }
            #expect(roles == ["auditor"])
        }
    }

    @Test("pages are sorted by time, not by place, both ways; keyset pages of one give the same order")
    func sortedByTime() async throws {
        try await APIFixture.with { fixture, api in
            // Places follow the commits, times need not: the 2020 event is written and sealed third; the
            // two of 2025 share their time and go by their row's id.
            for (actor, at) in [
                ("erster", "2024-01-01T10:00:00Z"), ("zweiter", "2025-01-01T10:00:00Z"),
                ("nachzuegler", "2020-01-01T10:00:00Z"), ("vierter", "2025-01-01T10:00:00Z"),
            ] {
                try await fixture.store.admin.query(
                    """
                    INSERT INTO audit_events (occurred_at, actor, event) VALUES (\(at)::timestamptz, \(actor), 'login_failed')
                    """, logger: fixture.store.logger)
            }
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
                .sealAll(now: Date(), logger: fixture.store.logger)
            func actors(_ order: String, limit: Int) async throws -> (actors: [String], places: [Int]) {
                var actors: [String] = []
                var places: [Int] = []
                var path = "/api/v1/audit/events?type=login_failed&order=\(order)&limit=\(limit)"
                while true {
                    let page = try await api.send(.get, path, as: "alex")
                    #expect(page.status == 200, "\(page.body)")
                    let items = page.json?["items"]?.array ?? []
                    actors += items.compactMap { $0["actor"]?.string }
                    places += items.compactMap { $0["sequence"]?.int }
                    guard let next = page.json?["next_after"]?.int else { break }
                    path = "/api/v1/audit/events?type=login_failed&order=\(order)&limit=\(limit)&after=\(next)"
                }
                return (actors, places)
            }
            let byTime = ["nachzuegler", "erster", "zweiter", "vierter"]
            let whole = try await actors("oldest", limit: 1000)
            #expect(whole.actors == byTime)
            #expect(whole.places != whole.places.sorted(), "the late event's place is after the others")
            #expect(try await actors("oldest", limit: 1).actors == byTime)
            #expect(try await actors("newest", limit: 1000).actors == byTime.reversed())
            #expect(try await actors("newest", limit: 1).actors == byTime.reversed())
            // A place nobody holds: an empty page, not an error.
            let beyond = try await api.send(.get, "/api/v1/audit/events?after=999999", as: "alex")
            #expect(beyond.status == 200)
            #expect(beyond.json?["items"]?.array.isEmpty == true)
        }
    }

    @Test("hostile query parameters are refused with 400 naming the parameter, and nothing is read or recorded")
    func hostileParameters() async throws {
        try await APIFixture.with { fixture, api in
            try await sealedLog(fixture)
            for (query, field) in [
                ("from=gestern", "from"), ("to=2026-02-30", "to"), ("person=anna'%20OR%201=1%20--", "person"),
                ("dataset=Baum%20kataster", "dataset"), ("request=not-a-uuid", "request"),
                ("type=drop_table", "type"), ("decision=maybe", "decision"), ("role=DSB;", "role"),
                ("deputies=yes", "deputies"), ("deputies=true", "deputies"), ("capacity=%3Cscript%3E", "capacity"),
                ("capacity=Escalation", "capacity"), ("capacity=true", "capacity"), ("after=-1", "after"),
                ("after=99999999999999999999", "after"), ("after=9223372036854775808", "after"),
                ("after=18446744073709551615", "after"), ("after=+5", "after"), ("after=%E0%A5%A8", "after"),
                ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=zehn", "limit"),
                ("from=2026-03-05&to=2026-03-01", "to"), ("order=NEWEST", "order"), ("order=seq%20DESC", "order"),
                // Given empty (a script's empty variable): not "no filter", which would answer the whole log.
                ("request=", "request"), ("person=%20", "person"), ("type=", "type"), ("after=", "after"),
            ] {
                let answer = try await api.send(.get, "/api/v1/audit/events?\(query)", as: "alex")
                #expect(answer.status == 400, "\(query)")
                #expect(answer.errors[field] != nil, "\(query): \(answer.errors)")
            }
            // The reason in the reader's language, German without Accept-Language.
            let german = try await api.send(.get, "/api/v1/audit/events?type=drop_table", as: "alex")
            #expect(german.errors["type"] == "Ungültiger Wert: ist keine Ereignisart")
            let english = try await api.send(
                .get, "/api/v1/audit/events?type=drop_table", as: "alex", headers: [.acceptLanguage: "en"])
            #expect(english.errors["type"] == "Invalid value: is not an event type")
            let englishDate = try await api.send(
                .get, "/api/v1/audit/events?from=gestern", as: "alex", headers: [.acceptLanguage: "en"])
            #expect(
                englishDate.errors["from"]
                    == "Invalid value: is neither a date (YYYY-MM-DD) nor an RFC 3339 time (2026-03-02T09:00:00+01:00)")
            let reads = try await fixture.store.admin.query(
                "SELECT count(*) FROM audit_events WHERE event = 'audit_read'", logger: fixture.store.logger
            ).decode(Int.self).first(where: { _ in true })
            #expect(reads == 0)
        }
    }

    @Test("unknown, misspelt and repeated parameters are refused with 400 naming each; nothing is read or recorded")
    func unknownAndRepeatedParameters() async throws {
        try await APIFixture.with { fixture, api in
            try await sealedLog(fixture)
            for (query, fields) in [
                ("request_id=\(UUID().uuidString)", ["request_id"]), ("datset=baumkataster", ["datset"]),
                ("person=anna&person=mallory", ["person"]), ("from=2026-01-01&from=2012-01-01", ["from"]),
                ("limit=1&limit=1000", ["limit"]), ("order=newest&order=oldest", ["order"]),
                ("Person=anna", ["Person"]), ("nach=3", ["nach"]), ("separator=comma", ["separator"]),
                ("type=login_failed&typ=approved&format=csv", ["format", "typ"]),
            ] {
                let answer = try await api.send(.get, "/api/v1/audit/events?\(query)", as: "alex")
                #expect(answer.status == 400, "\(query)")
                #expect(answer.errors.keys.sorted() == fields, "\(query): \(answer.errors)")
            }
            let german = try await api.send(.get, "/api/v1/audit/events?datset=x", as: "alex")
            #expect(german.errors["datset"]?.hasPrefix("Unbekannter Parameter „datset“; erlaubt sind: after, ") == true)
            let english = try await api.send(
                .get, "/api/v1/audit/events?person=a&person=b", as: "alex", headers: [.acceptLanguage: "en"])
            let twice = "The parameter “person” is given more than once; it may appear only once."
            #expect(english.errors["person"] == twice)
            // `type` repeats: one value per event type.
            let types = try await api.send(.get, "/api/v1/audit/events?type=login_failed&type=submitted", as: "alex")
            #expect(types.status == 200)
            let reads = try await fixture.store.admin.query(
                "SELECT count(*) FROM audit_events WHERE event = 'audit_read'", logger: fixture.store.logger
            ).decode(Int.self).first(where: { _ in true })
            #expect(reads == 1, "only the read with two types")
        }
    }

    @Test("the role filter takes the roles the log records and refuses any other name with the reason")
    func roleFilter() async throws {
        try await APIFixture.with { fixture, api in
            for (actor, role) in [("dora", "dsb"), ("otto", "data_owner"), ("alex", "auditor")] {
                try await fixture.store.admin.query(
                    "INSERT INTO audit_events (occurred_at, actor, role, event) VALUES (now(), \(actor), \(role), 'forbidden')",
                    logger: fixture.store.logger)
            }
            _ = try await AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
                .sealAll(now: Date(), logger: fixture.store.logger)
            for (role, actor) in [("dsb", "dora"), ("data_owner", "otto"), ("auditor", "alex")] {
                let answer = try await api.send(.get, "/api/v1/audit/events?type=forbidden&role=\(role)", as: "alex")
                #expect(answer.status == 200)
                #expect(answer.json?["items"]?.array.compactMap { $0["actor"]?.string } == [actor], "\(role)")
            }
            for role in ["owner", "DSB", "steward", "custom_role", "data-owner"] {
                let refused = try await api.send(.get, "/api/v1/audit/events?role=\(role)", as: "alex")
                #expect(refused.status == 400, "\(role)")
                #expect(refused.errors["role"]?.hasPrefix("Ungültiger Wert: ist keine Rolle des Protokolls") == true)
            }
            // The reason lists exactly the roles the filter takes.
            let reason = try await api.send(.get, "/api/v1/audit/events?role=owner", as: "alex").errors["role"] ?? ""
            let listed = reason.split(separator: "(").last?.dropLast().split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            #expect(listed == AuditFilter.RecordedRole.allCases.map(\.rawValue))
            let german = "(" + (listed ?? []).joined(separator: ", ") + ")"
            // The command line says the same, in the catalogue's German words.
            #expect(
                AuditFilterError(option: "--role", value: "owner", problem: .role).description.hasSuffix(german + "."))
        }
    }

}
