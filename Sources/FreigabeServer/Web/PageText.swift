import Foundation
import WorkflowEngine

/// The texts of one page in one language: catalogue keys, the workflow's own texts, dates as people
/// in a German city hall write them (Europe/Berlin).
struct PageText: Sendable {
    let catalog: StringCatalog

    var language: String { catalog.language }

    /// The text under `web.<key>`, with `{placeholders}` filled; the key itself when it is missing, which
    /// a test rules out for every key the code uses.
    func callAsFunction(_ key: String, _ arguments: [String: String] = [:]) -> String {
        Placeholders.fill(catalog["web." + key] ?? "web." + key, arguments)
    }

    func callAsFunction(_ text: UserText) -> String { text.resolved(in: catalog) }

    /// The text under `web.<key>` for `count` things, `{count}` filled: `<key>_one` for one („1 Antrag
    /// wartet“), `<key>` otherwise („2 Anträge warten“); German and English both need no more forms.
    func counted(_ key: String, _ count: Int) -> String {
        self(count == 1 ? key + "_one" : key, ["count": String(count)])
    }

    func callAsFunction(_ text: LocalizedText) -> String { language == "de" ? text.de : text.en ?? text.de }

    /// A step's title, with the part of a step of parallel branches when one is meant („Rechtliche Prüfung
    /// – Datenschutz“), so the DSB, the ISB and the governance office each read which part is theirs: the
    /// mails, the decision link page and the start page name a part so.
    func stepTitle(_ step: LocalizedText, part: LocalizedText?) -> String {
        part.map { self(step) + " – " + self($0) } ?? self(step)
    }

    /// A role's name (`dsb` → „Datenschutzbeauftragte/r“); a custom role of a workflow keeps its id.
    func role(_ id: String) -> String { catalog["web.roles.\(id)"] ?? id }

    /// What a role looks at, in a sentence, for the start page's "Wer entscheidet?"; empty for a role
    /// without one (a test holds every built-in role to having one).
    func roleDuty(_ id: String) -> String { catalog["web.start.duties.\(id)"] ?? "" }

    /// Why a step was skipped, in a few words: the request view's code, which is also the code the engine
    /// logs as the `step_skipped` event's comment (``SkipReason``). The one mapping
    /// for the request page, the auditors' log and the Verfahrensakte.
    func skipReason(_ reason: SkipReason) -> String {
        catalog["web.timeline.skip.\(reason.rawValue)"] ?? reason.rawValue
    }

    /// A licence's name (``StringCatalog/licenceName(_:)``).
    func licence(_ id: String) -> String { catalog.licenceName(id) }

    /// 2. März 2026 / 2 March 2026.
    func date(_ date: Date) -> String { catalog.format(date, .day) }

    /// 12.03.2036 / 12 March 2036: a date in running text where the day matters more than the month's name.
    func shortDate(_ date: Date) -> String { catalog.format(date, .shortDay) }

    /// The last day of a period that ends at `exclusiveEnd`: an access end is the start of the day after
    /// the date the requester chose (as the API reads a date), a step's deadline the midnight that closes
    /// its last working day (`WorkingDayCalendar.deadline`). Shown as that midnight's date, a deadline
    /// ending Friday would read as Saturday.
    func lastDay(_ exclusiveEnd: Date) -> String { UserText.Argument.lastDay(exclusiveEnd).resolved(in: catalog) }

    /// The start of a period (access, deputyship): its day when it starts at a midnight (a date from the
    /// form), else the moment itself (the JSON API takes one).
    func periodStart(_ start: Date) -> String { BerlinDates.isMidnight(start) ? date(start) : dateTime(start) }

    /// The end of a period (access, deputyship) that ends at `end`, exclusive: its last day when it ends at a
    /// midnight (a date from the form), else the moment itself, so that the page says what the mail says.
    func periodEnd(_ end: Date) -> String { BerlinDates.isMidnight(end) ? lastDay(end) : dateTime(end) }

    /// 2. März 2026 um 09:30 Uhr / 2 March 2026 at 09:30, as mails and API messages write it.
    func dateTime(_ date: Date) -> String { catalog.format(date, .time) }

    /// yyyy-MM-dd in Berlin, as `<input type="date">` wants it.
    static func inputDate(_ date: Date) -> String {
        BerlinDates.format(date, pattern: "yyyy-MM-dd", locale: "en_US_POSIX")
    }
}
