import Foundation

/// When an outbox message that did not reach everybody is tried again: one pause per failed attempt,
/// stretched or shrunk by a random jitter so that rows that failed together (an SMTP outage) do not all
/// come back in the same second. When the pauses run out the row is marked failed.
public struct RetrySchedule: Sendable, Hashable, CustomStringConvertible {
    /// The pause after the first, second, ... failed attempt.
    public var delays: [Duration]
    /// How far a pause may move either way, as a fraction of it (0.2: ±20 %).
    public var jitter: Double

    public init(delays: [Duration], jitter: Double = 0.2) {
        self.delays = delays
        self.jitter = jitter
    }

    /// About 5 s, 1 min, 5 min, 30 min, 2 h, 6 h, 24 h: a day and a half of trying in all.
    public static let standard = RetrySchedule(delays: [
        .seconds(5), .seconds(60), .seconds(300), .seconds(1800), .seconds(7200), .seconds(21_600), .seconds(86_400),
    ])

    /// The pause after `attempts` failed attempts (1 = the first failed), nil when the schedule has run
    /// out. `random` is a number in 0..<1 (tests pass a fixed one).
    public func delay(afterFailedAttempts attempts: Int, random: Double) -> Duration? {
        guard attempts >= 1, attempts <= delays.count else { return nil }
        let base = delays[attempts - 1]
        let factor = 1 + jitter * (2 * min(max(random, 0), 1) - 1)
        return base * factor
    }

    /// How long a row this release cannot read (a newer release wrote it during a rolling update) waits
    /// before it is claimed again: the pause after as many failed attempts as would have fitted since the
    /// row was written (the last pause once they have all passed). The one rule for mail rows and webhook
    /// deliveries: the attempt is given back and the row never fails for it, so a newer instance that
    /// reads it starts the schedule afresh, and an older one left running (or a rollback) asks for it ever
    /// more rarely.
    public func pauseWhileUnreadable(age: TimeInterval, random: Double) -> Duration {
        var attempts = 1
        var passed: TimeInterval = 0
        for delay in delays.dropLast() {
            passed += Double(delay.components.seconds)
            guard passed <= age else { break }
            attempts += 1
        }
        return self.delay(afterFailedAttempts: attempts, random: random) ?? delays.last ?? .seconds(5)
    }

    /// The last error of a row waiting for an instance that can read it (``pauseWhileUnreadable(age:random:)``).
    public static let unreadableError =
        "vorübergehend: Inhalt für diese Version nicht lesbar (von einer neueren geschrieben?); "
        + "wartet auf eine Instanz, die ihn lesen kann"

    /// `5s, 1m, 5m, 30m, 2h, 6h, 24h`: numbers with the unit s, m, h or d, separated by commas; at least one,
    /// each at least one second, in ascending order (a shrinking pause is a typo, not a wish).
    public static func parse(_ text: String) -> RetrySchedule? {
        var delays: [Duration] = []
        for part in text.split(separator: ",") {
            let item = part.trimmingCharacters(in: .whitespaces).lowercased()
            guard let unit = item.last, let number = Int(item.dropLast()), number >= 1 else { return nil }
            let unitSeconds: Int
            switch unit {
            case "s": unitSeconds = 1
            case "m": unitSeconds = 60
            case "h": unitSeconds = 3600
            case "d": unitSeconds = 86_400
            default: return nil
            }
            // Checked before multiplying: `999999999999999d` would overflow (and trap) instead of being refused.
            guard number <= 7 * 86_400 / unitSeconds else { return nil }
            let seconds = number * unitSeconds
            guard delays.last.map({ $0 <= .seconds(seconds) }) ?? true else { return nil }
            delays.append(.seconds(seconds))
        }
        return delays.isEmpty ? nil : RetrySchedule(delays: delays)
    }

    public var description: String {
        delays.map { delay in
            let seconds = delay.components.seconds
            if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
            if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
            if seconds % 60 == 0 { return "\(seconds / 60)m" }
            return "\(seconds)s"
        }.joined(separator: ", ")
    }
}
