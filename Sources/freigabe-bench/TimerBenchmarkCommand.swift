import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe-bench timers`: timers/s when several instances drain a backlog of due timers
/// (``TimerBenchmark``). Connects with FREIGABE_DB_* (`make bench-timers` reads `.local/env`).
struct TimerBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timers", abstract: "Benchmark draining due timers with several instances.")

    @Option(help: "Due timers to drain.") var timers = 10_000
    @Option(help: "Instances (each with its own connection pool).") var instances = 3
    @Option(help: "Requests the timers are spread over.") var requests = 200
    @Option(help: "Catalogue file.") var catalog = "scripts/demo/catalog.yaml"
    @Option(help: "Workflow definitions.") var workflowsDir = "Workflows"

    func run() async throws {
        _ = try await TimerBenchmark.run(
            environment: ProcessInfo.processInfo.environment, timers: timers, instances: instances,
            requests: requests, catalogPath: catalog, workflowsDirectory: workflowsDir, output: { print($0) })
    }
}
