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
    /// Uploaded files of a `multipart/form-data` form, by field name.
    private(set) var files: [String: UploadedFile] = [:]

    struct UploadedFile: Sendable, Hashable {
        /// The name the browser gives (the last path component only, never trusted as a path).
        var filename: String
        var content: [UInt8]
    }

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
    /// A form with a file (the catalogue import) may be larger.
    static let maximumUploadBytes = 4 * 1024 * 1024
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

    /// Parses a `multipart/form-data` body (RFC 7578) with the `boundary` of its content type: text
    /// parts become fields, parts with a file name become ``files``.
    init(multipart body: [UInt8], boundary: String) throws(ReadError) {
        guard !boundary.isEmpty, boundary.utf8.count <= 70 else { throw .malformed }
        let delimiter = Array("--\(boundary)".utf8)
        var fields: [(String, String)] = []
        var files: [String: UploadedFile] = [:]
        var parts = Self.split(body, on: delimiter)
        // Before the first delimiter: the preamble; after the last ("--"): the epilogue.
        guard parts.count >= 2 else { throw .malformed }
        parts.removeFirst()
        for part in parts {
            if part.starts(with: Array("--".utf8)) { break }
            guard part.starts(with: [13, 10]) else { throw .malformed }
            let content = part.dropFirst(2)
            guard let headerEnd = Self.firstIndex(of: [13, 10, 13, 10], in: content) else { throw .malformed }
            guard let headers = String(validating: content[content.startIndex..<headerEnd], as: UTF8.self) else {
                throw .malformed
            }
            var value = Array(content[(headerEnd + 4)...])
            // The CRLF before the next delimiter belongs to the delimiter.
            guard value.suffix(2) == [13, 10] else { throw .malformed }
            value.removeLast(2)
            guard let disposition = Self.disposition(headers), let name = disposition["name"] else { throw .malformed }
            guard fields.count + files.count < Self.maximumFields else { throw .tooLarge }
            if let filename = disposition["filename"] {
                let base = filename.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
                files[name] = UploadedFile(filename: base, content: value)
            } else {
                guard let text = String(validating: value, as: UTF8.self) else { throw .malformed }
                fields.append((name, text))
            }
        }
        self.fields = fields
        self.files = files
    }

    /// `name` and `filename` of a part's `Content-Disposition: form-data; name="…"; filename="…"`.
    private static func disposition(_ headers: String) -> [String: String]? {
        for line in headers.split(separator: "\r\n") {
            let pieces = line.split(separator: ":", maxSplits: 1)
            guard pieces.count == 2, pieces[0].lowercased() == "content-disposition" else { continue }
            var result: [String: String] = [:]
            for parameter in pieces[1].split(separator: ";").dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2 else { continue }
                var value = pair[1].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                result[pair[0].trimmingCharacters(in: .whitespaces).lowercased()] = value
            }
            return result
        }
        return nil
    }

    private static func split(_ bytes: [UInt8], on delimiter: [UInt8]) -> [ArraySlice<UInt8>] {
        var parts: [ArraySlice<UInt8>] = []
        var rest = bytes[...]
        while let index = firstIndex(of: delimiter, in: rest) {
            parts.append(rest[rest.startIndex..<index])
            rest = rest[(index + delimiter.count)...]
        }
        parts.append(rest)
        return parts
    }

    private static func firstIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index <= haystack.endIndex - needle.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
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
