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
    /// `line` as a terminal may show it: texts from files and the database (an export's erasure marker,
    /// a checkpoint's origin) reach these lines, and an escape sequence among them could move the cursor
    /// and overwrite a "FEHLER". Control characters other than tab and line feed (C0, DEL, C1) and the
    /// bidirectional overrides become `?`.
    public static func terminalSafe(_ line: String) -> String {
        guard line.unicodeScalars.contains(where: isHidden) else { return line }
        return String(String.UnicodeScalarView(line.unicodeScalars.map { isHidden($0) ? "?" : $0 }))
    }

    /// ``terminalSafe(_:)`` for a text that must stay on its line: line breaks become `?` too.
    static func oneLine(_ text: String) -> String {
        terminalSafe(text.replacingOccurrences(of: "\n", with: "?"))
    }

    private static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: false
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Runs `body` with a client of the application role from the `FREIGABE_DB_*` settings in
    /// `environment`: a bad setting or a database error becomes an error line (`failure`: what could not
    /// be done, German), never a crash or a stack trace.
    static func withApplicationDatabase(
        environment: [String: String], logger: Logger, failure: String,
        adjusting adjust: (inout DatabaseSettings) -> Void = { _ in },
        _ body: @Sendable (PostgresClient) async throws -> ToolOutput
    ) async -> ToolOutput {
        var settings: DatabaseSettings
        do {
            settings = try DatabaseSettings(environment: environment)
            adjust(&settings)
        } catch {
            return ToolOutput(standardError: ["Konfigurationsfehler: \(error)"], succeeded: false)
        }
        do {
            return try await Database.withClient(settings, logger: logger, body)
        } catch {
            return ToolOutput(
                standardError: ["\(failure): \(await settings.describe(error, logger: logger))"], succeeded: false)
        }
    }
}

extension ToolOutput {
    /// A tool's refusal to go on (a wrong option, a file it cannot read), as an `Error` for `Result`:
    /// what it prints instead of its work, and fails.
    struct Refusal: Error {
        let output: ToolOutput

        init(_ line: String) {
            output = ToolOutput(standardError: [line], succeeded: false)
        }
    }
}
