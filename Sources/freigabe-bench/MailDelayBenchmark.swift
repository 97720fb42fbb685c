import ArgumentParser
import AsyncHTTPClient
import Foundation

/// `freigabe-bench mail`: decisions at a fixed rate spread over several instances (open loop: a new
/// lifecycle starts every 5 ÷ rate seconds whether or not the earlier ones are done), then the delay of
/// every notification from the command that wrote it to the SMTP server accepting it.
///
/// Commit time: `outbox.created_at`, the command's clock taken before its read (the write commits a few
/// milliseconds later, so the delay is overstated by that much). Acceptance time: the local sink
/// (`scripts/smtp-sink.py`) names every stored message after the UTC time it had the whole message,
/// before it answers 250; the `Message-ID` (`freigabe.outbox.<row>.<tag>@<mail.host_name>`) ties the
/// file to its outbox row, and a `mail.host_name` of the run's own keeps other senders' mail out.
/// The database must be the run's own: every mail row in it counts.
struct MailDelayBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail",
        abstract: "Benchmark the delay from a decision's commit to the SMTP server accepting its mail.")

    @Option(help: "Base URLs of the running instances, comma separated.") var urls: String
    @Option(help: "Decisions per second (the submission counts as one of a lifecycle's five).") var rate = 100.0
    @Option(help: "Seconds of paced decisions.") var seconds = 20
    @Option(help: "Seconds to wait for the last mail after the decisions.") var drain = 60
    @Option(help: "Dataset with personal, confidential data (all four steps).") var dataset = "schulwegunfaelle"
    @Option(help: "Requester, Owner, Steward, DSB, ISB of that dataset, comma separated.")
    var people = "anna,volker,sina,dora,ingo"
    @Option(help: "Password of all of them.") var password = "demo"
    @Option(help: "The sink's mail directory.") var mailDir = ProcessInfo.processInfo.environment["FREIGABE_MAIL_DIR"]
    @Option(help: "The instances' mail.host_name (right side of every Message-ID); only its mail counts.")
    var messageHost: String
    @Option(help: "psql (connection from PGHOST, PGUSER, ...).")
    var psql = ProcessInfo.processInfo.environment["FREIGABE_PG_BIN"].map { $0 + "/psql" }
    @Option(help: "The instances' database (the run's own).")
    var database = ProcessInfo.processInfo.environment["FREIGABE_DB_NAME"] ?? "freigabe"

    func run() async throws {
        let names = people.split(separator: ",").map(String.init)
        guard names.count == 5 else { throw ValidationError("--people needs five names") }
        guard let mailDir else { throw ValidationError("--mail-dir or FREIGABE_MAIL_DIR is needed") }
        guard rate > 0, seconds > 0 else { throw ValidationError("--rate and --seconds must be positive") }
        let instances = urls.split(separator: ",").map(String.init)
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
        let api = BenchAPI(http: http, baseURLs: instances, password: password, minimal: true)
        let probe = CostProbe(serverPID: nil, psql: psql, database: database)
        print(
            String(
                format: "freigabe-bench mail: %d instances, %.0f decisions/s for %d s, dataset %@", instances.count,
                rate, seconds, dataset))
        let decisions: LatencySummary
        do {
            decisions = try await pace(api: api, people: names)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
        print("decisions: \(decisions.line)")

        let rows = try await waitForDelivery(probe: probe)
        let accepted = try MailSinkFiles(directory: mailDir, host: messageHost).acceptances()
        var delays: [Duration] = []
        var missing = 0
        var first = Date.distantFuture
        var last = Date.distantPast
        for (row, created) in rows {
            guard let times = accepted[row], !times.isEmpty else {
                missing += 1
                continue
            }
            for time in times {
                delays.append(.milliseconds(Int64((time.timeIntervalSince(created) * 1000).rounded())))
                first = min(first, created)
                last = max(last, time)
            }
        }
        guard !delays.isEmpty else {
            print("mail: no accepted mail found for \(rows.count) outbox rows (Message-ID host \(messageHost))")
            return
        }
        let mails = LatencySummary(latencies: delays, elapsed: .seconds(last.timeIntervalSince(first)))
        print(
            String(
                format:
                    "mail: %d outbox rows, %d mails accepted (%d rows without an accepted mail), %.1f mails/s "
                    + "(first commit to last acceptance)", rows.count, delays.count, missing, mails.perSecond))
        print(
            String(
                format: "mail delay (commit → accepted by the SMTP server): p50 %.0f ms, p99 %.0f ms, max %.0f ms%@",
                mails.percentile(0.5).milliseconds, mails.percentile(0.99).milliseconds,
                (mails.sorted.last ?? .zero).milliseconds,
                mails.percentile(0.99) < .seconds(1) ? " (goal p99 < 1 s: met)" : " (goal p99 < 1 s: NOT met)"))
    }

    /// Starts a lifecycle every 5 ÷ `rate` seconds for `seconds`, each on the next instance first.
    private func pace(api: BenchAPI, people: [String]) async throws -> LatencySummary {
        let interval = Duration.seconds(Double(people.count) / rate)
        let started = ContinuousClock.now
        let end = started + .seconds(seconds)
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            var next = started
            var number = 0
            while next < end {
                try await Task.sleep(until: next, clock: .continuous)
                let first = number
                group.addTask { try await api.lifecycle(dataset: dataset, people: people, first: first) }
                number += 1
                next += interval
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        return LatencySummary(latencies: latencies, elapsed: ContinuousClock.now - started)
    }

    /// Waits until no mail row is unsent (or `drain` seconds passed); returns every mail row's id and
    /// creation time.
    private func waitForDelivery(probe: CostProbe) async throws -> [(Int64, Date)] {
        let deadline = ContinuousClock.now + .seconds(drain)
        while ContinuousClock.now < deadline {
            let pending = probe.query("SELECT count(*) FROM outbox WHERE kind = 'mail' AND sent_at IS NULL")
            guard let pending else { throw ValidationError("psql failed: cannot read the outbox") }
            if pending == "0" { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let text =
            probe.query(
                "SELECT string_agg(id || ' ' || extract(epoch FROM created_at), ',') FROM outbox WHERE kind = 'mail'")
            ?? ""
        return text.split(separator: ",").compactMap { entry in
            let parts = entry.split(separator: " ")
            guard parts.count == 2, let id = Int64(parts[0]), let epoch = Double(parts[1]) else { return nil }
            return (id, Date(timeIntervalSince1970: epoch))
        }
    }
}

/// The messages the local SMTP sink stored: `<yyyyMMdd'T'HHmmss.ffffff>Z-<seq>.eml`, named at acceptance.
struct MailSinkFiles {
    let directory: String
    /// Only messages whose Message-ID ends in this host count.
    let host: String

    /// Outbox row → acceptance times of its messages (one per recipient).
    func acceptances() throws -> [Int64: [Date]] {
        var result: [Int64: [Date]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".eml") {
            guard let accepted = Self.acceptance(fileName: name),
                let row = try outboxRow(path: directory + "/" + name)
            else { continue }
            result[row, default: []].append(accepted)
        }
        return result
    }

    /// `20261201T002257.609001Z-018495.eml` → that UTC time.
    static func acceptance(fileName name: String) -> Date? {
        let stamp = name.prefix(while: { $0 != "Z" })
        let parts = stamp.split(separator: ".")
        guard parts.count == 2, parts[0].count == 15, let micro = Double("0." + parts[1]),
            let seconds = secondsFormatter.date(from: String(parts[0]))
        else { return nil }
        return seconds.addingTimeInterval(micro)
    }

    private static let secondsFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        return formatter
    }()

    /// The outbox row in the header `Message-ID: <freigabe.outbox.<row>.<tag>@<host>>`, if it is ours.
    private func outboxRow(path: String) throws -> Int64? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        // The headers are at the top; 4 KB hold them.
        let head = String(decoding: try handle.read(upToCount: 4096) ?? Data(), as: UTF8.self)
        for line in head.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            guard line.lowercased().hasPrefix("message-id:") else { continue }
            let value = line.dropFirst("message-id:".count).trimmingCharacters(in: .whitespaces)
            let prefix = "<freigabe.outbox."
            let suffix = "@" + host + ">"
            guard value.hasPrefix(prefix), value.hasSuffix(suffix) else { return nil }
            let middle = value.dropFirst(prefix.count).dropLast(suffix.count)
            return middle.split(separator: ".").first.flatMap { Int64($0) }
        }
        return nil
    }
}
