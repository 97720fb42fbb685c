import Hummingbird
import HummingbirdAuth
import LDAPDirectory
import NIOCore

/// The person behind a request, authenticated against the city's directory for this request.
public struct AuthenticatedUser: Sendable, Hashable {
    public var person: Person

    public init(person: Person) { self.person = person }
}

/// The request context of every route: Hummingbird's core storage, the authenticated user (if any)
/// and the client's address, which security audit events record.
public struct AppRequestContext: AuthRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: AuthenticatedUser?
    public let remoteAddress: SocketAddress?

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
