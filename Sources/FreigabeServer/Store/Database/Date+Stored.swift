import Foundation

extension Date {
    /// The instant as a `timestamptz` column holds it: PostgresNIO sends whole microseconds after
    /// 2000-01-01, cut toward zero. Two instants less than a microsecond apart are one instant there,
    /// so a rule the table also checks (an end after its start) is checked on these, not on the `Date`s.
    var storedMicroseconds: Int64 {
        Int64(timeIntervalSince(Self.postgresEpoch) * 1_000_000)
    }

    private static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)
}
