import Foundation
import Hummingbird
import LDAPDirectory

/// Turns the browser's session into the person behind the request, for the web pages.
///
/// The session names only the uid; the person and their roles are read from the directory on every
/// request (through its cache), like the API's logins, so a role taken away in LDAP ends at once. A
/// session past its idle or absolute limit is ended here (``AppRequestContext/sessionExpired`` tells the
/// login page to say so). An active session's expiry moves forward at most once a minute, so that
/// browsing does not write a row per page.
struct SessionAuthenticator: RouterMiddleware {
    typealias Context = AppRequestContext

    let directory: LDAPDirectory?
    let settings: WebSettings
    let now: @Sendable () -> Date

    /// How often an active session's expiry is moved forward.
    static let refreshInterval: TimeInterval = 60

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard var session = context.sessions.session, let uid = session.uid else {
            return try await next(request, context)
        }
        let now = now()
        var context = context
        if session.hasExpired(at: now, settings: settings) {
            context.sessions.clearSession()
            context.sessionExpired = true
            return try await next(request, context)
        }
        guard let directory else {
            throw APIProblem(.unavailable, status: .serviceUnavailable, detail: UserText("login.no_directory"))
        }
        let person: Person
        do {
            person = try await directory.person(username: uid)
        } catch let error as LDAPDirectoryError where error.code == .userNotFound || error.code == .invalidUsername {
            // The account is gone from the directory: so is the session.
            context.sessions.clearSession()
            return try await next(request, context)
        }
        context.identity = AuthenticatedUser(person: person)
        context.logger[metadataKey: "actor"] = .string(person.uid)
        if now.timeIntervalSince(session.lastSeenAt) >= Self.refreshInterval {
            session.lastSeenAt = now
            // The same id, its row updated: a new id here would leave the old one valid after logout.
            _ = context.sessions.updateSession(session, expiresIn: settings.idleTimeout)
        }
        return try await next(request, context)
    }
}
