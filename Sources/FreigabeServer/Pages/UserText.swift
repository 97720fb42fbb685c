import Foundation
import WorkflowEngine

/// A text for people, chosen where it arises and put into words where it is shown: in the language
/// the client asked for (`Accept-Language`), by the API's problem middleware or a page.
///
/// Either a key of the strings catalogue (`messages.…` in `Templates/strings/<language>.yaml`) with
/// named arguments (`{limit}` in the text), or a text a workflow definition gives in its own languages
/// (`submit_requires` messages), so that an administrator's YAML speaks for itself.
public struct UserText: Sendable, Hashable, CustomStringConvertible {
    /// A value put into the text.
    public enum Argument: Sendable, Hashable {
        case text(String)
        case number(Int)
        /// Shown in Berlin time, in the words of the language.
        case time(Date)
        /// The last day of a period ending at this instant (a step's deadline: the midnight after the
        /// day), shown as that day's date in Berlin.
        case lastDay(Date)
        /// The end of an access period: a midnight in Berlin as the day before it, "(einschließlich)";
        /// another instant (the API takes exact moments) as date and time.
        case periodEnd(Date)
        /// Another catalogue text (e.g. the name of a JSON type).
        case message(String)
        /// Licences by identifier, shown by their names as the form's choice lists them, each with the
        /// identifier an API client sends: „Datenlizenz Deutschland – Namensnennung – Version 2.0
        /// (dl-de-by-2.0), …“.
        case licences([String])
    }

    enum Content: Sendable, Hashable {
        case key(String, arguments: [String: Argument])
        case given(LocalizedText)
    }

    let content: Content

    /// A text of the catalogue; `key` is relative to `messages`.
    public init(_ key: String, _ arguments: [String: Argument] = [:]) {
        content = .key(key, arguments: arguments)
    }

    /// A text the workflow definition gives (German, optionally English).
    public init(given text: LocalizedText) {
        content = .given(text)
    }

    /// The catalogue key (`messages.…`), nil for a given text.
    public var key: String? {
        guard case .key(let key, _) = content else { return nil }
        return "messages." + key
    }

    /// For logs: the key and its arguments, or the given German text.
    public var description: String {
        switch content {
        case .key(let key, let arguments):
            guard !arguments.isEmpty else { return key }
            let values = arguments.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return key + "(" + values.joined(separator: ", ") + ")"
        case .given(let text):
            return text.de
        }
    }

    /// The text in `catalog`'s language. A key missing from the catalogue shows as the key itself (a test
    /// makes sure every key the code uses exists in every language).
    public func resolved(in catalog: StringCatalog) -> String {
        switch content {
        case .given(let text):
            return catalog.language == "de" ? text.de : text.en ?? text.de
        case .key(let key, let arguments):
            // In one pass: an argument's value (a key or value from the request) is never read for
            // placeholders itself.
            return Placeholders.fill(
                catalog["messages." + key] ?? "messages." + key, arguments.mapValues { $0.resolved(in: catalog) })
        }
    }
}

extension UserText.Argument: CustomStringConvertible {
    public var description: String {
        switch self {
        case .text(let text): text
        case .number(let number): String(number)
        case .time(let date): date.formatted(.iso8601)
        case .lastDay(let end), .periodEnd(let end): "end " + end.formatted(.iso8601)
        case .message(let key): key
        case .licences(let ids): ids.joined(separator: ", ")
        }
    }

    func resolved(in catalog: StringCatalog) -> String {
        switch self {
        case .text(let text): return text
        case .number(let number): return String(number)
        case .message(let key): return catalog["messages." + key] ?? key
        case .licences(let ids): return ids.map { catalog.licenceName($0) + " (" + $0 + ")" }.joined(separator: ", ")
        case .time(let date): return catalog.format(date, .time)
        case .lastDay(let end): return catalog.format(end.addingTimeInterval(-1), .day)
        case .periodEnd(let end):
            guard BerlinDates.isMidnight(end) else { return Self.time(end).resolved(in: catalog) }
            return Self.lastDay(end).resolved(in: catalog) + " " + (catalog["messages.day_inclusive"] ?? "")
        }
    }
}
