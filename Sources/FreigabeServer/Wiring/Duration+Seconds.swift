import Foundation

extension Duration {
    /// The duration in (fractional) seconds, for `Date` arithmetic and SQL intervals: the one conversion
    /// the session ends, the retry schedules, the sealing grace and the timer figures use.
    var seconds: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}
