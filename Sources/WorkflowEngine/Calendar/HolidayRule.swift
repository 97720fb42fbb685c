/// One holiday of German law as data: when it falls in a year, and in which states from which year on.
/// Keeping the law in a table (see `PublicHolidays.rules`) makes each change of a state's law a one-line
/// edit that can be checked against the statute.
struct HolidayRule: Sendable {
    /// How the day is found in a given year.
    enum Timing: Sendable {
        case fixed(month: Int, day: Int)
        /// Days after Easter Sunday (negative: before).
        case easter(offset: Int)
        /// The last Wednesday strictly before the given day (Buß- und Bettag: before 23 November).
        case wednesdayBefore(month: Int, day: Int)
    }

    /// The states that observe the holiday during a span of years.
    struct Observance: Sendable {
        let states: Set<GermanState>
        let years: ClosedRange<Int>

        /// In every state, in every year.
        static let everywhere = Observance(states: Set(GermanState.allCases), years: .min ... .max)

        static func states(_ states: Set<GermanState>) -> Observance {
            Observance(states: states, years: .min ... .max)
        }

        /// From `year` on, i.e. since the law that introduced it.
        static func states(_ states: Set<GermanState>, since year: Int) -> Observance {
            Observance(states: states, years: year ... .max)
        }

        /// In that single year only (jubilees enacted as one-off holidays).
        static func states(_ states: Set<GermanState>, onlyIn year: Int) -> Observance {
            Observance(states: states, years: year...year)
        }
    }

    let name: String
    let timing: Timing
    let observances: [Observance]

    func isObserved(in year: Int, state: GermanState) -> Bool {
        observances.contains { $0.years.contains(year) && $0.states.contains(state) }
    }

    func date(in year: Int) -> CivilDate {
        switch timing {
        case .fixed(let month, let day):
            return CivilDate(unchecked: year, month, day)
        case .easter(let offset):
            return PublicHolidays.easterSunday(year: year).adding(days: offset)
        case .wednesdayBefore(let month, let day):
            let reference = CivilDate(unchecked: year, month, day)
            let sinceWednesday = (reference.weekday.rawValue - Weekday.wednesday.rawValue + 7) % 7
            return reference.adding(days: -(sinceWednesday == 0 ? 7 : sinceWednesday))
        }
    }
}
