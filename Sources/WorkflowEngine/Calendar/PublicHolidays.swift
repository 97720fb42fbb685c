/// The statutory public holidays (gesetzliche Feiertage) of each German state.
///
/// Sources: the Feiertagsgesetz (or Sonn- und Feiertagsgesetz) of each state, and for 3 October the
/// Einigungsvertrag, Art. 2 (2). Only holidays that apply in the WHOLE state are listed, because a
/// workflow is configured per state, not per municipality. Left out on purpose, therefore:
/// - Fronleichnam in Sachsen (some Sorbian Catholic communities around Bautzen) and Thüringen (some
///   communities of the Eichsfeld): holidays there only by municipal designation.
/// - Mariä Himmelfahrt in Bayern: a holiday only in communities with a predominantly Catholic population
///   (most of them, as determined from census data by the state statistics office), so not statewide;
///   statewide only in the Saarland. Bayern therefore has 12 statewide holidays here, not the 13 often
///   quoted.
/// - Augsburger Friedensfest (8 August): city of Augsburg only.
/// - Ostersonntag and Pfingstsonntag, which Brandenburg's law lists: they are always Sundays, so they never
///   change a working-day count, and listing them would make the per-state lists look inconsistent.
/// 24 and 31 December are ordinary working days in law, so they are not here; the offices of most cities
/// close on them all the same (TVöD § 6 (3)), which an installation says through
/// ``WorkingDayCalendar/closedDays`` (the server's `calendar.closed_days`, by default these two).
public enum PublicHolidays {
    /// The years whose rules are modelled. Before 1995 Buß- und Bettag was a holiday everywhere (it was
    /// given up in all states but Sachsen to fund the long-term care insurance), and before 1990
    /// 3 October was not a holiday at all. Outside this range `holidays(in:state:)` still answers, by
    /// applying today's rules unchanged: good enough for far-future dates, wrong for the past.
    public static let supportedYears: ClosedRange<Int> = 1995...2200

    /// The public holidays of `state` in `year`, sorted by date. Two holidays can fall on one day (Christi
    /// Himmelfahrt was on 1 May in 2008 and will be again in 2160); both are listed, in the order of `rules`.
    public static func holidays(in year: Int, state: GermanState) -> [PublicHoliday] {
        // Sorted by date; the position in `rules` breaks ties so that coinciding holidays keep a fixed order.
        rules.enumerated()
            .filter { $0.element.isObserved(in: year, state: state) }
            .map { (order: $0.offset, holiday: PublicHoliday(date: $0.element.date(in: year), name: $0.element.name)) }
            .sorted { ($0.holiday.date, $0.order) < ($1.holiday.date, $1.order) }
            .map(\.holiday)
    }

    /// Whether `date` is a public holiday in `state`.
    public static func isHoliday(_ date: CivilDate, in state: GermanState) -> Bool {
        rules.contains { $0.isObserved(in: date.year, state: state) && $0.date(in: date.year) == date }
    }

    /// The law, in calendar order. Years in `since:` are the first year the holiday was observed; rules
    /// without a year have held throughout `supportedYears`.
    static let rules: [HolidayRule] = [
        HolidayRule(name: "Neujahr", timing: .fixed(month: 1, day: 1), observances: [.everywhere]),
        HolidayRule(
            name: "Heilige Drei Könige", timing: .fixed(month: 1, day: 6),
            observances: [.states([.badenWuerttemberg, .bayern, .sachsenAnhalt])]),
        HolidayRule(
            name: "Internationaler Frauentag", timing: .fixed(month: 3, day: 8),
            observances: [
                .states([.berlin], since: 2019),
                .states([.mecklenburgVorpommern], since: 2023),
            ]),
        HolidayRule(name: "Karfreitag", timing: .easter(offset: -2), observances: [.everywhere]),
        HolidayRule(name: "Ostermontag", timing: .easter(offset: 1), observances: [.everywhere]),
        HolidayRule(name: "Tag der Arbeit", timing: .fixed(month: 5, day: 1), observances: [.everywhere]),
        // Berlin's one-off jubilee holidays, each enacted by its own amendment of the Berlin holiday law
        // (75th and 80th anniversary of the end of the war). A one-off 17 June 2028 (75 years since the
        // 1953 uprising) has been announced but is not enacted as of this writing; it falls on a Saturday,
        // so it could not move a deadline anyway. Add such days only once they are law.
        HolidayRule(
            name: "Tag der Befreiung", timing: .fixed(month: 5, day: 8),
            observances: [.states([.berlin], onlyIn: 2020), .states([.berlin], onlyIn: 2025)]),
        HolidayRule(name: "Christi Himmelfahrt", timing: .easter(offset: 39), observances: [.everywhere]),
        HolidayRule(name: "Pfingstmontag", timing: .easter(offset: 50), observances: [.everywhere]),
        // Statewide in these six only; see the type's comment for Sachsen and Thüringen.
        HolidayRule(
            name: "Fronleichnam", timing: .easter(offset: 60),
            observances: [
                .states([
                    .badenWuerttemberg, .bayern, .hessen, .nordrheinWestfalen, .rheinlandPfalz, .saarland,
                ])
            ]),
        // Statewide in the Saarland only; see the type's comment for Bayern.
        HolidayRule(
            name: "Mariä Himmelfahrt", timing: .fixed(month: 8, day: 15), observances: [.states([.saarland])]),
        HolidayRule(
            name: "Weltkindertag", timing: .fixed(month: 9, day: 20),
            observances: [.states([.thueringen], since: 2019)]),
        HolidayRule(
            name: "Tag der Deutschen Einheit", timing: .fixed(month: 10, day: 3), observances: [.everywhere]),
        // The five eastern states since reunification; the four northern states added it in 2018; in 2017,
        // the 500th anniversary of the Reformation, every state made it a one-off holiday.
        HolidayRule(
            name: "Reformationstag", timing: .fixed(month: 10, day: 31),
            observances: [
                .states([.brandenburg, .mecklenburgVorpommern, .sachsen, .sachsenAnhalt, .thueringen]),
                .states([.bremen, .hamburg, .niedersachsen, .schleswigHolstein], since: 2018),
                .states(Set(GermanState.allCases), onlyIn: 2017),
            ]),
        HolidayRule(
            name: "Allerheiligen", timing: .fixed(month: 11, day: 1),
            observances: [
                .states([.badenWuerttemberg, .bayern, .nordrheinWestfalen, .rheinlandPfalz, .saarland])
            ]),
        HolidayRule(
            name: "Buß- und Bettag", timing: .wednesdayBefore(month: 11, day: 23),
            observances: [.states([.sachsen])]),
        HolidayRule(name: "1. Weihnachtstag", timing: .fixed(month: 12, day: 25), observances: [.everywhere]),
        HolidayRule(name: "2. Weihnachtstag", timing: .fixed(month: 12, day: 26), observances: [.everywhere]),
    ]
}
