/// A statutory public holiday (gesetzlicher Feiertag) on one day in one state.
public struct PublicHoliday: Hashable, Sendable, Codable {
    public let date: CivilDate
    /// The German name as the state's law and calendars use it, e.g. "Karfreitag"; shown to users as is.
    public let name: String

    public init(date: CivilDate, name: String) {
        self.date = date
        self.name = name
    }
}
