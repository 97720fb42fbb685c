import Foundation
import Synchronization

/// Dates as people in the city read them: Europe/Berlin, Gregorian, in a locale and pattern.
///
/// One formatter per locale and pattern for the whole process: making a `DateFormatter` sets up an ICU
/// formatter (about 0.2 ms), which was 42 % of an inbox page with 500 rows (`make bench-web`). Pages,
/// mails and API messages all format through here. Formatting runs under the lock, so the non-Sendable
/// formatters are never shared between threads.
enum BerlinDates {
    static let timeZone = TimeZone(identifier: "Europe/Berlin")!

    private static let formatters = Mutex<[String: DateFormatter]>([:])

    /// `date` in `pattern` (`DateFormatter` syntax) for `locale` (e.g. `de_DE`, `en_US_POSIX`).
    static func format(_ date: Date, pattern: String, locale: String) -> String {
        let key = locale + "|" + pattern
        return formatters.withLock { cache in
            if let formatter = cache[key] { return formatter.string(from: date) }
            let formatter = DateFormatter()
            formatter.calendar = Calendar(identifier: .gregorian)
            formatter.locale = Locale(identifier: locale)
            formatter.timeZone = timeZone
            formatter.dateFormat = pattern
            cache[key] = formatter
            return formatter.string(from: date)
        }
    }
}
