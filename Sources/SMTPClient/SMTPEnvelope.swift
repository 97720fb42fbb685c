/// What one SMTP transaction needs of a message: the envelope and the composed octets. Built before
/// connecting, so the state machine only moves prepared values.
struct SMTPEnvelope: Sendable, Hashable {
    var messageID: MessageID
    var sender: EmailAddress
    var recipients: [EmailAddress]
    /// The composed message, CRLF line endings, not yet dot-stuffed.
    var content: [UInt8]
    /// An address in the envelope or a header is not ASCII (RFC 6531).
    var requiresSMTPUTF8: Bool

    init(
        messageID: MessageID, sender: EmailAddress, recipients: [EmailAddress], content: [UInt8], requiresSMTPUTF8: Bool
    ) {
        self.messageID = messageID
        self.sender = sender
        self.recipients = recipients
        self.content = content
        self.requiresSMTPUTF8 = requiresSMTPUTF8
    }

    init(_ message: MailMessage) {
        let sender = message.envelopeFrom ?? message.from.address
        let addresses = [sender, message.from.address] + message.recipients
        self.init(
            messageID: message.messageID,
            sender: sender,
            recipients: message.recipients,
            content: MIMEComposer.compose(message),
            requiresSMTPUTF8: addresses.contains(where: \.requiresSMTPUTF8))
    }
}

/// The DATA encoding of RFC 5321 4.5.2: a line that starts with `.` gets a second one, and the
/// content ends with `CRLF.CRLF`. Without it a line holding only `.` would end the message early
/// and the rest would be read as commands.
enum DotStuffing {
    static func encode(_ content: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(content.count + content.count / 64 + 5)
        var atLineStart = true
        for byte in content {
            if atLineStart && byte == UInt8(ascii: ".") {
                output.append(UInt8(ascii: "."))
            }
            output.append(byte)
            atLineStart = byte == UInt8(ascii: "\n")
        }
        if !output.isEmpty && !output.ends(with: [UInt8(ascii: "\r"), UInt8(ascii: "\n")]) {
            output += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        }
        output += Array(".\r\n".utf8)
        return output
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        self.count >= suffix.count && Array(self[(self.count - suffix.count)...]) == suffix
    }
}
