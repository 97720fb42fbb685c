import Crypto
import Foundation

/// What the server keeps about one browser between requests, in `web_sessions`.
///
/// Before the login it holds only the CSRF token of the login form; the login replaces it by a new
/// session (a new id, against session fixation) that names the person. Roles are never stored: they
/// are read from the directory on every request, so a role removed in LDAP stops working at once.
public struct WebSession: Codable, Sendable, Hashable {
    /// The person logged in; nil before the login.
    public var uid: String?
    /// The synchroniser token every state-changing form of this session must carry.
    public var csrfToken: String
    /// When the session began (the login, for a logged-in session); the absolute timeout counts from here.
    public var createdAt: Date
    /// The last request; the idle timeout counts from here.
    public var lastSeenAt: Date

    public init(uid: String? = nil, csrfToken: String = WebSession.newToken(), createdAt: Date, lastSeenAt: Date? = nil)
    {
        self.uid = uid
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt ?? createdAt
    }

    /// 256 random bits, URL-safe base64.
    public static func newToken() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Whether `token` is this session's CSRF token, compared in constant time.
    func acceptsCSRFToken(_ token: String?) -> Bool { Self.constantTimeEquals(token, csrfToken) }

    /// Whether `given` is `expected`, in a time that does not depend on where they differ.
    static func constantTimeEquals(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        let givenBytes = Array(given.utf8)
        let expectedBytes = Array(expected.utf8)
        guard givenBytes.count == expectedBytes.count else { return false }
        return zip(givenBytes, expectedBytes).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Whether the session has ended by the clock: idle for too long, or older than the absolute limit.
    func hasExpired(at now: Date, settings: WebSettings) -> Bool {
        now.timeIntervalSince(lastSeenAt) > settings.idleTimeout.seconds
            || now.timeIntervalSince(createdAt) > settings.absoluteTimeout.seconds
    }
}
