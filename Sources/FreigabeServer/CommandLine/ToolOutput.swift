import Logging
import PostgresNIO

/// What a command-line tool prints and whether it succeeded. The tools live in FreigabeServer so that
/// the `freigabe` executable stays a thin argument parser and the tools can be tested directly.
public struct ToolOutput: Sendable, Equatable {
    public var standardOutput: [String] = []
    public var standardError: [String] = []
    public var succeeded = true

    public init(standardOutput: [String] = [], standardError: [String] = [], succeeded: Bool = true) {
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.succeeded = succeeded
    }
}

extension ToolOutput {
    /// Runs `body` with a client of the application role from the `FREIGABE_DB_*` settings in
    /// `environment`: a bad setting or a database error becomes an error line (`failure`: what could not
    /// be done, German), never a crash or a stack trace.
    static func withApplicationDatabase(
        environment: [String: String], logger: Logger, failure: String,
        _ body: @Sendable (PostgresClient) async throws -> ToolOutput
    ) async -> ToolOutput {
        let settings: DatabaseSettings
        do {
            settings = try DatabaseSettings(environment: environment)
        } catch {
            return ToolOutput(standardError: ["Konfigurationsfehler: \(error)"], succeeded: false)
        }
        do {
            return try await Database.withClient(settings, logger: logger, body)
        } catch {
            let text = Database.serverMessage(of: error) ?? String(describing: Database.serviceError(from: error))
            return ToolOutput(standardError: ["\(failure): \(text)"], succeeded: false)
        }
    }
}
