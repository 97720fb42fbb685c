/// A day of every year on which the city's offices are closed although the law knows no holiday: 24 and
/// 31 December for employers under TVöD § 6 (3), a local holiday such as Mariä Himmelfahrt in Munich or
/// the Augsburger Friedensfest. Counted as no working day in deadlines (``WorkingDayCalendar``).
public struct ClosedDay: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let month: Int
    public let day: Int

    /// Nil unless some year has this day (29 February does).
    public init?(month: Int, day: Int) {
        guard (1...12).contains(month),
            let last = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31].dropFirst(month - 1).first,
            (1...last).contains(day)
        else { return nil }
        self.month = month
        self.day = day
    }

    /// `MM-DD`, as the setting writes it (`12-24`); nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let month = Int(parts[0]), let day = Int(parts[1])
        else { return nil }
        self.init(month: month, day: day)
    }

    /// The days most municipal employers close (TVöD § 6 (3)): 24 and 31 December.
    public static let christmasAndNewYearsEve: Set<ClosedDay> = [
        ClosedDay(month: 12, day: 24)!, ClosedDay(month: 12, day: 31)!,
    ]

    public func falls(on date: CivilDate) -> Bool { date.month == month && date.day == day }

    public var description: String {
        (month < 10 ? "0" : "") + String(month) + "-" + (day < 10 ? "0" : "") + String(day)
    }

    public static func < (lhs: ClosedDay, rhs: ClosedDay) -> Bool { (lhs.month, lhs.day) < (rhs.month, rhs.day) }
}
