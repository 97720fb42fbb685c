/// Turns a ``MailMessage`` into the octets of an RFC 5322 / MIME message: CRLF line endings,
/// headers only of printable ASCII (plus UTF-8 addresses when they need SMTPUTF8), bodies as
/// UTF-8 quoted-printable, so the message is 7-bit clean and no server needs 8BITMIME.
///
/// The output depends on nothing but the message (no clock, no randomness): a message composed
/// again for a resend is the same message, byte for byte.
enum MIMEComposer {
    static func compose(_ message: MailMessage) -> [UInt8] {
        var headers = ""
        headers += HeaderField.render("Date", [MailDate.format(message.date)])
        headers += HeaderField.render("From", HeaderField.addressTokens([message.from]))
        headers += HeaderField.render("To", HeaderField.addressTokens(message.to))
        headers += HeaderField.render("Message-ID", [message.messageID.bracketed])
        if let inReplyTo = message.inReplyTo {
            headers += HeaderField.render("In-Reply-To", [inReplyTo.bracketed])
        }
        if !message.references.isEmpty {
            headers += HeaderField.render("References", message.references.map(\.bracketed))
        }
        headers += HeaderField.render("Subject", HeaderText.unstructured(message.subject))
        // RFC 3834: automatic mail; well-behaved responders send no vacation replies to it.
        headers += HeaderField.render("Auto-Submitted", ["auto-generated"])
        // Exchange ignores Auto-Submitted and reads this instead (city administrations run Exchange).
        headers += HeaderField.render("X-Auto-Response-Suppress", ["All"])
        headers += HeaderField.render("MIME-Version", ["1.0"])

        guard let html = message.htmlBody else {
            // One part: its Content-Type and transfer encoding are the message's own headers.
            return Array((headers + Self.part(contentType: "text/plain", message.textBody)).utf8)
        }
        let boundary = Self.boundary(for: message.messageID)
        headers += HeaderField.render("Content-Type", ["multipart/alternative;", "boundary=\"\(boundary)\""])
        // The empty line ends the message's headers; each part then brings its own.
        var body = "\r\n"
        body += "--\(boundary)\r\n"
        body += Self.part(contentType: "text/plain", message.textBody)
        body += "--\(boundary)\r\n"
        body += Self.part(contentType: "text/html", html)
        body += "--\(boundary)--\r\n"
        return Array((headers + body).utf8)
    }

    /// The headers and the quoted-printable content of one text part; a blank line between.
    private static func part(contentType: String, _ text: String) -> String {
        HeaderField.render("Content-Type", ["\(contentType);", "charset=UTF-8"])
            + HeaderField.render("Content-Transfer-Encoding", ["quoted-printable"])
            + "\r\n" + QuotedPrintable.encode(text) + "\r\n"
    }

    /// A boundary that cannot occur in the parts: quoted-printable writes every `=` as `=3D`, so
    /// `=_` never appears in its output (RFC 2045 6.7 suggests exactly this). The rest is derived
    /// from the message id (FNV-1a) to keep composing deterministic.
    static func boundary(for messageID: MessageID) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in messageID.value.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return "=_Freigabe_" + String(hash, radix: 16).leftPadded(to: 16)
    }
}
