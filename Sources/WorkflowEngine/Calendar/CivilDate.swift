/// A calendar day in the proleptic Gregorian calendar, without time or time zone: "2026-04-05".
///
/// Holidays and working days are properties of days, not of instants, so the engine reasons about
/// `CivilDate`s and only `WorkingDayCalendar` converts between days and instants (in one time zone).
/// The arithmetic is plain integer maths on days since 1970-01-01, so it needs no `Calendar` and cannot
/// be affected by time zones or daylight saving time.
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int
    /// 1 = January … 12 = December.
    public let month: Int
    public let day: Int

    /// The years `init?(year:month:day:)` accepts: those with four digits in ISO 8601, so every valid
    /// date round-trips through `description` and `init?(iso:)`.
    public static let validYears: ClosedRange<Int> = 1...9999

    /// Returns nil unless the combination names a real day (2026-02-30 does not, 2024-02-29 does).
    public init?(year: Int, month: Int, day: Int) {
        guard Self.validYears.contains(year), (1...12).contains(month),
            (1...Self.numberOfDays(inMonth: month, year: year)).contains(day)
        else { return nil }
        self.init(unchecked: year, month, day)
    }

    /// Parses exactly the ISO 8601 calendar date form "YYYY-MM-DD" (no time, no week dates, no
    /// extended years), because that is the only form the engine ever writes.
    public init?(iso: String) {
        let bytes = Array(iso.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = Self.decimal(bytes[0..<4]), let month = Self.decimal(bytes[5..<7]),
            let day = Self.decimal(bytes[8..<10])
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// For dates already known to be valid (computed ones); skips validation.
    init(unchecked year: Int, _ month: Int, _ day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// "2026-04-05": ISO 8601, sorts like the dates it names.
    public var description: String {
        "\(Self.padded(year, width: 4))-\(Self.padded(month, width: 2))-\(Self.padded(day, width: 2))"
    }

    public var weekday: Weekday {
        // 1970-01-01 was a Thursday (ISO 4); the modulo is floored so days before 1970 work too.
        let offset = (daysSinceEpoch + 3) % 7
        return Weekday(rawValue: (offset + 7) % 7 + 1)!
    }

    /// The day `days` days later (earlier if negative). Not bounded by `validYears`: a result beyond
    /// 9999 is still a correct date, it just has no four-digit ISO form.
    public func adding(days: Int) -> CivilDate {
        CivilDate(daysSinceEpoch: daysSinceEpoch + days)
    }

    public static func < (lhs: CivilDate, rhs: CivilDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func numberOfDays(inMonth month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func decimal(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func padded(_ value: Int, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

// MARK: - Day numbers

extension CivilDate {
    // Howard Hinnant's days_from_civil / civil_from_days: exact for the whole proleptic Gregorian
    // calendar, using 400-year eras (146 097 days) with years starting on 1 March so the leap day is last.

    /// Days since 1970-01-01 (negative before).
    var daysSinceEpoch: Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    init(daysSinceEpoch: Int) {
        let shifted = daysSinceEpoch + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.init(unchecked: year, month, day)
    }
}

// MARK: - Codable

/// Encoded as the ISO string, the same form as in YAML, JSON and the audit log.
extension CivilDate: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = CivilDate(iso: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "Expected a date as YYYY-MM-DD, got \"\(text)\"")
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
