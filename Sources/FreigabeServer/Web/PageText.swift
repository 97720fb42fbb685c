import Foundation
import Synchronization
import WorkflowEngine

/// The texts of one page in one language: catalogue keys, the workflow's own texts, dates as people
/// in a German city hall write them (Europe/Berlin).
struct PageText: Sendable {
    let catalog: StringCatalog

    var language: String { catalog.language }

    /// The text under `web.<key>`, with `{placeholders}` filled; the key itself when it is missing, which
    /// a test rules out for every key the code uses.
    func callAsFunction(_ key: String, _ arguments: [String: String] = [:]) -> String {
        var text = catalog["web." + key] ?? "web." + key
        for (name, value) in arguments {
            text = text.replacingOccurrences(of: "{\(name)}", with: value)
        }
        return text
    }

    func callAsFunction(_ text: UserText) -> String { text.resolved(in: catalog) }

    func callAsFunction(_ text: LocalizedText) -> String { language == "de" ? text.de : text.en ?? text.de }

    /// A role's name (`dsb` → „Datenschutzbeauftragte/r“); a custom role of a workflow keeps its id.
    func role(_ id: String) -> String { catalog["web.roles.\(id)"] ?? id }

    /// A licence's name (`dl-de-by-2.0` → „Datenlizenz Deutschland – Namensnennung – Version 2.0“); an
    /// unknown one keeps its id. Catalogue keys have no dots, so `.` becomes `_`.
    func licence(_ id: String) -> String {
        catalog["web.licences." + id.replacingOccurrences(of: ".", with: "_")] ?? id
    }

    /// 2. März 2026 / 2 March 2026.
    func date(_ date: Date) -> String { format(date, language == "de" ? "d. MMMM yyyy" : "d MMMM yyyy") }

    /// The last day of a period that ends at `exclusiveEnd` (an access end is the start of the day after
    /// the date the requester chose, as the API reads a date).
    func lastDay(_ exclusiveEnd: Date) -> String { date(exclusiveEnd.addingTimeInterval(-1)) }

    /// 2. März 2026, 09:30 Uhr / 2 March 2026, 09:30.
    func dateTime(_ date: Date) -> String {
        format(date, language == "de" ? "d. MMMM yyyy, HH:mm 'Uhr'" : "d MMMM yyyy, HH:mm")
    }

    /// yyyy-MM-dd in Berlin, as `<input type="date">` wants it.
    static func inputDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = berlin
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: date)
    }

    static let berlin = TimeZone(identifier: "Europe/Berlin")!

    /// One formatter per language and pattern for the whole process: making a `DateFormatter` sets up
    /// an ICU formatter (about 0.2 ms), which was 42 % of an inbox page with 500 rows (`make bench-web`).
    /// Formatting runs under the lock, so the non-Sendable formatters are never shared between threads.
    private static let formatters = Mutex<[String: DateFormatter]>([:])

    private func format(_ date: Date, _ pattern: String) -> String {
        let key = language + "|" + pattern
        let language = language
        return Self.formatters.withLock { cache in
            if let formatter = cache[key] { return formatter.string(from: date) }
            let formatter = DateFormatter()
            formatter.calendar = Calendar(identifier: .gregorian)
            formatter.locale = Locale(identifier: language == "de" ? "de_DE" : "en_GB")
            formatter.timeZone = Self.berlin
            formatter.dateFormat = pattern
            cache[key] = formatter
            return formatter.string(from: date)
        }
    }
}
