import Foundation
import Hummingbird

/// The headers of a command, read once (`Idempotency-Key`, `If-Match`, `Prefer`).
struct CommandHeaders: Sendable {
    static let idempotencyKeyName = HTTPFields.Element.Name("Idempotency-Key")!
    static let prefer = HTTPFields.Element.Name("Prefer")!
    static let preferenceApplied = HTTPFields.Element.Name("Preference-Applied")!

    /// 1 to 255 visible ASCII characters.
    var idempotencyKey: String?
    /// The version `If-Match` names; nil for no header or `*`.
    var expectedVersion: Int?
    /// `Prefer: return=minimal` (RFC 7240): 204 with the new version in `ETag` instead of the request.
    var prefersMinimalReturn: Bool

    /// - Throws: 422 for a malformed Idempotency-Key, 400 for a malformed If-Match.
    init(_ request: Request) throws(APIProblem) {
        idempotencyKey = request.headers[Self.idempotencyKeyName]
        if let idempotencyKey { try Self.checkKeyForm(idempotencyKey) }
        expectedVersion = try Self.expectedVersion(request.headers[.ifMatch])
        prefersMinimalReturn = Self.prefersMinimalReturn(request.headers[values: Self.prefer])
    }

    static func checkKeyForm(_ key: String) throws(APIProblem) {
        let valid =
            !key.isEmpty && key.utf8.count <= 255
            && key.unicodeScalars.allSatisfy { $0.value >= 0x21 && $0.value <= 0x7e }
        guard valid else {
            throw APIProblem.validation(["idempotency_key": UserText("idempotency.key_invalid")])
        }
    }

    /// `If-Match` with the version as the `ETag` gave it (`"3"`, also `W/"3"` or `3`); `*` or no header:
    /// no check.
    static func expectedVersion(_ field: String?) throws(APIProblem) -> Int? {
        guard let text = ifMatchDigits(field) else { return nil }
        guard text.count <= 9, let version = Int(digits: text, in: 0...999_999_999) else {
            throw APIProblem.badRequest(
                UserText("idempotency.if_match_invalid"), errors: ["if_match": UserText("idempotency.if_match_field")])
        }
        return version
    }

    /// What an `If-Match` names, without `W/` and quotes (`W/"3"`, `"3"`, `3` → `3`); nil for no header
    /// or `*`. The caller checks that it is a version of its kind.
    static func ifMatchDigits(_ field: String?) -> Substring? {
        guard let header = field?.trimmingCharacters(in: .whitespaces), header != "*" else { return nil }
        var text = Substring(header)
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = text.dropFirst().dropLast() }
        return text
    }

    /// Whether one of the `Prefer` fields holds `return=minimal` (token case-insensitive, value may be
    /// quoted; preferences are separated by commas, parameters by semicolons).
    static func prefersMinimalReturn(_ fields: [String]) -> Bool {
        fields.lazy.flatMap { $0.split(separator: ",") }.contains { preference in
            let name = preference.split(separator: ";", maxSplits: 1).first ?? ""
            let pair = name.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
            return pair.count == 2 && pair[0].lowercased() == "return" && pair[1].lowercased() == "minimal"
        }
    }

}
