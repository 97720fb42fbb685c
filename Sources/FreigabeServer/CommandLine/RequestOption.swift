import Foundation
import Logging
import PostgresNIO

/// The operator tools' `--request ID|FG-…` (``TimerTool``, ``OutboxTool``): read and checked before any
/// database work, then found; every refusal in the tools' words.
struct RequestOption {
    let text: String
    let reference: RequestReference

    /// nil when no request was asked for; the refusal when `text` names none in either form, or comes
    /// with a listing it cannot be combined with (`other`, when set: `--failing`, `--failed`).
    static func read(_ text: String?, besides other: (flag: String, isSet: Bool)) -> Result<Self?, ToolOutput.Refusal> {
        guard let text else { return .success(nil) }
        guard !other.isSet else {
            return .failure(ToolOutput.Refusal("\(other.flag) und --request schließen einander aus."))
        }
        guard let reference = RequestReference(text) else {
            return .failure(
                ToolOutput.Refusal(
                    "--request „\(text)“ ist weder eine Antrags-ID (UUID) noch eine Antragsnummer (FG-2026-000042)."))
        }
        return .success(RequestOption(text: text, reference: reference))
    }

    /// The request's id, or the refusal when there is no such request.
    func find(client: PostgresClient, logger: Logger) async throws -> Result<UUID, ToolOutput.Refusal> {
        guard let id = try await RequestService.requestID(reference, client: client, logger: logger) else {
            return .failure(ToolOutput.Refusal("Kein Antrag „\(text)“."))
        }
        return .success(id)
    }
}

/// A tool's tab-separated listing: the column names, then one line per row; a line break in a cell
/// becomes a blank (one row, one line), times are ISO 8601.
struct ToolTable {
    private(set) var lines: [String]
    private let formatter = ISO8601DateFormatter()

    init(columns: [String]) {
        lines = [columns.joined(separator: "\t")]
    }

    func time(_ date: Date) -> String { formatter.string(from: date) }

    mutating func add(_ cells: [String]) {
        lines.append(cells.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\t"))
    }
}
