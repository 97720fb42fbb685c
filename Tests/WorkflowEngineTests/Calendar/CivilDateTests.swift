import Foundation
import Testing
import WorkflowEngine

@Suite("CivilDate")
struct CivilDateTests {
    @Test(
        "Rejects days that do not exist",
        arguments: [
            (2026, 2, 30), (2025, 2, 29), (2100, 2, 29), (2026, 4, 31), (2026, 13, 1), (2026, 0, 1),
            (2026, 1, 0), (2026, 1, 32), (0, 1, 1), (10_000, 1, 1), (-1, 6, 1),
        ])
    func rejectsInvalid(year: Int, month: Int, day: Int) {
        #expect(CivilDate(year: year, month: month, day: day) == nil)
    }

    @Test(
        "Accepts real days, including leap days",
        arguments: [(2024, 2, 29), (2000, 2, 29), (2026, 12, 31), (1, 1, 1), (9999, 12, 31), (2026, 4, 30)])
    func acceptsValid(year: Int, month: Int, day: Int) throws {
        let date = try #require(CivilDate(year: year, month: month, day: day))
        #expect(date.year == year && date.month == month && date.day == day)
    }

    @Test("ISO form round-trips", arguments: ["2026-04-05", "2024-02-29", "0001-01-01", "9999-12-31", "1995-10-03"])
    func isoRoundTrip(text: String) throws {
        let date = try #require(CivilDate(iso: text))
        #expect(date.description == text)
        #expect(CivilDate(iso: date.description) == date)
    }

    @Test(
        "ISO parser accepts only YYYY-MM-DD of a real day",
        arguments: [
            "2026-02-30", "2026-4-05", "20260405", "2026-04-05T00:00", "", "abcd-ef-gh", " 2026-04-05",
            "+026-04-05", "2026/04/05", "2026-04-5 ", "0000-01-01", "2026-1a-05",
        ])
    func isoRejects(text: String) {
        #expect(CivilDate(iso: text) == nil)
    }

    @Test(
        "Weekday",
        arguments: [
            ("2026-04-05", Weekday.sunday), ("1970-01-01", .thursday), ("1969-12-31", .wednesday),
            ("2000-02-29", .tuesday), ("1600-01-01", .saturday), ("2200-12-31", .wednesday),
            ("2026-11-18", .wednesday), ("2026-01-03", .saturday),
        ])
    func weekday(text: String, expected: Weekday) {
        #expect(CalendarFixtures.day(text).weekday == expected)
    }

    @Test(
        "Adding days crosses months, leap days and years",
        arguments: [
            ("2024-02-28", 1, "2024-02-29"), ("2024-02-28", 2, "2024-03-01"), ("2026-02-28", 1, "2026-03-01"),
            ("2026-12-31", 1, "2027-01-01"), ("2026-03-01", -1, "2026-02-28"), ("2026-01-01", -1, "2025-12-31"),
            ("2026-04-05", 0, "2026-04-05"), ("2026-04-05", 60, "2026-06-04"), ("2000-01-01", 146_097, "2400-01-01"),
            ("1970-01-01", -1, "1969-12-31"),
        ])
    func adding(start: String, days: Int, expected: String) {
        #expect(CalendarFixtures.day(start).adding(days: days) == CalendarFixtures.day(expected))
    }

    @Test("Day arithmetic and weekdays agree with Foundation's Gregorian calendar, 1995 to 2200")
    func agreesWithFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var day = CalendarFixtures.day("1995-01-01")
        var instant = calendar.date(from: DateComponents(year: 1995, month: 1, day: 1))!
        while day.year <= 2200 {
            let components = calendar.dateComponents([.year, .month, .day, .weekday], from: instant)
            // Foundation numbers weekdays Sunday = 1 … Saturday = 7.
            let foundationWeekday = (components.weekday! + 5) % 7 + 1
            guard
                components.year == day.year, components.month == day.month, components.day == day.day,
                foundationWeekday == day.weekday.rawValue
            else {
                Issue.record("Disagreement at \(day): Foundation says \(components)")
                return
            }
            day = day.adding(days: 11)
            instant = calendar.date(byAdding: .day, value: 11, to: instant)!
        }
    }

    @Test("Ordering follows the calendar")
    func ordering() {
        let days = ["2026-12-31", "2026-01-01", "2025-12-31", "2026-02-01", "2026-01-31"].map(CalendarFixtures.day)
        #expect(
            days.sorted().map(\.description) == ["2025-12-31", "2026-01-01", "2026-01-31", "2026-02-01", "2026-12-31"])
    }

    @Test("Codable as the ISO string")
    func codable() throws {
        let date = CalendarFixtures.day("2026-04-05")
        let data = try JSONEncoder().encode([date])
        #expect(String(decoding: data, as: UTF8.self) == #"["2026-04-05"]"#)
        #expect(try JSONDecoder().decode([CivilDate].self, from: data) == [date])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([CivilDate].self, from: Data(#"["2026-02-30"]"#.utf8))
        }
    }
}
