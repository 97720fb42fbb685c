import Foundation
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

    /// - Parameters:
    ///   - workflows: the definitions loaded; one in force whose id and version requests already use with
    ///     another text only stops the start before any migration (``WorkflowLibrary/EditedVersion``).
    ///   - timeouts: the migration's deadlines (tests shorten the pool wait).
    static func migrate(
        _ settings: DatabaseSettings, workflows: WorkflowLibrary? = nil, logger: Logger,
        timeouts: DatabaseSettings.Timeouts = .migration
    ) async throws {
        let applied: [Int]
        let edited: [WorkflowLibrary.EditedVersion]
        do {
            (applied, edited) = try await Database.withClient(
                try settings.clientConfiguration(admin: true), logger: logger
            ) { client in
                // Before the migrations: whatever stops the start leaves the database untouched. A database
                // without the table (a new one) has no requests whose texts could differ.
                let edited: [WorkflowLibrary.EditedVersion] =
                    if let workflows {
                        try await Database.read(client, logger: logger) { connection in
                            let rows = try await connection.query(
                                "SELECT to_regclass('workflow_definitions') IS NOT NULL", logger: logger)
                            guard try await rows.decode(Bool.self).first(where: { _ in true }) == true else {
                                return []
                            }
                            return try await workflows.editedVersions(on: connection, logger: logger)
                        }
                    } else { [] }
                guard edited.isEmpty else { return ([], edited) }
                let applied = try await Migrator.migrate(
                    client: client, appRole: settings.user, logger: logger, timeouts: timeouts)
                return (applied, [])
            }
        } catch let error as MigrationError {
            logger.critical("Migrations at start failed", metadata: ["error": "\(error)"])
            throw Failure(description: "Migration fehlgeschlagen: \(error)")
        } catch {
            let cause = await settings.describe(error, admin: true, logger: logger)
            logger.critical("Migrations at start failed", metadata: ["error": "\(cause)"])
            throw Failure(description: "Migration fehlgeschlagen: \(cause)")
        }
        guard edited.isEmpty else {
            for version in edited {
                logger.critical(
                    "A workflow definition was edited without a new version", metadata: ["problem": "\(version)"])
            }
            throw Failure(
                description: "Workflow-Definition geändert, ohne die Version zu erhöhen: "
                    + edited.map(\.germanDescription).joined(separator: "; "))
        }
        logger.info(
            "Database schema up to date",
            metadata: ["migrations.applied": .array(applied.map { .string(String($0)) })])
    }
}

extension WorkflowLibrary.EditedVersion {
    /// What `freigabe serve` prints before it exits, in the words of its other start failures.
    var germanDescription: String {
        "\(file): \(pin.id) Version \(pin.version) ist seit \(storedSince.formatted(.iso8601)) mit SHA-256 "
            + "\(storedHash.prefix(12)) in Gebrauch, die Datei hat jetzt \(pin.contentHash.prefix(12)). Stellen Sie die "
            + "gespeicherte Fassung wieder her, oder kopieren Sie die Datei, erhöhen Sie `version:` und behalten Sie die alte Datei, solange "
            + "ihre Anträge offen sind (Workflows/README.md, Versionierung)"
    }
}
