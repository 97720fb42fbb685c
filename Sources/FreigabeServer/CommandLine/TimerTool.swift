import Foundation
import Logging
import PostgresNIO

/// `freigabe timers list [--failing]`: what operators look at when timers keep failing. Connects as
/// the application role with the `FREIGABE_DB_*` settings.
public enum TimerTool {
    /// Lists due timers that failed at least once (`failing`), or counts all timers by state.
    public static func list(failing: Bool, limit: Int = 100, environment: [String: String]) async -> ToolOutput {
        let logger = {
            var logger = Logger(label: "freigabe.timers")
            logger.logLevel = .warning
            return logger
        }()
        return await ToolOutput.withApplicationDatabase(
            environment: environment, logger: logger, failure: "Timer konnten nicht gelesen werden"
        ) { client in
            if failing {
                let timers = try await RequestService.failingTimers(client: client, limit: limit, logger: logger)
                return ToolOutput(standardOutput: render(timers))
            }
            return ToolOutput(standardOutput: try await counts(client: client, logger: logger))
        }
    }

    static func render(_ timers: [FailingTimer]) -> [String] {
        guard !timers.isEmpty else { return ["no failing timers"] }
        let formatter = ISO8601DateFormatter()
        var lines = ["id\trequest\tkind\tstep\tdue\tattempts\tnext attempt\tlast error"]
        for timer in timers {
            lines.append(
                [
                    String(timer.id), timer.requestID.uuidString.lowercased(), timer.kind, timer.step ?? "-",
                    formatter.string(from: timer.dueAt), String(timer.attempts),
                    timer.nextAttemptAt.map { formatter.string(from: $0) } ?? "-",
                    (timer.lastError ?? "").replacingOccurrences(of: "\n", with: " "),
                ].joined(separator: "\t"))
        }
        return lines
    }

    private static func counts(client: PostgresClient, logger: Logger) async throws -> [String] {
        try await Database.transaction(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT count(*) FILTER (WHERE fired_at IS NULL AND cancelled_at IS NULL),
                       count(*) FILTER (WHERE fired_at IS NULL AND cancelled_at IS NULL AND last_error IS NOT NULL),
                       count(*) FILTER (WHERE fired_at IS NOT NULL),
                       count(*) FILTER (WHERE cancelled_at IS NOT NULL)
                FROM timers
                """, logger: logger)
            var lines: [String] = []
            for try await (pending, failing, fired, cancelled) in rows.decode((Int, Int, Int, Int).self) {
                lines = ["pending\t\(pending)", "failing\t\(failing)", "fired\t\(fired)", "cancelled\t\(cancelled)"]
            }
            return lines
        }
    }
}
