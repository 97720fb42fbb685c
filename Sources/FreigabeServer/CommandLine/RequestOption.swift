import Foundation
import Logging
import PostgresNIO

/// The operator tools' `--request ID|FG-…` (``TimerTool``, ``OutboxTool``): read and checked before any
/// database work, then found; every refusal in the tools' words.
struct RequestOption {
    let text: String
    let reference: RequestReference

    /// What the tool prints instead of a listing.
    struct Refusal: Error {
        let output: ToolOutput

        init(_ line: String) {
            output = ToolOutput(standardError: [line], succeeded: false)
        }
    }

    /// nil when no request was asked for; the refusal when `text` names none in either form, or comes
    /// with a listing it cannot be combined with (`other`, when set: `--failing`, `--failed`).
    static func read(_ text: String?, besides other: (flag: String, isSet: Bool)) -> Result<Self?, Refusal> {
        guard let text else { return .success(nil) }
        guard !other.isSet else {
            return .failure(Refusal("\(other.flag) und --request schließen einander aus."))
        }
        guard let reference = RequestReference(text) else {
            return .failure(
                Refusal(
                    "--request „\(text)“ ist weder eine Antrags-ID (UUID) noch eine Antragsnummer (FG-2026-000042)."))
        }
        return .success(RequestOption(text: text, reference: reference))
    }

    /// The request's id, or the refusal when there is no such request.
    func find(client: PostgresClient, logger: Logger) async throws -> Result<UUID, Refusal> {
        guard let id = try await RequestService.requestID(reference, client: client, logger: logger) else {
            return .failure(Refusal("Kein Antrag „\(text)“."))
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
