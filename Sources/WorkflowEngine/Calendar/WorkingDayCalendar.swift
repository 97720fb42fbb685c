import Foundation

/// Counts working days (Arbeitstage) in one German state and turns them into instants in one time zone.
///
/// A working day is Monday to Friday unless it is a public holiday of the state (`PublicHolidays`) or a
/// day the city's offices close every year (``ClosedDay``: 24 and 31 December for most, a local holiday
/// for some). Days are `CivilDate`s; a deadline is the local
/// midnight that ends a day. Instants are converted with a Gregorian `Calendar` in `timeZone`, never by
/// adding multiples of 86 400 seconds: the days of the clock changes in March and October are 23 and
/// 25 hours long, and a deadline must still land on midnight.
public struct WorkingDayCalendar: Sendable, Hashable {
    public let state: GermanState
    /// The zone whose midnights close the days; the municipality's, i.e. Europe/Berlin in practice.
    public let timeZone: TimeZone
    /// Days of every year on which the offices are closed besides the state's holidays.
    public let closedDays: Set<ClosedDay>

    /// Derived from `timeZone`; kept so that day conversions do not build a new `Calendar` each time.
    private let calendar: Calendar

    public init(
        state: GermanState, closedDays: Set<ClosedDay> = [], timeZone: TimeZone = TimeZone(identifier: "Europe/Berlin")!
    ) {
        self.state = state
        self.closedDays = closedDays
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    // Equality and hashing are exactly (state, closed days, timeZone); `calendar` follows from them.
    public static func == (lhs: WorkingDayCalendar, rhs: WorkingDayCalendar) -> Bool {
        lhs.state == rhs.state && lhs.closedDays == rhs.closedDays && lhs.timeZone == rhs.timeZone
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(state)
        hasher.combine(closedDays)
        hasher.combine(timeZone)
    }

    public func isWorkingDay(_ date: CivilDate) -> Bool {
        !date.weekday.isWeekend && !PublicHolidays.isHoliday(date, in: state)
            && !closedDays.contains { $0.falls(on: date) }
    }

    /// The local calendar day, in `timeZone`, on which `instant` falls.
    public func civilDate(of instant: Date) -> CivilDate {
        let components = calendar.dateComponents([.year, .month, .day], from: instant)
        return CivilDate(unchecked: components.year!, components.month!, components.day!)
    }

    /// The first instant of `date` in `timeZone` (local midnight).
    public func startOfDay(_ date: CivilDate) -> Date {
        // Noon exists on every day in every zone; `startOfDay(for:)` then finds the day's first instant
        // even in zones whose clock change skips midnight itself.
        let noon = calendar.date(from: DateComponents(year: date.year, month: date.month, day: date.day, hour: 12))!
        return calendar.startOfDay(for: noon)
    }

    /// The local midnight that ends `date`: the first instant of the next day.
    public func endOfDay(_ date: CivilDate) -> Date {
        startOfDay(date.adding(days: 1))
    }

    /// The deadline of a period of `workingDays` that starts at `start`: the END (local midnight that
    /// closes it, as an instant) of the n-th working day after the local day of `start`.
    ///
    /// As in § 187 (1) BGB the day of the event itself is not counted, whatever the time of day. A start
    /// on a weekend or holiday therefore counts from the next working day, which is day 1: a request
    /// filed on Saturday has the same deadline as one filed on the Friday before.
    /// - Precondition: `n >= 1`; a workflow definition with a shorter period is invalid.
    public func deadline(addingWorkingDays n: Int, to start: Date) -> Date {
        precondition(n >= 1, "A period must have at least one working day, got \(n)")
        return endOfDay(workingDay(n, after: civilDate(of: start)))
    }

    /// Working days that have fully or partly passed between two instants (for "seit 3 Arbeitstagen"):
    /// the count of working days d with startDay < d <= endDay, local days in `timeZone`. The day of
    /// `start` is not counted, consistent with `deadline`: just before `deadline(addingWorkingDays: n,
    /// to: start)` exactly n have passed. Zero if `end` is not on a later day than `start`.
    public func workingDaysElapsed(from start: Date, to end: Date) -> Int {
        let startDay = civilDate(of: start)
        let endDay = civilDate(of: end)
        var count = 0
        var day = startDay.adding(days: 1)
        while day <= endDay {
            if isWorkingDay(day) { count += 1 }
            day = day.adding(days: 1)
        }
        return count
    }

    /// When to remind an approver: the end of the working day that lies `workingDaysBefore` working days
    /// before the deadline's day. The deadline's day is the one the deadline closes (a deadline at
    /// midnight belongs to the day before it). With 0 the deadline itself is returned.
    ///
    /// Example: deadline at the end of Friday, 1 working day before → end of Thursday, so the approver
    /// still has all of Friday.
    /// - Precondition: `workingDaysBefore >= 0`.
    public func reminderDate(deadline: Date, workingDaysBefore: Int) -> Date {
        precondition(workingDaysBefore >= 0, "Cannot remind \(workingDaysBefore) working days before")
        guard workingDaysBefore > 0 else { return deadline }
        return endOfDay(workingDay(workingDaysBefore, before: dayClosed(by: deadline)))
    }

    // MARK: - Helpers

    /// The local day a deadline belongs to: the day it ends if it is a midnight, else the day it falls on.
    private func dayClosed(by deadline: Date) -> CivilDate {
        let day = civilDate(of: deadline)
        return startOfDay(day) == deadline ? day.adding(days: -1) : day
    }

    /// The `count`-th working day strictly after `day`.
    private func workingDay(_ count: Int, after day: CivilDate) -> CivilDate {
        step(count, from: day, by: 1)
    }

    /// The `count`-th working day strictly before `day`.
    private func workingDay(_ count: Int, before day: CivilDate) -> CivilDate {
        step(count, from: day, by: -1)
    }

    private func step(_ count: Int, from day: CivilDate, by direction: Int) -> CivilDate {
        var day = day
        var remaining = count
        while remaining > 0 {
            day = day.adding(days: direction)
            if isWorkingDay(day) { remaining -= 1 }
        }
        return day
    }
}
