import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe-bench audit`: seal, verify and export throughput of the decision log (``AuditBenchmark``).
/// Connects with FREIGABE_DB_* (`make bench-audit` reads `.local/env`).
struct AuditBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Benchmark sealing, verifying and exporting the decision log.")

    @Option(help: "Sealed audit events to generate and load in bulk.") var events = 100_000
    @Option(help: "Audit events to seal afterwards through the sealer.") var sealEvents = 20_000
    @Option(help: "Exports and their offline verification only up to this many events.") var exportLimit = 1_000_000
    @Option(help: "Queries per query figure.") var queries = 200
    @Option(help: "How often to run the database verification at the end.") var verifyRuns = 1
    @Flag(help: "Only load, seal and verify: no query figures, no exports.") var verifyOnly = false
    @Option(help: "Rows per statement of the database verification.") var verifyBatch: Int?
    @Flag(
        help:
            "Each verification back to back: the database's as cells and as records, each one range at a time and several at once; offline with one reader, one per core, one."
    )
    var compare = false
    @Flag(help: "Run in a PostgreSQL cluster of its own (FREIGABE_PG_BIN), restarted for the cold figures.")
    var privateCluster = false

    func run() async throws {
        var options = AuditBenchmark.Options()
        options.events = events
        options.sealEvents = sealEvents
        options.exportLimit = exportLimit
        options.queries = queries
        options.privateCluster = privateCluster
        options.verifyRuns = verifyRuns
        options.verifyOnly = verifyOnly
        options.verifyBatch = verifyBatch
        options.compare = compare
        try await AuditBenchmark.run(
            environment: ProcessInfo.processInfo.environment, options: options,
            output: {
                // Unbuffered, also into a file or a pipe: a long run shows how far it got.
                FileHandle.standardOutput.write(Data(($0 + "\n").utf8))
            })
    }
}
