import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe catalog import FILE`: upserts domains and datasets from a YAML or CSV catalogue.
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Maintain the dataset catalogue.",
        subcommands: [Import.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import domains and datasets from a YAML or CSV file (upsert by id, one transaction).",
            discussion: """
                The format follows the file extension (.csv, otherwise YAML); see CatalogParser for the \
                columns. Owners and groups must be in the directory (ldap.*) when one is configured. Every \
                problem is printed as FILE:LINE: message and nothing is written. Runs as the application role \
                (FREIGABE_DB_USER); datasets missing from the file are kept.
                """
        )

        @Argument(help: "The catalogue file (.yaml, .yml or .csv).") var file: String

        @Option(help: "Who imports, for the audit log (default: the USER environment variable).")
        var actor: String?

        @Flag(help: "Only check the file; write nothing.") var dryRun = false

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let environment = try await database.environment()
            let code = await StoreCommandLine.importCatalog(
                path: file, actor: actor ?? environment["USER"] ?? "cli", dryRun: dryRun, environment: environment,
                directory: try await ToolEnvironment.directory(config: database.config), output: { print($0) },
                errorOutput: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
            if code != 0 { throw ExitCode(code) }
        }
    }
}
