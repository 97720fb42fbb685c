import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe timers list [--failing]`: reminders, escalations, expiries and handovers as the database holds them.
struct TimersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timers",
        abstract: "Inspect reminders, escalations, expiries and handovers to new holders.",
        discussion: "Connects as the application role with FREIGABE_DB_* (as `freigabe serve`).",
        subcommands: [List.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count timers by state, or (--failing) list due timers whose attempts failed.")

        @Flag(help: "List the due timers that failed at least once: attempts, next attempt, last error.")
        var failing = false

        @Option(help: "At most this many timers (with --failing).")
        var limit = 100

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await TimerTool.list(
                failing: failing, limit: max(1, min(limit, 10_000)), environment: try await database.environment()
            ).emit()
        }
    }
}
