import Hummingbird
import HummingbirdAuth
import LDAPDirectory
import NIOCore

/// The person behind a request, authenticated against the city's directory for this request.
public struct AuthenticatedUser: Sendable, Hashable {
    public var person: Person

    public init(person: Person) { self.person = person }
}

/// The request context of every route: Hummingbird's core storage, the authenticated user (if any),
/// the client's address, which security audit events record, and for the web pages the session and
/// the form the CSRF check has read.
public struct AppRequestContext: AuthRequestContext, RemoteAddressRequestContext, SessionRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: AuthenticatedUser?
    public let remoteAddress: SocketAddress?
    /// The browser's session (web pages only; the JSON API authenticates every request by itself).
    public let sessions = SessionContext<WebSession>()
    /// The submitted form of a page's POST, read once and checked for its CSRF token before any route
    /// sees it (``FormCSRFMiddleware``).
    var form: WebForm?
    /// The session ended (idle or absolute timeout) on this request: the login page says so.
    var sessionExpired = false

    /// The client's IP address as text, for audit events and login throttling: the peer's address,
    /// or the one a trusted reverse proxy reports (set by ``ClientAddressMiddleware``).
    public var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.remoteAddress = source.channel.remoteAddress
        self.clientAddress = remoteAddress?.ipAddress
    }
}
