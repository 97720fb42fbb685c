/// Building search filters from untrusted input (RFC 4515).
public enum LDAPFilter {
    /// The placeholder in user filter templates, e.g. `(&(objectClass=inetOrgPerson)(uid={username}))`.
    public static let usernamePlaceholder = "{username}"

    /// Escapes a value for use as an assertion value inside a filter (RFC 4515 section 3).
    ///
    /// RFC 4515 requires escaping `*`, `(`, `)`, `\` and NUL as `\XX`. Control characters (0x01-0x1F,
    /// 0x7F) are escaped too: they are legal raw but make filters unreadable in logs. All other
    /// UTF-8 bytes stay as they are (RFC 4515 allows raw UTF-8), so `jürgen` matches `jürgen`.
    public static func escape(_ value: String) -> String {
        var escaped: [UInt8] = []
        escaped.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case 0x00...0x1F, 0x28, 0x29, 0x2A, 0x5C, 0x7F:
                escaped.append(UInt8(ascii: "\\"))
                escaped.append(hexDigit(byte >> 4))
                escaped.append(hexDigit(byte & 0x0F))
            default:
                escaped.append(byte)
            }
        }
        // Only ASCII bytes were replaced by ASCII sequences, so the result is still valid UTF-8.
        return String(decoding: escaped, as: UTF8.self)
    }

    /// Substitutes the escaped `username` for every ``usernamePlaceholder`` in `template`.
    public static func userFilter(template: String, username: String) -> String {
        template.replacing(usernamePlaceholder, with: escape(username))
    }

    /// An equality filter `(attribute=value)` with the value escaped.
    static func equality(_ attribute: String, _ value: String) -> String {
        "(\(attribute)=\(escape(value)))"
    }

    /// `(|a b c)`, or `a` alone.
    static func or(_ filters: [String]) -> String {
        filters.count == 1 ? filters[0] : "(|\(filters.joined()))"
    }

    /// Checks the shape of a filter template: parenthesised, balanced, contains the placeholder.
    /// (The directory parses the filter for real; this catches typos at startup, not at first login.)
    static func validateTemplate(_ template: String) throws(LDAPDirectoryError) {
        guard template.contains(usernamePlaceholder) else {
            throw .configuration("The user filter must contain \(usernamePlaceholder).")
        }
        try validateFilterShape(template, name: "user filter")
    }

    static func validateFilterShape(_ filter: String, name: String) throws(LDAPDirectoryError) {
        guard filter.hasPrefix("("), filter.hasSuffix(")") else {
            throw .configuration("The \(name) must be enclosed in parentheses.")
        }
        var depth = 0
        var previousWasBackslash = false
        for character in filter.utf8 {
            if previousWasBackslash {
                previousWasBackslash = false
                continue
            }
            switch character {
            case UInt8(ascii: "\\"): previousWasBackslash = true
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"):
                depth -= 1
                if depth < 0 {
                    throw .configuration("The \(name) has unbalanced parentheses.")
                }
            default: break
            }
        }
        guard depth == 0 else {
            throw .configuration("The \(name) has unbalanced parentheses.")
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
