import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import Synchronization

/// `freigabe-bench web`: the two heaviest pages of a person's day over HTTP against a running server
/// with a database of its own (`scripts/bench-web`): the inbox of an approver with `--tasks` open
/// tasks and the page of one request with a long timeline. Seeds through the JSON API (HTTP Basic),
/// logs every client in through the login form (cookie and `_csrf`, as a browser does), then prints
/// pages/s, p50/p99, bytes per page, CPU and commits per page and the server's peak RSS.
struct WebBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web", abstract: "Benchmark the inbox page and a long request page over HTTP.")

    @Option(help: "Base URL of the running server.") var url = "http://127.0.0.1:8080"
    @Option(help: "Client counts to run, comma separated.") var clients = "16"
    @Option(help: "Seconds per page and client count.") var seconds = 15
    @Option(help: "Open tasks to file for the approver.") var tasks = 500
    @Option(help: "Rounds of request_changes + resubmit on the long request (then one approval).")
    var rounds = 45
    @Option(help: "Datasets the approver owns, comma separated (the tasks cycle through them).")
    var datasets = "baumkataster,luftmessstationen,laermkartierung,altlastenkataster"
    @Option(help: "The approver whose inbox is measured (owner of --datasets).") var approver = "otto"
    @Option(help: "The requester of every request.") var requester = "anna"
    @Option(help: "Password of both.") var password = "demo"
    @Option(help: "Concurrent clients while seeding.") var seedClients = 8
    @Option(help: "Server process id, for its CPU and peak RSS (VmHWM).") var serverPID: Int?
    @Option(help: "psql for commits per page (default: $FREIGABE_PG_BIN/psql; connection from PGHOST, PGUSER, ...).")
    var psql: String?
    @Option(help: "The server's database, for commits per page.")
    var database = ProcessInfo.processInfo.environment["FREIGABE_DB_NAME"] ?? "freigabe"
    @Flag(
        inversion: .prefixedNo,
        help: "ANALYZE the database after seeding (--no-analyze: leave the statistics to autovacuum).")
    var analyze = true

    func run() async throws {
        var configuration = HTTPClient.Configuration(
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 256))
        // The login answers 303 with the session cookie; the cookie is taken from that answer.
        configuration.redirectConfiguration = .disallow
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await measure(http: http)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func measure(http: HTTPClient) async throws {
        let web = WebClient(http: http, baseURL: url)
        let counts = clients.split(separator: ",").compactMap { Int($0) }
        print(
            "freigabe-bench web: \(url), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                + "inbox of \(approver) with \(tasks) open tasks, \(counts.map(String.init).joined(separator: ",")) clients"
        )

        let seedStarted = ContinuousClock.now
        try await seedTasks(web)
        let long = try await seedLongRequest(web)
        let entries = try await timelineEntries(web, request: long)
        print(
            String(
                format:
                    "seeded in %.1f s: %d open tasks; long request %@: %d timeline entries (%d steps + %d decisions)",
                (ContinuousClock.now - seedStarted).seconds, tasks, long, entries.steps + entries.decisions,
                entries.steps, entries.decisions))

        // Every client is a browser of its own: its own session (sessions live in PostgreSQL).
        let sessions = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<(counts.max() ?? 1) { group.addTask { try await web.login(approver, password: password) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // The inbox is paged: the first page and the pages behind its "Weitere" links list every task once.
        let inbox = try await web.page("/eingang", session: sessions[0])
        var rows = WebClient.requestLinks(in: inbox)
        var pageCount = 1
        var next = WebClient.nextInboxPage(in: inbox)
        while let path = next, pageCount <= tasks {
            let more = try await web.page(path, session: sessions[0])
            rows += WebClient.requestLinks(in: more)
            pageCount += 1
            next = WebClient.nextInboxPage(in: more)
        }
        guard rows == tasks else {
            throw WebBenchFailure("/eingang lists \(rows) requests on \(pageCount) pages, expected \(tasks)")
        }
        let page = try await web.page("/antraege/\(long)", session: sessions[0])
        print(
            "checked: /eingang lists \(rows) requests on \(pageCount) pages (first page \(inbox.readableBytes) bytes); "
                + "/antraege/{id} shows "
                + "\(WebClient.count("class=\"timeline-step", in: page)) steps and "
                + "\(WebClient.count("class=\"decision\"", in: page)) decisions (\(page.readableBytes) bytes)")

        let probe = CostProbe(
            serverPID: serverPID,
            psql: psql ?? ProcessInfo.processInfo.environment["FREIGABE_PG_BIN"].map { $0 + "/psql" },
            database: database)
        // The seeding wrote every row of the bench within seconds: the planner's statistics of the fresh
        // tables are what autovacuum happened to see, and it analyses them at a moment of its own, in one
        // run before the measurement, in another during it (the inbox's statement read 2,450 buffers with
        // a nested loop before, 456 with a hash join after). A production database has been analysed long
        // since; ANALYZE here measures every run against the statistics production has.
        if analyze {
            print(
                probe.execute("ANALYZE")
                    ? "ANALYZE after seeding: done" : "ANALYZE after seeding: failed (psql missing?)")
        }
        try await probe.settle()
        var reading = probe.read()
        for count in counts {
            for (name, path) in [("inbox", "/eingang"), ("request", "/antraege/\(long)")] {
                let run = try await load(web, path: path, sessions: Array(sessions.prefix(count)))
                print(
                    "\(String(format: "%3d", count)) clients: \(name.padding(toLength: 7, withPad: " ", startingAt: 0)) "
                        + "pages \(run.summary.line)   \(run.bytes / max(run.summary.count, 1)) bytes/page")
                try await probe.settle()
                let after = probe.read()
                print(
                    "             "
                        + CostProbe.line(from: reading, to: after, commands: run.summary.count)
                        .replacingOccurrences(of: "per command", with: "per page"))
                reading = after
            }
        }
        if let serverPID, let peak = CostProbe.peakRSSKilobytes(pid: serverPID) {
            print(String(format: "server peak RSS (VmHWM): %.1f MB", Double(peak) / 1024))
        }
    }

    // MARK: Seeding through the JSON API

    /// `tasks` submitted Shared Data requests by the requester on the approver's datasets, all waiting
    /// for the Data Owner's decision.
    private func seedTasks(_ web: WebClient) async throws {
        let names = datasets.split(separator: ",").map(String.init)
        guard !names.isEmpty else { throw ValidationError("--datasets is empty") }
        let next = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(seedClients, 1) {
                group.addTask {
                    while let index = next.take(below: tasks) {
                        _ = try await web.api(
                            "/api/v1/requests", body: newRequest(dataset: names[index % names.count], number: index),
                            as: requester, password: password, expect: 201)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// One request on the approver's first dataset through `rounds` request_changes/resubmit rounds and
    /// a final approval by the approver; its id.
    private func seedLongRequest(_ web: WebClient) async throws -> String {
        let dataset = String(datasets.split(separator: ",").first ?? "baumkataster")
        let created = try await web.api(
            "/api/v1/requests", body: newRequest(dataset: dataset, number: tasks), as: requester, password: password,
            expect: 201)
        guard
            let id = (try JSONSerialization.jsonObject(with: Data(buffer: created)) as? [String: Any])?["id"] as? String
        else { throw WebBenchFailure("no id in the answer to POST /api/v1/requests") }
        let decisions = "/api/v1/requests/\(id)/decisions"
        for round in 1...max(rounds, 1) {
            _ = try await web.api(
                decisions,
                body: #"{"decision":"request_changes","question":"Rückfrage \#(round): Welche Stadtteile genau?"}"#,
                as: approver, password: password, expect: 204, prefer: "return=minimal")
            _ = try await web.api(
                "/api/v1/requests/\(id)/resubmit",
                body: #"{"comment":"Antwort \#(round): Innenstadt und Nordviertel."}"#, as: requester,
                password: password, expect: 204, prefer: "return=minimal")
        }
        _ = try await web.api(
            decisions, body: #"{"decision":"approve","comment":"Fachlich geeignet."}"#, as: approver,
            password: password, expect: 204, prefer: "return=minimal")
        return id
    }

    /// Steps and decisions of the request's timeline, as the API answers it to the approver.
    private func timelineEntries(_ web: WebClient, request id: String) async throws -> (steps: Int, decisions: Int) {
        let body = try await web.api(
            "/api/v1/requests/\(id)", get: true, body: nil, as: approver, password: password, expect: 200)
        let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        return ((object?["timeline"] as? [Any])?.count ?? 0, (object?["decisions"] as? [Any])?.count ?? 0)
    }

    private func newRequest(dataset: String, number: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        let accessEnd = formatter.string(from: Date().addingTimeInterval(180 * 86_400))
        return """
            {"kind":"shared_data","dataset_id":"\(dataset)","purpose":"Lasttest \(number): Auswertung für den Hitzeaktionsplan",\
            "recipient":{"name":"Amt für Stadtentwicklung","type":"internal"},\
            "legal_basis":"Art. 6 Abs. 1 lit. e DSGVO","access_end":"\(accessEnd)","submit":true}
            """
    }

    // MARK: Measuring

    private struct Run {
        var summary: LatencySummary
        var bytes: Int
    }

    /// Each session's client GETs `path` in a loop for `seconds`.
    private func load(_ web: WebClient, path: String, sessions: [String]) async throws -> Run {
        let deadline = ContinuousClock.now + .seconds(seconds)
        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: ([Duration], Int).self) { group in
            for session in sessions {
                group.addTask {
                    var latencies: [Duration] = []
                    var bytes = 0
                    while ContinuousClock.now < deadline {
                        let began = ContinuousClock.now
                        let page = try await web.page(path, session: session)
                        latencies.append(ContinuousClock.now - began)
                        bytes += page.readableBytes
                    }
                    return (latencies, bytes)
                }
            }
            return try await group.reduce(into: ([Duration](), 0)) {
                $0.0 += $1.0
                $0.1 += $1.1
            }
        }
        return Run(
            summary: LatencySummary(latencies: results.0, elapsed: ContinuousClock.now - started), bytes: results.1)
    }
}

/// The pages and API calls the web benchmark needs; sessions are the `freigabe-session` cookie's value.
struct WebClient: Sendable {
    let http: HTTPClient
    let baseURL: String
    static let maximumBytes = 16 << 20

    /// Logs in through the form as a browser does: GET /anmelden for the form's token cookie and `_csrf`,
    /// POST it back with the password; returns the new session's cookie (`name=value`).
    func login(_ username: String, password: String) async throws -> String {
        let form = try await http.execute(HTTPClientRequest(url: baseURL + "/anmelden"), timeout: .seconds(30))
        let formBody = String(buffer: try await form.body.collect(upTo: Self.maximumBytes))
        guard form.status == .ok, let formCookie = Self.cookie(named: "freigabe-form", in: form.headers["set-cookie"]),
            let csrf = Self.hiddenValue("_csrf", in: formBody)
        else { throw WebBenchFailure("GET /anmelden: HTTP \(form.status.code), no form cookie or _csrf") }
        var request = HTTPClientRequest(url: baseURL + "/anmelden")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Cookie", value: formCookie)
        request.body = .bytes(
            ByteBuffer(
                string: "username=\(Self.formEncoded(username))&password=\(Self.formEncoded(password))"
                    + "&_csrf=\(Self.formEncoded(csrf))"))
        let answer = try await http.execute(request, timeout: .seconds(30))
        _ = try await answer.body.collect(upTo: Self.maximumBytes)
        guard answer.status == .seeOther || answer.status == .found,
            let session = Self.cookie(named: "freigabe-session", in: answer.headers["set-cookie"])
        else { throw WebBenchFailure("POST /anmelden as \(username): HTTP \(answer.status.code), no new session") }
        return session
    }

    /// A page with the session; anything but 200 is a failure.
    func page(_ path: String, session: String) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "Cookie", value: session)
        request.headers.add(name: "Accept-Language", value: "de")
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: Self.maximumBytes)
        guard response.status == .ok else { throw WebBenchFailure("GET \(path): HTTP \(response.status.code)") }
        return body
    }

    /// A JSON API call with HTTP Basic; the answer's body.
    func api(
        _ path: String, get: Bool = false, body: String?, as user: String, password: String, expect: Int,
        prefer: String? = nil
    ) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = get ? .GET : .POST
        request.headers.add(
            name: "Authorization", value: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        if let prefer { request.headers.add(name: "Prefer", value: prefer) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let answer = try await response.body.collect(upTo: Self.maximumBytes)
        guard Int(response.status.code) == expect else {
            throw WebBenchFailure(
                "\(request.method) \(path) as \(user): HTTP \(response.status.code): \(String(buffer: answer))")
        }
        return answer
    }

    /// `name=value` of the cookie `name` (or `__Host-name` over https) set by this answer.
    static func cookie(named name: String, in setCookies: [String]) -> String? {
        for value in setCookies {
            let pair = value.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            if pair.hasPrefix(name + "=") || pair.hasPrefix("__Host-" + name + "=") { return pair }
        }
        return nil
    }

    /// The value of `<input type="hidden" name="…" value="…">`.
    static func hiddenValue(_ name: String, in html: String) -> String? {
        guard let field = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        let rest = html[field.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    /// Links to distinct request pages (`/antraege/` followed by a UUID).
    static func requestLinks(in page: ByteBuffer) -> Int {
        let html = String(buffer: page)
        var ids: Set<Substring> = []
        var rest = html[...]
        while let found = rest.range(of: "href=\"/antraege/") {
            let id = rest[found.upperBound...].prefix(36)
            if id.count == 36, UUID(uuidString: String(id)) != nil { ids.insert(id) }
            rest = rest[found.upperBound...]
        }
        return ids.count
    }

    /// The inbox's "Weitere" link (`/eingang?nach=<place>`, an opaque place in the inbox's order), or nil
    /// on its last page.
    static func nextInboxPage(in page: ByteBuffer) -> String? {
        let html = String(buffer: page)
        guard let found = html.range(of: "href=\"/eingang?nach=") else { return nil }
        let place = html[found.upperBound...].prefix { $0 != "\"" }
        return place.isEmpty ? nil : "/eingang?nach=" + place
    }

    static func count(_ needle: String, in page: ByteBuffer) -> Int {
        String(buffer: page).components(separatedBy: needle).count - 1
    }

    static func formEncoded(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

/// Hands out 0, 1, 2, … to concurrent seeding clients.
final class Counter: Sendable {
    private let next = Mutex(0)

    func take(below limit: Int) -> Int? {
        next.withLock { value in
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

struct WebBenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
