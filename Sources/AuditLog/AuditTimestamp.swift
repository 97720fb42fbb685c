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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        guard appendRFC3339(to: &bytes) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses exactly the form ``rfc3339`` writes; anything else (offsets, other precisions) is refused
    /// so that one time has one text.
    public init?(rfc3339 text: String) {
        var text = text
        guard let time = text.withUTF8({ AuditTimestamp(rfc3339Bytes: $0) }) else { return nil }
        self = time
    }

    /// ``init(rfc3339:)`` on UTF-8 bytes, for the export line parser, which has them without a `String`.
    init?(rfc3339Bytes bytes: some RandomAccessCollection<UInt8>) {
        guard bytes.count == 27 else { return nil }
        let base = bytes.startIndex
        func at(_ offset: Int) -> UInt8 { bytes[bytes.index(base, offsetBy: offset)] }
        func number(_ from: Int, _ to: Int) -> Int64? {
            var value: Int64 = 0
            for offset in from..<to {
                let digit = at(offset)
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
                value = value * 10 + Int64(digit - UInt8(ascii: "0"))
            }
            return value
        }
        guard at(4) == UInt8(ascii: "-"), at(7) == UInt8(ascii: "-"), at(10) == UInt8(ascii: "T"),
            at(13) == UInt8(ascii: ":"), at(16) == UInt8(ascii: ":"), at(19) == UInt8(ascii: "."),
            at(26) == UInt8(ascii: "Z"),
            let year = number(0, 4), let month = number(5, 7), let day = number(8, 10),
            let hour = number(11, 13), let minute = number(14, 16), let second = number(17, 19),
            let fraction = number(20, 26),
            (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = CivilDate.daysSinceEpoch(year: year, month: month, day: day)
        self.init(
            microsecondsSinceEpoch: days * Self.microsecondsPerDay + ((hour * 60 + minute) * 60 + second) * 1_000_000
                + fraction)
    }

    /// Appends ``rfc3339`` as UTF-8 without building a `String` (the exporter writes one per event);
    /// false, and nothing appended, outside years 0–9999.
    public func appendRFC3339(to bytes: inout [UInt8]) -> Bool {
        guard (Self.earliest...Self.latest).contains(microsecondsSinceEpoch) else { return false }
        let days = microsecondsSinceEpoch.floorDivided(by: Self.microsecondsPerDay)
        let ofDay = microsecondsSinceEpoch - days * Self.microsecondsPerDay
        let (year, month, day) = CivilDate.from(daysSinceEpoch: days)
        let seconds = ofDay / 1_000_000
        func digits(_ value: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(seconds / 3600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(seconds % 60, 2)
        bytes.append(UInt8(ascii: "."))
        digits(ofDay % 1_000_000, 6)
        bytes.append(UInt8(ascii: "Z"))
        return true
    }
}

// MARK: - Times inside JSON details

extension AuditTimestamp {
    /// Parses a time as PostgreSQL writes a `timestamptz` into JSON (`jsonb_build_object`, `to_jsonb`):
    /// `YYYY-MM-DDThh:mm:ss`, an optional fraction of 1–6 digits, and `Z` or the session's offset
    /// `±hh`, `±hh:mm` or `±hh:mm:ss`. Read, for instance, from a `payloads_redacted` event's
    /// `details.erased_before`, which carries the offset of the session that wrote it. nil for anything
    /// else (also years outside 0000–9999 and `BC`).
    init?(jsonTimestamp text: String) {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int64? {
            guard index + width <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<(index + width)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += width
            return value
        }
        func literal(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue else { return false }
            index += 1
            return true
        }
        guard let year = number(4), literal("-"), let month = number(2), literal("-"), let day = number(2),
            literal("T"), let hour = number(2), literal(":"), let minute = number(2), literal(":"),
            let second = number(2),
            (1...12).contains(month), (1...CivilDate.daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction: Int64 = 0
        if literal(".") {
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                guard digits < 6 else { return nil }
                fraction = fraction * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { fraction *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if !literal("Z") {
            let sign: Int64
            if literal("+") {
                sign = 1
            } else if literal("-") {
                sign = -1
            } else {
                return nil
            }
            guard let hours = number(2), hours < 16 else { return nil }
            var minutes: Int64 = 0
            var seconds: Int64 = 0
            if literal(":") {
                guard let value = number(2), value < 60 else { return nil }
                minutes = value
                if literal(":") {
                    guard let value = number(2), value < 60 else { return nil }
                    seconds = value
                }
            }
            offsetSeconds = sign * ((hours * 60 + minutes) * 60 + seconds)
        }
        guard index == bytes.count else { return nil }
        let days = CivilDate.daysSinceEpoch(year: year, month: month, day: day)
        let local = days * Self.microsecondsPerDay + ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction
        self.init(microsecondsSinceEpoch: local - offsetSeconds * 1_000_000)
    }

    /// The same time of day `years` calendar years earlier in UTC; 29 February becomes 28 February.
    func subtractingYears(_ years: Int) -> AuditTimestamp {
        let days = microsecondsSinceEpoch.floorDivided(by: Self.microsecondsPerDay)
        let ofDay = microsecondsSinceEpoch - days * Self.microsecondsPerDay
        let (year, month, day) = CivilDate.from(daysSinceEpoch: days)
        let earlier = year - Int64(years)
        let earlierDays = CivilDate.daysSinceEpoch(
            year: earlier, month: month, day: min(day, CivilDate.daysIn(month: month, year: earlier)))
        return AuditTimestamp(microsecondsSinceEpoch: earlierDays * Self.microsecondsPerDay + ofDay)
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
