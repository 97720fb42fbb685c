/// What happened to one message: one outcome per recipient, since a server may take some
/// recipients and refuse others (RCPT TO is answered for each).
public struct DeliveryResult: Sendable, Hashable {
    public let messageID: MessageID
    public let recipients: [RecipientResult]

    public init(messageID: MessageID, recipients: [RecipientResult]) {
        self.messageID = messageID
        self.recipients = recipients
    }

    /// Every recipient was delivered.
    public var isDelivered: Bool { self.recipients.allSatisfy { $0.outcome == .delivered } }

    /// The recipients worth trying again later (their failure was temporary).
    public var temporarilyFailed: [EmailAddress] {
        self.recipients.compactMap { result in
            if case .failed(let error) = result.outcome, error.isTemporary { return result.address }
            return nil
        }
    }

    /// The recipients that will never get this message from this server.
    public var permanentlyFailed: [EmailAddress] {
        self.recipients.compactMap { result in
            if case .failed(let error) = result.outcome, error.isPermanent { return result.address }
            return nil
        }
    }
}

public struct RecipientResult: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// The server accepted the message for this recipient (250 after the final dot).
        case delivered
        /// Not delivered; ``SMTPError/isTemporary`` tells whether to retry.
        case failed(SMTPError)
    }

    public let address: EmailAddress
    public let outcome: Outcome

    public init(address: EmailAddress, outcome: Outcome) {
        self.address = address
        self.outcome = outcome
    }
}
