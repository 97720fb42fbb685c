import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// `freigabe-bench lifecycle`: full Shared Data lifecycles over HTTP against a running server (create
/// and submit → Owner → Steward → DSB → ISB → granted), at several client counts; prints decisions per
/// second and p50/p99, the ratio to `pgbench -N` (the database floor, measured by `scripts/bench` at
/// the same client count and handed in) and the server's peak RSS.
struct LifecycleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifecycle", abstract: "Benchmark full request lifecycles over HTTP.")

    @Option(help: "Base URL of the running server.") var url = "http://127.0.0.1:8080"
    @Option(help: "Client counts to run, comma separated.") var clients = "1,16,64"
    @Option(help: "Seconds per client count.") var seconds = 15
    @Option(help: "Dataset with personal, confidential data (all four steps).") var dataset = "schulwegunfaelle"
    @Option(help: "Requester, Owner, Steward, DSB, ISB of that dataset, comma separated.")
    var people = "anna,volker,sina,dora,ingo"
    @Option(help: "Password of all of them.") var password = "demo"
    @Option(help: "Server process id, for its peak RSS (VmHWM).") var serverPID: Int?
    @Option(help: "The database floor measured by the caller: pgbench -N tps per client count, e.g. 1=480,16=1900.")
    var pgbenchTPS = ""
    @Flag(inversion: .prefixedNo, help: "Decide with `Prefer: return=minimal` (204, no request view).")
    var minimal = true
    @Option(
        help: "psql for the database figures (default: $FREIGABE_PG_BIN/psql; connection from PGHOST, PGUSER, ...).")
    var psql = ProcessInfo.processInfo.environment["FREIGABE_PG_BIN"].map { $0 + "/psql" }
    @Option(help: "The server's database, for commits and statements.")
    var database = ProcessInfo.processInfo.environment["FREIGABE_DB_NAME"] ?? "freigabe"
    @Option(help: "A database with the pg_stat_statements extension (default: --database).")
    var statisticsDatabase: String?
    @Option(help: "What this run is, printed with its figures (e.g. \"sealing on\").") var label = ""
    @Flag(help: "Print the seal lag (audit event recorded → sealed) of each client count's events.")
    var sealLag = false

    func run() async throws {
        guard people.split(separator: ",").count == 5 else { throw ValidationError("--people needs five names") }
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
        do {
            try await measure(http: http)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func measure(http: HTTPClient) async throws {
        let names = people.split(separator: ",").map(String.init)
        let counts = clients.split(separator: ",").compactMap { Int($0) }
        let api = BenchAPI(http: http, baseURL: url, password: password, minimal: minimal)
        print(
            "freigabe-bench lifecycle\(label.isEmpty ? "" : " (\(label))"): \(url), dataset \(dataset), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                + (minimal ? "decisions with Prefer: return=minimal" : "decisions answered with the whole request")
        )
        let probe = CostProbe(
            serverPID: serverPID, psql: psql, database: database, statisticsDatabase: statisticsDatabase)
        try await probe.settle()
        var reading = probe.read()
        for count in counts {
            let deadline = ContinuousClock.now + .seconds(seconds)
            let started = ContinuousClock.now
            let startedAt = Date()
            let results = try await withThrowingTaskGroup(of: [Duration].self) { group in
                for _ in 0..<count {
                    group.addTask {
                        var latencies: [Duration] = []
                        while ContinuousClock.now < deadline {
                            latencies += try await api.lifecycle(dataset: dataset, people: names)
                        }
                        return latencies
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let summary = LatencySummary(latencies: results, elapsed: ContinuousClock.now - started)
            let endedAt = Date()
            print("\(String(format: "%3d", count)) clients: decisions \(summary.line)")
            try await probe.settle()
            let after = probe.read()
            print("             " + CostProbe.line(from: reading, to: after, commands: results.count))
            reading = after
            if sealLag {
                print(
                    "             "
                        + (probe.sealLag(from: startedAt, to: endedAt)?.line ?? "seal lag n/a (psql failed)"))
            }
            if let tps = databaseFloor[count] {
                print(
                    String(
                        format: "             pgbench -N: %8.1f tps; ratio decisions/s ÷ tps = %.2f", tps,
                        summary.perSecond / tps))
            }
        }
        if let serverPID, let peak = CostProbe.peakRSSKilobytes(pid: serverPID) {
            print(String(format: "server peak RSS (VmHWM): %.1f MB", Double(peak) / 1024))
        }
    }

    /// `--pgbench-tps` as clients → tps.
    private var databaseFloor: [Int: Double] {
        var floor: [Int: Double] = [:]
        for entry in pgbenchTPS.split(separator: ",") {
            let parts = entry.split(separator: "=")
            if parts.count == 2, let clients = Int(parts[0]), let tps = Double(parts[1]) { floor[clients] = tps }
        }
        return floor
    }
}

/// The few API calls a lifecycle needs.
struct BenchAPI: Sendable {
    let http: HTTPClient
    /// The instances; command `k` of a lifecycle started with `first` goes to `baseURLs[(first + k) % count]`.
    let baseURLs: [String]
    let password: String
    var minimal = false

    init(http: HTTPClient, baseURL: String, password: String, minimal: Bool = false) {
        self.init(http: http, baseURLs: [baseURL], password: password, minimal: minimal)
    }

    init(http: HTTPClient, baseURLs: [String], password: String, minimal: Bool = false) {
        self.http = http
        self.baseURLs = baseURLs
        self.password = password
        self.minimal = minimal
    }

    /// One lifecycle; returns the latency of every decision (the submission counts as one).
    func lifecycle(dataset: String, people: [String], first: Int = 0) async throws -> [Duration] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        let accessEnd = formatter.string(from: Date().addingTimeInterval(180 * 86_400))
        let create = """
            {"kind":"shared_data","dataset_id":"\(dataset)","purpose":"Lasttest: Auswertung der Unfallschwerpunkte",\
            "recipient":{"name":"Amt für Verkehrsplanung","type":"internal"},\
            "legal_basis":"Art. 6 Abs. 1 lit. e DSGVO","access_end":"\(accessEnd)","submit":true}
            """
        var latencies: [Duration] = []
        let (created, createLatency) = try await post(
            baseURLs[first % baseURLs.count] + "/api/v1/requests", body: create, as: people[0], expect: 201)
        latencies.append(createLatency)
        guard let id = (try JSONSerialization.jsonObject(with: created) as? [String: Any])?["id"] as? String else {
            throw ValidationError("no id in the answer to POST /requests")
        }
        for (offset, approver) in people.dropFirst().enumerated() {
            let (_, latency) = try await post(
                baseURLs[(first + offset + 1) % baseURLs.count] + "/api/v1/requests/\(id)/decisions",
                body: #"{"decision":"approve"}"#, as: approver,
                expect: minimal ? 204 : 200, prefer: minimal ? "return=minimal" : nil)
            latencies.append(latency)
        }
        return latencies
    }

    private func post(
        _ url: String, body: String, as user: String, expect status: Int, prefer: String? = nil
    ) async throws -> (Data, Duration) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(
            name: "Authorization", value: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        if let prefer { request.headers.add(name: "Prefer", value: prefer) }
        request.body = .bytes(ByteBuffer(string: body))
        let started = ContinuousClock.now
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let latency = ContinuousClock.now - started
        guard Int(response.status.code) == status else {
            throw ValidationError("\(url) as \(user): HTTP \(response.status.code): \(String(buffer: bytes))")
        }
        return (Data(buffer: bytes), latency)
    }
}
