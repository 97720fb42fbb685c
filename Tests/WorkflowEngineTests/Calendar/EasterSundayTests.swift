import Testing
import WorkflowEngine

@Suite("Easter Sunday")
struct EasterSundayTests {
    // Published Easter dates, including the extremes 23 March (2008, 2160) and 25 April (2038) and the
    // century years where the Gregorian corrections change (2000, 2100, 2200).
    @Test(
        "Known dates",
        arguments: [
            (1995, "1995-04-16"), (2000, "2000-04-23"), (2008, "2008-03-23"), (2011, "2011-04-24"),
            (2019, "2019-04-21"), (2024, "2024-03-31"), (2025, "2025-04-20"), (2026, "2026-04-05"),
            (2027, "2027-03-28"), (2038, "2038-04-25"), (2049, "2049-04-18"), (2100, "2100-03-28"),
            (2160, "2160-03-23"), (2200, "2200-04-06"), (2285, "2285-03-22"),
        ])
    func knownDates(year: Int, expected: String) {
        #expect(PublicHolidays.easterSunday(year: year) == CalendarFixtures.day(expected))
    }

    @Test("Always a Sunday between 22 March and 25 April")
    func alwaysInRange() {
        let earliest = (month: 3, day: 22)
        let latest = (month: 4, day: 25)
        for year in PublicHolidays.supportedYears {
            let easter = PublicHolidays.easterSunday(year: year)
            #expect(easter.weekday == .sunday, "\(easter)")
            #expect(easter.year == year)
            #expect((easter.month, easter.day) >= earliest && (easter.month, easter.day) <= latest, "\(easter)")
        }
    }
}
