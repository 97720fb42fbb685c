/// Quoted-printable content transfer encoding (RFC 2045 6.7) for text bodies.
///
/// Output lines end in CRLF and hold at most 76 characters including the `=` of a soft break.
/// Line breaks of the input (CRLF, LF or CR) become hard CRLF breaks. The escapes of one Unicode
/// scalar stay on one line, so no reader ever sees a line ending inside a UTF-8 sequence.
enum QuotedPrintable {
    static let maximumLineLength = 76

    static func encode(_ text: String) -> String {
        var output = ""
        for (index, line) in Self.lines(of: text).enumerated() {
            if index > 0 {
                output += "\r\n"
            }
            output += Self.encode(line: line)
        }
        return output
    }

    /// One input line (no line break inside) as one or more output lines joined by soft breaks.
    private static func encode(line: Substring.UnicodeScalarView) -> String {
        var chunks: [String] = []
        let scalars = Array(line)
        for (index, scalar) in scalars.enumerated() {
            let isLast = index == scalars.count - 1
            chunks.append(Self.encode(scalar, atLineEnd: isLast, atLineStart: index == 0, line: scalars))
        }
        var output = ""
        var lineLength = 0
        for (index, chunk) in chunks.enumerated() {
            let isLast = index == chunks.count - 1
            // A soft break costs one `=`; the last chunk of the line needs no room for it.
            let limit = isLast ? Self.maximumLineLength : Self.maximumLineLength - 1
            if lineLength + chunk.count > limit {
                output += "=\r\n"
                lineLength = 0
            }
            output += chunk
            lineLength += chunk.count
        }
        return output
    }

    private static func encode(
        _ scalar: Unicode.Scalar, atLineEnd: Bool, atLineStart: Bool, line: [Unicode.Scalar]
    ) -> String {
        let value = scalar.value
        if value == 0x20 || value == 0x09 {
            // Trailing whitespace is stripped by some transports (RFC 2045 rule 3).
            return atLineEnd ? Self.escape(UInt8(value)) : String(scalar)
        }
        // "From " at the start of a line is mangled by mbox stores; "." is harmless after SMTP
        // dot-stuffing but some gateways still trip over it.
        if atLineStart && (scalar == "." || (scalar == "F" && line.starts(with: "From ".unicodeScalars))) {
            return Self.escape(UInt8(value))
        }
        if (33...126).contains(value) && scalar != "=" {
            return String(scalar)
        }
        return String(scalar).utf8.map(Self.escape).joined()
    }

    private static func escape(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "=\(digits[Int(byte >> 4)])\(digits[Int(byte & 0x0F)])"
    }

    /// Splits at CRLF, LF and lone CR.
    private static func lines(of text: String) -> [Substring.UnicodeScalarView] {
        var lines: [Substring.UnicodeScalarView] = []
        let scalars = Substring(text).unicodeScalars
        var start = scalars.startIndex
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            if scalar == "\r" || scalar == "\n" {
                lines.append(scalars[start..<index])
                var next = scalars.index(after: index)
                if scalar == "\r", next < scalars.endIndex, scalars[next] == "\n" {
                    next = scalars.index(after: next)
                }
                index = next
                start = next
            } else {
                index = scalars.index(after: index)
            }
        }
        lines.append(scalars[start..<scalars.endIndex])
        return lines
    }
}
