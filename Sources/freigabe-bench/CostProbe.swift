import Foundation

/// What a benchmark run cost besides wall time, so that the next lever is visible: CPU of the server
/// process and of every PostgreSQL process (from `/proc`), transactions committed in the database
/// (`pg_stat_database`) and statements executed (`pg_stat_statements`, when `make services` preloaded it).
///
/// The database figures are read with `psql` as the admin role (`PGHOST`, `PGUSER`, ... as `scripts/bench`
/// exports them for pgbench). PostgreSQL publishes a backend's commit counts at most once a second and an
/// idle backend's after up to ten seconds, so ``settle()`` waits that long before a reading that must
/// include everything the server's idle connections did.
struct CostProbe {
    let serverPID: Int?
    let psql: String?
    let database: String
    /// Where `pg_stat_statements` is installed (its view is cluster-wide, but only a database with the
    /// extension has it); nil: `database`.
    var statisticsDatabase: String? = nil

    struct Reading {
        /// Seconds of CPU, user + system.
        var serverCPU: Double?
        var postgresCPU: Double
        var commits: Int?
        var statements: Int?
    }

    /// How long until idle backends have published their statistics (PGSTAT_IDLE_INTERVAL is 10 s).
    static let statisticsDelay: Duration = .seconds(11)

    func settle() async throws { try await Task.sleep(for: Self.statisticsDelay) }

    func read() -> Reading {
        let statistics = databaseStatistics()
        return Reading(
            serverCPU: serverPID.flatMap { Self.cpuSeconds(pid: $0, withChildren: false) },
            postgresCPU: Self.postgresCPUSeconds(), commits: statistics.commits, statements: statistics.statements)
    }

    /// Per command between two readings, as a printable line.
    static func line(from before: Reading, to after: Reading, commands: Int) -> String {
        guard commands > 0 else { return "no commands" }
        let count = Double(commands)
        var parts: [String] = []
        if let statements = after.statements, let earlier = before.statements {
            parts.append(String(format: "%.2f statements", Double(statements - earlier) / count))
        } else {
            parts.append("statements n/a (pg_stat_statements not loaded)")
        }
        if let commits = after.commits, let earlier = before.commits {
            parts.append(String(format: "%.2f commits", Double(commits - earlier) / count))
        }
        if let server = after.serverCPU, let earlier = before.serverCPU {
            parts.append(String(format: "server CPU %.2f ms", (server - earlier) * 1000 / count))
        }
        parts.append(String(format: "PostgreSQL CPU %.2f ms", (after.postgresCPU - before.postgresCPU) * 1000 / count))
        return "per command: " + parts.joined(separator: ", ")
    }

    // MARK: /proc

    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime (and the reaped children's cutime + cstime) of a process, in seconds.
    static func cpuSeconds(pid: Int, withChildren: Bool) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may contain spaces): state is field 3, utime field 14.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 15, let user = Double(fields[11]), let system = Double(fields[12]),
            let childUser = Double(fields[13]), let childSystem = Double(fields[14])
        else { return nil }
        return (user + system + (withChildren ? childUser + childSystem : 0)) / ticksPerSecond
    }

    /// Peak resident set size of a process (VmHWM), in kB.
    static func peakRSSKilobytes(pid: Int) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    /// Every `postgres` process, with the children it has reaped (connections that ended).
    static func postgresCPUSeconds() -> Double {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var total = 0.0
        for entry in entries {
            guard let pid = Int(entry),
                let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
                name.trimmingCharacters(in: .whitespacesAndNewlines) == "postgres"
            else { continue }
            total += cpuSeconds(pid: pid, withChildren: true) ?? 0
        }
        return total
    }

    // MARK: PostgreSQL statistics

    private func databaseStatistics() -> (commits: Int?, statements: Int?) {
        let name = database.replacingOccurrences(of: "'", with: "''")
        let commits = query("SELECT xact_commit FROM pg_stat_database WHERE datname = '\(name)'")
        let statements = query(
            """
            SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '\(name)')
            """, in: statisticsDatabase)
        return (commits.flatMap { Int($0) }, statements.flatMap { Int($0) })
    }

    /// How long the audit events recorded between `start` and `end` waited for their seal.
    struct SealLag {
        var events: Int
        var unsealed: Int
        var p50: Double
        var p99: Double
        var max: Double

        var line: String {
            String(
                format: "seal lag (recorded → sealed) of %d events: p50 %.0f ms, p99 %.0f ms, max %.0f ms%@", events,
                p50, p99, max, unsealed > 0 ? ", \(unsealed) not sealed yet" : "")
        }
    }

    /// The seal lag of the events recorded in a window: `audit_events.recorded_at` (the clock at the
    /// insert, inside the command's one-statement write transaction, so at most a statement before its
    /// commit) to `audit_seals.sealed_at` (the time the sealing round started, before it read the events;
    /// its own commit follows within milliseconds).
    func sealLag(from start: Date, to end: Date) -> SealLag? {
        let row = query(
            """
            SELECT count(*), count(*) FILTER (WHERE s.event_row IS NULL),
                   coalesce(1000 * extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY s.sealed_at - e.recorded_at)), 0),
                   coalesce(1000 * extract(epoch FROM percentile_disc(0.99) WITHIN GROUP (ORDER BY s.sealed_at - e.recorded_at)), 0),
                   coalesce(1000 * extract(epoch FROM max(s.sealed_at - e.recorded_at)), 0)
            FROM audit_events e LEFT JOIN audit_seals s ON s.event_row = e.id
            WHERE e.recorded_at >= to_timestamp(\(start.timeIntervalSince1970))
              AND e.recorded_at < to_timestamp(\(end.timeIntervalSince1970))
            """)
        guard let fields = row?.split(separator: "|"), fields.count == 5, let events = Int(fields[0]),
            let unsealed = Int(fields[1]), let p50 = Double(fields[2]), let p99 = Double(fields[3]),
            let max = Double(fields[4])
        else { return nil }
        return SealLag(events: events, unsealed: unsealed, p50: p50, p99: p99, max: max)
    }

    /// Runs a statement that answers no rows (`ANALYZE`); whether psql ran it without an error.
    func execute(_ sql: String) -> Bool { psql != nil && run(sql, in: nil) != nil }

    /// One value (or row, `|` between columns) from `psql -tA`; nil when psql is missing or the query
    /// fails (e.g. no extension).
    func query(_ sql: String, in other: String? = nil) -> String? {
        guard let text = run(sql, in: other) else { return nil }
        return text.isEmpty ? nil : text
    }

    /// psql's output, trimmed; nil when psql is missing or fails.
    private func run(_ sql: String, in other: String?) -> String? {
        guard let psql else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: psql)
        process.arguments = ["-X", "-q", "-tA", "-d", other ?? database, "-c", sql]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
