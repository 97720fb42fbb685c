import struct Foundation.Data

/// A command the client sends, one line each (RFC 5321 4.1.1, RFC 4954 for AUTH).
enum SMTPCommand: Sendable, Hashable, CustomStringConvertible {
    case ehlo(String)
    case startTLS
    /// `AUTH PLAIN` with the initial response (RFC 4616): base64 of NUL user NUL password.
    case authPlain(SMTPCredentials)
    case authLogin
    /// A base64 answer to a `334` challenge of AUTH LOGIN: the username or the password.
    case authLoginResponse(String)
    case mailFrom(EmailAddress, size: Int?, smtpUTF8: Bool)
    case rcptTo(EmailAddress)
    case data
    case reset
    case quit

    /// The line as sent, with CRLF. Contains secrets for the AUTH commands: write it, never log it.
    var line: String {
        switch self {
        case .ehlo(let name): return "EHLO \(name)\r\n"
        case .startTLS: return "STARTTLS\r\n"
        case .authPlain(let credentials):
            let response = Self.base64("\u{0}\(credentials.username)\u{0}\(credentials.password)")
            return "AUTH PLAIN \(response)\r\n"
        case .authLogin: return "AUTH LOGIN\r\n"
        case .authLoginResponse(let text): return "\(Self.base64(text))\r\n"
        case .mailFrom(let address, let size, let smtpUTF8):
            var line = "MAIL FROM:<\(address)>"
            if let size {
                line += " SIZE=\(size)"
            }
            if smtpUTF8 {
                line += " SMTPUTF8"
            }
            return line + "\r\n"
        case .rcptTo(let address): return "RCPT TO:<\(address)>\r\n"
        case .data: return "DATA\r\n"
        case .reset: return "RSET\r\n"
        case .quit: return "QUIT\r\n"
        }
    }

    /// For logs: the AUTH payloads are redacted.
    var description: String {
        switch self {
        case .authPlain: return "AUTH PLAIN <redacted>"
        case .authLoginResponse: return "<redacted AUTH LOGIN response>"
        default:
            // "\r\n" is a single Character: drop it as two scalars.
            return String(String.UnicodeScalarView(self.line.unicodeScalars.dropLast(2)))
        }
    }

    private static func base64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }
}
