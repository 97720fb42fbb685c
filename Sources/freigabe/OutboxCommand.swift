import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe outbox list [--failed]`, `freigabe outbox retry ID`: the notifications waiting or failed.
struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Inspect and retry the mail and webhooks waiting in the outbox.",
        discussion: "Connects as the application role with FREIGABE_DB_* (as `freigabe serve`).",
        subcommands: [List.self, Retry.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "List pending mail, mail that did not reach somebody (--failed), or one request's mail (--request).")

        @Flag(help: "List mail that failed for at least one recipient: who got it, the last error.")
        var failed = false

        @Option(
            help:
                "List every mail of this request (its id or its number, FG-2026-000042), sent ones too, and whom each reached."
        )
        var request: String?

        @Option(help: "At most this many rows.")
        var limit = 100

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await OutboxTool.list(
                failed: failed, request: request, limit: max(1, min(limit, 10_000)),
                environment: try await database.environment()
            ).emit()
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a failed mail (or webhook, w<id>) again now; recipients who got it are not mailed twice.")

        @Argument(help: "The outbox row's id, or w<id> for a webhook delivery (from `freigabe outbox list --failed`).")
        var id: String

        func validate() throws {
            guard OutboxTool.RowID(id) != nil else { throw ValidationError(OutboxTool.RowID.expected) }
        }

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            guard let row = OutboxTool.RowID(id) else { throw ValidationError(OutboxTool.RowID.expected) }
            try await OutboxTool.retry(row, environment: try await database.environment()).emit()
        }
    }
}

/// `freigabe mail test ADDRESS`: one message through the configured SMTP server.
struct MailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail",
        abstract: "Check the mail settings.",
        discussion: "Settings come from smtp.* and mail.* keys: FREIGABE_SMTP_* variables, --config FILE or options.",
        subcommands: [Test.self]
    )

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send one test message to ADDRESS and print whether the server accepted it.")

        @Argument(help: "The recipient's mail address.") var address: String

        @Option(help: "YAML configuration file (config.file, FREIGABE_CONFIG_FILE).")
        var config: String?

        /// Any `--smtp-... value` settings.
        @Argument(parsing: .allUnrecognized, help: .hidden)
        var configArguments: [String] = []

        func run() async throws {
            let reader = try await ConfigurationSources.reader(
                overrides: config.map { [AppConfiguration.Key.configFile: $0] } ?? [:], arguments: configArguments)
            try await OutboxTool.sendTest(to: address, reader: reader).emit()
        }
    }
}
