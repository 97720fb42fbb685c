import CLDAP
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a connection needs from the configuration, resolved once.
struct ConnectionSettings: Sendable {
    var url: String
    var transportSecurity: LDAPConfiguration.TransportSecurity
    var caFile: String?
    var verifyCertificates: Bool
    var networkTimeout: Duration
    var operationTimeout: Duration

    init(_ configuration: LDAPConfiguration) {
        self.url = configuration.url
        self.transportSecurity = configuration.transportSecurity
        self.caFile = configuration.tls.caFile
        self.verifyCertificates = !configuration.tls.insecure
        self.networkTimeout = configuration.networkTimeout
        self.operationTimeout = configuration.operationTimeout
    }
}

/// One entry of a search result. Attribute names are lowercased (LDAP attribute types are
/// case-insensitive); values are decoded as UTF-8.
struct LDAPEntry: Sendable, Hashable {
    var dn: String
    var attributes: [String: [String]]

    func values(_ attribute: String) -> [String] {
        self.attributes[attribute.lowercased()] ?? []
    }

    func first(_ attribute: String) -> String? {
        self.values(attribute).first
    }
}

struct SearchResult: Sendable {
    var entries: [LDAPEntry]
    /// The server stopped at the size limit: there are more entries than returned.
    var sizeLimitExceeded: Bool
}

/// Serialises handle creation and TLS context setup: libldap's one-time global initialisation and
/// TLS library setup are not documented as safe to race, and this part costs microseconds.
private let handleSetupLock = Mutex<Void>(())

/// One libldap handle (`LDAP *`), with blocking operations.
///
/// Every method blocks the calling thread (network I/O with libldap's timeouts) and must run on a
/// `NIOThreadPool` thread, never on an event loop: each one asserts that in debug builds.
///
/// `@unchecked Sendable` because `LDAPConnectionPool` moves a connection between thread pool threads.
/// It is safe because a connection is only ever used by the one job holding its lease: a lease is
/// handed from one job to the next through the pool's `Mutex` (which orders the accesses), and no
/// method is called on a connection that is not leased. libldap allows a handle to be used from
/// different threads as long as the uses do not overlap.
final class LDAPConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    let settings: ConnectionSettings
    /// When the job holding this connection ends (``BlockingExecutor``): its caller stops waiting then.
    /// Each operation's timeout is shortened to what is left, and past it an operation fails at once,
    /// so a job of many searches (a big group's members) frees its connection and thread at the
    /// deadline instead of running every search left for nobody. Set for each job; only that job reads it.
    var jobDeadline: ContinuousClock.Instant?

    private init(handle: OpaquePointer, settings: ConnectionSettings) {
        self.handle = handle
        self.settings = settings
    }

    deinit {
        self.close()
    }

    /// Creates a handle, connects (TCP, then TLS: ldaps handshake or StartTLS) and, with
    /// `serviceAccount`, binds. Nothing is bound or searched before TLS is verified to be in place.
    static func open(
        settings: ConnectionSettings,
        serviceAccount: LDAPConfiguration.ServiceAccount?
    ) throws(LDAPDirectoryError) -> LDAPConnection {
        assertBlockingAllowed()
        let connection = try handleSetupLock.withLock { _ throws(LDAPDirectoryError) in
            try makeHandle(settings: settings)
        }
        try connection.connect()
        if let serviceAccount {
            do {
                try connection.bind(dn: serviceAccount.bindDN, password: serviceAccount.password)
            } catch let error where error.code == .invalidCredentials {
                throw LDAPDirectoryError(
                    code: .configuration,
                    message: "The directory rejected the service account's credentials.",
                    resultCode: error.resultCode,
                    diagnostic: error.diagnostic,
                    details: "service account bind as \(serviceAccount.bindDN)"
                )
            }
        }
        return connection
    }

    private static func makeHandle(settings: ConnectionSettings) throws(LDAPDirectoryError) -> LDAPConnection {
        var handle: OpaquePointer?
        let rc = ldap_initialize(&handle, settings.url)
        guard rc == LDAP_SUCCESS, let handle else {
            throw LDAPDirectoryError(
                code: .configuration,
                message: "The LDAP URL is not valid.",
                resultCode: rc,
                diagnostic: errorString(rc),
                details: "ldap_initialize(\(settings.url))"
            )
        }
        let connection = LDAPConnection(handle: handle, settings: settings)
        let network = settings.networkTimeout.timeval
        let operation = settings.operationTimeout.timeval
        let options: [(String, Int32)] = [
            ("LDAP_OPT_PROTOCOL_VERSION", cldap_set_int_option(handle, LDAP_OPT_PROTOCOL_VERSION, LDAP_VERSION3)),
            // Referrals would make libldap connect elsewhere, unverified and with our bind.
            ("LDAP_OPT_REFERRALS", cldap_set_bool_option(handle, LDAP_OPT_REFERRALS, 0)),
            ("LDAP_OPT_RESTART", cldap_set_bool_option(handle, LDAP_OPT_RESTART, 1)),
            // connect(), and the TLS handshake (with GnuTLS only through cldap_bound_tls_handshake).
            (
                "LDAP_OPT_NETWORK_TIMEOUT",
                cldap_set_timeout_option(handle, LDAP_OPT_NETWORK_TIMEOUT, network.seconds, network.microseconds)
            ),
            // Every synchronous call waits at most this long for its result (bind, StartTLS, search).
            (
                "LDAP_OPT_TIMEOUT",
                cldap_set_timeout_option(handle, LDAP_OPT_TIMEOUT, operation.seconds, operation.microseconds)
            ),
            // Unacknowledged writes to a vanished peer fail after this long instead of ~15 minutes.
            (
                "LDAP_OPT_TCP_USER_TIMEOUT",
                cldap_set_int_option(
                    handle, LDAP_OPT_TCP_USER_TIMEOUT, Int32(clamping: settings.operationTimeout.milliseconds))
            ),
            (
                "LDAP_OPT_X_TLS_REQUIRE_CERT",
                cldap_set_int_option(
                    handle, LDAP_OPT_X_TLS_REQUIRE_CERT,
                    settings.verifyCertificates ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER)
            ),
            (
                "LDAP_OPT_X_TLS_PROTOCOL_MIN",
                cldap_set_int_option(handle, LDAP_OPT_X_TLS_PROTOCOL_MIN, (3 << 8) + 3)  // TLS 1.2
            ),
        ]
        for (name, rc) in options where rc != LDAP_OPT_SUCCESS {
            throw LDAPDirectoryError(
                code: .configuration,
                message: "The LDAP library refused an option.",
                resultCode: rc,
                details: "ldap_set_option(\(name))"
            )
        }
        if let caFile = settings.caFile {
            let rc = cldap_set_string_option(handle, LDAP_OPT_X_TLS_CACERTFILE, caFile)
            guard rc == LDAP_OPT_SUCCESS else {
                throw LDAPDirectoryError(
                    code: .configuration,
                    message: "The LDAP library refused the CA file.",
                    resultCode: rc,
                    details: "LDAP_OPT_X_TLS_CACERTFILE \(caFile)"
                )
            }
        }
        if settings.transportSecurity != .none {
            // libldap + GnuTLS ignore the network timeout during the handshake (see shim.h).
            let bounded = cldap_bound_tls_handshake(handle, UInt32(clamping: settings.networkTimeout.milliseconds))
            guard bounded >= 0 else {
                throw LDAPDirectoryError(
                    code: .configuration,
                    message: "The LDAP library refused the TLS connect callback.",
                    details: "LDAP_OPT_X_TLS_CONNECT_CB"
                )
            }
        }
        // The TLS options above live on the handle, but libldap only applies them to a context
        // created after they are set; without this the process-wide default context would be used.
        let ctx = cldap_new_tls_client_context(handle)
        guard ctx == LDAP_OPT_SUCCESS else {
            throw LDAPDirectoryError(
                code: .tlsFailure,
                message: "TLS could not be set up (CA file unreadable or invalid?).",
                resultCode: ctx,
                diagnostic: connection.diagnostic(for: ctx),
                details: "LDAP_OPT_X_TLS_NEWCTX"
            )
        }
        return connection
    }

    private func connect() throws(LDAPDirectoryError) {
        let handle = try self.liveHandle()
        defer { cldap_handshake_finished() }
        switch self.settings.transportSecurity {
        case .startTLS:
            let rc = ldap_start_tls_s(handle, nil, nil)
            guard rc == LDAP_SUCCESS else {
                throw self.error(rc, phase: .startTLS, operation: "StartTLS")
            }
        case .ldaps, .none:
            let rc = ldap_connect(handle)
            guard rc == LDAP_SUCCESS else {
                throw self.error(rc, phase: .connect, operation: "connect")
            }
        }
        if self.settings.transportSecurity != .none && ldap_tls_inplace(handle) != 1 {
            // Defence in depth: never send a bind over a connection that was meant to be TLS.
            throw LDAPDirectoryError(
                code: .tlsFailure,
                message: "TLS is not in place on the directory connection.",
                details: "ldap_tls_inplace after \(self.settings.transportSecurity)"
            )
        }
    }

    /// Simple bind. Throws `invalidCredentials` for result 49 (and 48/53, which servers use for
    /// accounts that cannot bind with a password).
    func bind(dn: String, password: String) throws(LDAPDirectoryError) {
        assertBlockingAllowed()
        // Not started past the job's deadline; once started, the handle's own operation timeout holds.
        _ = try self.timeLeft(for: "bind")
        let handle = try self.liveHandle()
        var bytes = Array(password.utf8)
        let rc = bytes.withUnsafeMutableBytes { buffer in
            let rc = cldap_simple_bind(
                handle, dn, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count)
            // Do not leave a copy of the password in freed memory.
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            return rc
        }
        guard rc == LDAP_SUCCESS else {
            throw self.error(rc, phase: .bind, operation: "bind")
        }
    }

    enum Scope {
        case base
        case subtree

        var rawValue: Int32 {
            switch self {
            case .base: Int32(CLDAP_SCOPE_BASE)
            case .subtree: Int32(CLDAP_SCOPE_SUBTREE)
            }
        }
    }

    /// A search. `noSuchObject` (the base does not exist) is an empty result, not an error.
    func search(
        base: String,
        scope: Scope,
        filter: String,
        attributes: [String],
        sizeLimit: Int32 = 0
    ) throws(LDAPDirectoryError) -> SearchResult {
        assertBlockingAllowed()
        let limit = try self.timeLeft(for: "search")
        let timeout = limit.timeval
        let handle = try self.liveHandle()
        var message: OpaquePointer?
        let rc = withNullTerminatedCStrings(attributes) { attributeArray in
            cldap_search(
                handle, base, scope.rawValue, filter, attributeArray, timeout.seconds, timeout.microseconds,
                sizeLimit, &message)
        }
        defer {
            if let message {
                ldap_msgfree(message)
            }
        }
        switch rc {
        case LDAP_SUCCESS, LDAP_SIZELIMIT_EXCEEDED:
            return SearchResult(
                entries: message.map { self.entries(of: $0, handle: handle) } ?? [],
                sizeLimitExceeded: rc == LDAP_SIZELIMIT_EXCEEDED
            )
        case LDAP_NO_SUCH_OBJECT:
            return SearchResult(entries: [], sizeLimitExceeded: false)
        default:
            var error = self.error(rc, phase: .operation, operation: "search")
            // Cut short by the job's deadline, not by the directory's own time limit.
            error.endedByJobDeadline = error.code == .timeout && limit < self.settings.operationTimeout
            throw error
        }
    }

    /// The entry `dn` with `attributes`, each ranged attribute read to its end (Active Directory answers
    /// at most 1,500 values of `member` at a time, see ``AttributeRange``); nil when there is no such entry.
    func readEntry(_ dn: String, attributes: [String]) throws(LDAPDirectoryError) -> LDAPEntry? {
        let filter = "(objectClass=*)"
        guard let first = try self.search(base: dn, scope: .base, filter: filter, attributes: attributes).entries.first
        else { return nil }
        return try RangedValues.complete(first) { description throws(LDAPDirectoryError) in
            try self.search(base: dn, scope: .base, filter: filter, attributes: [description]).entries.first
        }
    }

    /// The operation timeout, or what is left of ``jobDeadline`` when that is shorter.
    private func timeLeft(for operation: String) throws(LDAPDirectoryError) -> Duration {
        let limit = self.settings.operationTimeout
        guard let deadline = self.jobDeadline else { return limit }
        let left = deadline - ContinuousClock.now
        guard left >= .milliseconds(1) else {
            // Nothing was sent: the connection stays usable (a server-side code, not a client one).
            var error = LDAPDirectoryError(
                code: .timeout, message: "The directory did not answer in time.",
                resultCode: LDAP_TIMELIMIT_EXCEEDED,
                details: "\(operation) on \(self.settings.url) not started: the job's deadline has passed")
            error.endedByJobDeadline = true
            throw error
        }
        return min(limit, left)
    }

    func close() {
        if let handle = self.handle {
            self.handle = nil
            // Sends an UnbindRequest (a write that does not wait for an answer) and frees the handle.
            ldap_unbind_ext_s(handle, nil, nil)
        }
    }

    private func entries(of message: OpaquePointer, handle: OpaquePointer) -> [LDAPEntry] {
        var entries: [LDAPEntry] = []
        var entry = ldap_first_entry(handle, message)
        while let current = entry {
            var dn = ""
            if let rawDN = ldap_get_dn(handle, current) {
                dn = String(cString: rawDN)
                ldap_memfree(rawDN)
            }
            var attributes: [String: [String]] = [:]
            var ber: OpaquePointer?
            var attribute = ldap_first_attribute(handle, current, &ber)
            while let name = attribute {
                let key = String(cString: name).lowercased()
                if let values = ldap_get_values_len(handle, current, name) {
                    var index = 0
                    var decoded: [String] = []
                    while let value = values[index] {
                        let bytes = UnsafeRawBufferPointer(
                            start: value.pointee.bv_val, count: Int(value.pointee.bv_len))
                        decoded.append(String(decoding: bytes, as: UTF8.self))
                        index += 1
                    }
                    ldap_value_free_len(values)
                    attributes[key, default: []].append(contentsOf: decoded)
                }
                ldap_memfree(name)
                attribute = ldap_next_attribute(handle, current, ber)
            }
            if let ber {
                ber_free(ber, 0)
            }
            entries.append(LDAPEntry(dn: dn, attributes: attributes))
            entry = ldap_next_entry(handle, current)
        }
        return entries
    }

    private func liveHandle() throws(LDAPDirectoryError) -> OpaquePointer {
        guard let handle = self.handle else {
            throw LDAPDirectoryError(
                code: .directoryUnavailable,
                message: "The directory connection is closed.",
                details: "use of a closed LDAPConnection"
            )
        }
        return handle
    }

    enum Phase {
        case connect
        case startTLS
        case bind
        case operation
    }

    /// Maps a libldap result to an ``LDAPDirectoryError``.
    private func error(_ rc: Int32, phase: Phase, operation: String) -> LDAPDirectoryError {
        let diagnostic = self.diagnostic(for: rc)
        let details = "\(operation) on \(self.settings.url)"
        let tls = self.settings.transportSecurity != .none
        // 48/53 on a bind: the account has no password or may not bind (locked, disabled).
        if phase == .bind
            && [LDAP_INVALID_CREDENTIALS, LDAP_INAPPROPRIATE_AUTH, LDAP_UNWILLING_TO_PERFORM].contains(rc)
        {
            return LDAPDirectoryError(
                code: .invalidCredentials,
                message: "Invalid username or password.",
                resultCode: rc, diagnostic: diagnostic, details: details)
        }
        switch rc {
        case LDAP_TIMEOUT, LDAP_TIMELIMIT_EXCEEDED:
            return LDAPDirectoryError(
                code: .timeout,
                message: "The directory did not answer in time.",
                resultCode: rc, diagnostic: diagnostic, details: details)
        case LDAP_SERVER_DOWN, LDAP_CONNECT_ERROR:
            // libldap reports a failed TLS handshake or certificate check as "can't contact server"
            // (-1) or "connect error" (-11) and leaves the TLS library's reason in the diagnostic
            // message; a refused TCP connection leaves no diagnostic.
            let tlsFailed =
                tls && (phase == .connect || phase == .startTLS)
                && (rc == LDAP_CONNECT_ERROR || self.hasDiagnosticMessage)
            if tlsFailed && self.diagnosticMessage.lowercased().contains("timed out") {
                // The handshake bound of shim.h fired: the server accepted TCP but never answered.
                return LDAPDirectoryError(
                    code: .timeout,
                    message: "The directory did not answer in time.",
                    resultCode: rc, diagnostic: diagnostic, details: details)
            }
            if tlsFailed {
                return LDAPDirectoryError(
                    code: .tlsFailure,
                    message: "A secure connection to the directory could not be established.",
                    resultCode: rc, diagnostic: diagnostic, details: details)
            }
            return LDAPDirectoryError(
                code: .directoryUnavailable,
                message: "The directory cannot be reached.",
                resultCode: rc, diagnostic: diagnostic, details: details)
        case LDAP_BUSY, LDAP_UNAVAILABLE:
            return LDAPDirectoryError(
                code: .directoryUnavailable,
                message: "The directory is not available.",
                resultCode: rc, diagnostic: diagnostic, details: details)
        case LDAP_CONFIDENTIALITY_REQUIRED, LDAP_STRONG_AUTH_REQUIRED:
            return LDAPDirectoryError(
                code: .configuration,
                message: "The directory requires a secure connection: use ldaps:// or StartTLS.",
                resultCode: rc, diagnostic: diagnostic, details: details)
        case LDAP_PROTOCOL_ERROR where phase == .startTLS:
            return LDAPDirectoryError(
                code: .tlsFailure,
                message: "The directory does not support StartTLS.",
                resultCode: rc, diagnostic: diagnostic, details: details)
        default:
            return LDAPDirectoryError(
                code: .operationFailed,
                message: "The directory refused the request.",
                resultCode: rc, diagnostic: diagnostic, details: details)
        }
    }

    private var hasDiagnosticMessage: Bool {
        !self.diagnosticMessage.isEmpty
    }

    /// The handle's diagnostic message (server text, or the TLS library's reason), or "".
    private var diagnosticMessage: String {
        guard let handle = self.handle, let message = cldap_diagnostic_message(handle) else {
            return ""
        }
        defer { ldap_memfree(message) }
        return String(cString: message)
    }

    fileprivate func diagnostic(for rc: Int32) -> String {
        var text = errorString(rc)
        if let handle = self.handle, let message = cldap_diagnostic_message(handle) {
            let server = String(cString: message)
            ldap_memfree(message)
            if !server.isEmpty {
                text += ": \(server)"
            }
        }
        return text
    }
}

private func errorString(_ rc: Int32) -> String {
    ldap_err2string(rc).map { String(cString: $0) } ?? "LDAP error \(rc)"
}

/// libldap blocks the calling thread; on an event loop thread that would stall every channel of
/// that loop. Checked in debug builds (tests run them); a thread-local read, so cheap.
@inline(__always)
func assertBlockingAllowed(file: StaticString = #fileID, line: UInt = #line) {
    assert(
        MultiThreadedEventLoopGroup.currentEventLoop == nil,
        "libldap call on an event loop thread: blocking calls must run on the NIOThreadPool",
        file: file, line: line
    )
}

/// Calls `body` with a NULL-terminated `char *[]` of copies of `strings` (`nil` when empty, which
/// libldap reads as "all user attributes"; callers ask for "1.1" to get none).
private func withNullTerminatedCStrings<R>(
    _ strings: [String],
    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> R
) -> R {
    if strings.isEmpty {
        return body(nil)
    }
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer {
        for pointer in pointers {
            free(pointer)
        }
    }
    return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}

extension Duration {
    var timeval: (seconds: Int, microseconds: Int) {
        let (seconds, attoseconds) = self.components
        return (Int(seconds), Int(attoseconds / 1_000_000_000_000))
    }

    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
