import ArgumentParser
import AsyncHTTPClient
import Foundation

/// `freigabe-bench compare`: the same lifecycle load against two running instances that differ in one
/// setting (each with a database of its own), in alternating short rounds (A B, B A, A B, ...), so that
/// both halves see the same load of a shared machine; prints decisions/s, p50/p99 and server CPU per
/// command of each, the ratio B ÷ A, and the seal lag of each half's events.
struct CompareBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Compare two instances under the same lifecycle load, in alternating rounds.")

    @Option(help: "Base URL of instance A.") var urlA: String
    @Option(help: "Base URL of instance B.") var urlB: String
    @Option(help: "Server process id of A, for its CPU.") var pidA: Int?
    @Option(help: "Server process id of B, for its CPU.") var pidB: Int?
    @Option(help: "Database of A (for the seal lag).") var databaseA: String
    @Option(help: "Database of B (for the seal lag).") var databaseB: String
    @Option(help: "What A is.") var labelA = "A"
    @Option(help: "What B is.") var labelB = "B"
    @Option(help: "Client counts to run, comma separated.") var clients = "1,16,64"
    @Option(help: "Seconds per client count and instance.") var seconds = 15
    @Option(help: "Rounds per client count and instance (each seconds ÷ rounds long).") var rounds = 5
    @Option(help: "Dataset with personal, confidential data (all four steps).") var dataset = "schulwegunfaelle"
    @Option(help: "Requester, Owner, Steward, DSB, ISB of that dataset, comma separated.")
    var people = "anna,volker,sina,dora,ingo"
    @Option(help: "Password of all of them.") var password = "demo"
    @Option(help: "psql for the seal lag (connection from PGHOST, PGUSER, ...).")
    var psql = ProcessInfo.processInfo.environment["FREIGABE_PG_BIN"].map { $0 + "/psql" }

    /// One instance's share of a client count.
    private struct Half {
        var latencies: [Duration] = []
        var elapsed: Duration = .zero
        var cpuSeconds = 0.0
        var summary: LatencySummary { LatencySummary(latencies: latencies, elapsed: elapsed) }
    }

    func run() async throws {
        let names = people.split(separator: ",").map(String.init)
        guard names.count == 5 else { throw ValidationError("--people needs five names") }
        guard rounds > 0, seconds > 0 else { throw ValidationError("--rounds and --seconds must be positive") }
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
        do {
            try await compare(http: http, people: names)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func compare(http: HTTPClient, people: [String]) async throws {
        let sides = [
            (api: BenchAPI(http: http, baseURL: urlA, password: password, minimal: true), pid: pidA),
            (api: BenchAPI(http: http, baseURL: urlB, password: password, minimal: true), pid: pidB),
        ]
        let probes = [
            CostProbe(serverPID: pidA, psql: psql, database: databaseA),
            CostProbe(serverPID: pidB, psql: psql, database: databaseB),
        ]
        let round = Duration.seconds(Double(seconds) / Double(rounds))
        print(
            "freigabe-bench compare: A = \(labelA), B = \(labelB); \(rounds) alternating rounds of "
                + String(format: "%.1f s", round.seconds) + " per instance and client count")
        for count in clients.split(separator: ",").compactMap({ Int($0) }) {
            var halves = [Half(), Half()]
            let started = Date()
            for number in 0..<rounds {
                // A B, then B A: neither half always runs right after the other one's load.
                for side in number % 2 == 0 ? [0, 1] : [1, 0] {
                    let cpuBefore = sides[side].pid.flatMap { CostProbe.cpuSeconds(pid: $0, withChildren: false) }
                    let (latencies, elapsed) = try await Self.load(
                        api: sides[side].api, dataset: dataset, people: people, clients: count, for: round)
                    halves[side].latencies += latencies
                    halves[side].elapsed += elapsed
                    if let cpuBefore, let pid = sides[side].pid,
                        let cpuAfter = CostProbe.cpuSeconds(pid: pid, withChildren: false)
                    {
                        halves[side].cpuSeconds += cpuAfter - cpuBefore
                    }
                }
            }
            let ended = Date()
            // The sealer looks every second: give it two to seal the last round's events.
            try await Task.sleep(for: .seconds(2))
            for (side, label) in [(0, labelA), (1, labelB)] {
                let half = halves[side]
                print(
                    "\(String(format: "%3d", count)) clients, \(label): decisions \(half.summary.line)"
                        + String(
                            format: ", server CPU %.2f ms/command",
                            half.cpuSeconds * 1000 / Double(max(half.latencies.count, 1))))
                let lag = probes[side].sealLag(from: started, to: ended)
                print("             " + (lag?.line ?? "seal lag n/a (psql failed)"))
            }
            let (a, b) = (halves[0].summary, halves[1].summary)
            print(
                String(
                    format: "%3d clients: %@ ÷ %@ = %.2f decisions/s (%.1f ÷ %.1f)", count, labelB, labelA,
                    b.perSecond / max(a.perSecond, 0.001), b.perSecond, a.perSecond))
        }
    }

    /// `clients` lifecycles in a loop for `duration`; every decision's latency and the time it took.
    static func load(
        api: BenchAPI, dataset: String, people: [String], clients: Int, for duration: Duration
    ) async throws -> ([Duration], Duration) {
        let started = ContinuousClock.now
        let deadline = started + duration
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var latencies: [Duration] = []
                    while ContinuousClock.now < deadline {
                        latencies += try await api.lifecycle(dataset: dataset, people: people)
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        return (latencies, ContinuousClock.now - started)
    }
}
