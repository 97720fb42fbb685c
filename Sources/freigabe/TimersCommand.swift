import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe timers list [--failing | --request ID]`: reminders, escalations, expiries and handovers as the database holds them.
struct TimersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timers",
        abstract: "Inspect reminders, escalations, expiries and handovers to new holders.",
        discussion: "Connects as the application role with FREIGABE_DB_* (as `freigabe serve`).",
        subcommands: [List.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Count timers by state, list due timers whose attempts failed (--failing), or one request's timers (--request)."
        )

        @Flag(help: "List the due timers that failed at least once: attempts, next attempt, last error.")
        var failing = false

        @Option(
            help: "List every timer of this request (its id or its number, FG-2026-000042): kind, step, due, state.")
        var request: String?

        @Option(help: "At most this many timers (with --failing or --request).")
        var limit = 100

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await TimerTool.list(
                failing: failing, request: request, limit: max(1, min(limit, 10_000)),
                environment: try await database.environment()
            ).emit()
        }
    }
}
