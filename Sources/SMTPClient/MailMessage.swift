import struct Foundation.Date

/// A display name and an address, as in `From: "Name" <address>`.
public struct Mailbox: Sendable, Hashable {
    /// Free text from a person or the directory; CR, LF and other controls are turned into spaces
    /// when the header is written, so a name can never start a header of its own.
    public var displayName: String?
    public var address: EmailAddress

    public init(_ address: EmailAddress, displayName: String? = nil) {
        self.address = address
        self.displayName = displayName
    }
}

/// One mail to send: what the composer turns into MIME and the client into one SMTP transaction.
///
/// The caller supplies ``messageID`` and ``date`` (time is a parameter here), so a message sent again
/// is the same message. ``subject``, display names and bodies may contain anything a person typed:
/// the composer encodes them; it never lets them shape the header block.
public struct MailMessage: Sendable, Hashable {
    public var messageID: MessageID
    public var date: Date
    public var from: Mailbox
    /// The recipients, in `To` and in the envelope (`RCPT TO`), each once.
    public var to: [Mailbox]
    public var subject: String
    public var textBody: String
    /// When present the message is `multipart/alternative`: the text part first, the HTML part last
    /// (RFC 2046 5.1.4: the preferred alternative comes last).
    public var htmlBody: String?
    /// The message this one answers; with ``references`` it threads all mails about one request.
    public var inReplyTo: MessageID?
    public var references: [MessageID]
    /// The envelope sender (`MAIL FROM`, where bounces go); `from`'s address when nil.
    public var envelopeFrom: EmailAddress?

    public init(
        messageID: MessageID,
        date: Date,
        from: Mailbox,
        to: [Mailbox],
        subject: String,
        textBody: String,
        htmlBody: String? = nil,
        inReplyTo: MessageID? = nil,
        references: [MessageID] = [],
        envelopeFrom: EmailAddress? = nil
    ) throws(SMTPError) {
        guard !to.isEmpty else {
            throw .invalidMessage("a message needs at least one recipient")
        }
        // Twice in RCPT TO would deliver twice; case differences are the same mailbox in practice.
        let distinct = Set(to.map { $0.address.description.lowercased() })
        guard distinct.count == to.count else {
            throw .invalidMessage("recipient listed twice")
        }
        self.messageID = messageID
        self.date = date
        self.from = from
        self.to = to
        self.subject = subject
        self.textBody = textBody
        self.htmlBody = htmlBody
        self.inReplyTo = inReplyTo
        self.references = references
        self.envelopeFrom = envelopeFrom
    }

    /// The envelope recipients, in the order of ``to``.
    public var recipients: [EmailAddress] { self.to.map(\.address) }
}
