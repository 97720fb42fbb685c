import Foundation
import LDAPDirectory
import Logging
import PostgresNIO

/// What `freigabe migrate` and `freigabe catalog import` do, so the executable stays a thin layer of
/// argument parsing. Output goes through the closures; the return value is the process exit code.
public enum StoreCommandLine {
    /// Applies pending migrations as the admin role and grants the application role its privileges.
    /// Exit codes: 0 done, 1 failed, 78 configuration missing or invalid.
    public static func migrate(
        environment: [String: String], output: @Sendable (String) -> Void, errorOutput: @Sendable (String) -> Void
    ) async -> Int32 {
        let logger = Logger(label: "freigabe.migrate")
        let settings: DatabaseSettings
        let configuration: PostgresClient.Configuration
        do {
            settings = try DatabaseSettings(environment: environment)
            configuration = try settings.clientConfiguration(admin: true)
        } catch {
            errorOutput("Konfigurationsfehler: \(error)")
            return 78
        }
        do {
            let (applied, status) = try await Database.withClient(configuration, logger: logger) { client in
                let applied = try await Migrator.migrate(client: client, appRole: settings.user, logger: logger)
                return (applied, try await Migrator.status(client: client, logger: logger))
            }
            if applied.isEmpty {
                output("schema is up to date (\(Migrations.all.count) migrations)")
            } else {
                for version in applied {
                    let name = Migrations.all.first { $0.version == version }?.name ?? "?"
                    output("applied migration \(version) \(name)")
                }
            }
            guard status.unknown.isEmpty else {
                output(
                    "the database carries migrations of a newer release (\(status.unknown.map(String.init).joined(separator: ", "))): "
                        + "privileges and group keys left as that release set them")
                return 0
            }
            output("granted privileges to \(settings.user)")
            return 0
        } catch let error as MigrationError {
            errorOutput("Migration fehlgeschlagen: \(error)")
            return 1
        } catch {
            errorOutput("Migration fehlgeschlagen: \(await settings.describe(error, admin: true, logger: logger))")
            return 1
        }
    }

    /// Imports a catalogue file (YAML or CSV by extension) with the APPLICATION role: the catalogue is
    /// ordinary data the app role may write (as the admin API does), and no owner rights are needed.
    /// The people and groups it names are checked against `directory` as the administration's import
    /// does (``CatalogReferences``); without a directory a notice says they were not. Prints what
    /// changed; with `dryRun` only checks the file (and the directory). Exit codes: 0 done, 1 problems in
    /// the file, the directory or the database, 78 configuration.
    public static func importCatalog(
        path: String, actor: String, dryRun: Bool, environment: [String: String], directory: LDAPConfiguration?,
        now: Date = Date(), output: @Sendable (String) -> Void, errorOutput: @Sendable (String) -> Void
    ) async -> Int32 {
        let logger = Logger(label: "freigabe.catalog")
        // Without the strings each problem still shows its catalogue key and values.
        let texts = StringCatalogs.console(environment: environment)
        var document: CatalogDocument
        do {
            document = try CatalogParser.parse(path: path)
        } catch {
            for problem in error.problems { errorOutput(problem.text(in: texts)) }
            return 1
        }
        if let directory {
            do {
                let (checked, problems) = try await DirectoryTool.withDirectory(directory) { [document] ldap in
                    var references = CatalogReferences(directory: DirectoryPrincipalResolver(directory: ldap))
                    return try await references.check(document, file: path)
                }
                guard problems.isEmpty else {
                    for problem in problems { errorOutput(problem.text(in: texts)) }
                    return 1
                }
                document = checked
            } catch {
                let reason = (error as? LDAPDirectoryError)?.message ?? "\(error)"
                errorOutput("Nichts importiert: das Verzeichnis hat nicht geantwortet (\(reason)).")
                return 1
            }
        } else {
            errorOutput(
                "Hinweis: kein Verzeichnis eingerichtet (ldap.url): Eigentümer und Gruppen sind nicht gegen das Verzeichnis geprüft."
            )
        }
        if dryRun {
            output("ok \(path): \(document.domains.count) domains, \(document.datasets.count) datasets")
            return 0
        }
        let settings: DatabaseSettings
        do {
            settings = try DatabaseSettings(environment: environment)
        } catch {
            errorOutput("Konfigurationsfehler: \(error)")
            return 78
        }
        do {
            // With the settings' deadlines (db.transaction_timeout_seconds), not the defaults: a large
            // catalogue may need longer than a command does.
            let report = try await Database.withClient(settings, logger: logger) { [document] client in
                try await CatalogRepository(client: client).importCatalog(
                    document, file: path, actor: actor, now: now, logger: logger)
            }
            for line in report.lines { output(line) }
            return 0
        } catch let error as CatalogImportError {
            for problem in error.problems { errorOutput(problem.text(in: texts)) }
            return 1
        } catch {
            errorOutput("Import fehlgeschlagen: \(await settings.describe(error, logger: logger))")
            return 1
        }
    }
}
