import Foundation
import Hummingbird
import NIOCore

/// Reads the JSON body of a command.
///
/// Rules (documented in `openapi.yaml`): the body must be `application/json` (a `charset` parameter, if
/// any, must be UTF-8) → else 415; at most ``maximumSize`` bytes → else 413; valid UTF-8 JSON whose top
/// level is an object → else 400 `invalid-json`. Commands without required fields (submit, withdraw)
/// also accept an empty body without a content type.
enum APIBody {
    /// 64 KiB: the longest legitimate command (a resubmission with every text at its limit of 4000
    /// characters) stays far below it, while a 1 MB "comment" is refused before it is parsed.
    static let maximumSize = 64 * 1024

    /// The body as a JSON object; nil for an empty body when `allowEmpty`.
    static func object(
        _ request: Request, allowEmpty: Bool = false
    ) async throws -> JSONObject? {
        let contentType = request.headers[.contentType]
        if let contentType, !isJSON(contentType) {
            throw APIProblem(
                .unsupportedMediaType, status: .unsupportedMediaType,
                detail: UserText("body.wrong_content_type"))
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maximumSize {
            throw NIOTooManyBytesError(maxBytes: maximumSize)
        }
        var request = request
        let buffer = try await request.collectBody(upTo: maximumSize)
        if buffer.readableBytes == 0 {
            if allowEmpty { return nil }
            if contentType == nil {
                throw APIProblem(
                    .unsupportedMediaType, status: .unsupportedMediaType,
                    detail: UserText("body.json_object_expected_with_type"))
            }
            throw APIProblem(
                .invalidJSON, status: .badRequest,
                detail: UserText("body.empty"))
        }
        guard contentType != nil else {
            throw APIProblem(
                .unsupportedMediaType, status: .unsupportedMediaType,
                detail: UserText("body.wrong_content_type"))
        }
        let bytes = Array(buffer.readableBytesView)
        // RFC 8259: JSON between systems is UTF-8. A NUL byte cannot occur in valid JSON text, and
        // refusing it stops JSONDecoder from guessing UTF-16 or UTF-32.
        guard !bytes.contains(0), String(validating: bytes, as: UTF8.self) != nil else {
            throw APIProblem(.invalidJSON, status: .badRequest, detail: UserText("body.not_utf8"))
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw APIProblem(.invalidJSON, status: .badRequest, detail: UserText("body.not_json"))
        }
        guard case .object(let fields) = value else {
            throw APIProblem(.invalidJSON, status: .badRequest, detail: UserText("body.not_object"))
        }
        if let repeated = JSONDuplicateKeys.first(in: bytes) {
            throw APIProblem.invalidBody([repeated: UserText("body.repeated_field")])
        }
        return JSONObject(fields: fields, path: "")
    }

    /// `application/json`, optionally with `charset=utf-8`.
    static func isJSON(_ contentType: String) -> Bool {
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
        guard parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "application/json" else { return false }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return false }
            let name = pair[0].trimmingCharacters(in: .whitespaces).lowercased()
            let value = pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                in: CharacterSet(charactersIn: "\"")
            )
            .lowercased()
            if name == "charset" && value != "utf-8" && value != "utf8" { return false }
        }
        return true
    }
}

extension JSONValue {
    /// For messages about a wrong type: the catalogue's name of the type.
    var kindName: UserText.Argument {
        switch self {
        case .null: .message("json_kind.null")
        case .bool: .message("json_kind.bool")
        case .number: .message("json_kind.number")
        case .string: .message("json_kind.string")
        case .array: .message("json_kind.array")
        case .object: .message("json_kind.object")
        }
    }
}

/// What is wrong with a body, by field. Shape errors (unknown field, wrong type, unknown value) make
/// a 400 `invalid-body`; otherwise missing required values make a 422 `validation`.
struct BodyErrors {
    var shape: [String: UserText] = [:]
    var missing: [String: UserText] = [:]

    mutating func shape(_ field: String, _ message: UserText) {
        if shape[field] == nil { shape[field] = message }
    }

    mutating func missing(_ field: String, _ message: UserText) {
        if missing[field] == nil { missing[field] = message }
    }

    func check() throws(APIProblem) {
        if !shape.isEmpty {
            throw APIProblem.invalidBody(shape.merging(missing) { first, _ in first })
        }
        if !missing.isEmpty { throw APIProblem.validation(missing) }
    }
}

/// A JSON object being read field by field. `null` counts as "not given" everywhere.
struct JSONObject: Sendable {
    let fields: [String: JSONValue]
    /// The object's own field name plus a dot, for nested objects (`recipient.`).
    let path: String

    func name(_ key: String) -> String { path + key }

    private func value(_ key: String) -> JSONValue? {
        guard let value = fields[key], value != .null else { return nil }
        return value
    }

    /// Reports every field that is not in `known`.
    func rejectUnknown(_ known: Set<String>, errors: inout BodyErrors) {
        for key in fields.keys where !known.contains(key) {
            errors.shape(name(key), UserText("body.unknown_field"))
        }
    }

    func string(_ key: String, errors: inout BodyErrors) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else {
            errors.shape(name(key), UserText("body.expected_text", ["kind": value.kindName]))
            return nil
        }
        return text
    }

    func bool(_ key: String, errors: inout BodyErrors) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else {
            errors.shape(name(key), UserText("body.expected_bool", ["kind": value.kindName]))
            return nil
        }
        return flag
    }

    func enumeration<Value: RawRepresentable & CaseIterable>(
        _ key: String, _ type: Value.Type, errors: inout BodyErrors
    ) -> Value? where Value.RawValue == String {
        guard let text = string(key, errors: &errors) else { return nil }
        guard let result = Value(rawValue: text) else {
            let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
            errors.shape(name(key), UserText("body.unknown_value", ["allowed": .text(allowed)]))
            return nil
        }
        return result
    }

    func date(_ key: String, _ meaning: APIDates.DayMeaning, errors: inout BodyErrors) -> Date? {
        guard let text = string(key, errors: &errors) else { return nil }
        guard let date = APIDates.parse(text, meaning) else {
            errors.shape(name(key), UserText("body.expected_date"))
            return nil
        }
        return date
    }

    func object(_ key: String, errors: inout BodyErrors) -> JSONObject? {
        guard let value = value(key) else { return nil }
        guard case .object(let fields) = value else {
            errors.shape(name(key), UserText("body.expected_object", ["kind": value.kindName]))
            return nil
        }
        return JSONObject(fields: fields, path: name(key) + ".")
    }

    func strings(_ key: String, errors: inout BodyErrors) -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else {
            errors.shape(name(key), UserText("body.expected_texts", ["kind": value.kindName]))
            return nil
        }
        var result: [String] = []
        for item in items {
            guard case .string(let text) = item else {
                errors.shape(name(key), UserText("body.expected_texts_only"))
                return nil
            }
            result.append(text)
        }
        return result
    }
}

/// Dates in request bodies: either a calendar day (`2026-03-31`, interpreted in Europe/Berlin, where
/// the city is) or an instant in RFC 3339 (`2026-03-31T16:00:00Z`, `...+02:00`, fractions allowed).
enum APIDates {
    enum DayMeaning: Sendable {
        /// A day means its first instant (00:00 in Berlin): `access_start`, `valid_from`.
        case startOfDay
        /// A day means "up to and including that day", i.e. the first instant of the next day:
        /// `access_end`.
        case endOfDay
        /// A day is the first day that is no longer included (00:00 of that day): `valid_until` of a
        /// deputyship, which runs "from the first day up to, not including, the end".
        case exclusiveStartOfDay
    }

    static let berlin = TimeZone(identifier: "Europe/Berlin")!

    static func parse(_ text: String, _ meaning: DayMeaning) -> Date? {
        if let day = day(text) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = berlin
            guard let start = calendar.date(from: day) else { return nil }
            switch meaning {
            case .startOfDay, .exclusiveStartOfDay: return start
            case .endOfDay: return calendar.date(byAdding: .day, value: 1, to: start)
            }
        }
        return instant(text)
    }

    /// `YYYY-MM-DD` with a real day of a year from 1900 to 9999.
    static func day(_ text: String) -> DateComponents? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1900...9999).contains(year), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        return DateComponents(year: year, month: month, day: day)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t`/`z` and a space for `T` as the
    /// RFC allows.
    static func instant(_ text: String) -> Date? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count >= 20, scalars.count <= 40, scalars.allSatisfy(\.isASCII) else { return nil }
        let upper = String(String.UnicodeScalarView(scalars)).uppercased()
        let separatorIndex = upper.index(upper.startIndex, offsetBy: 10)
        guard ["T", " "].contains(upper[separatorIndex]), let dayPart = day(String(upper[..<separatorIndex])) else {
            return nil
        }
        var rest = Substring(upper[upper.index(after: separatorIndex)...])
        func number(_ count: Int) -> Int? {
            let digits = rest.prefix(count)
            guard digits.count == count, digits.allSatisfy(\.isNumber) else { return nil }
            rest = rest.dropFirst(count)
            return Int(digits)
        }
        func expect(_ character: Character) -> Bool {
            guard rest.first == character else { return false }
            rest = rest.dropFirst()
            return true
        }
        guard let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var fraction = 0.0
        if expect(".") {
            let digits = rest.prefix { $0.isNumber }
            guard !digits.isEmpty, digits.count <= 9, let value = Double("0." + digits) else { return nil }
            fraction = value
            rest = rest.dropFirst(digits.count)
        }
        var offsetSeconds = 0
        if expect("Z") {
            offsetSeconds = 0
        } else if let sign = rest.first, sign == "+" || sign == "-" {
            rest = rest.dropFirst()
            guard let offsetHours = number(2), expect(":"), let offsetMinutes = number(2), offsetHours <= 23,
                offsetMinutes <= 59
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (sign == "-" ? -1 : 1)
        } else {
            return nil
        }
        guard rest.isEmpty else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        var components = dayPart
        components.hour = hour
        components.minute = minute
        // A leap second (60) is read as the last second of the minute.
        components.second = min(second, 59)
        guard let base = calendar.date(from: components) else { return nil }
        return base.addingTimeInterval(fraction - Double(offsetSeconds))
    }
}
