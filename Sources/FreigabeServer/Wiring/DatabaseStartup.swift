import Logging
import PostgresNIO

/// Applies pending migrations before the server takes traffic, with a short-lived client of the admin
/// (owner) role: the long-running pool uses the least-privilege application role only.
enum DatabaseStartup {
    static func migrate(_ settings: DatabaseSettings, logger: Logger) async throws {
        let applied = try await Database.withClient(try settings.clientConfiguration(admin: true), logger: logger) {
            try await Migrator.migrate(client: $0, appRole: settings.user, logger: logger)
        }
        logger.info(
            "Database schema up to date",
            metadata: ["migrations.applied": .array(applied.map { .string(String($0)) })])
    }
}
