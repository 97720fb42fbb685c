import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// `freigabe-bench timers`: how fast several instances drain a backlog of due timers. Builds a scratch
/// database of its own (`freigabe_bench_timers`, dropped first) with the admin role, files `requests`
/// Shared Data requests and adds `timers` due reminders spread over them, then lets `instances`
/// services (each with its own pool, as separate server processes would) run timer rounds until none
/// is due. Prints the figures; never fails on a figure.
public enum TimerBenchmark {
    public struct Figures: Sendable {
        public var timers: Int
        public var instances: Int
        public var seconds: Double
        public var fired: Int
        public var failed: Int
        public var conflicts: Int
        public var firedTwice: Int
        public var timersPerSecond: Double { seconds > 0 ? Double(fired) / seconds : 0 }
    }

    public static func run(
        environment: [String: String], timers: Int, instances: Int, requests: Int, catalogPath: String,
        workflowsDirectory: String, output: @Sendable (String) -> Void
    ) async throws -> Figures {
        let logger = {
            var logger = Logger(label: "freigabe-bench.timers")
            logger.logLevel = .error
            return logger
        }()
        let base = try DatabaseSettings(environment: environment)
        let name = "freigabe_bench_timers"
        try await Database.withClient(base, admin: true, logger: logger) { admin in
            _ = try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
            try await admin.query("CREATE DATABASE \(unescaped: name) TEMPLATE template0", logger: logger)
        }
        var scratch = base
        scratch.database = name
        scratch.maxConnections = 4
        let settings = scratch
        _ = try await Database.withClient(settings, admin: true, logger: logger) { admin in
            try await Migrator.migrate(client: admin, appRole: settings.user, logger: logger)
        }
        let workflows = try WorkflowLoader.load(directory: workflowsDirectory)
        let calendar = WorkingDayCalendar(state: .hessen)
        let start = Date(timeIntervalSince1970: 1_772_438_400)  // Monday 2 March 2026, 09:00 CET
        let roundTime = start.addingTimeInterval(30 * 86_400)

        try await Database.withClient(settings, logger: logger) { app in
            let document = try CatalogParser.parse(path: catalogPath)
            _ = try await CatalogRepository(client: app).importCatalog(
                document, file: catalogPath, actor: "bench", now: start, logger: logger)
            let service = RequestService(
                client: app, workflows: workflows, calendar: calendar,
                principals: ClosurePrincipalResolver { _ in nil })
            let anna = Caller(uid: "anna", displayName: "Anna Antrag")
            for index in 0..<requests {
                let at = start.addingTimeInterval(Double(index))
                _ = try await service.createRequest(
                    NewRequest(
                        kind: .sharedData, datasetID: "baumkataster",
                        details: RequestDetails(
                            purpose: "Benchmark der Timer \(index)",
                            recipient: RecipientInput(name: "Amt für Stadtentwicklung", type: .internal),
                            accessStart: at, accessEnd: at.addingTimeInterval(60 * 86_400)),
                        submit: true),
                    caller: anna, now: at, logger: logger)
            }
        }
        // The backlog replaces the requests' own timers: a deletion the application role may not make.
        try await Database.withClient(settings, admin: true, logger: logger) { admin in
            try await Database.transaction(admin, logger: logger) { connection in
                try await connection.query("DELETE FROM timers", logger: logger)
                try await connection.query(
                    """
                    INSERT INTO timers (request_id, kind, step, due_at, created_at)
                    SELECT r.id, 'reminder', r.current_step, \(start), \(start)
                    FROM generate_series(1, \(timers)) AS g(n)
                    JOIN (SELECT id, current_step, row_number() OVER (ORDER BY id) - 1 AS position FROM requests) r
                      ON r.position = (g.n - 1) % \(requests)
                    """, logger: logger)
            }
        }
        output(
            "freigabe-bench timers: \(timers) due reminders over \(requests) requests, \(instances) instances, "
                + "\(ProcessInfo.processInfo.activeProcessorCount) cores")

        let clock = ContinuousClock()
        let began = clock.now
        let reports = try await withThrowingTaskGroup(of: TimerRoundReport.self) { group in
            for _ in 0..<instances {
                group.addTask {
                    try await Database.withClient(settings, logger: logger) { client in
                        let service = RequestService(
                            client: client, workflows: workflows, calendar: calendar,
                            principals: ClosurePrincipalResolver { _ in nil })
                        var total = TimerRoundReport()
                        while true {
                            let round = try await service.fireDueTimerRound(now: roundTime, logger: logger)
                            total.fired += round.fired
                            total.failed += round.failed
                            total.conflicts += round.conflicts
                            if round.handled == 0 { return total }
                        }
                    }
                }
            }
            var all: [TimerRoundReport] = []
            for try await report in group { all.append(report) }
            return all
        }
        let elapsed = began.duration(to: clock.now)
        let seconds = elapsed.seconds
        let firedTwice = try await Database.withClient(settings, logger: logger) { app in
            try await Database.transaction(app, logger: logger) { connection in
                try await connection.query(
                    "SELECT count(*) FROM timers WHERE fired_at IS NULL OR attempts <> 1", logger: logger
                ).decode(Int.self).first { _ in true } ?? 0
            }
        }
        let figures = Figures(
            timers: timers, instances: instances, seconds: seconds, fired: reports.map(\.fired).reduce(0, +),
            failed: reports.map(\.failed).reduce(0, +), conflicts: reports.map(\.conflicts).reduce(0, +),
            firedTwice: firedTwice)
        output(
            String(
                format: "drained %d timers in %.2f s: %.0f timers/s (failed attempts %d, conflicts %d, "
                    + "not fired exactly once %d)",
                figures.fired, figures.seconds, figures.timersPerSecond, figures.failed, figures.conflicts,
                figures.firedTwice))
        for (index, report) in reports.enumerated() {
            output("  instance \(index + 1): fired \(report.fired), failed \(report.failed)")
        }
        try await Database.withClient(base, admin: true, logger: logger) { admin in
            _ = try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
        return figures
    }
}
