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
        guard !(failing && request != nil) else {
            return ToolOutput(standardError: ["--failing und --request schließen einander aus."], succeeded: false)
        }
        let named = request.flatMap(RequestReference.init)
        if let request, named == nil { return refusal(request) }
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
                guard let found = try await RequestService.requestID(named, client: client, logger: logger) else {
                    return ToolOutput(standardError: ["Kein Antrag „\(request ?? "")“."], succeeded: false)
                }
                let timers = try await timersOfRequest(found, limit: limit, client: client, logger: logger)
                return ToolOutput(standardOutput: renderRequest(timers))
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

    /// What the tools answer for `--request` that names no request in either form.
    static func refusal(_ request: String) -> ToolOutput {
        ToolOutput(
            standardError: [
                "--request „\(request)“ ist weder eine Antrags-ID (UUID) noch eine Antragsnummer (FG-2026-000042)."
            ], succeeded: false)
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
        let formatter = ISO8601DateFormatter()
        var lines = ["id\tkind\tstep\tdue\tstate\tattempts\tnext attempt\tlast error"]
        for timer in timers {
            let state =
                if let fired = timer.firedAt {
                    "fired \(formatter.string(from: fired))"
                } else if let cancelled = timer
                    .cancelledAt
                { "cancelled \(formatter.string(from: cancelled))" } else { "pending" }
            lines.append(
                [
                    String(timer.id), timer.kind, timer.step ?? "-", formatter.string(from: timer.dueAt), state,
                    String(timer.attempts), timer.nextAttemptAt.map { formatter.string(from: $0) } ?? "-",
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
