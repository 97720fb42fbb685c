import Foundation
import Synchronization

/// Dates as people in the city read them: Europe/Berlin, Gregorian, in a locale and pattern.
///
/// One formatter per locale and pattern for the whole process: making a `DateFormatter` sets up an ICU
/// formatter (about 0.2 ms), which was 42 % of an inbox page with 500 rows (`make bench-web`). Pages,
/// mails and API messages all format through here. Formatting runs under the lock, so the non-Sendable
/// formatters are never shared between threads.
///
/// The texts made are kept too, by exact date: the same dates come back on every view of a page (an
/// inbox's deadlines, a request's timeline as each approver opens it), and ICU's formatting was 2–3 %
/// of such a page's CPU (`make bench-web`). At most ``keptTexts`` are kept; then they are all dropped.
enum BerlinDates {
    static let timeZone = TimeZone(identifier: "Europe/Berlin")!

    /// The Gregorian calendar in Berlin, for "n days later" as people count days across a clock change.
    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }()

    /// Bounds the memory of the kept texts (about 100 bytes each).
    static let keptTexts = 8192

    /// A formatter's settings: compared field by field, no key text built per call.
    private struct Format: Hashable {
        var locale: String
        var pattern: String
    }

    private struct Formatted: Hashable {
        var format: Format
        var date: Date
    }

    private struct State {
        var formatters: [Format: DateFormatter] = [:]
        var texts: [Formatted: String] = [:]
    }

    private static let state = Mutex(State())

    /// Whether `date` is a midnight in Berlin: the end of a period of whole days, as a date given without
    /// a time is read. Any other end is a moment (the JSON API takes one) and is shown with its time.
    static func isMidnight(_ date: Date) -> Bool {
        format(date, pattern: "HH:mm:ss.SSS", locale: "en_US_POSIX") == "00:00:00.000"
    }

    /// `date` in `pattern` (`DateFormatter` syntax) for `locale` (e.g. `de_DE`, `en_US_POSIX`).
    static func format(_ date: Date, pattern: String, locale: String) -> String {
        let key = Formatted(format: Format(locale: locale, pattern: pattern), date: date)
        return state.withLock { state in
            if let text = state.texts[key] { return text }
            let formatter: DateFormatter
            if let existing = state.formatters[key.format] {
                formatter = existing
            } else {
                formatter = DateFormatter()
                formatter.calendar = Calendar(identifier: .gregorian)
                formatter.locale = Locale(identifier: locale)
                formatter.timeZone = timeZone
                formatter.dateFormat = pattern
                state.formatters[key.format] = formatter
            }
            let text = formatter.string(from: date)
            if state.texts.count >= keptTexts { state.texts.removeAll(keepingCapacity: true) }
            state.texts[key] = text
            return text
        }
    }
}
