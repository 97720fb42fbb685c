/// A parsed distinguished name (RFC 4514), compared in normalised form.
///
/// Group DNs come from configuration files typed by people (`CN=Freigabe-DSB, OU=Groups,DC=stadt`)
/// and from the directory (`cn=freigabe-dsb,ou=groups,dc=stadt`); role mapping must treat them as the
/// same group. Normalisation: attribute types lowercased (and common OIDs mapped to their names),
/// values unescaped, leading/trailing spaces removed, inner runs of spaces collapsed, lowercased
/// (caseIgnoreMatch, which the naming attributes cn, ou, dc, uid, o use), multi-valued RDNs sorted.
/// Swift's `String` equality adds Unicode canonical equivalence (NFC and NFD compare equal).
public struct DistinguishedName: Sendable, Hashable, CustomStringConvertible {
    public struct AttributeTypeAndValue: Sendable, Hashable {
        /// The attribute type, lowercased (`cn`, `ou`, or a numeric OID that has no short name here).
        public var type: String
        /// The value, unescaped. Hex-encoded values (`#04...`) keep their `#` form.
        public var value: String
    }

    /// The RDNs, most specific first (`cn=x` of `cn=x,ou=y`). Each has one or more AVAs.
    public let rdns: [[AttributeTypeAndValue]]
    /// The canonical form used for comparison and hashing.
    public let normalized: String

    public init(parsing string: String) throws(LDAPDirectoryError) {
        var parser = DNParser(Array(string.utf8))
        self.rdns = try parser.parse()
        self.normalized = Self.normalize(self.rdns)
    }

    /// Normalised form of `string`, or `nil` when it is not a valid DN.
    public static func normalize(_ string: String) -> String? {
        try? DistinguishedName(parsing: string).normalized
    }

    public var description: String {
        self.normalized
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.normalized == rhs.normalized
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.normalized)
    }

    /// True when `self` equals `ancestor` or lies below it.
    public func isWithin(_ ancestor: DistinguishedName) -> Bool {
        guard ancestor.rdns.count <= self.rdns.count else {
            return false
        }
        let tail = self.rdns.suffix(ancestor.rdns.count)
        return zip(tail, ancestor.rdns).allSatisfy { Self.normalizeRDN($0) == Self.normalizeRDN($1) }
    }

    private static func normalize(_ rdns: [[AttributeTypeAndValue]]) -> String {
        rdns.map(normalizeRDN).joined(separator: ",")
    }

    private static func normalizeRDN(_ rdn: [AttributeTypeAndValue]) -> String {
        rdn.map { ava in
            let type = wellKnownOIDs[ava.type] ?? ava.type
            return "\(type)=\(escapeValue(normalizeValue(ava.value)))"
        }
        .sorted()
        .joined(separator: "+")
    }

    /// caseIgnoreMatch-style: insignificant spaces removed (RFC 4518 2.6.1), then lowercased.
    private static func normalizeValue(_ value: String) -> String {
        if value.hasPrefix("#") {
            return value.lowercased()
        }
        let words = value.split(whereSeparator: { $0.isWhitespace })
        return words.joined(separator: " ").lowercased()
    }

    /// RFC 4514 2.4 escaping, so that the normalised string is again a valid DN.
    static func escapeValue(_ value: String) -> String {
        if value.hasPrefix("#") && value.count > 1 && value.dropFirst().allSatisfy(\.isHexDigit) {
            return value
        }
        var result = ""
        let scalars = Array(value.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar {
            case "\"", "+", ",", ";", "<", ">", "\\", "=":
                result += "\\\(scalar)"
            case "#" where index == 0:
                result += "\\#"
            case " " where index == 0 || index == scalars.count - 1:
                result += "\\ "
            case "\u{0}":
                result += "\\00"
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The OIDs of the usual naming attributes, so that `2.5.4.3=x` equals `cn=x`.
    private static let wellKnownOIDs: [String: String] = [
        "2.5.4.3": "cn", "2.5.4.6": "c", "2.5.4.7": "l", "2.5.4.8": "st", "2.5.4.10": "o",
        "2.5.4.11": "ou", "0.9.2342.19200300.100.1.1": "uid", "0.9.2342.19200300.100.1.25": "dc",
    ]
}

/// A small RFC 4514 parser. It is lenient where configuration files usually are (spaces around
/// `,`, `+` and `=`; `;` as an RDN separator as in RFC 1779) and strict about escapes.
private struct DNParser {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func parse() throws(LDAPDirectoryError) -> [[DistinguishedName.AttributeTypeAndValue]] {
        self.skipSpaces()
        guard self.index < self.bytes.count else {
            // The empty DN (the root DSE) is valid but never a user or group.
            return []
        }
        var rdns: [[DistinguishedName.AttributeTypeAndValue]] = []
        var current: [DistinguishedName.AttributeTypeAndValue] = []
        while true {
            current.append(try self.parseAVA())
            self.skipSpaces()
            guard self.index < self.bytes.count else {
                rdns.append(current)
                return rdns
            }
            switch self.bytes[self.index] {
            case UInt8(ascii: "+"):
                self.index += 1
            case UInt8(ascii: ","), UInt8(ascii: ";"):
                self.index += 1
                rdns.append(current)
                current = []
            default:
                throw self.error("unexpected character")
            }
        }
    }

    private mutating func parseAVA() throws(LDAPDirectoryError) -> DistinguishedName.AttributeTypeAndValue {
        self.skipSpaces()
        let typeStart = self.index
        while self.index < self.bytes.count, Self.isTypeCharacter(self.bytes[self.index]) {
            self.index += 1
        }
        guard self.index > typeStart else {
            throw self.error("missing attribute type")
        }
        var type = String(decoding: self.bytes[typeStart..<self.index], as: UTF8.self).lowercased()
        if type.hasPrefix("oid.") {
            type.removeFirst(4)
        }
        self.skipSpaces()
        guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "=") else {
            throw self.error("missing '='")
        }
        self.index += 1
        self.skipSpaces()
        return .init(type: type, value: try self.parseValue())
    }

    private mutating func parseValue() throws(LDAPDirectoryError) -> String {
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "#") {
            let start = self.index
            self.index += 1
            while self.index < self.bytes.count, Self.hexValue(self.bytes[self.index]) != nil {
                self.index += 1
            }
            guard (self.index - start - 1) % 2 == 0, self.index - start > 1 else {
                throw self.error("invalid hex value")
            }
            return String(decoding: self.bytes[start..<self.index], as: UTF8.self)
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\"") {
            // RFC 2253 quoted value (not RFC 4514, but still written by some tools).
            self.index += 1
            var value: [UInt8] = []
            while true {
                guard self.index < self.bytes.count else {
                    throw self.error("unterminated quoted value")
                }
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: "\"") {
                    self.index += 1
                    return String(decoding: value, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") {
                    value.append(try self.parseEscape())
                } else {
                    value.append(byte)
                    self.index += 1
                }
            }
        }
        var value: [UInt8] = []
        // Escaped spaces are significant; unescaped trailing spaces are not (RFC 4514 2.4 / 3).
        var significantLength = 0
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "+"):
                return String(decoding: value.prefix(significantLength), as: UTF8.self)
            case UInt8(ascii: "\\"):
                value.append(try self.parseEscape())
                significantLength = value.count
            case UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "="), 0:
                throw self.error("unescaped special character in value")
            default:
                value.append(byte)
                self.index += 1
                if byte != UInt8(ascii: " ") {
                    significantLength = value.count
                }
            }
        }
        return String(decoding: value.prefix(significantLength), as: UTF8.self)
    }

    private mutating func parseEscape() throws(LDAPDirectoryError) -> UInt8 {
        self.index += 1  // the backslash
        guard self.index < self.bytes.count else {
            throw self.error("dangling backslash")
        }
        let first = self.bytes[self.index]
        if let high = Self.hexValue(first) {
            guard self.index + 1 < self.bytes.count, let low = Self.hexValue(self.bytes[self.index + 1]) else {
                throw self.error("invalid hex escape")
            }
            self.index += 2
            return high << 4 | low
        }
        switch first {
        case UInt8(ascii: " "), UInt8(ascii: "\""), UInt8(ascii: "#"), UInt8(ascii: "+"), UInt8(ascii: ","),
            UInt8(ascii: ";"), UInt8(ascii: "<"), UInt8(ascii: "="), UInt8(ascii: ">"), UInt8(ascii: "\\"):
            self.index += 1
            return first
        default:
            throw self.error("invalid escape")
        }
    }

    private mutating func skipSpaces() {
        while self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: " ") {
            self.index += 1
        }
    }

    private static func isTypeCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private func error(_ reason: String) -> LDAPDirectoryError {
        LDAPDirectoryError(
            code: .configuration,
            message: "Invalid distinguished name: \(reason).",
            details: "at byte \(self.index)"
        )
    }
}
