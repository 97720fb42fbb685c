import AuditLog
import Foundation
import Logging
import PostgresNIO

/// `freigabe audit keygen | seal | verify`: the decision log's keys and its checks, for operators and
/// auditors. Database access as the application role with the `FREIGABE_DB_*` settings.
public enum AuditTool {
    /// Writes a new private key to `path` (readable by its owner only; refuses to overwrite) and prints
    /// the public verifier key to give to auditors and keep outside the database.
    public static func keygen(name: String, path: String) -> ToolOutput {
        guard !FileManager.default.fileExists(atPath: path) else {
            return ToolOutput(
                standardError: ["„\(path)“ gibt es schon; ein Schlüssel wird nie überschrieben."], succeeded: false)
        }
        do {
            let signer = try NoteSigner.generate(keyName: name)
            guard
                FileManager.default.createFile(
                    atPath: path, contents: Data((signer.privateKeyFileContents + "\n").utf8),
                    attributes: [.posixPermissions: 0o600])
            else {
                return ToolOutput(standardError: ["„\(path)“ kann nicht geschrieben werden."], succeeded: false)
            }
            return ToolOutput(standardOutput: [
                "Privater Schlüssel: \(path) (audit.key_file)",
                "Öffentlicher Prüfschlüssel (für Prüfer, außerhalb der Datenbank aufbewahren):",
                signer.verifierKey.vkey,
            ])
        } catch {
            return ToolOutput(standardError: ["Kein Schlüssel erzeugt: \(error)"], succeeded: false)
        }
    }

    /// Seals every event not sealed yet and signs a checkpoint (what the server does every second).
    public static func seal(settings audit: AuditSettings, environment: [String: String]) async -> ToolOutput {
        await withDatabase(environment, failure: "Versiegeln fehlgeschlagen") { client, _, logger in
            let sealer = AuditSealer(client: client, signer: try audit.signer(), checkpointFile: audit.checkpointFile)
            let size = try await sealer.sealAll(now: Date(), logger: logger)
            return ToolOutput(standardOutput: ["Protokoll versiegelt: \(size) Ereignisse im Baum."])
        }
    }

    /// Checks the whole log against the public key; succeeds only when every check holds.
    public static func verify(publicKeyFile: String, environment: [String: String]) async -> ToolOutput {
        let key: NoteVerifierKey
        do {
            let text = try String(contentsOfFile: publicKeyFile, encoding: .utf8)
            key = try NoteVerifierKey(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            return ToolOutput(
                standardError: ["Der Prüfschlüssel „\(publicKeyFile)“ ist nicht lesbar: \(error)"], succeeded: false)
        }
        return await withDatabase(environment, failure: "Prüfung nicht möglich") { client, role, logger in
            let report = try await AuditVerification(client: client, key: key, appRole: role).run(logger: logger)
            var lines: [String] = []
            if let summary = report.summary {
                lines.append(
                    "Ereignisse: \(summary.treeSize), davon von signierten Checkpoints gedeckt: \(summary.coveredSize), "
                        + "Checkpoints: \(summary.checkpointCount), Wurzel: \(summary.rootHash.base64)")
            }
            guard report.holds else {
                return ToolOutput(
                    standardOutput: lines, standardError: report.problems.map { "FEHLER: \($0)" }, succeeded: false)
            }
            return ToolOutput(standardOutput: lines + ["Das Protokoll ist unverändert (alle Prüfungen bestanden)."])
        }
    }

    private static func withDatabase(
        _ environment: [String: String], failure: String,
        _ body: @escaping @Sendable (PostgresClient, String, Logger) async throws -> ToolOutput
    ) async -> ToolOutput {
        var logger = Logger(label: "freigabe.audit")
        logger.logLevel = .warning
        // The application role's name, which must not own the log's tables (empty: the settings are bad,
        // and the helper below says so before anything runs).
        let role = (try? DatabaseSettings(environment: environment))?.user ?? ""
        return await ToolOutput.withApplicationDatabase(environment: environment, logger: logger, failure: failure) {
            [logger] client in try await body(client, role, logger)
        }
    }
}
