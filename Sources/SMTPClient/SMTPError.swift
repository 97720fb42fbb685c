/// An error from ``SMTPClient``, in the style of PostgresNIO's `PSQLError`: a ``code`` to switch on,
/// ``isTemporary`` to decide whether to retry, a `description` safe to show anywhere and the
/// server's reply and further details only in `debugDescription` (what logs should use).
///
/// Classification: a 4xx reply, a network failure, a timeout or a TLS failure is temporary (the
/// same message may go through later); a 5xx reply or a message the server can never take
/// (too large, needs SMTPUTF8) is permanent. Credentials never appear in an error.
public struct SMTPError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case connectionFailed
            case connectionClosed
            case timeout
            case tlsFailure
            case startTLSUnavailable
            case authenticationUnavailable
            case authenticationFailed
            case serviceUnavailable
            case rejected
            case messageTooLarge
            case smtpUTF8Unavailable
            case protocolViolation
            case invalidMessage
            case configuration
        }

        let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The TCP connection (or name resolution) failed, or did not succeed within the connect timeout.
        public static let connectionFailed = Code(.connectionFailed)
        /// The server closed the connection while we waited for a reply or sent a message.
        public static let connectionClosed = Code(.connectionClosed)
        /// The server did not answer a step within its timeout.
        public static let timeout = Code(.timeout)
        /// The TLS handshake failed, e.g. the certificate or host name was not accepted.
        public static let tlsFailure = Code(.tlsFailure)
        /// STARTTLS is required but the server does not offer it (or refused it).
        public static let startTLSUnavailable = Code(.startTLSUnavailable)
        /// Credentials are configured but the server offers neither AUTH PLAIN nor LOGIN.
        public static let authenticationUnavailable = Code(.authenticationUnavailable)
        /// The server refused the credentials (535) or the AUTH exchange.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The server refused the session: a 421 at any time, or a greeting other than 220.
        public static let serviceUnavailable = Code(.serviceUnavailable)
        /// The server answered a command of a mail transaction with 4xx or 5xx (see ``SMTPError/reply``).
        public static let rejected = Code(.rejected)
        /// The message is larger than the server's advertised `SIZE`; it was not sent.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// An address needs SMTPUTF8 (RFC 6531) but the server does not offer it; it was not sent.
        public static let smtpUTF8Unavailable = Code(.smtpUTF8Unavailable)
        /// The server sent something that is not SMTP: a malformed or over-long reply, a reply nobody
        /// asked for, data after the reply to STARTTLS.
        public static let protocolViolation = Code(.protocolViolation)
        /// A message or address was refused before connecting (header injection, malformed address).
        public static let invalidMessage = Code(.invalidMessage)
        /// The configuration cannot work (a CA file that cannot be read, a password without TLS).
        public static let configuration = Code(.configuration)

        public var description: String { self.base.rawValue }
    }

    /// The step of the session an error happened in.
    public enum Stage: String, Sendable, Hashable {
        case connect, greeting, ehlo, startTLS, tlsHandshake, authentication, mailFrom, rcptTo, data
        case messageContent, reset, quit, composition
    }

    public var code: Code
    /// True when retrying later can succeed (4xx, network, timeout, TLS); false for 5xx and the like.
    public var isTemporary: Bool
    public var stage: Stage?
    /// The server's reply, when the error is one.
    public var reply: SMTPReply?
    /// More context for logs: what was expected, the underlying error.
    public var details: String?

    public init(
        code: Code, isTemporary: Bool, stage: Stage? = nil, reply: SMTPReply? = nil, details: String? = nil
    ) {
        self.code = code
        self.isTemporary = isTemporary
        self.stage = stage
        self.reply = reply
        self.details = details
    }

    /// True when retrying the same message cannot succeed.
    public var isPermanent: Bool { !self.isTemporary }

    /// Safe to show: no server text (it may quote our input), no details.
    public var description: String {
        var text = "SMTP error: \(self.code)"
        if let stage = self.stage {
            text += " during \(stage.rawValue)"
        }
        if let reply = self.reply {
            text += " (\(reply.code)\(reply.enhancedStatus.map { " \($0)" } ?? ""))"
        }
        return text + (self.isTemporary ? ", temporary" : ", permanent")
    }

    public var debugDescription: String {
        var parts = ["code: \(self.code)", "temporary: \(self.isTemporary)"]
        if let stage = self.stage {
            parts.append("stage: \(stage.rawValue)")
        }
        if let reply = self.reply {
            parts.append("reply: \(String(reflecting: reply.description))")
        }
        if let details = self.details {
            parts.append("details: \(details)")
        }
        return "SMTPError(\(parts.joined(separator: ", ")))"
    }
}

extension SMTPError {
    /// A negative reply to a step: 4xx temporary, 5xx permanent; 421 means the server is closing.
    static func negativeReply(_ reply: SMTPReply, stage: Stage, code: Code = .rejected) -> Self {
        let code = reply.code == 421 ? .serviceUnavailable : code
        return Self(code: code, isTemporary: !reply.isPermanentNegative, stage: stage, reply: reply)
    }

    static func protocolViolation(_ details: String, stage: Stage? = nil, reply: SMTPReply? = nil) -> Self {
        Self(code: .protocolViolation, isTemporary: true, stage: stage, reply: reply, details: details)
    }

    static func invalidMessage(_ details: String) -> Self {
        Self(code: .invalidMessage, isTemporary: false, stage: .composition, details: details)
    }

    static func configuration(_ details: String) -> Self {
        Self(code: .configuration, isTemporary: false, details: details)
    }
}
