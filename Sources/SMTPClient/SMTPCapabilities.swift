/// The extensions a server announced in its EHLO reply (RFC 5321 4.1.1.1: one keyword per line
/// after the first, parameters separated by spaces).
struct SMTPCapabilities: Sendable, Hashable {
    var startTLS = false
    /// Upper-cased SASL mechanism names after `AUTH` (or the pre-standard `AUTH=`).
    var authMechanisms: Set<String> = []
    /// `SIZE` (RFC 1870): nil when not announced; 0 when announced without a fixed limit.
    var maximumSize: Int?
    var eightBitMIME = false
    var smtpUTF8 = false
    var enhancedStatusCodes = false

    init() {}

    init(ehloReply reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            let words = line.split(separator: " ").map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            let parameters = words.dropFirst()
            switch keyword {
            case "STARTTLS": self.startTLS = true
            case "AUTH": self.authMechanisms.formUnion(parameters)
            case "8BITMIME": self.eightBitMIME = true
            case "SMTPUTF8": self.smtpUTF8 = true
            case "ENHANCEDSTATUSCODES": self.enhancedStatusCodes = true
            case "SIZE":
                // A SIZE whose parameter is not a number still announces the extension.
                self.maximumSize = parameters.first.flatMap { Int($0) } ?? 0
            default:
                if keyword.hasPrefix("AUTH=") {
                    self.authMechanisms.insert(String(keyword.dropFirst("AUTH=".count)))
                    self.authMechanisms.formUnion(parameters)
                }
            }
        }
    }
}
