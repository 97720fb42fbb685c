/// A day of the week, numbered as in ISO 8601 (Monday = 1 … Sunday = 7) so the raw value never depends
/// on a locale's idea of the first day of the week.
public enum Weekday: Int, CaseIterable, Sendable, Codable {
    case monday = 1
    case tuesday
    case wednesday
    case thursday
    case friday
    case saturday
    case sunday

    /// Saturday and Sunday: never working days, whatever the state.
    public var isWeekend: Bool { self == .saturday || self == .sunday }
}
