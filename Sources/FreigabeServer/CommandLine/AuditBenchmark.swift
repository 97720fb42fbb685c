import AuditLog
import Foundation
import Logging
import PostgresNIO

/// `freigabe-bench audit`: the decision log's throughput on a scratch database of its own
/// (`freigabe_bench_audit`, dropped first and afterwards), in the services' cluster or, with
/// `privateCluster`, in a PostgreSQL cluster of its own (``PrivateCluster``: a temporary directory and a
/// free port, removed afterwards), which it may restart for the cold query figures without disturbing
/// anyone else's tests.
///
/// `events` sealed events are made in-process and loaded in bulk (``AuditBulkLoad``), then timed:
/// sealing `sealEvents` more through ``AuditSealer`` (batches of ``AuditSealer/batchSize``, a signed
/// checkpoint each), the auditor's query (one person, 30 days, first page of 100) warm and, in a
/// private cluster, after a restart, a deep keyset page, the exports and their offline verification
/// (only up to `exportLimit` events: a complete export of ten million events is 7 GB), and last the
/// database verification of the whole log. Prints the figures and the peak RSS; never fails on a figure.
public enum AuditBenchmark {
    public struct Options: Sendable {
        public var events = 100_000
        public var sealEvents = 20_000
        public var privateCluster = false
        public var exportLimit = 1_000_000
        public var queries = 200
        /// How often the database verification runs at the end (A/B comparisons on a noisy machine).
        public var verifyRuns = 1
        /// Only load, seal and verify: no query figures, no exports.
        public var verifyOnly = false
        /// Rows per statement of the database verification (nil: its default).
        public var verifyBatch: Int?
        /// Each run of the database verification three times, back to back: every batch as cells (the
        /// way before the records), as records, as cells again; and the offline verification with one
        /// reader, with one per core, with one again. A/B figures from one binary on a noisy machine.
        public var compare = false

        public init() {}
    }

    public static func run(
        environment: [String: String], options: Options, output: @escaping @Sendable (String) -> Void
    ) async throws {
        let logger = {
            var logger = Logger(label: "freigabe-bench.audit")
            logger.logLevel = .error
            return logger
        }()
        let cluster =
            options.privateCluster
            ? try PrivateCluster.start(binaries: environment["FREIGABE_PG_BIN"], output: output) : nil
        let base = try DatabaseSettings(environment: cluster?.environment ?? environment)
        defer { cluster?.remove(output: output) }
        let name = "freigabe_bench_audit"
        try await Database.withClient(base, admin: true, logger: logger) { admin in
            try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
            try await admin.query("CREATE DATABASE \(unescaped: name) TEMPLATE template0", logger: logger)
        }
        var scratch = base
        scratch.database = name
        // Loading and the verification's statements over the whole log take minutes at ten million
        // events (`audit verify` gives each 600 s, `AuditTool.longReadTimeouts`).
        scratch.timeouts.statement = .seconds(3600)
        scratch.timeouts.transaction = .seconds(3600)
        let settings = scratch
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-bench-audit-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let signer = try NoteSigner.generate(keyName: "bench.example/audit")
        let bulk = AuditBulkLoad(events: options.events)

        output(
            "freigabe-bench audit: \(options.events) sealed events loaded in bulk, \(options.sealEvents) sealed by the "
                + "sealer, \(ProcessInfo.processInfo.activeProcessorCount) cores, load \(loadAverage()), "
                + (cluster.map { "private cluster on port \($0.port)" } ?? "services cluster"))
        try await Database.withClient(settings, admin: true, logger: logger) { admin in
            try await Migrator.migrate(client: admin, appRole: settings.user, logger: logger)
            let (seconds, loaded) = try await timed {
                try await bulk.load(client: admin, signer: signer, logger: logger)
            }
            output(
                rate("bulk load (generate, hash, COPY)", count: Int(loaded.treeSize), seconds: seconds)
                    + ", \(loaded.checkpoints) checkpoints")
            let (analyse, _) = try await timed { try await admin.query("VACUUM ANALYZE", logger: logger) }
            output(String(format: "vacuum analyze: %.1f s", analyse))
            let size = try await admin.query(
                "SELECT pg_size_pretty(pg_database_size(current_database()))", logger: logger
            ).decode(String.self).first(where: { _ in true })
            output("database size: \(size ?? "?")")
            try await AuditBulk.insert(events: options.sealEvents, client: admin, logger: logger)
        }
        let treeSize = try await Database.withClient(settings, logger: logger) { app in
            let sealer = AuditSealer(
                client: app, signer: signer, checkpointFile: folder.appendingPathComponent("cp").path)
            let target = UInt64(options.events + options.sealEvents)
            var (seconds, size) = try await timed { try await sealer.sealAll(now: Date(), logger: logger) }
            // sealAll stops after a short batch; the backlog is larger than one round.
            while size < target {
                let (more, grown) = try await timed { try await sealer.sealAll(now: Date(), logger: logger) }
                seconds += more
                guard grown > size else { break }
                size = grown
            }
            output(rate("seal (AuditSealer)", count: Int(size) - options.events, seconds: seconds))
            guard !options.verifyOnly else { return size }
            let probe = QueryProbe(bulk: bulk, query: AuditQuery(client: app))
            output(try await probe.personMonth(count: options.queries, seed: 1, label: "warm", logger: logger))
            output(try await probe.deepPages(treeSize: size, logger: logger))
            return size
        }
        if let cluster, !options.verifyOnly {
            try cluster.restart()
            try await Database.withClient(settings, logger: logger) { app in
                let probe = QueryProbe(bulk: bulk, query: AuditQuery(client: app))
                // Other persons and months than the warm run: each query's pages are read for the first time.
                output(
                    try await probe.personMonth(
                        count: options.queries, seed: 2, label: "cold (after a PostgreSQL restart)", logger: logger))
            }
        }
        try await Database.withClient(settings, logger: logger) { app in
            if options.verifyOnly {
                output("queries and exports skipped (--verify-only)")
            } else if Int(treeSize) <= options.exportLimit {
                try await exports(
                    app: app, signer: signer, folder: folder, compare: options.compare, logger: logger, output: output)
                if let cluster {
                    // The alternative the issue names for the command line: `COPY … TO STDOUT` through libpq
                    // (psql), the export's statement, output thrown away: what PostgreSQL alone delivers.
                    let statement = try AuditFilter().statement(after: nil, below: treeSize, limit: nil).sql
                    let (copySeconds, _) = try await timed {
                        try cluster.copyOut(
                            database: settings.database,
                            // `\copy` reads one line; the statement's one bound value written in.
                            statement: statement.replacingOccurrences(of: "$1", with: "\(treeSize)")
                                .replacingOccurrences(of: "\n", with: " "))
                    }
                    output(
                        rate(
                            "COPY (export statement) TO STDOUT via psql/libpq, text", count: Int(treeSize),
                            seconds: copySeconds))
                }
            } else {
                output("exports skipped: \(treeSize) events > \(options.exportLimit) (--export-limit)")
            }
            let ways: [(label: String, records: Bool, reads: Int?)] =
                options.compare
                ? [
                    ("as cells, 1 range at a time", false, 1), ("as records, 1 range at a time", true, 1),
                    ("as cells, ranges at once", false, nil), ("as records, ranges at once", true, nil),
                ] : [("", true, nil)]
            for run in 1...max(options.verifyRuns, 1) {
                for way in ways {
                    // The peak of the verification alone, not of the bulk load before it.
                    let reset = resetPeakResident()
                    let (verifySeconds, report) = try await timed {
                        var verification = AuditVerification(
                            client: app, keys: TrustedKeys(signer.verifierKey), appRole: nil)
                        if let batch = options.verifyBatch { verification.batchSize = batch }
                        verification.readsRecords = way.records
                        if let reads = way.reads { verification.concurrentReads = reads }
                        return try await verification.run(logger: logger)
                    }
                    output(
                        rate(
                            "verify (database)\(way.label.isEmpty ? "" : " " + way.label), run \(run)",
                            count: Int(treeSize),
                            seconds: verifySeconds)
                            + String(format: " (the events %.2f s)", report.eventsDuration.seconds)
                            + ", load \(loadAverage()), \(report.slowPathEvents) read the slow way, "
                            + "\(report.rangesWalkedAgain) ranges walked again"
                            + (reset
                                ? ", peak RSS during it \(peakResidentMegabytes().map { "\($0) MB" } ?? "unknown")"
                                : "")
                            + (report.holds ? "" : " NOT HOLDING: \(report.problems.prefix(3))"))
                }
            }
        }
        output("peak RSS: \(peakResidentMegabytes().map { "\($0) MB" } ?? "unknown")")
        try await Database.withClient(base, admin: true, logger: logger) { admin in
            try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }

    /// The complete JSON Lines and CSV exports, a filtered one with proofs, the offline verification.
    private static func exports(
        app: PostgresClient, signer: NoteSigner, folder: URL, compare: Bool, logger: Logger,
        output: @Sendable (String) -> Void
    ) async throws {
        let exporter = AuditExporter(query: AuditQuery(client: app))
        let completePath = folder.appendingPathComponent("all.jsonl").path
        let (exportSeconds, exported) = try await timed {
            try await exporter.export(
                AuditFilter(), format: .jsonl, to: try ExportOutput.open(completePath), logger: logger)
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: completePath)[.size] as? Int) ?? 0
        output(
            rate("export jsonl, complete", count: Int(exported.eventCount), seconds: exportSeconds)
                + ", \(bytes / 1_000_000) MB, peak RSS \(peakResidentMegabytes().map { "\($0) MB" } ?? "unknown")")
        let (csvSeconds, csv) = try await timed {
            try await exporter.export(
                AuditFilter(), format: .csv,
                to: try ExportOutput.open(folder.appendingPathComponent("all.csv").path),
                logger: logger)
        }
        output(rate("export csv, complete", count: Int(csv.eventCount), seconds: csvSeconds))
        try? FileManager.default.removeItem(atPath: folder.appendingPathComponent("all.csv").path)
        let (filteredSeconds, filtered) = try await timed {
            try await exporter.export(
                AuditFilter(datasetID: "ds-7"), format: .jsonl,
                to: try ExportOutput.open(folder.appendingPathComponent("ds-7.jsonl").path), logger: logger)
        }
        output(rate("export jsonl, one dataset with proofs", count: Int(filtered.eventCount), seconds: filteredSeconds))

        let checkpoints = folder.appendingPathComponent("cp").path
        let key = folder.appendingPathComponent("key.pub").path
        try signer.verifierKey.vkey.write(toFile: key, atomically: true, encoding: .utf8)
        let readers: [(label: String, count: Int?)] =
            compare ? [(", 1 reader", 1), (", a reader per core", nil), (", 1 reader", 1)] : [("", nil)]
        for (label, count) in readers {
            let (offlineSeconds, offline) = try await timed {
                AuditTool.verifyExport(
                    exportFile: completePath, checkpointFile: checkpoints, publicKeyFile: key, readers: count)
            }
            output(
                rate("verify export offline\(label)", count: Int(exported.eventCount), seconds: offlineSeconds)
                    + (offline.succeeded ? "" : " FAILED: \(offline.standardError)"))
        }
        output("peak RSS after the exports: \(peakResidentMegabytes().map { "\($0) MB" } ?? "unknown")")
        try? FileManager.default.removeItem(atPath: completePath)
    }

    static func timed<Value>(_ body: () async throws -> Value) async throws -> (Double, Value) {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try await body()
        return (start.duration(to: clock.now).seconds, value)
    }

    private static func rate(_ what: String, count: Int, seconds: Double) -> String {
        String(
            format: "%@: %d events in %.2f s, %.0f events/s", what, count, seconds,
            seconds > 0 ? Double(count) / seconds : 0)
    }

    /// Sets VmHWM back to the current RSS (Linux: `5` into /proc/self/clear_refs), so that the next
    /// ``peakResidentMegabytes()`` is the peak of what follows; false where that is not possible.
    static func resetPeakResident() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    /// VmHWM from /proc/self/status (Linux).
    static func peakResidentMegabytes() -> Int? {
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

/// The auditor's query as the API and the page ask it (``AuditQuery/page(_:after:limit:logger:)``),
/// timed one at a time: p50 and p99 of the wall time per page.
struct QueryProbe: Sendable {
    let bulk: AuditBulkLoad
    let query: AuditQuery

    /// One person (random among the bulk load's), a random 30-day range of the loaded years, first page of 100.
    func personMonth(count: Int, seed: UInt64, label: String, logger: Logger) async throws -> String {
        var random = SplitMix64(seed: seed)
        var times: [Double] = []
        var rows = 0
        let span = Int64(bulk.years) * 365 * 86_400_000_000 - 30 * 86_400_000_000
        for _ in 0..<count {
            let from = AuditTimestamp(
                microsecondsSinceEpoch: bulk.start.microsecondsSinceEpoch + random.below64(span))
            let to = AuditTimestamp(microsecondsSinceEpoch: from.microsecondsSinceEpoch + 30 * 86_400_000_000)
            let filter = AuditFilter(
                from: from.date, to: to.date, person: AuditBulkLoad.uid(random.below(bulk.people)))
            let (seconds, page) = try await AuditBenchmark.timed {
                try await query.page(filter, limit: 100, logger: logger)
            }
            times.append(seconds)
            rows += page.events.count
        }
        return "query person + 30 days, first page of 100, \(label): " + Self.summary(times)
            + String(format: " (%.1f rows per page)", Double(rows) / Double(max(count, 1)))
    }

    /// The last page of the whole log by keyset (`after` near the end), and one person's page deep in the log.
    func deepPages(treeSize: UInt64, logger: Logger) async throws -> String {
        var random = SplitMix64(seed: 3)
        var whole: [Double] = []
        var person: [Double] = []
        for _ in 0..<20 {
            let after = treeSize - 1_000 - UInt64(random.below(1_000))
            let (seconds, _) = try await AuditBenchmark.timed {
                try await query.page(AuditFilter(), after: after, limit: 100, logger: logger)
            }
            whole.append(seconds)
            let filter = AuditFilter(person: AuditBulkLoad.uid(random.below(bulk.people)))
            let (personSeconds, _) = try await AuditBenchmark.timed {
                try await query.page(filter, after: treeSize * 9 / 10, limit: 100, logger: logger)
            }
            person.append(personSeconds)
        }
        return "deep keyset page (after ~\(treeSize - 1_500)), no filter: " + Self.summary(whole)
            + "; one person, after 90 % of the log: " + Self.summary(person)
    }

    static func summary(_ seconds: [Double]) -> String {
        let sorted = seconds.sorted()
        func at(_ fraction: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
        }
        return String(
            format: "p50 %.1f ms, p99 %.1f ms, max %.1f ms", at(0.5) * 1000, at(0.99) * 1000, (sorted.last ?? 0) * 1000)
    }
}

/// A PostgreSQL cluster of the benchmark's own: `initdb` in a temporary directory, `pg_ctl` on a free port
/// of 127.0.0.1, trust authentication on loopback only, removed afterwards. The services' cluster is shared
/// with other people's tests and must never be restarted; this one may be, for the cold figures. Run as
/// root, the server runs as the `postgres` account (PostgreSQL refuses root).
struct PrivateCluster: Sendable {
    let directory: String
    let binaries: String
    let port: Int
    let asPostgres: Bool

    static func start(binaries: String?, output: @Sendable (String) -> Void) throws -> PrivateCluster {
        guard let binaries else { throw ServiceError.internal("FREIGABE_PG_BIN is not set (source .local/env)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-bench-pg-\(UUID())")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let root = getuid() == 0
        let cluster = PrivateCluster(directory: directory, binaries: binaries, port: freePort(), asPostgres: root)
        if root { try run("/bin/chown", ["postgres:", directory]) }
        try cluster.pg(
            "initdb",
            ["-D", directory + "/data", "-U", "freigabe_admin", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        // Loading speed only (no crash safety: the cluster is thrown away); the query figures do not depend
        // on these. shared_buffers as a small server would have it.
        let settings = """
            listen_addresses = '127.0.0.1'
            port = \(cluster.port)
            unix_socket_directories = '\(directory)'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_wal_size = '8GB'
            shared_buffers = '256MB'
            maintenance_work_mem = '256MB'

            """
        let conf = directory + "/data/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: conf))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
        try cluster.pg(
            "pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-w", "-t", "60", "-s", "start"])
        try cluster.pg(
            "psql",
            [
                "-h", "127.0.0.1", "-p", "\(cluster.port)", "-U", "freigabe_admin", "-d", "postgres", "-q", "-c",
                "CREATE ROLE freigabe_app LOGIN",
            ])
        output("private cluster: \(directory), port \(cluster.port)")
        return cluster
    }

    var environment: [String: String] {
        [
            "FREIGABE_DB_HOST": "127.0.0.1", "FREIGABE_DB_PORT": "\(port)", "FREIGABE_DB_NAME": "postgres",
            "FREIGABE_DB_USER": "freigabe_app", "FREIGABE_DB_ADMIN_USER": "freigabe_admin",
            "FREIGABE_DB_TLS": "disable",
        ]
    }

    /// Stops and starts the server: its buffer cache is empty afterwards (the kernel's page cache is not:
    /// dropping it would slow every other process on the machine, so the cold figure reads from RAM).
    func restart() throws {
        try pg("pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "-t", "60", "-s", "stop"])
        try pg("pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-w", "-t", "60", "-s", "start"])
    }

    func remove(output: @Sendable (String) -> Void) {
        try? pg("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "-t", "60", "-s", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
        output("private cluster stopped and removed")
    }

    /// `COPY (statement) TO STDOUT` through psql (libpq) into /dev/null.
    func copyOut(database: String, statement: String) throws {
        try pg(
            "psql",
            [
                "-h", "127.0.0.1", "-p", "\(port)", "-U", "freigabe_admin", "-d", database, "-q", "-c",
                "\\copy (\(statement)) TO '/dev/null'",
            ])
    }

    private func pg(_ tool: String, _ arguments: [String]) throws {
        if asPostgres {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", binaries + "/" + tool] + arguments)
        } else {
            try Self.run(binaries + "/" + tool, arguments)
        }
    }

    /// posix_spawn and waitpid: Foundation's `Process` on Linux may miss the exit of a child that started a
    /// daemon (`pg_ctl start` through `runuser`) and wait forever.
    private static func run(_ executable: String, _ arguments: [String]) throws {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        // Their chatter (initdb's) is not the benchmark's output; errors still go to stderr.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw ServiceError.internal("cannot start \(executable): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            throw ServiceError.internal(
                "\(executable) \(arguments.joined(separator: " ")) exited with status \(status)")
        }
    }

    /// A port nobody listens on now: the kernel's choice for a socket bound to port 0.
    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension AuditBenchmark {
    /// The 1-minute load average (/proc/loadavg), printed with the figures: the machine is shared.
    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init)
            ?? "?"
    }
}
