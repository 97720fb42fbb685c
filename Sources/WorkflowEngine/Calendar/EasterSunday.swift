extension PublicHolidays {
    /// Easter Sunday of `year` by the Gregorian computus, in the "anonymous Gregorian" form published by
    /// Meeus (Astronomical Algorithms, ch. 8). It is exact for every Gregorian year, which matters because
    /// five of the holidays (Karfreitag, Ostermontag, Christi Himmelfahrt, Pfingstmontag, Fronleichnam)
    /// hang off it. The result always lies between 22 March and 25 April.
    public static func easterSunday(year: Int) -> CivilDate {
        let goldenNumber = year % 19  // position in the 19-year Metonic cycle
        let century = year / 100
        let yearOfCentury = year % 100
        let skippedLeapDays = century / 4
        let centuryRemainder = century % 4
        let lunarCorrection = (century + 8) / 25
        let moonShift = (century - lunarCorrection + 1) / 3
        // Days from 21 March to the paschal full moon (the epact, corrected for the solar and lunar
        // equations of the Gregorian reform).
        let fullMoonOffset =
            (19 * goldenNumber + century - skippedLeapDays - moonShift + 15) % 30
        let leapDaysOfCentury = yearOfCentury / 4
        let yearRemainder = yearOfCentury % 4
        // Days from the paschal full moon to the following Sunday.
        let toSunday =
            (32 + 2 * centuryRemainder + 2 * leapDaysOfCentury - fullMoonOffset - yearRemainder) % 7
        // The two exceptions of the computus (full moon on 18 or 19 April in some cycles).
        let exception = (goldenNumber + 11 * fullMoonOffset + 22 * toSunday) / 451
        let monthAndDay = fullMoonOffset + toSunday - 7 * exception + 114
        return CivilDate(unchecked: year, monthAndDay / 31, monthAndDay % 31 + 1)
    }
}
