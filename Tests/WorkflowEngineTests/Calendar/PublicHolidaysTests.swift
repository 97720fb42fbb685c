import Testing
import WorkflowEngine

@Suite("Public holidays")
struct PublicHolidaysTests {
    private static let fronleichnamStates: Set<GermanState> = [
        .badenWuerttemberg, .bayern, .hessen, .nordrheinWestfalen, .rheinlandPfalz, .saarland,
    ]
    private static let reformationstagStates: Set<GermanState> = [
        .brandenburg, .mecklenburgVorpommern, .sachsen, .sachsenAnhalt, .thueringen,
        .bremen, .hamburg, .niedersachsen, .schleswigHolstein,
    ]

    private func dates(named name: String, in year: Int, state: GermanState) -> [CivilDate] {
        PublicHolidays.holidays(in: year, state: state).filter { $0.name == name }.map(\.date)
    }

    private func observes(_ name: String, in year: Int, state: GermanState) -> Bool {
        !dates(named: name, in: year, state: state).isEmpty
    }

    // 2026 against the official calendars (Easter Sunday 2026 is 5 April).
    @Test(
        "Movable holidays of 2026",
        arguments: [
            ("Karfreitag", GermanState.berlin, "2026-04-03"), ("Ostermontag", .hamburg, "2026-04-06"),
            ("Christi Himmelfahrt", .sachsen, "2026-05-14"), ("Pfingstmontag", .niedersachsen, "2026-05-25"),
            ("Fronleichnam", .bayern, "2026-06-04"), ("Buß- und Bettag", .sachsen, "2026-11-18"),
        ])
    func movable2026(name: String, state: GermanState, expected: String) {
        #expect(dates(named: name, in: 2026, state: state) == [CalendarFixtures.day(expected)])
    }

    @Test("The complete list for Bayern 2026")
    func bayern2026() {
        let expected = [
            ("2026-01-01", "Neujahr"), ("2026-01-06", "Heilige Drei Könige"), ("2026-04-03", "Karfreitag"),
            ("2026-04-06", "Ostermontag"), ("2026-05-01", "Tag der Arbeit"), ("2026-05-14", "Christi Himmelfahrt"),
            ("2026-05-25", "Pfingstmontag"), ("2026-06-04", "Fronleichnam"),
            ("2026-10-03", "Tag der Deutschen Einheit"),
            ("2026-11-01", "Allerheiligen"), ("2026-12-25", "1. Weihnachtstag"), ("2026-12-26", "2. Weihnachtstag"),
        ].map { PublicHoliday(date: CalendarFixtures.day($0.0), name: $0.1) }
        #expect(PublicHolidays.holidays(in: 2026, state: .bayern) == expected)
    }

    // Statewide holidays of 2026 per state. Nine hold everywhere (Neujahr, Karfreitag, Ostermontag, Tag der
    // Arbeit, Christi Himmelfahrt, Pfingstmontag, Tag der Deutschen Einheit, 1. and 2. Weihnachtstag); the
    // state holiday laws add:
    // BW +3 (Heilige Drei Könige, Fronleichnam, Allerheiligen); BY +3 likewise (Mariä Himmelfahrt only in
    // Catholic-majority communities, Augsburger Friedensfest only in Augsburg: not statewide, hence 12 not
    // the popular 13); BE +1 (Frauentag); BB +1 (Reformationstag; Oster- and Pfingstsonntag are Sundays and
    // not listed); HB, HH, NI, SH +1 (Reformationstag since 2018); HE +1 (Fronleichnam); MV +2
    // (Reformationstag, Frauentag since 2023); NW, RP +2 (Fronleichnam, Allerheiligen); SL +3 (Fronleichnam,
    // Mariä Himmelfahrt, Allerheiligen); SN +2 (Reformationstag, Buß- und Bettag; Fronleichnam only in some
    // communities); ST +2 (Heilige Drei Könige, Reformationstag); TH +2 (Weltkindertag, Reformationstag;
    // Fronleichnam only in some communities).
    @Test(
        "Number of holidays per state in 2026",
        arguments: [
            (GermanState.badenWuerttemberg, 12), (.bayern, 12), (.berlin, 10), (.brandenburg, 10), (.bremen, 10),
            (.hamburg, 10), (.hessen, 10), (.mecklenburgVorpommern, 11), (.niedersachsen, 10),
            (.nordrheinWestfalen, 11), (.rheinlandPfalz, 11), (.saarland, 12), (.sachsen, 11),
            (.sachsenAnhalt, 11), (.schleswigHolstein, 10), (.thueringen, 11),
        ])
    func count2026(state: GermanState, expected: Int) {
        #expect(PublicHolidays.holidays(in: 2026, state: state).count == expected)
    }

    @Test("Fronleichnam is statewide in exactly six states", arguments: GermanState.allCases)
    func fronleichnam(state: GermanState) {
        #expect(observes("Fronleichnam", in: 2026, state: state) == Self.fronleichnamStates.contains(state))
    }

    @Test("Reformationstag: everywhere in 2017 only", arguments: GermanState.allCases)
    func reformationstag2017(state: GermanState) {
        #expect(dates(named: "Reformationstag", in: 2017, state: state) == [CalendarFixtures.day("2017-10-31")])
    }

    @Test("Reformationstag: the eastern five before 2017, nine states from 2018", arguments: GermanState.allCases)
    func reformationstag(state: GermanState) {
        let eastern: Set<GermanState> = [
            .brandenburg, .mecklenburgVorpommern, .sachsen, .sachsenAnhalt, .thueringen,
        ]
        #expect(observes("Reformationstag", in: 2016, state: state) == eastern.contains(state))
        for year in [2018, 2026, 2100] {
            #expect(observes("Reformationstag", in: year, state: state) == Self.reformationstagStates.contains(state))
        }
    }

    @Test("Internationaler Frauentag: Berlin since 2019, Mecklenburg-Vorpommern since 2023")
    func frauentag() {
        #expect(!observes("Internationaler Frauentag", in: 2018, state: .berlin))
        #expect(
            dates(named: "Internationaler Frauentag", in: 2019, state: .berlin) == [CalendarFixtures.day("2019-03-08")])
        #expect(!observes("Internationaler Frauentag", in: 2022, state: .mecklenburgVorpommern))
        #expect(observes("Internationaler Frauentag", in: 2023, state: .mecklenburgVorpommern))
        for state in GermanState.allCases where state != .berlin && state != .mecklenburgVorpommern {
            #expect(!observes("Internationaler Frauentag", in: 2026, state: state), "\(state)")
        }
    }

    @Test("Weltkindertag: Thüringen since 2019 only")
    func weltkindertag() {
        #expect(!observes("Weltkindertag", in: 2018, state: .thueringen))
        #expect(dates(named: "Weltkindertag", in: 2019, state: .thueringen) == [CalendarFixtures.day("2019-09-20")])
        for state in GermanState.allCases where state != .thueringen {
            #expect(!observes("Weltkindertag", in: 2026, state: state), "\(state)")
        }
    }

    @Test(
        "Buß- und Bettag: Sachsen only, the Wednesday before 23 November",
        arguments: [(2024, "2024-11-20"), (2025, "2025-11-19"), (2026, "2026-11-18"), (2027, "2027-11-17")])
    func bussUndBettag(year: Int, expected: String) {
        #expect(dates(named: "Buß- und Bettag", in: year, state: .sachsen) == [CalendarFixtures.day(expected)])
        for state in GermanState.allCases where state != .sachsen {
            #expect(!observes("Buß- und Bettag", in: year, state: state), "\(state)")
        }
    }

    @Test("Buß- und Bettag always falls on a Wednesday from 16 to 22 November")
    func bussUndBettagRange() {
        for year in PublicHolidays.supportedYears {
            let date = dates(named: "Buß- und Bettag", in: year, state: .sachsen)
            #expect(date.count == 1 && date[0].weekday == .wednesday && date[0].month == 11, "\(date)")
            #expect((16...22).contains(date.first?.day ?? 0), "\(date)")
        }
    }

    @Test("Holidays of only some states", arguments: GermanState.allCases)
    func partialHolidays(state: GermanState) {
        let epiphany: Set<GermanState> = [.badenWuerttemberg, .bayern, .sachsenAnhalt]
        let allSaints: Set<GermanState> = [
            .badenWuerttemberg, .bayern, .nordrheinWestfalen, .rheinlandPfalz, .saarland,
        ]
        #expect(observes("Heilige Drei Könige", in: 2026, state: state) == epiphany.contains(state))
        #expect(observes("Allerheiligen", in: 2026, state: state) == allSaints.contains(state))
        // Statewide only in the Saarland; in Bayern only in Catholic-majority communities.
        #expect(observes("Mariä Himmelfahrt", in: 2026, state: state) == (state == .saarland))
        #expect(!observes("Augsburger Friedensfest", in: 2026, state: state))
    }

    @Test("Berlin's one-off Tag der Befreiung in 2020 and 2025 only")
    func tagDerBefreiung() {
        #expect(dates(named: "Tag der Befreiung", in: 2020, state: .berlin) == [CalendarFixtures.day("2020-05-08")])
        #expect(dates(named: "Tag der Befreiung", in: 2025, state: .berlin) == [CalendarFixtures.day("2025-05-08")])
        for year in [2019, 2021, 2024, 2026, 2028, 2030] {
            #expect(!observes("Tag der Befreiung", in: year, state: .berlin), "\(year)")
        }
        #expect(!observes("Tag der Befreiung", in: 2025, state: .brandenburg))
        #expect(!PublicHolidays.isHoliday(CalendarFixtures.day("2028-06-17"), in: .berlin))
    }

    @Test("24 and 31 December are not holidays anywhere", arguments: GermanState.allCases)
    func christmasEveAndNewYearsEve(state: GermanState) {
        for year in [2026, 2027] {
            #expect(!PublicHolidays.isHoliday(CalendarFixtures.day("\(year)-12-24"), in: state))
            #expect(!PublicHolidays.isHoliday(CalendarFixtures.day("\(year)-12-31"), in: state))
        }
    }

    @Test("Two holidays on one day are both listed (Tag der Arbeit and Christi Himmelfahrt, 2008)")
    func coincidingHolidays() {
        let first = PublicHolidays.holidays(in: 2008, state: .hessen).filter {
            $0.date == CalendarFixtures.day("2008-05-01")
        }
        #expect(first.map(\.name) == ["Tag der Arbeit", "Christi Himmelfahrt"])
    }

    @Test(
        "Every list is sorted, free of duplicates, within its year and agrees with isHoliday",
        arguments: GermanState.allCases)
    func listInvariants(state: GermanState) {
        for year in PublicHolidays.supportedYears {
            let holidays = PublicHolidays.holidays(in: year, state: state)
            let dates = holidays.map(\.date)
            #expect(dates == dates.sorted(), "\(state) \(year)")
            #expect(Set(holidays.map(\.name)).count == holidays.count, "\(state) \(year)")
            #expect(holidays.allSatisfy { $0.date.year == year }, "\(state) \(year)")
            #expect((9...13).contains(holidays.count), "\(state) \(year): \(holidays.count)")
            #expect(holidays.allSatisfy { PublicHolidays.isHoliday($0.date, in: state) })
            // Days that are not in the list are not holidays (checked on the days around each holiday).
            for neighbour in dates.flatMap({ [$0.adding(days: -1), $0.adding(days: 1)] })
            where !dates.contains(neighbour) {
                #expect(!PublicHolidays.isHoliday(neighbour, in: state), "\(state) \(neighbour)")
            }
        }
    }

    @Test(
        "German names of the states",
        arguments: [
            (GermanState.thueringen, "Thüringen"), (.badenWuerttemberg, "Baden-Württemberg"),
            (.nordrheinWestfalen, "Nordrhein-Westfalen"),
        ])
    func germanNames(state: GermanState, expected: String) {
        #expect(state.germanName == expected)
        #expect(GermanState(rawValue: state.rawValue) == state)
    }

    @Test("Raw values are the ISO 3166-2:DE subdivision codes")
    func rawValues() {
        #expect(
            GermanState.allCases.map(\.rawValue).sorted() == [
                "BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH",
            ])
    }
}
