import Foundation

/// A point in time in UTC with microsecond precision, as an integer.
///
/// Microseconds because PostgreSQL's `timestamptz` stores exactly that: a time read back from the
/// database encodes to the same bytes it had when it was sealed. An integer because a `Date` (a
/// `Double`) has no single canonical byte form.
public struct AuditTimestamp: Sendable, Hashable, Comparable {
    /// Microseconds since 1970-01-01T00:00:00Z; negative before it. Leap seconds are not counted (Unix
    /// time).
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// Rounds to the nearest microsecond, as PostgreSQL does when it stores a `Date`.
    public init(_ date: Date) {
        self.microsecondsSinceEpoch = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public var date: Date {
        Date(timeIntervalSince1970: Double(microsecondsSinceEpoch) / 1_000_000)
    }

    public static func < (lhs: AuditTimestamp, rhs: AuditTimestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }
}

// MARK: - RFC 3339 text

extension AuditTimestamp {
    private static let microsecondsPerDay: Int64 = 86_400_000_000
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z: the years RFC 3339 can write.
    private static let earliest: Int64 = -62_167_219_200_000_000
    private static let latest: Int64 = 253_402_300_799_999_999

    /// The one text form used in checkpoints, JSON and messages: `YYYY-MM-DDThh:mm:ss.ffffffZ`, always
    /// six fraction digits and `Z`, so that equal times are equal strings. `nil` outside years 0–9999.
    public var rfc3339: String? {
        guard (Self.earliest...Self.latest).contains(microsecondsSinceEpoch) else { return nil }
        let days = microsecondsSinceEpoch.floorDivided(by: Self.microsecondsPerDay)
        let ofDay = microsecondsSinceEpoch - days * Self.microsecondsPerDay
        let (year, month, day) = CivilDate.from(daysSinceEpoch: days)
        let seconds = ofDay / 1_000_000
        return Self.padded(year, 4) + "-" + Self.padded(month, 2) + "-" + Self.padded(day, 2) + "T"
            + Self.padded(seconds / 3600, 2) + ":" + Self.padded(seconds / 60 % 60, 2) + ":"
            + Self.padded(seconds % 60, 2) + "." + Self.padded(ofDay % 1_000_000, 6) + "Z"
    }

    /// Parses exactly the form ``rfc3339`` writes; anything else (offsets, other precisions) is refused
    /// so that one time has one text.
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 27, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes[19] == UInt8(ascii: "."), bytes[26] == UInt8(ascii: "Z"),
            let year = Self.number(bytes[0..<4]), let month = Self.number(bytes[5..<7]),
            let day = Self.number(bytes[8..<10]), let hour = Self.number(bytes[11..<13]),
            let minute = Self.number(bytes[14..<16]), let second = Self.number(bytes[17..<19]),
            let fraction = Self.number(bytes[20..<26]),
            (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = CivilDate.daysSinceEpoch(year: year, month: month, day: day)
        self.init(
            microsecondsSinceEpoch: days * Self.microsecondsPerDay + ((hour * 60 + minute) * 60 + second) * 1_000_000
                + fraction)
    }

    private static func padded(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int64? {
        var value: Int64 = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            value = value * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        return value
    }
}

extension AuditTimestamp: CustomStringConvertible {
    public var description: String { rfc3339 ?? "\(microsecondsSinceEpoch) µs since 1970" }
}

/// JSON carries the RFC 3339 text (``AuditTimestamp/rfc3339``): readable and exact.
extension AuditTimestamp: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let time = AuditTimestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected YYYY-MM-DDThh:mm:ss.ffffffZ, got \(text)")
        }
        self = time
    }

    public func encode(to encoder: any Encoder) throws {
        guard let text = rfc3339 else {
            throw EncodingError.invalidValue(
                self, .init(codingPath: encoder.codingPath, debugDescription: "year outside 0000-9999"))
        }
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's `days_from_civil` and `civil_from_days`),
/// so that formatting a time needs neither a `Calendar` nor a time zone database.
enum CivilDate {
    static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDivided(by: 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func from(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = z.floorDivided(by: 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension Int64 {
    /// Division rounding towards minus infinity: times before 1970 still fall into the right day.
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
