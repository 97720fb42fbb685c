import AuditLog
import Foundation
import Logging
import PostgresNIO

/// `freigabe-bench audit`: the decision log's throughput on a scratch database of its own
/// (`freigabe_bench_audit`, dropped first and afterwards): `events` audit events inserted in bulk, then
/// timed: sealing (batches of ``AuditSealer/batchSize`` with a signed checkpoint each), a complete JSON
/// Lines and CSV export, a filtered one (one dataset, with inclusion proofs), the offline verification
/// of the complete export, and last the database verification (keyset batches of 10,000 events, constant
/// memory). Prints the figures and the peak RSS; never fails on a figure.
public enum AuditBenchmark {
    public static func run(
        environment: [String: String], events: Int, output: @Sendable (String) -> Void
    ) async throws {
        let logger = {
            var logger = Logger(label: "freigabe-bench.audit")
            logger.logLevel = .error
            return logger
        }()
        let base = try DatabaseSettings(environment: environment)
        let name = "freigabe_bench_audit"
        try await Database.withClient(base, admin: true, logger: logger) { admin in
            try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
            try await admin.query("CREATE DATABASE \(unescaped: name) TEMPLATE template0", logger: logger)
        }
        var scratch = base
        scratch.database = name
        // The CLI export streams the whole log in one statement, as `freigabe audit export` does.
        scratch.timeouts.statement = .seconds(3600)
        let settings = scratch
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-bench-audit-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let signer = try NoteSigner.generate(keyName: "bench.example/audit")

        try await Database.withClient(settings, admin: true, logger: logger) { admin in
            try await Migrator.migrate(client: admin, appRole: settings.user, logger: logger)
            try await AuditBulk.insert(events: events, client: admin, logger: logger)
        }
        output(
            "freigabe-bench audit: \(events) events, \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                + "batches of \(AuditSealer.batchSize)")
        try await Database.withClient(settings, logger: logger) { app in
            let sealer = AuditSealer(
                client: app, signer: signer, checkpointFile: folder.appendingPathComponent("cp").path)
            var (seconds, size) = try await timed { try await sealer.sealAll(now: Date(), logger: logger) }
            // sealAll stops after a short batch; the backlog is larger than one round.
            while size < UInt64(events) {
                let (more, grown) = try await timed { try await sealer.sealAll(now: Date(), logger: logger) }
                seconds += more
                guard grown > size else { break }
                size = grown
            }
            output(rate("seal", count: Int(size), seconds: seconds))

            let exporter = AuditExporter(query: AuditQuery(client: app))
            let completePath = folder.appendingPathComponent("all.jsonl").path
            let (exportSeconds, exported) = try await timed {
                try await exporter.export(
                    AuditFilter(), format: .jsonl, to: try ExportOutput.open(completePath), logger: logger)
            }
            let bytes = (try? FileManager.default.attributesOfItem(atPath: completePath)[.size] as? Int) ?? 0
            output(
                rate("export jsonl, complete", count: Int(exported.eventCount), seconds: exportSeconds)
                    + ", \(bytes / 1_000_000) MB")
            let (csvSeconds, csv) = try await timed {
                try await exporter.export(
                    AuditFilter(), format: .csv,
                    to: try ExportOutput.open(folder.appendingPathComponent("all.csv").path),
                    logger: logger)
            }
            output(rate("export csv, complete", count: Int(csv.eventCount), seconds: csvSeconds))
            let (filteredSeconds, filtered) = try await timed {
                try await exporter.export(
                    AuditFilter(datasetID: "ds-7"), format: .jsonl,
                    to: try ExportOutput.open(folder.appendingPathComponent("ds-7.jsonl").path), logger: logger)
            }
            output(
                rate("export jsonl, one dataset with proofs", count: Int(filtered.eventCount), seconds: filteredSeconds)
            )

            let checkpoints = folder.appendingPathComponent("cp").path
            let key = folder.appendingPathComponent("key.pub").path
            try signer.verifierKey.vkey.write(toFile: key, atomically: true, encoding: .utf8)
            let (offlineSeconds, offline) = try await timed {
                AuditTool.verifyExport(exportFile: completePath, checkpointFile: checkpoints, publicKeyFile: key)
            }
            output(
                rate("verify export offline", count: Int(exported.eventCount), seconds: offlineSeconds)
                    + (offline.succeeded ? "" : " FAILED: \(offline.standardError)"))
            // After the exports: the database verification holds every event in memory at once.
            output("peak RSS after sealing and exports: \(peakResidentMegabytes().map { "\($0) MB" } ?? "unknown")")
            let (verifySeconds, report) = try await timed {
                try await AuditVerification(client: app, key: signer.verifierKey, appRole: nil).run(logger: logger)
            }
            output(
                rate("verify (database)", count: Int(size), seconds: verifySeconds)
                    + (report.holds ? "" : " NOT HOLDING: \(report.problems)"))

        }
        output("peak RSS: \(peakResidentMegabytes().map { "\($0) MB" } ?? "unknown")")
        try await Database.withClient(base, admin: true, logger: logger) { admin in
            try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }

    private static func timed<Value>(_ body: () async throws -> Value) async throws -> (Double, Value) {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try await body()
        let elapsed = start.duration(to: clock.now)
        return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, value)
    }

    private static func rate(_ what: String, count: Int, seconds: Double) -> String {
        String(
            format: "%@: %d events in %.2f s, %.0f events/s", what, count, seconds,
            seconds > 0 ? Double(count) / seconds : 0)
    }

    /// VmHWM from /proc/self/status (Linux).
    private static func peakResidentMegabytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes / 1024
    }
}

/// Audit events in bulk, for the benchmark and the 100,000-event test: decisions of 500 people on
/// 50 datasets, one a second from 2026-01-01, with a comment each and every tenth by a deputy.
enum AuditBulk {
    static func insert(events: Int, client: PostgresClient, logger: Logger) async throws {
        try await client.query(
            """
            INSERT INTO audit_events (
                occurred_at, actor, acting_for, role, request_id, dataset_id, event, decision, step, state, comment,
                details)
            SELECT timestamptz '2026-01-01 00:00:00Z' + g * interval '1 second', 'user' || (g % 500),
                   CASE WHEN g % 10 = 0 THEN 'user' || (g % 7) END, 'data_owner',
                   ('00000000-0000-4000-8000-' || lpad((g / 6)::text, 12, '0'))::uuid, 'ds-' || (g % 50),
                   'approved', 'approved', 'owner_review', 'in_review:steward_review',
                   'Begründung ' || g || ': Freigabe nach Prüfung gemäß Datenstrategie.',
                   jsonb_build_object('request_number', 'FG-2026-' || lpad((g / 6)::text, 6, '0'))
            FROM generate_series(0, \(events - 1)) AS g
            """, logger: logger)
    }
}
