import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe-bench audit`: seal, verify and export throughput of the decision log (``AuditBenchmark``).
/// Connects with FREIGABE_DB_* (`make bench-audit` reads `.local/env`).
struct AuditBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Benchmark sealing, verifying and exporting the decision log.")

    @Option(help: "Audit events to generate and seal.") var events = 100_000

    func run() async throws {
        try await AuditBenchmark.run(
            environment: ProcessInfo.processInfo.environment, events: events, output: { print($0) })
    }
}
