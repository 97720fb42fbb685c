import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe audit keygen | seal | verify`: the tamper-evident decision log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Keys, sealing and verification of the decision log.",
        discussion: "seal and verify connect as the application role with FREIGABE_DB_* (as `freigabe serve`).",
        subcommands: [Keygen.self, Seal.self, Verify.self]
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

        func run() async throws {
            try await AuditTool.seal(
                settings: AuditSettings(keyFile: keyFile, checkpointFile: checkpointFile),
                environment: ProcessInfo.processInfo.environment
            ).emit()
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the whole decision log in the database; exit status 0 only when every check holds.")

        @Option(help: "The public verifier key `audit keygen` printed.") var publicKey: String

        func run() async throws {
            try await AuditTool.verify(publicKeyFile: publicKey, environment: ProcessInfo.processInfo.environment)
                .emit()
        }
    }
}
