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
    /// The session rows, whose expiry an active session moves forward (``refresh(_:cookie:now:)``).
    let sessions: PostgresSessionDriver
    /// Where a form posted after the session ended leads.
    let endedSessions: EndedSessionForms

    /// How often an active session's expiry is moved forward.
    static let refreshInterval: TimeInterval = 60

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let cookie = request.cookies[settings.sessionCookieName].map { String($0.value) }
        guard var session = context.sessions.session, let uid = session.uid else {
            var context = context
            // A cookie without its session: the session ended (its row expired), and the login says so.
            context.sessionExpired = context.sessions.session == nil && cookie != nil
            return try await next(request, context)
        }
        let now = now()
        var context = context
        if session.hasExpired(at: now, settings: settings) {
            context.sessions.clearSession()
            context.sessionExpired = true
            // A form of the ended session changes nothing: the login, and then back to the form's page.
            if EndedSessionForms.concerns(request) {
                return endedSessions.redirect(request, form: context.form)
            }
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
        var refreshed: Cookie?
        if now.timeIntervalSince(session.lastSeenAt) >= Self.refreshInterval, let cookie {
            session.lastSeenAt = now
            refreshed = try await refresh(session, cookie: cookie, now: now)
        }
        var response = try await next(request, context)
        // Unless the page ended the session (a logout): its cookie is deleted, not renewed.
        if let refreshed, context.sessions.session != nil { response.setCookie(refreshed) }
        return response
    }

    /// Moves the session of `cookie` forward by the idle timeout: the same id (a new one would leave the
    /// old one valid after logout), its row updated and never written anew, so a logout that deleted it
    /// while a slow page ran stays a logout. The cookie, or nil if the row is gone: it lasts beyond the
    /// session's absolute end (``WebSettings/sessionCookieLifetime``), longer than the row, so that a form
    /// sent after the session ended still carries it and leads to the login (``EndedSessionForms``)
    /// instead of a CSRF refusal.
    func refresh(_ session: WebSession, cookie: String, now: Date) async throws -> Cookie? {
        guard
            try await sessions.touch(
                key: LoginPages.sessionKeyPrefix + cookie, value: session, expires: settings.idleTimeout)
        else { return nil }
        return Cookie(
            name: settings.sessionCookieName, value: cookie,
            expires: session.createdAt + settings.sessionCookieLifetime.seconds,
            path: "/", secure: settings.isHTTPS, httpOnly: true, sameSite: .lax)
    }
}
