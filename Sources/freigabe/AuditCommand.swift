import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe audit keygen | seal | verify | export | redact`: the tamper-evident decision log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Keys, sealing, verification and exports of the decision log.",
        discussion: """
            seal, verify and export connect as the application role with FREIGABE_DB_* (as `freigabe serve`); \
            verify --export checks an export offline, without a database; redact runs as the owner role \
            (FREIGABE_DB_ADMIN_USER).
            """,
        subcommands: [Keygen.self, Seal.self, Verify.self, Export.self, Redact.self]
    )

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new checkpoint signing key (never overwrites) and print its public verifier key.")

        @Option(help: "File for the private key (audit.key_file).") var out: String
        @Option(help: "The log's name in its checkpoints.") var name = AuditSettings.defaultOrigin

        func run() async throws { try AuditTool.keygen(name: name, path: out).emit() }
    }

    struct Seal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every event not sealed yet and sign a checkpoint (the server does this every second).")

        @Option(help: "The private key file (audit.key_file).") var keyFile: String?
        @Option(help: "Append the signed checkpoint to this file (audit.checkpoint_file).") var checkpointFile: String?
        @Flag(
            help:
                "Begin a missing or empty checkpoint file with the database's newest signed checkpoint (a first outside copy, or a new one after a restore)."
        ) var startCheckpointFile = false

        @Option(help: "YAML configuration file (config.file) for audit.key_file, audit.checkpoint_file and db.*.")
        var config: String?

        func run() async throws {
            let overrides: [String: String?] = [
                AuditSettings.keyFileKey: keyFile, AuditSettings.checkpointFileKey: checkpointFile,
                AppConfiguration.Key.configFile: config,
            ]
            let reader = try await ConfigurationSources.reader(overrides: overrides.compactMapValues { $0 })
            try await AuditTool.seal(
                reader: reader, environment: try await ToolEnvironment.effective(config: config),
                startCheckpointFile: startCheckpointFile
            ).emit()
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check the decision log in the database, or an export offline; exit status 0 only when every check holds."
        )

        @Option(
            help:
                "File with the public verifier key `audit keygen` printed; after a key rotation one per line (the current and the replaced ones)."
        ) var publicKey: String
        @Option(
            help: "An export to check offline (no database): JSON Lines fully; CSV only whole and by its leaf hashes.")
        var export: String?
        @Option(
            help:
                "The trusted checkpoints (audit.checkpoint_file, or the one the export names); with --export required, without it checked with the database's."
        )
        var checkpoint: String?
        @Option(
            help:
                "YAML configuration file (config.file) for db.* and audit.retention_years, which erasures are held to.")
        var config: String?
        @Option(
            help:
                "With --export: the city's retention period in years (audit.retention_years, 1-100); every erasure in the export must have kept the log that long."
        )
        var retentionYears: Int?

        func validate() throws {
            if let problem = AuditTool.offlineOptionsProblem(
                export: export, checkpoint: checkpoint, retentionYears: retentionYears)
            {
                throw ValidationError(problem)
            }
        }

        func run() async throws {
            if let export, let checkpoint {
                try AuditTool.verifyExport(
                    exportFile: export, checkpointFile: checkpoint, publicKeyFile: publicKey,
                    retentionYears: retentionYears
                ).emit()
                return
            }
            let reader = try await ConfigurationSources.reader(
                overrides: config.map { [AppConfiguration.Key.configFile: $0] } ?? [:])
            try await AuditTool.verify(
                publicKeyFile: publicKey, checkpointFile: checkpoint, reader: reader,
                environment: try await ToolEnvironment.effective(config: config),
                progress: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
            ).emit()
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export the sealed events, streamed, against the newest signed checkpoint.",
            discussion: """
                Without filters the JSON Lines export is complete and rebuilds the signed tree; with filters each \
                event carries its inclusion proof. Dates: YYYY-MM-DD (a day in Europe/Berlin; --to includes it) \
                or RFC 3339 (--to exclusive).
                """)

        @Option(help: "jsonl (verifiable) or csv (for spreadsheets).") var format: AuditExportFormat
        @Option(help: "Events from this date or instant.") var from: String?
        @Option(help: "Events up to this date (inclusive) or before this instant.") var to: String?
        @Option(help: "Only events of this dataset.") var dataset: String?
        @Option(help: "Only events of this uid, in any case: acting, acting for, or requester.") var person: String?
        @Option(help: "Only events of this request (its UUID or its number, FG-2026-000042).") var request: String?
        @Option(help: "Only events of this type (submitted, approved, forbidden, ...); repeatable.") var type:
            [String] = []
        @Option(help: "Only events on datasets of this domain.") var domain: String?
        @Option(
            help: ArgumentHelp(
                "Only events in this role (data_owner, data_steward, dsb, isb, open_data_officer, governance, "
                    + "requester, auditor, admin)."))
        var role: String?
        @Option(
            help: "Only decisions with this outcome (approved, rejected, changes_requested, revoked, discontinued).")
        var decision: String?
        @Option(
            help: "Only what was done in this capacity: deputy (Vertretung) or escalation (as the escalation instance)."
        )
        var capacity: String?
        @Flag(help: "CSV: separate cells with ';' (German spreadsheets).") var semicolon = false
        @Flag(help: "CSV: start with a UTF-8 byte order mark.") var bom = false
        @Option(help: "The file to write, or - for standard output.") var output: String
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await AuditTool.export(
                AuditTool.ExportRequest(
                    format: format, from: from, to: to, dataset: dataset, person: person, request: request,
                    types: type, domain: domain, role: role, decision: decision, capacity: capacity, output: output,
                    csv: CSVOptions(separator: UInt8(ascii: semicolon ? ";" : ","), byteOrderMark: bom)),
                environment: try await database.environment()
            ).emit()
        }
    }
}

extension AuditCommand {
    struct Redact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase the personal payloads of sealed events before DATE, after the retention period.",
            discussion: """
                Erases comments, details and client addresses (and their salts) of the sealed events that \
                happened before DATE (YYYY-MM-DD: the start of that day in Europe/Berlin, or RFC 3339). DATE \
                must lie audit.retention_years (default 10) or more in the past. The events and the tree stay: \
                audit verify still holds and reports the erasure. Runs as FREIGABE_DB_ADMIN_USER.
                """)

        @Option(help: "Erase payloads of events before this date or instant.") var before: String
        @Option(help: "uid of who erases (default: the OS account).") var actor: String?
        @Option(help: "YAML configuration file (config.file) for audit.retention_years and db.*.") var config: String?
        @Flag(help: "Only check and count what would be erased; erase nothing.") var dryRun = false

        func run() async throws {
            let reader = try await ConfigurationSources.reader(
                overrides: config.map { [AppConfiguration.Key.configFile: $0] } ?? [:])
            try await AuditTool.redact(
                before: before, actor: actor, dryRun: dryRun, reader: reader,
                environment: try await ToolEnvironment.effective(config: config)
            ).emit()
        }
    }
}

extension AuditExportFormat: ExpressibleByArgument {}
