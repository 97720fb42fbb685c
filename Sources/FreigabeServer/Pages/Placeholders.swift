/// The `{name}` placeholders of the strings catalogue (pages, API and CLI messages, mail subjects).
enum Placeholders {
    /// `text` with each `{name}` of `arguments` replaced by its value, in one pass: a value is never read
    /// for placeholders itself (a uid or comment containing `{role}` stays as written), and an unknown
    /// `{name}` stays. Foundation's `replacingOccurrences`, once per argument, was 7 % of an inbox page.
    static func fill(_ text: String, _ arguments: [String: String]) -> String {
        guard !arguments.isEmpty, let firstOpen = text.utf8.firstIndex(of: UInt8(ascii: "{")) else { return text }
        var result = String(text[..<firstOpen])
        var rest = text[firstOpen...]
        // `{` and `}` are ASCII: their UTF-8 positions are character boundaries of `text`.
        while let open = rest.utf8.firstIndex(of: UInt8(ascii: "{")) {
            result += rest[..<open]
            let afterOpen = rest.utf8.index(after: open)
            if let close = rest[afterOpen...].utf8.firstIndex(of: UInt8(ascii: "}")),
                let value = arguments[String(rest[afterOpen..<close])]
            {
                result += value
                rest = rest[rest.utf8.index(after: close)...]
            } else {
                result += "{"
                rest = rest[afterOpen...]
            }
        }
        result += rest
        return result
    }
}
