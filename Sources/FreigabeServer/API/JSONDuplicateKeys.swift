import Foundation

/// Finds the first member name that occurs twice in one JSON object.
///
/// RFC 8259 leaves duplicate names to the parser, and Foundation's decoder silently keeps one of the
/// values: `{"reason": "ok", "reason": ""}` would then be read differently here and by a proxy or an
/// auditor's tool. The API refuses such bodies instead. The scanner runs on text the decoder has
/// already accepted, so it only has to tell names from values; names are compared after unescaping
/// (`"a"` and `"\u0061"` are the same name).
enum JSONDuplicateKeys {
    /// The dotted path of the first repeated name (`recipient.name`), or nil.
    static func first(in bytes: [UInt8]) -> String? {
        var frames: [Frame] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                frames.append(Frame(path: frames.last?.childPath ?? "", isObject: true))
            case UInt8(ascii: "["):
                frames.append(Frame(path: frames.last?.childPath ?? "", isObject: false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                frames.removeLast()
            case UInt8(ascii: ","):
                if frames.last?.isObject == true { frames[frames.count - 1].expectsName = true }
            case UInt8(ascii: "\""):
                let end = closingQuote(in: bytes, from: index)
                if let frame = frames.last, frame.isObject, frame.expectsName {
                    let name = unescaped(bytes[index...end])
                    let path = frame.path.isEmpty ? name : frame.path + "." + name
                    if frame.names.contains(name) { return path }
                    frames[frames.count - 1].names.insert(name)
                    frames[frames.count - 1].expectsName = false
                    frames[frames.count - 1].currentName = name
                }
                index = end
            default:
                break
            }
            index += 1
        }
        return nil
    }

    private struct Frame {
        var path: String
        var isObject: Bool
        var expectsName = true
        var names: Set<String> = []
        var currentName: String?

        /// The path of a value nested in this container.
        var childPath: String {
            guard isObject, let currentName else { return path }
            return path.isEmpty ? currentName : path + "." + currentName
        }

        init(path: String, isObject: Bool) {
            self.path = path
            self.isObject = isObject
            self.expectsName = isObject
        }
    }

    /// The index of the quote that closes the string opening at `start`.
    private static func closingQuote(in bytes: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index
            default: index += 1
            }
        }
        return bytes.count - 1
    }

    private static func unescaped(_ token: ArraySlice<UInt8>) -> String {
        let inner = token.dropFirst().dropLast()
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        // Escapes are rare in names; the decoder that accepted the text also decodes the token.
        return (try? JSONDecoder().decode(String.self, from: Data(token))) ?? String(decoding: inner, as: UTF8.self)
    }
}
