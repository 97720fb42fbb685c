/// Where and how to reach the SMTP server. Printing it shows no password.
public struct SMTPConfiguration: Sendable, Hashable, CustomStringConvertible {
    public enum Security: Sendable, Hashable {
        /// Connect in plain text, then STARTTLS (RFC 3207), required: without it nothing is sent.
        case startTLS
        /// TLS from the first byte (RFC 8314 "submissions", usually port 465).
        case implicitTLS
        /// No TLS: only for a relay on the same host. Credentials are refused with it.
        case plaintext
    }

    /// How the server's certificate is checked (always: chain and host name).
    public struct TLS: Sendable, Hashable {
        /// A PEM file with the CA certificates to trust instead of the system's (an internal CA).
        public var caFile: String?
        /// The name the certificate must carry (and the SNI name). Default: ``SMTPConfiguration/host``;
        /// set it when connecting by IP address to a server whose certificate names a host.
        public var serverName: String?

        public init(caFile: String? = nil, serverName: String? = nil) {
            self.caFile = caFile
            self.serverName = serverName
        }
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var tls: TLS
    public var credentials: SMTPCredentials?
    /// Our name in EHLO: the sending host's fully qualified domain name, or an address literal.
    public var clientHostname: String
    /// For name resolution and the TCP connection.
    public var connectTimeout: Duration
    /// For the greeting, the TLS handshake and each command's reply (RFC 5321 4.5.3.2 allows
    /// minutes; a notification server would rather retry later than hang).
    public var commandTimeout: Duration
    /// From the last octet of a message to the server's reply (servers scan content then).
    public var dataTimeout: Duration
    /// Longest reply line accepted; RFC 5321 says 512, real servers send more.
    public var maximumReplyLineLength: Int
    /// Allows ``Security/plaintext`` to a host other than loopback. Every message would cross the
    /// network readable and changeable on the way (the decision links in it included); off by default.
    public var allowPlaintextNonLoopback = false

    public init(
        host: String,
        port: Int? = nil,
        security: Security = .startTLS,
        tls: TLS = TLS(),
        credentials: SMTPCredentials? = nil,
        clientHostname: String = "localhost",
        connectTimeout: Duration = .seconds(10),
        commandTimeout: Duration = .seconds(30),
        dataTimeout: Duration = .seconds(120),
        maximumReplyLineLength: Int = 4096
    ) {
        self.host = host
        self.port = port ?? Self.defaultPort(for: security)
        self.security = security
        self.tls = tls
        self.credentials = credentials
        self.clientHostname = clientHostname
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.dataTimeout = dataTimeout
        self.maximumReplyLineLength = maximumReplyLineLength
    }

    /// 587 (submission) for STARTTLS, 465 for implicit TLS, 25 for a plain relay.
    public static func defaultPort(for security: Security) -> Int {
        switch security {
        case .startTLS: return 587
        case .implicitTLS: return 465
        case .plaintext: return 25
        }
    }

    public var description: String {
        "SMTPConfiguration(host: \(self.host), port: \(self.port), security: \(self.security), "
            + "credentials: \(self.credentials.map(\.description) ?? "none"), clientHostname: \(self.clientHostname))"
    }

    /// `localhost`, `127.0.0.0/8` and `::1`: a relay on this machine, reached without a network.
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { Self.isOctet($0) }
    }

    /// `0` to `255` in plain decimal: no sign, no leading zero (which the C parser reads as octal or refuses).
    private static func isOctet(_ text: Substring) -> Bool {
        guard !text.isEmpty, text.count <= 3, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return (text == "0" || text.first != "0") && (Int(text) ?? 256) <= 255
    }

    /// Refuses settings that cannot work or would be unsafe, before anything is sent.
    func validate() throws(SMTPError) {
        guard !self.host.isEmpty, (1...65_535).contains(self.port) else {
            throw .configuration("host is empty or port out of range")
        }
        if self.credentials != nil && self.security == .plaintext {
            throw .configuration("credentials need TLS: a password is never sent in clear text")
        }
        if self.security == .plaintext && !self.allowPlaintextNonLoopback && !Self.isLoopback(self.host) {
            throw .configuration(
                "plain SMTP to \(self.host) would send every message in clear: use STARTTLS or TLS "
                    + "(or allow plaintext beyond loopback for a relay on a trusted network)")
        }
        let allowed = self.clientHostname.unicodeScalars.allSatisfy {
            $0.isASCIIAlphanumeric || "-.[]:".unicodeScalars.contains($0)
        }
        guard !self.clientHostname.isEmpty, allowed else {
            throw .configuration("clientHostname must be a host name or an address literal")
        }
        guard self.maximumReplyLineLength >= 512 else {
            throw .configuration("maximumReplyLineLength must be at least 512 (RFC 5321)")
        }
        for timeout in [self.connectTimeout, self.commandTimeout, self.dataTimeout] where timeout <= .zero {
            throw .configuration("timeouts must be positive")
        }
    }
}
