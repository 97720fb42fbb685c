import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe migrate`: brings the database schema up to date and grants the application role its
/// privileges. Runs as the admin (owner) role from FREIGABE_DB_ADMIN_USER / FREIGABE_DB_ADMIN_PASSWORD;
/// safe to run from several instances at once (advisory lock).
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations and grant the application role its privileges.",
        discussion: """
            Connection: FREIGABE_DB_HOST, FREIGABE_DB_PORT, FREIGABE_DB_NAME, FREIGABE_DB_TLS, \
            FREIGABE_DB_TLS_CA_FILE; migrations run as FREIGABE_DB_ADMIN_USER with \
            FREIGABE_DB_ADMIN_PASSWORD (or _FILE); privileges are granted to FREIGABE_DB_USER.
            """
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let code = await StoreCommandLine.migrate(
            environment: try await database.environment(),
            output: { print($0) },
            errorOutput: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        if code != 0 { throw ExitCode(code) }
    }
}
