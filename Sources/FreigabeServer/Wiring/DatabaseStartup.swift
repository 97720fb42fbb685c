import Logging
import PostgresNIO

/// Applies pending migrations before the server takes traffic, with a short-lived client of the admin
/// (owner) role: the long-running pool uses the least-privilege application role only.
enum DatabaseStartup {
    /// The migration at start failed: what `freigabe serve` prints before it exits (non-zero), in the
    /// words of `freigabe migrate` — where the database is, and why it could not be reached (refused,
    /// a wrong password with PostgreSQL's SQLSTATE) or what it answered — instead of a catalogue key.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// - Parameter timeouts: the migration's deadlines (tests shorten the pool wait).
    static func migrate(
        _ settings: DatabaseSettings, logger: Logger, timeouts: DatabaseSettings.Timeouts = .migration
    ) async throws {
        let applied: [Int]
        do {
            applied = try await Database.withClient(try settings.clientConfiguration(admin: true), logger: logger) {
                try await Migrator.migrate(client: $0, appRole: settings.user, logger: logger, timeouts: timeouts)
            }
        } catch let error as MigrationError {
            logger.critical("Migrations at start failed", metadata: ["error": "\(error)"])
            throw Failure(description: "Migration fehlgeschlagen: \(error)")
        } catch {
            let cause = await settings.describe(error, admin: true, logger: logger)
            logger.critical("Migrations at start failed", metadata: ["error": "\(cause)"])
            throw Failure(description: "Migration fehlgeschlagen: \(cause)")
        }
        logger.info(
            "Database schema up to date",
            metadata: ["migrations.applied": .array(applied.map { .string(String($0)) })])
    }
}
