import Mustache

/// The HTML escaping of every page: `{{name}}` in a template that starts with
/// `{{% CONTENT_TYPE: FREIGABE_HTML}}` (every page template and partial does; a test checks it).
///
/// swift-mustache's own HTML escaping walks the text by `Character` through a dictionary. That has two
/// faults: it was 9 % of a request page's CPU (`make bench-web`), and a quote or `<` followed by a
/// combining mark (`"\u{301}`) is one grapheme that is not equal to `"`, so it went out unescaped and
/// could end an attribute value. Here every UTF-8 byte of the five characters is replaced, whatever
/// follows it, with the same entities as before.
struct HTMLEscaping: MustacheContentType {
    /// The name templates give in their `CONTENT_TYPE` tag.
    static let name = "FREIGABE_HTML"

    /// Makes the name known to the template parser; before any template is loaded. Registering twice
    /// is harmless (the same value under the same name).
    static func register() { MustacheContentTypes.register(HTMLEscaping(), named: name) }

    func escapeText(_ text: String) -> String { Self.escape(text) }

    static func escape(_ text: String) -> String {
        let utf8 = text.utf8
        // Most values (names, dates, numbers) need nothing: no copy then.
        guard utf8.contains(where: Self.needsEscape) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count + 32)
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "<"): bytes.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): bytes.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "&"): bytes.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "\""): bytes.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): bytes.append(contentsOf: "&#39;".utf8)
            default: bytes.append(byte)
            }
        }
        // Only ASCII bytes were replaced by ASCII: still valid UTF-8.
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "&")
            || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }
}
