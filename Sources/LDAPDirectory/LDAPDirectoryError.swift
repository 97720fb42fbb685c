/// An error from ``LDAPDirectory``, in the style of PostgresNIO's `PSQLError`: a ``code`` to switch on,
/// a ``message`` that is safe to show to the person at the keyboard (it never contains passwords, DNs
/// of other people or libldap internals), and details for the logs.
///
/// `description` is the safe message; `debugDescription` (what `"\(String(reflecting: error))"` and
/// log metadata should use) adds the LDAP result code, libldap's text and the server's diagnostic.
public struct LDAPDirectoryError: Error, Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible
{
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case invalidCredentials
            case userNotFound
            case ambiguousUser
            case invalidUsername
            case invalidPassword
            case directoryUnavailable
            case timeout
            case tlsFailure
            case configuration
            case operationFailed
            case shutDown
            case poolTimeout
            case circuitOpen
        }

        let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The directory rejected the password (bind result 49) or the account cannot bind.
        public static let invalidCredentials = Code(.invalidCredentials)
        /// The user search found no entry.
        public static let userNotFound = Code(.userNotFound)
        /// The user search found more than one entry: the filter is not specific enough.
        public static let ambiguousUser = Code(.ambiguousUser)
        /// The username was refused before asking the directory (empty, too long, control characters).
        public static let invalidUsername = Code(.invalidUsername)
        /// The password was refused before any bind (empty, whitespace only, NUL, too long).
        public static let invalidPassword = Code(.invalidPassword)
        /// The directory cannot be reached, refused the connection or dropped it.
        public static let directoryUnavailable = Code(.directoryUnavailable)
        /// The directory did not answer within the configured network or operation timeout.
        public static let timeout = Code(.timeout)
        /// TLS could not be established or the server's certificate was not accepted.
        public static let tlsFailure = Code(.tlsFailure)
        /// The configuration is invalid (or the service account's bind failed).
        public static let configuration = Code(.configuration)
        /// The directory answered with an unexpected result (insufficient access, protocol error, ...).
        public static let operationFailed = Code(.operationFailed)
        /// ``LDAPDirectory/shutdown()`` was called.
        public static let shutDown = Code(.shutDown)
        /// No directory connection became free within ``LDAPConfiguration/poolWaitTimeout``: all are
        /// busy with slow calls. The directory was not asked.
        public static let poolTimeout = Code(.poolTimeout)
        /// The circuit breaker is open (the directory failed repeatedly, see
        /// ``LDAPConfiguration/CircuitBreaker``): the call failed at once, the directory was not asked.
        public static let circuitOpen = Code(.circuitOpen)

        public var description: String {
            self.base.rawValue
        }
    }

    /// What went wrong, as a value to switch on.
    public var code: Code
    /// A message safe to show to users (German UIs map ``code`` to their own text).
    public var message: String
    /// The LDAP result code (RFC 4511 or libldap's negative client codes), when there is one.
    public var resultCode: Int32?
    /// libldap's text for ``resultCode`` plus the server's (or TLS library's) diagnostic message.
    public var diagnostic: String?
    /// More context for the logs (which operation, which phase).
    public var details: String?
    /// The job ran out of its caller's time (``LDAPConnection/jobDeadline``) rather than the directory
    /// failing an operation within its own timeout: no sign of a failing directory, so the circuit
    /// breaker neither counts it nor takes it as an answer.
    var endedByJobDeadline = false

    public init(
        code: Code,
        message: String,
        resultCode: Int32? = nil,
        diagnostic: String? = nil,
        details: String? = nil
    ) {
        self.code = code
        self.message = message
        self.resultCode = resultCode
        self.diagnostic = diagnostic
        self.details = details
    }

    public var description: String {
        self.message
    }

    public var debugDescription: String {
        var parts = ["code: \(self.code)", "message: \(self.message)"]
        if let resultCode = self.resultCode {
            parts.append("resultCode: \(resultCode)")
        }
        if let diagnostic = self.diagnostic {
            parts.append("diagnostic: \(diagnostic)")
        }
        if let details = self.details {
            parts.append("details: \(details)")
        }
        return "LDAPDirectoryError(\(parts.joined(separator: ", ")))"
    }
}

extension LDAPDirectoryError {
    static func configuration(_ message: String, details: String? = nil) -> Self {
        Self(code: .configuration, message: message, details: details)
    }

    static func invalidUsername(_ reason: String) -> Self {
        Self(code: .invalidUsername, message: "The username is not valid: \(reason).")
    }

    static func invalidPassword(_ reason: String) -> Self {
        Self(code: .invalidPassword, message: "The password is not valid: \(reason).")
    }

    static func circuitOpen(_ details: String) -> Self {
        Self(code: .circuitOpen, message: "The directory is not available at the moment.", details: details)
    }

    static let shutDown = Self(code: .shutDown, message: "The directory connection has been shut down.")
}
