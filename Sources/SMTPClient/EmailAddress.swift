/// A validated addr-spec (`local@domain`, RFC 5321 4.1.2 / RFC 5322 3.4.1), usable both in the SMTP
/// envelope (`MAIL FROM:<…>`, `RCPT TO:<…>`) and in `From`/`To` headers without further escaping.
///
/// Refused: CR, LF and every other control character, `<` and `>`, spaces outside a quoted local
/// part, more than one `@` outside quotes, empty or over-long parts. An address with non-ASCII
/// characters (RFC 6531) is accepted but needs a server that offers SMTPUTF8.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    public let localPart: String
    public let domain: String

    public init(_ address: String) throws(SMTPError) {
        // Angle brackets would end the envelope's `<…>` early, even inside quotes for many servers.
        guard !address.contains("<"), !address.contains(">") else {
            throw .invalidMessage("angle bracket in address")
        }
        guard let at = Self.separatingAt(in: address) else {
            throw .invalidMessage("address has no @ outside a quoted local part")
        }
        let local = String(address[..<at])
        let domain = String(address[address.index(after: at)...])
        try Self.validate(localPart: local)
        try Self.validate(domain: domain)
        guard address.utf8.count <= 254 else {
            throw .invalidMessage("address longer than 254 octets")
        }
        self.localPart = local
        self.domain = domain
    }

    /// The address as written in the envelope and in headers.
    public var description: String { "\(self.localPart)@\(self.domain)" }

    /// True when the address contains non-ASCII characters and so needs SMTPUTF8.
    public var requiresSMTPUTF8: Bool { !self.description.utf8.allSatisfy { $0 < 0x80 } }

    /// The `@` that separates local part and domain: the last one outside a quoted string.
    private static func separatingAt(in address: String) -> String.Index? {
        var inQuotes = false
        var escaped = false
        var result: String.Index?
        for index in address.indices {
            let character = address[index]
            if escaped {
                escaped = false
            } else if inQuotes && character == "\\" {
                escaped = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else if character == "@" && !inQuotes {
                result = index
            }
        }
        return result
    }

    private static func validate(localPart local: String) throws(SMTPError) {
        guard !local.isEmpty, local.utf8.count <= 64 else {
            throw .invalidMessage("local part empty or longer than 64 octets")
        }
        guard local.unicodeScalars.allSatisfy({ !$0.isControlOrLineBreak }) else {
            throw .invalidMessage("control character in address")
        }
        if local.hasPrefix("\"") {
            try validate(quotedLocalPart: local)
        } else {
            // dot-atom: atoms of atext (RFC 5322 3.2.3, UTF-8 per RFC 6532) separated by single dots.
            let atoms = local.split(separator: ".", omittingEmptySubsequences: false)
            guard atoms.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(\.isAtext) }) else {
                throw .invalidMessage("local part is not a dot-atom")
            }
        }
    }

    private static func validate(quotedLocalPart local: String) throws(SMTPError) {
        let scalars = Array(local.unicodeScalars)
        guard scalars.count >= 2, scalars.last == "\"" else {
            throw .invalidMessage("unterminated quoted local part")
        }
        var index = 1
        while index < scalars.count - 1 {
            let scalar = scalars[index]
            if scalar == "\\" {
                // quoted-pair: any printable character or space may follow.
                guard index + 1 < scalars.count - 1 else {
                    throw .invalidMessage("dangling escape in quoted local part")
                }
                index += 2
                continue
            }
            guard scalar != "\"" else {
                throw .invalidMessage("unescaped quote in quoted local part")
            }
            index += 1
        }
    }

    private static func validate(domain: String) throws(SMTPError) {
        guard !domain.isEmpty, domain.utf8.count <= 253 else {
            throw .invalidMessage("domain empty or longer than 253 octets")
        }
        if domain.hasPrefix("[") {
            // address literal, e.g. [192.0.2.1] or [IPv6:…]
            let inner = domain.dropFirst().dropLast()
            guard domain.hasSuffix("]"), !inner.isEmpty,
                inner.unicodeScalars.allSatisfy({
                    $0.isASCII && ($0.properties.isAlphabetic || "0123456789.:".unicodeScalars.contains($0))
                })
            else {
                throw .invalidMessage("malformed address literal")
            }
            return
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        let valid = labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy { scalar in
                    scalar == "-"
                        || (scalar.isASCII
                            ? scalar.isASCIIAlphanumeric
                            : !scalar.isControlOrLineBreak && !scalar.properties.isWhitespace)
                }
        }
        guard valid else {
            throw .invalidMessage("domain is not a host name")
        }
    }
}

extension Unicode.Scalar {
    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators: nothing a header
    /// or an envelope address may contain.
    var isControlOrLineBreak: Bool {
        self.value < 0x20 || (0x7F...0x9F).contains(self.value) || self.value == 0x2028 || self.value == 0x2029
    }

    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }

    /// atext of RFC 5322 3.2.3, extended by RFC 6532 to non-ASCII UTF-8 (no whitespace).
    var isAtext: Bool {
        if self.isASCII {
            return self.isASCIIAlphanumeric || "!#$%&'*+-/=?^_`{|}~".unicodeScalars.contains(self)
        }
        return !self.isControlOrLineBreak && !self.properties.isWhitespace
    }
}
