import Foundation
import Testing
import WorkflowEngine

@Suite("Working-day calendar")
struct WorkingDayCalendarTests {
    /// One "n Arbeitstage" case. Instants are written in UTC; in Europe/Berlin local midnight is 23:00Z in
    /// winter (CET) and 22:00Z in summer (CEST).
    struct DeadlineCase: Sendable, CustomTestStringConvertible {
        let label: String
        let state: GermanState
        let start: String
        let workingDays: Int
        let expected: String
        var testDescription: String { label }
    }

    static let deadlineCases: [DeadlineCase] = [
        // Gründonnerstag 2 April 2026, 10:00 local; Karfreitag and Ostermontag are skipped:
        // Tue 7, Wed 8, Thu 9, Fri 10, Mon 13.
        DeadlineCase(
            label: "Hessen, Thursday before Easter", state: .hessen, start: "2026-04-02T08:00:00Z",
            workingDays: 5, expected: "2026-04-13T22:00:00Z"),
        // 24 and 31 December are working days: Thu 24, Mon 28, Tue 29, Wed 30, Thu 31.
        DeadlineCase(
            label: "Bayern, over Christmas", state: .bayern, start: "2026-12-23T08:00:00Z", workingDays: 5,
            expected: "2026-12-31T23:00:00Z"),
        // Wed 30, Thu 31, (Neujahr), Mon 4, Tue 5, (Heilige Drei Könige), Thu 7.
        DeadlineCase(
            label: "Bayern, over New Year and Epiphany", state: .bayern, start: "2026-12-29T08:00:00Z",
            workingDays: 5, expected: "2027-01-07T23:00:00Z"),
        // The same in Berlin, where 6 January is a working day.
        DeadlineCase(
            label: "Berlin, over New Year", state: .berlin, start: "2026-12-29T08:00:00Z", workingDays: 5,
            expected: "2027-01-06T23:00:00Z"),
        // Wednesday 3 June 2026; Fronleichnam is Thursday 4 June, a holiday in NRW only:
        // NRW Fri 5, Mon 8, Tue 9, Wed 10, Thu 11; Niedersachsen Thu 4 … Wed 10.
        DeadlineCase(
            label: "Nordrhein-Westfalen, over Fronleichnam", state: .nordrheinWestfalen,
            start: "2026-06-03T07:00:00Z", workingDays: 5, expected: "2026-06-11T22:00:00Z"),
        DeadlineCase(
            label: "Niedersachsen, same dates", state: .niedersachsen, start: "2026-06-03T07:00:00Z",
            workingDays: 5, expected: "2026-06-10T22:00:00Z"),
        // The local day decides: 00:30 on Wednesday local is still Tuesday in UTC.
        DeadlineCase(
            label: "Niedersachsen, start just after local midnight", state: .niedersachsen,
            start: "2026-06-02T22:30:00Z", workingDays: 5, expected: "2026-06-10T22:00:00Z"),
        DeadlineCase(
            label: "Niedersachsen, start just before local midnight", state: .niedersachsen,
            start: "2026-06-02T21:30:00Z", workingDays: 5, expected: "2026-06-09T22:00:00Z"),
        // Clocks go forward on Sunday 29 March 2026: the start is in CET, the deadline (end of Mon 30) in CEST.
        DeadlineCase(
            label: "Berlin, across the March clock change", state: .berlin, start: "2026-03-27T11:00:00Z",
            workingDays: 1, expected: "2026-03-30T22:00:00Z"),
        DeadlineCase(
            label: "Berlin, five days across the March clock change", state: .berlin,
            start: "2026-03-26T11:00:00Z", workingDays: 5, expected: "2026-04-02T22:00:00Z"),
        // Clocks go back on Sunday 25 October 2026: start in CEST, deadline (end of Mon 26) in CET.
        DeadlineCase(
            label: "Sachsen, across the October clock change", state: .sachsen, start: "2026-10-22T10:00:00Z",
            workingDays: 2, expected: "2026-10-26T23:00:00Z"),
        // Reformationstag falls on Saturday 31 October 2026 and changes nothing: Fri 30, Mon 2 … Thu 5.
        DeadlineCase(
            label: "Sachsen, Reformationstag on a Saturday", state: .sachsen, start: "2026-10-29T10:00:00Z",
            workingDays: 5, expected: "2026-11-05T23:00:00Z"),
        // Buß- und Bettag, Wednesday 18 November 2026, in Sachsen only: Tue 17, Thu 19, Fri 20.
        DeadlineCase(
            label: "Sachsen, over Buß- und Bettag", state: .sachsen, start: "2026-11-16T09:00:00Z",
            workingDays: 3, expected: "2026-11-20T23:00:00Z"),
        DeadlineCase(
            label: "Bayern, same dates", state: .bayern, start: "2026-11-16T09:00:00Z", workingDays: 3,
            expected: "2026-11-19T23:00:00Z"),
        // Saturday 3 January 2026: counting starts with Monday 5 (day 1); Tuesday 6 is Epiphany in BW.
        DeadlineCase(
            label: "Baden-Württemberg, start on a Saturday", state: .badenWuerttemberg,
            start: "2026-01-03T09:00:00Z", workingDays: 2, expected: "2026-01-07T23:00:00Z"),
        DeadlineCase(
            label: "Baden-Württemberg, start on the Friday before", state: .badenWuerttemberg,
            start: "2026-01-02T09:00:00Z", workingDays: 2, expected: "2026-01-07T23:00:00Z"),
        // Started on a holiday: Ostermontag and Karfreitag 2026 both count from Tuesday 7 April.
        DeadlineCase(
            label: "Hessen, start on Ostermontag", state: .hessen, start: "2026-04-06T08:00:00Z", workingDays: 1,
            expected: "2026-04-07T22:00:00Z"),
        DeadlineCase(
            label: "Hessen, start on Karfreitag", state: .hessen, start: "2026-04-03T08:00:00Z", workingDays: 1,
            expected: "2026-04-07T22:00:00Z"),
        // Berlin's Frauentag, Monday 8 March 2027: Fri 5 → Tue 9.
        DeadlineCase(
            label: "Berlin, over Frauentag", state: .berlin, start: "2027-03-05T09:00:00Z", workingDays: 1,
            expected: "2027-03-09T23:00:00Z"),
        DeadlineCase(
            label: "Hamburg, same dates", state: .hamburg, start: "2027-03-05T09:00:00Z", workingDays: 1,
            expected: "2027-03-08T23:00:00Z"),
    ]

    @Test("Deadlines", arguments: deadlineCases)
    func deadline(_ example: DeadlineCase) {
        let calendar = WorkingDayCalendar(state: example.state)
        let deadline = calendar.deadline(
            addingWorkingDays: example.workingDays, to: CalendarFixtures.instant(example.start))
        #expect(CalendarFixtures.utc(deadline) == example.expected)
    }

    /// The law knows no holiday on 24 and 31 December, but the offices close (TVöD § 6 (3)), and some
    /// cities close on a local holiday: an approver asked on 23 December works on 28–30 December only.
    @Test("closed days: 24 and 31 December, a local holiday; the law's holidays stay")
    func closedDays() throws {
        let start = CalendarFixtures.instant("2026-12-23T08:00:00Z")
        let offices = WorkingDayCalendar(state: .bayern, closedDays: ClosedDay.christmasAndNewYearsEve)
        // Mon 28, Tue 29, Wed 30, (Neujahr), Mon 4, Tue 5 — 6 January is Heilige Drei Könige in Bavaria.
        #expect(CalendarFixtures.utc(offices.deadline(addingWorkingDays: 5, to: start)) == "2027-01-05T23:00:00Z")
        #expect(!offices.isWorkingDay(CalendarFixtures.day("2026-12-24")))
        #expect(offices.isWorkingDay(CalendarFixtures.day("2026-12-23")))
        #expect(offices != WorkingDayCalendar(state: .bayern), "closed days are part of what the calendar is")
        // The example of Workflows/README.md, in Hessen: deadline Tuesday 5 January, reminder two working
        // days before at the end of Wednesday 30 December.
        let hessen = WorkingDayCalendar(state: .hessen, closedDays: ClosedDay.christmasAndNewYearsEve)
        let deadline = hessen.deadline(addingWorkingDays: 5, to: start)
        #expect(CalendarFixtures.utc(deadline) == "2027-01-05T23:00:00Z")
        #expect(
            CalendarFixtures.utc(hessen.reminderDate(deadline: deadline, workingDaysBefore: 2))
                == "2026-12-30T23:00:00Z")
        // Munich closes on Mariä Himmelfahrt, Tuesday 15 August 2028: five days from Thursday 10 August end
        // Friday 18 August, not Thursday 17.
        let munich = WorkingDayCalendar(state: .bayern, closedDays: [try #require(ClosedDay("08-15"))])
        let august = CalendarFixtures.instant("2028-08-10T08:00:00Z")
        #expect(CalendarFixtures.utc(munich.deadline(addingWorkingDays: 5, to: august)) == "2028-08-18T22:00:00Z")
        #expect(
            CalendarFixtures.utc(WorkingDayCalendar(state: .bayern).deadline(addingWorkingDays: 5, to: august))
                == "2028-08-17T22:00:00Z")
        // The setting's spelling: two digits each; no day that no year has.
        #expect(ClosedDay("12-24") == ClosedDay(month: 12, day: 24))
        #expect(ClosedDay("02-29")?.description == "02-29")
        for hostile in ["12-32", "13-01", "00-10", "2-29", "12-24-", "12.24", "", "--", "+1-01", "02-30", "１２-２４"] {
            #expect(ClosedDay(hostile) == nil, "\(hostile)")
        }
    }

    @Test("A deadline is local midnight, not a multiple of 24 hours after the start's midnight")
    func daylightSavingTime() {
        let calendar = WorkingDayCalendar(state: .berlin)
        let friday = calendar.startOfDay(CalendarFixtures.day("2026-03-27"))
        let deadline = calendar.deadline(addingWorkingDays: 1, to: friday)
        // Friday to Tuesday midnight is four days, of which Sunday has only 23 hours.
        #expect(deadline.timeIntervalSince(friday) == 4 * 86_400 - 3_600)
        var local = Calendar(identifier: .gregorian)
        local.timeZone = CalendarFixtures.berlin
        let components = local.dateComponents([.year, .month, .day, .hour, .minute, .second], from: deadline)
        #expect(components == DateComponents(year: 2026, month: 3, day: 31, hour: 0, minute: 0, second: 0))

        let autumnStart = calendar.startOfDay(CalendarFixtures.day("2026-10-23"))
        let autumnDeadline = calendar.deadline(addingWorkingDays: 1, to: autumnStart)
        #expect(autumnDeadline.timeIntervalSince(autumnStart) == 4 * 86_400 + 3_600)
    }

    @Test("Working days")
    func workingDays() {
        let hessen = WorkingDayCalendar(state: .hessen)
        #expect(hessen.isWorkingDay(CalendarFixtures.day("2026-04-02")))
        #expect(!hessen.isWorkingDay(CalendarFixtures.day("2026-04-03")))  // Karfreitag
        #expect(!hessen.isWorkingDay(CalendarFixtures.day("2026-04-04")))  // Saturday
        #expect(!hessen.isWorkingDay(CalendarFixtures.day("2026-04-05")))  // Sunday
        #expect(!hessen.isWorkingDay(CalendarFixtures.day("2026-06-04")))  // Fronleichnam
        #expect(WorkingDayCalendar(state: .niedersachsen).isWorkingDay(CalendarFixtures.day("2026-06-04")))
        // Heiligabend and Silvester 2026 are Thursdays and legally working days.
        #expect(hessen.isWorkingDay(CalendarFixtures.day("2026-12-24")))
        #expect(hessen.isWorkingDay(CalendarFixtures.day("2026-12-31")))
    }

    @Test(
        "The local day of an instant",
        arguments: [
            ("2026-04-02T21:59:59Z", "2026-04-02"), ("2026-04-02T22:00:00Z", "2026-04-03"),
            ("2026-01-01T22:59:59Z", "2026-01-01"), ("2026-01-01T23:00:00Z", "2026-01-02"),
            ("2026-03-29T00:59:59Z", "2026-03-29"), ("2026-10-25T22:59:59Z", "2026-10-25"),
        ])
    func civilDateOfInstant(instant: String, expected: String) {
        let calendar = WorkingDayCalendar(state: .bayern)
        #expect(calendar.civilDate(of: CalendarFixtures.instant(instant)) == CalendarFixtures.day(expected))
    }

    @Test("Another time zone moves the midnights")
    func otherTimeZone() {
        let utc = WorkingDayCalendar(state: .hessen, timeZone: TimeZone(identifier: "UTC")!)
        let deadline = utc.deadline(addingWorkingDays: 5, to: CalendarFixtures.instant("2026-04-02T08:00:00Z"))
        #expect(CalendarFixtures.utc(deadline) == "2026-04-14T00:00:00Z")
        #expect(utc != WorkingDayCalendar(state: .hessen))
        #expect(
            WorkingDayCalendar(state: .hessen) == WorkingDayCalendar(state: .hessen, timeZone: CalendarFixtures.berlin))
        #expect(WorkingDayCalendar(state: .hessen) != WorkingDayCalendar(state: .bayern))
    }

    @Test(
        "Reminders",
        arguments: [
            // Deadline end of Monday 13 April 2026 (Hessen).
            ("2026-04-13T22:00:00Z", 0, "2026-04-13T22:00:00Z"),
            ("2026-04-13T22:00:00Z", 1, "2026-04-10T22:00:00Z"),
            ("2026-04-13T22:00:00Z", 2, "2026-04-09T22:00:00Z"),
            // Deadline end of Tuesday 7 April: one working day before skips Ostermontag, the weekend and
            // Karfreitag.
            ("2026-04-07T22:00:00Z", 1, "2026-04-02T22:00:00Z"),
            // Deadline end of Monday 30 March (CEST): the reminder, end of Friday 27, is in CET.
            ("2026-03-30T22:00:00Z", 1, "2026-03-27T23:00:00Z"),
            // A deadline that is not a midnight belongs to the day it falls on (Monday 13 April, noon).
            ("2026-04-13T10:00:00Z", 1, "2026-04-10T22:00:00Z"),
        ])
    func reminder(deadline: String, before: Int, expected: String) {
        let calendar = WorkingDayCalendar(state: .hessen)
        let reminder = calendar.reminderDate(deadline: CalendarFixtures.instant(deadline), workingDaysBefore: before)
        #expect(CalendarFixtures.utc(reminder) == expected)
    }

    @Test(
        "Working days elapsed",
        arguments: [
            // Hessen, Gründonnerstag 10:00 → Tuesday after Easter 09:00: only Tuesday has begun.
            (GermanState.hessen, "2026-04-02T08:00:00Z", "2026-04-07T07:00:00Z", 1),
            (.hessen, "2026-04-02T08:00:00Z", "2026-04-02T20:00:00Z", 0),  // same day
            (.hessen, "2026-04-07T08:00:00Z", "2026-04-02T08:00:00Z", 0),  // end before start
            // Over Christmas and New Year: BY loses 6 January, BE does not.
            (.bayern, "2026-12-23T08:00:00Z", "2027-01-07T08:00:00Z", 8),
            (.berlin, "2026-12-23T08:00:00Z", "2027-01-07T08:00:00Z", 9),
            // Across the October clock change, Thursday → Monday 23:30 local (CET).
            (.sachsen, "2026-10-22T10:00:00Z", "2026-10-26T22:30:00Z", 2),
        ])
    func elapsed(state: GermanState, start: String, end: String, expected: Int) {
        let calendar = WorkingDayCalendar(state: state)
        let count = calendar.workingDaysElapsed(
            from: CalendarFixtures.instant(start), to: CalendarFixtures.instant(end))
        #expect(count == expected)
    }

    @Test(
        "Deadlines, reminders and elapsed days agree, for a start on every day of 2026", arguments: GermanState.allCases
    )
    func consistency(state: GermanState) {
        let calendar = WorkingDayCalendar(state: state)
        var day = CalendarFixtures.day("2026-01-01")
        while day.year == 2026 {
            // 09:30 local on that day.
            let start = calendar.startOfDay(day).addingTimeInterval(9.5 * 3_600)
            let deadline = calendar.deadline(addingWorkingDays: 5, to: start)
            let closedDay = calendar.civilDate(of: deadline.addingTimeInterval(-1))
            #expect(calendar.isWorkingDay(closedDay), "\(state) \(day)")
            #expect(calendar.endOfDay(closedDay) == deadline)
            #expect(calendar.workingDaysElapsed(from: start, to: deadline.addingTimeInterval(-1)) == 5)
            for before in 1..<5 {
                #expect(
                    calendar.reminderDate(deadline: deadline, workingDaysBefore: before)
                        == calendar.deadline(addingWorkingDays: 5 - before, to: start), "\(state) \(day) \(before)")
            }
            day = day.adding(days: 1)
        }
    }
}
