/// The SMTP client protocol (RFC 5321, 3207 STARTTLS, 4954 AUTH, 1870 SIZE) as a pure state
/// machine in the style of PostgresNIO's `ConnectionStateMachine`: each event is a `mutating func`
/// that switches over the state, names every state, and returns the ``Action`` the channel handler
/// performs. No I/O, no clock, no NIO types: tests drive it with scripted replies.
///
/// One session sends the messages in order over one connection: greeting, EHLO, STARTTLS and EHLO
/// again, AUTH, then per message MAIL FROM, RCPT TO per recipient, DATA, the content, and RSET
/// before the next message; QUIT at the end. Commands are sent one at a time (no PIPELINING):
/// a notification server sends few mails per connection, and the replies stay easy to attribute.
///
/// Failures: until the first mail transaction starts, any failure fails the session
/// (``SessionOutcome/failed(_:)``). From then on the session always ends with one
/// ``DeliveryResult`` per message: a refused recipient fails alone, a refused message fails all its
/// recipients, and when the connection is lost the message in flight and all later ones fail with
/// that (temporary) error, while those already accepted stay delivered.
struct SMTPStateMachine {
    /// STARTTLS (required), implicit TLS or plain text; see ``SMTPConfiguration/Security``.
    typealias Security = SMTPConfiguration.Security

    struct Configuration: Sendable, Hashable {
        var security: Security
        var credentials: SMTPCredentials?
        /// Our name in EHLO.
        var clientHostname: String
    }

    enum SessionOutcome: Sendable, Hashable {
        /// Every message has a result (some may have failed).
        case completed([DeliveryResult])
        /// The session failed before any message was attempted.
        case failed(SMTPError)
    }

    enum Action: Sendable, Hashable {
        /// Nothing to do until the next event.
        case wait
        /// Write the command and wait (with the command timeout) for its reply.
        case send(SMTPCommand)
        /// Write the dot-stuffed message content and wait (with the data timeout) for the reply.
        case sendContent([UInt8])
        /// Put TLS under the connection and report ``SMTPStateMachine/tlsEstablished()``.
        case startTLSHandshake
        /// Close the connection (writing QUIT first when `sendQuit`) and report the outcome.
        case finish(SessionOutcome, sendQuit: Bool)
    }

    private enum AuthStep: Sendable, Hashable {
        case plain
        /// AUTH LOGIN sent; the server asks for the username.
        case loginUsername
        /// Username sent; the server asks for the password.
        case loginPassword
        /// Password sent; the server answers 235 or refuses.
        case loginResult
    }

    /// One message's transaction: which recipient is next and what each one got so far.
    private struct Transaction: Sendable, Hashable {
        enum RecipientState: Sendable, Hashable {
            case pending
            case accepted
            case failed(SMTPError)
        }

        var message: Int
        var recipients: [RecipientState]
        var nextRecipient = 0

        init(message: Int, recipientCount: Int) {
            self.message = message
            self.recipients = Array(repeating: .pending, count: recipientCount)
        }

        var hasAcceptedRecipient: Bool { self.recipients.contains(.accepted) }
    }

    private enum State: Sendable, Hashable {
        case initial
        case greeting
        case ehlo(secured: Bool)
        case startTLS
        case tlsHandshake
        case authentication(AuthStep)
        case mailFrom(Transaction)
        case rcptTo(Transaction)
        case data(Transaction)
        case content(Transaction)
        /// RSET sent; then the message at `next` (or QUIT).
        case reset(next: Int)
        case quit
        case finished
    }

    private let configuration: Configuration
    private let envelopes: [SMTPEnvelope]
    private var state: State = .initial
    private var capabilities = SMTPCapabilities()
    private var results: [DeliveryResult] = []

    init(configuration: Configuration, envelopes: [SMTPEnvelope]) {
        self.configuration = configuration
        self.envelopes = envelopes
    }

    /// The capabilities of the last EHLO reply (for logs and tests).
    var serverCapabilities: SMTPCapabilities { self.capabilities }

    // MARK: - Events

    /// The TCP connection is up (for implicit TLS the handshake runs on its own before the greeting).
    mutating func connected() -> Action {
        switch self.state {
        case .initial:
            self.state = .greeting
            return .wait
        case .greeting, .ehlo, .startTLS, .tlsHandshake, .authentication, .mailFrom, .rcptTo, .data, .content,
            .reset, .quit, .finished:
            return self.fail(.protocolViolation("connected twice"))
        }
    }

    mutating func replyReceived(_ reply: SMTPReply) -> Action {
        // 421: the server is shutting the channel down, whatever it was asked (RFC 5321 3.8).
        if reply.code == 421 {
            switch self.state {
            case .quit, .finished:
                break
            case .initial, .greeting, .ehlo, .startTLS, .tlsHandshake, .authentication, .mailFrom, .rcptTo, .data,
                .content, .reset:
                return self.fail(.negativeReply(reply, stage: self.stage ?? .greeting), sendQuit: false)
            }
        }
        switch self.state {
        case .initial, .tlsHandshake:
            return self.fail(.protocolViolation("reply nobody asked for", stage: self.stage, reply: reply))
        case .greeting:
            return self.greetingReceived(reply)
        case .ehlo(let secured):
            return self.ehloReplyReceived(reply, secured: secured)
        case .startTLS:
            return self.startTLSReplyReceived(reply)
        case .authentication(let step):
            return self.authenticationReplyReceived(reply, step: step)
        case .mailFrom(let transaction):
            return self.mailFromReplyReceived(reply, transaction)
        case .rcptTo(let transaction):
            return self.rcptToReplyReceived(reply, transaction)
        case .data(let transaction):
            return self.dataReplyReceived(reply, transaction)
        case .content(let transaction):
            return self.contentReplyReceived(reply, transaction)
        case .reset(let next):
            return self.resetReplyReceived(reply, next: next)
        case .quit:
            // Whatever the server says to QUIT, the messages' fate is settled.
            self.state = .finished
            return .finish(.completed(self.results), sendQuit: false)
        case .finished:
            return .wait
        }
    }

    /// The TLS handshake after STARTTLS (or of implicit TLS) completed, certificate verified.
    mutating func tlsEstablished() -> Action {
        switch self.state {
        case .tlsHandshake:
            // RFC 3207 4.2: forget everything learnt before TLS and ask again.
            self.capabilities = SMTPCapabilities()
            self.state = .ehlo(secured: true)
            return .send(.ehlo(self.configuration.clientHostname))
        case .greeting where self.configuration.security == .implicitTLS:
            return .wait
        case .initial, .greeting, .ehlo, .startTLS, .authentication, .mailFrom, .rcptTo, .data, .content, .reset,
            .quit, .finished:
            return self.fail(.protocolViolation("TLS handshake nobody asked for"))
        }
    }

    /// The step's timeout passed without a reply.
    mutating func timedOut() -> Action {
        self.fail(SMTPError(code: .timeout, isTemporary: true, stage: self.stage))
    }

    /// The server closed the connection.
    mutating func connectionClosed() -> Action {
        self.fail(SMTPError(code: .connectionClosed, isTemporary: true, stage: self.stage))
    }

    /// A network, TLS or parse error; the connection is unusable.
    mutating func errorCaught(_ error: SMTPError) -> Action {
        var error = error
        if error.stage == nil {
            // A TLS error in the greeting state comes from implicit TLS's handshake.
            error.stage = error.code == .tlsFailure ? .tlsHandshake : self.stage
        }
        return self.fail(error)
    }

    // MARK: - Replies per state

    private mutating func greetingReceived(_ reply: SMTPReply) -> Action {
        switch reply.code {
        case 220:
            self.state = .ehlo(secured: self.configuration.security == .implicitTLS)
            return .send(.ehlo(self.configuration.clientHostname))
        case 400..<600:
            // 554 instead of 220: this server will not talk to us (RFC 5321 3.1); say QUIT politely.
            return self.fail(.negativeReply(reply, stage: .greeting, code: .serviceUnavailable), sendQuit: true)
        default:
            return self.fail(.protocolViolation("unexpected greeting", stage: .greeting, reply: reply))
        }
    }

    private mutating func ehloReplyReceived(_ reply: SMTPReply, secured: Bool) -> Action {
        guard reply.code == 250 else {
            return self.unexpectedOrNegative(reply, stage: .ehlo)
        }
        self.capabilities = SMTPCapabilities(ehloReply: reply)
        if self.configuration.security == .startTLS && !secured {
            guard self.capabilities.startTLS else {
                return self.fail(
                    SMTPError(
                        code: .startTLSUnavailable, isTemporary: true, stage: .ehlo, reply: reply,
                        details: "STARTTLS is required but the server does not offer it"),
                    sendQuit: true)
            }
            self.state = .startTLS
            return .send(.startTLS)
        }
        return self.authenticateOrBegin(secured: secured)
    }

    private mutating func startTLSReplyReceived(_ reply: SMTPReply) -> Action {
        switch reply.code {
        case 220:
            self.state = .tlsHandshake
            return .startTLSHandshake
        case 400..<600:
            return self.fail(.negativeReply(reply, stage: .startTLS, code: .startTLSUnavailable), sendQuit: true)
        default:
            return self.fail(.protocolViolation("unexpected reply to STARTTLS", stage: .startTLS, reply: reply))
        }
    }

    private mutating func authenticateOrBegin(secured: Bool) -> Action {
        guard let credentials = self.configuration.credentials else {
            return self.beginMessage(0)
        }
        guard secured else {
            // Never send a password in clear text, whatever the configuration says.
            return self.fail(
                .configuration("credentials are configured but the connection is not encrypted"), sendQuit: true)
        }
        if self.capabilities.authMechanisms.contains("PLAIN") {
            self.state = .authentication(.plain)
            return .send(.authPlain(credentials))
        }
        if self.capabilities.authMechanisms.contains("LOGIN") {
            self.state = .authentication(.loginUsername)
            return .send(.authLogin)
        }
        return self.fail(
            SMTPError(
                code: .authenticationUnavailable, isTemporary: false, stage: .authentication,
                details: "server offers AUTH \(self.capabilities.authMechanisms.sorted()), we speak PLAIN and LOGIN"),
            sendQuit: true)
    }

    private mutating func authenticationReplyReceived(_ reply: SMTPReply, step: AuthStep) -> Action {
        guard let credentials = self.configuration.credentials else {
            return self.fail(.protocolViolation("authenticating without credentials"))
        }
        if (400..<600).contains(reply.code) {
            return self.fail(.negativeReply(reply, stage: .authentication, code: .authenticationFailed), sendQuit: true)
        }
        switch (step, reply.code) {
        case (.plain, 235), (.loginResult, 235):
            return self.beginMessage(0)
        case (.loginUsername, 334):
            self.state = .authentication(.loginPassword)
            return .send(.authLoginResponse(credentials.username))
        case (.loginPassword, 334):
            self.state = .authentication(.loginResult)
            return .send(.authLoginResponse(credentials.password))
        case (.plain, _), (.loginUsername, _), (.loginPassword, _), (.loginResult, _):
            return self.fail(.protocolViolation("unexpected reply to AUTH", stage: .authentication, reply: reply))
        }
    }

    private mutating func mailFromReplyReceived(_ reply: SMTPReply, _ transaction: Transaction) -> Action {
        guard reply.isPositiveCompletion else {
            guard reply.isTransientNegative || reply.isPermanentNegative else {
                return self.fail(.protocolViolation("unexpected reply to MAIL FROM", stage: .mailFrom, reply: reply))
            }
            let error = SMTPError.negativeReply(reply, stage: .mailFrom)
            var transaction = transaction
            transaction.recipients = transaction.recipients.map { _ in .failed(error) }
            return self.endTransaction(transaction)
        }
        self.state = .rcptTo(transaction)
        return .send(.rcptTo(self.envelopes[transaction.message].recipients[0]))
    }

    private mutating func rcptToReplyReceived(_ reply: SMTPReply, _ transaction: Transaction) -> Action {
        var transaction = transaction
        let index = transaction.nextRecipient
        if reply.isPositiveCompletion {
            transaction.recipients[index] = .accepted
        } else if reply.isTransientNegative || reply.isPermanentNegative {
            // This recipient alone fails; the others of the message go on (RFC 5321 3.3).
            transaction.recipients[index] = .failed(.negativeReply(reply, stage: .rcptTo))
        } else {
            return self.fail(.protocolViolation("unexpected reply to RCPT TO", stage: .rcptTo, reply: reply))
        }
        transaction.nextRecipient += 1
        let recipients = self.envelopes[transaction.message].recipients
        if transaction.nextRecipient < recipients.count {
            self.state = .rcptTo(transaction)
            return .send(.rcptTo(recipients[transaction.nextRecipient]))
        }
        guard transaction.hasAcceptedRecipient else {
            // Nobody to deliver to: no DATA; RSET ends the transaction.
            return self.endTransaction(transaction)
        }
        self.state = .data(transaction)
        return .send(.data)
    }

    private mutating func dataReplyReceived(_ reply: SMTPReply, _ transaction: Transaction) -> Action {
        if reply.code == 354 {
            self.state = .content(transaction)
            return .sendContent(DotStuffing.encode(self.envelopes[transaction.message].content))
        }
        guard reply.isTransientNegative || reply.isPermanentNegative else {
            return self.fail(.protocolViolation("unexpected reply to DATA", stage: .data, reply: reply))
        }
        return self.endTransaction(self.failAccepted(transaction, with: .negativeReply(reply, stage: .data)))
    }

    private mutating func contentReplyReceived(_ reply: SMTPReply, _ transaction: Transaction) -> Action {
        if reply.isPositiveCompletion {
            return self.endTransaction(transaction, delivered: true)
        }
        guard reply.isTransientNegative || reply.isPermanentNegative else {
            return self.fail(
                .protocolViolation("unexpected reply to the message", stage: .messageContent, reply: reply))
        }
        return self.endTransaction(self.failAccepted(transaction, with: .negativeReply(reply, stage: .messageContent)))
    }

    private mutating func resetReplyReceived(_ reply: SMTPReply, next: Int) -> Action {
        if reply.isPositiveCompletion {
            return self.beginMessage(next)
        }
        guard reply.isTransientNegative || reply.isPermanentNegative else {
            return self.fail(.protocolViolation("unexpected reply to RSET", stage: .reset, reply: reply))
        }
        // A server that cannot reset cannot take the next message on this connection.
        return self.fail(.negativeReply(reply, stage: .reset), sendQuit: true)
    }

    // MARK: - Messages

    /// Starts the transaction of message `index`, skipping messages this server can never take;
    /// QUIT when none is left.
    private mutating func beginMessage(_ index: Int) -> Action {
        var index = index
        while index < self.envelopes.count {
            let envelope = self.envelopes[index]
            if let limit = self.capabilities.maximumSize, limit > 0, envelope.content.count > limit {
                self.record(
                    envelope,
                    failure: SMTPError(
                        code: .messageTooLarge, isTemporary: false, stage: .mailFrom,
                        details: "\(envelope.content.count) octets, the server takes at most \(limit)"))
            } else if envelope.requiresSMTPUTF8 && !self.capabilities.smtpUTF8 {
                self.record(
                    envelope,
                    failure: SMTPError(
                        code: .smtpUTF8Unavailable, isTemporary: false, stage: .mailFrom,
                        details: "an address is not ASCII and the server does not offer SMTPUTF8"))
            } else {
                self.state = .mailFrom(Transaction(message: index, recipientCount: envelope.recipients.count))
                return .send(
                    .mailFrom(
                        envelope.sender,
                        size: self.capabilities.maximumSize == nil ? nil : envelope.content.count,
                        smtpUTF8: envelope.requiresSMTPUTF8))
            }
            index += 1
        }
        self.state = .quit
        return .send(.quit)
    }

    /// Records the finished transaction; RSET before the next message, QUIT after the last.
    private mutating func endTransaction(_ transaction: Transaction, delivered: Bool = false) -> Action {
        let envelope = self.envelopes[transaction.message]
        let recipients = zip(envelope.recipients, transaction.recipients).map { address, state in
            switch state {
            case .accepted where delivered:
                return RecipientResult(address: address, outcome: .delivered)
            case .failed(let error):
                return RecipientResult(address: address, outcome: .failed(error))
            case .accepted, .pending:
                // Unreachable by construction: accepted recipients are delivered or failed before
                // the transaction ends, and no transaction ends with one still pending.
                return RecipientResult(
                    address: address,
                    outcome: .failed(.protocolViolation("transaction ended without an outcome", stage: .messageContent))
                )
            }
        }
        self.results.append(DeliveryResult(messageID: envelope.messageID, recipients: recipients))
        let next = transaction.message + 1
        guard next < self.envelopes.count else {
            self.state = .quit
            return .send(.quit)
        }
        self.state = .reset(next: next)
        return .send(.reset)
    }

    private func failAccepted(_ transaction: Transaction, with error: SMTPError) -> Transaction {
        var transaction = transaction
        transaction.recipients = transaction.recipients.map { $0 == .accepted ? .failed(error) : $0 }
        return transaction
    }

    private mutating func record(_ envelope: SMTPEnvelope, failure: SMTPError) {
        self.results.append(
            DeliveryResult(
                messageID: envelope.messageID,
                recipients: envelope.recipients.map { RecipientResult(address: $0, outcome: .failed(failure)) }))
    }

    // MARK: - Failure

    private mutating func unexpectedOrNegative(_ reply: SMTPReply, stage: SMTPError.Stage) -> Action {
        if reply.isTransientNegative || reply.isPermanentNegative {
            return self.fail(.negativeReply(reply, stage: stage), sendQuit: true)
        }
        return self.fail(.protocolViolation("unexpected reply", stage: stage, reply: reply))
    }

    /// Ends the session. Before the first transaction the error is the session's outcome; after
    /// it, the message in flight and every later one fail with it, earlier results stand.
    private mutating func fail(_ error: SMTPError, sendQuit: Bool = false) -> Action {
        switch self.state {
        case .initial, .greeting, .ehlo, .startTLS, .tlsHandshake, .authentication:
            self.state = .finished
            return .finish(.failed(error), sendQuit: sendQuit)
        case .mailFrom(let transaction), .rcptTo(let transaction), .data(let transaction),
            .content(let transaction):
            let envelope = self.envelopes[transaction.message]
            let recipients = zip(envelope.recipients, transaction.recipients).map { address, state in
                if case .failed(let own) = state {
                    return RecipientResult(address: address, outcome: .failed(own))
                }
                return RecipientResult(address: address, outcome: .failed(error))
            }
            self.results.append(DeliveryResult(messageID: envelope.messageID, recipients: recipients))
            self.failRemaining(from: transaction.message + 1, with: error)
            self.state = .finished
            return .finish(.completed(self.results), sendQuit: sendQuit)
        case .reset(let next):
            self.failRemaining(from: next, with: error)
            self.state = .finished
            return .finish(.completed(self.results), sendQuit: sendQuit)
        case .quit:
            // Every message has its result; a lost QUIT reply changes none of them.
            self.state = .finished
            return .finish(.completed(self.results), sendQuit: false)
        case .finished:
            return .wait
        }
    }

    private mutating func failRemaining(from index: Int, with error: SMTPError) {
        for envelope in self.envelopes[index...] {
            self.record(envelope, failure: error)
        }
    }

    /// The step the session is in, for errors that do not carry their own.
    private var stage: SMTPError.Stage? {
        switch self.state {
        case .initial: return .connect
        case .greeting: return .greeting
        case .ehlo: return .ehlo
        case .startTLS: return .startTLS
        case .tlsHandshake: return .tlsHandshake
        case .authentication: return .authentication
        case .mailFrom: return .mailFrom
        case .rcptTo: return .rcptTo
        case .data: return .data
        case .content: return .messageContent
        case .reset: return .reset
        case .quit: return .quit
        case .finished: return nil
        }
    }
}
