import Foundation
import Hummingbird

/// A submitted HTML form (`application/x-www-form-urlencoded`), read once by ``FormCSRFMiddleware``.
///
/// Field names follow the JSON API's with dots for nesting (`recipient.name`,
/// `open_data_check.security.applies`), so that ``jsonBody(booleans:)`` hands the pages' input to the
/// very readers the API uses: one reader, one set of field errors, the same keys on the page.
struct WebForm: Sendable, Hashable {
    /// Values by name, in the order sent; a name may repeat.
    private(set) var fields: [(name: String, value: String)]

    static func == (lhs: WebForm, rhs: WebForm) -> Bool {
        lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }

    func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }

    /// Fields the pages use for themselves, never passed on to a command.
    static let controlFields: Set<String> = ["_csrf", "action", "version"]
    /// Larger forms are refused (413): the longest legitimate form is a request with every text full.
    static let maximumBytes = 256 * 1024
    static let maximumFields = 200

    enum ReadError: Error, Equatable {
        case notAForm, tooLarge, malformed
    }

    init(fields: [(name: String, value: String)]) { self.fields = fields }

    /// Parses `body`.
    ///
    /// - Throws: ``ReadError/malformed`` for broken percent-encoding or text that is not UTF-8,
    ///   ``ReadError/tooLarge`` for more than ``maximumFields`` fields.
    init(urlEncoded body: String) throws(ReadError) {
        var fields: [(String, String)] = []
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            guard fields.count < Self.maximumFields else { throw .tooLarge }
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw .malformed
            }
            fields.append((name, value))
        }
        self.fields = fields
    }

    private static func decode(_ part: Substring) -> String? {
        String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// The first value of `name`, nil when absent.
    subscript(_ name: String) -> String? { fields.first { $0.name == name }?.value }

    /// The first value of `name`, trimmed; nil when absent or blank.
    func text(_ name: String) -> String? {
        guard let value = self[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            return nil
        }
        return value
    }

    /// The form as the JSON body the API would receive: dotted names nest, blank fields are left out
    /// (as an absent JSON field), names ending in one of `booleans` become `true`/`false` (any other
    /// value stays text, so the reader names it as a wrong type). Control fields are dropped.
    func jsonBody(booleans: Set<String> = []) -> JSONObject {
        var root: [String: JSONValue] = [:]
        for (name, value) in fields where !Self.controlFields.contains(name) {
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            let path = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let leaf: JSONValue =
                switch (booleans.contains(path.last ?? ""), trimmed) {
                case (true, "true"): .bool(true)
                case (true, "false"): .bool(false)
                default: .string(value)
                }
            Self.insert(leaf, at: path[...], into: &root)
        }
        return JSONObject(fields: root, path: "")
    }

    /// The first value wins, as `subscript` reads it; a name that is both a value and a group keeps the value.
    private static func insert(_ value: JSONValue, at path: ArraySlice<String>, into object: inout [String: JSONValue])
    {
        guard let key = path.first else { return }
        if path.count == 1 {
            if object[key] == nil { object[key] = value }
            return
        }
        var child: [String: JSONValue]
        switch object[key] {
        case .object(let existing): child = existing
        case nil: child = [:]
        default: return
        }
        insert(value, at: path.dropFirst(), into: &child)
        object[key] = .object(child)
    }
}
