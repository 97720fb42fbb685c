import Foundation
import Logging
import PostgresNIO

/// `freigabe timers list [--failing | --request ID]`: what operators look at when timers keep failing,
/// or when someone asks why a request's reminder has not come. Connects as the application role with
/// the `FREIGABE_DB_*` settings.
public enum TimerTool {
    /// Lists due timers that failed at least once (`failing`), every timer of one request (`request`: its
    /// id or its number, `FG-2026-000042`), or counts all timers by state.
    public static func list(
        failing: Bool, request: String? = nil, limit: Int = 100, environment: [String: String]
    ) async -> ToolOutput {
        let named: RequestOption?
        switch RequestOption.read(request, besides: ("--failing", failing)) {
        case .success(let read): named = read
        case .failure(let refusal): return refusal.output
        }
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
            if let named {
                switch try await named.find(client: client, logger: logger) {
                case .failure(let refusal): return refusal.output
                case .success(let found):
                    let timers = try await timersOfRequest(found, limit: limit, client: client, logger: logger)
                    return ToolOutput(standardOutput: renderRequest(timers))
                }
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

    /// One timer of a request, as support reads it: what is due when, and what became of it.
    struct RequestTimer {
        var id: Int64
        var kind: String
        var step: String?
        var dueAt: Date
        var attempts: Int
        var firedAt: Date?
        var cancelledAt: Date?
        var lastError: String?
        var nextAttemptAt: Date?
    }

    /// The request's timers, pending ones first (then by due time).
    static func timersOfRequest(
        _ found: UUID, limit: Int, client: PostgresClient, logger: Logger
    ) async throws -> [RequestTimer] {
        try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT id, kind, step, due_at, attempts, fired_at, cancelled_at, last_error, next_attempt_at
                FROM timers WHERE request_id = \(found)
                ORDER BY fired_at IS NULL AND cancelled_at IS NULL DESC, due_at, id
                LIMIT \(limit)
                """, logger: logger)
            var timers: [RequestTimer] = []
            for try await (id, kind, step, due, attempts, fired, cancelled, error, next) in rows.decode(
                (Int64, String, String?, Date, Int, Date?, Date?, String?, Date?).self)
            {
                timers.append(
                    RequestTimer(
                        id: id, kind: kind, step: step, dueAt: due, attempts: attempts, firedAt: fired,
                        cancelledAt: cancelled, lastError: error, nextAttemptAt: next))
            }
            return timers
        }
    }

    static func renderRequest(_ timers: [RequestTimer]) -> [String] {
        guard !timers.isEmpty else { return ["no timers"] }
        var table = ToolTable(columns: ["id", "kind", "step", "due", "state", "attempts", "next attempt", "last error"])
        for timer in timers {
            let state =
                if let fired = timer.firedAt {
                    "fired \(table.time(fired))"
                } else if let cancelled = timer.cancelledAt {
                    "cancelled \(table.time(cancelled))"
                } else {
                    "pending"
                }
            table.add([
                String(timer.id), timer.kind, timer.step ?? "-", table.time(timer.dueAt), state, String(timer.attempts),
                timer.nextAttemptAt.map(table.time) ?? "-", timer.lastError ?? "",
            ])
        }
        return table.lines
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
