import Foundation
import Hummingbird
import HummingbirdAuth

/// Login and logout with the directory user name and password.
///
/// The login form has a CSRF token too (from a short session made for the form, against login CSRF);
/// a successful login replaces that session by a new one with a new id (against session fixation),
/// logout deletes the session on the server. Wrong passwords, throttling and the directory being down
/// take the API's path (``DirectoryAuthenticator/verify(username:password:address:logger:)``).
struct LoginPages: Sendable {
    let pages: WebPages
    let authenticator: DirectoryAuthenticator
    let sessions: PostgresSessionDriver
    /// The key prefix hummingbird-auth's session storage puts before the cookie's id.
    static let sessionKeyPrefix = "hbs."

    struct Form {
        var username: String = ""
        var next: String?
        var error: String?
        var notice: String?
        /// After a logout: what request forms kept in the browser tab (`freigabe.js`) is dropped, so the
        /// next person at a shared computer finds none of it. After an expired session it stays.
        var clearsKeptForms = false
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("anmelden") { request, context in
            if context.identity != nil {
                return WebPages.redirect(
                    to: WebPages.safeLocalPath(request.uri.queryParameters["weiter"].map(String.init)) ?? "/")
            }
            let text = pages.text(request)
            var form = Form(next: WebPages.safeLocalPath(request.uri.queryParameters["weiter"].map(String.init)))
            if request.uri.queryParameters["abgemeldet"] != nil {
                form.notice = text("login.logged_out")
                form.clearsKeptForms = true
            } else if context.sessionExpired || request.uri.queryParameters["abgelaufen"] != nil {
                // On the request that found the session ended, or on the login its redirect leads to.
                form.notice = text("login.expired")
            }
            return try showForm(form, request: request, context: context)
        }
        group.post("anmelden") { request, context in
            try await login(request, context: context)
        }
        group.post("abmelden") { request, context in
            context.sessions.clearSession()
            // From a decision link opened under someone else's account: the login comes back to the link.
            guard let next = WebPages.safeLocalPath(context.form?["weiter"]) else {
                return WebPages.redirect(to: "/anmelden?abgemeldet=1")
            }
            return WebPages.redirect(to: WebPages.login(returningTo: next, loggedOut: true))
        }
    }

    private func showForm(
        _ form: Form, request: Request, context: AppRequestContext, status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) throws -> Response {
        let text = pages.text(request)
        var response = try pages.renderForm(
            "login", title: text("login.title"), page: form, request: request, context: context, status: status)
        for field in headers { response.headers[field.name] = field.value }
        return response
    }

    private func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let text = pages.text(request)
        let input = context.form ?? WebForm(fields: [])
        let username = input.text("username") ?? ""
        let password = input["password"] ?? ""
        var form = Form(username: username, next: WebPages.safeLocalPath(input["next"]))
        guard !username.isEmpty, !password.isEmpty else {
            form.error = text("login.incomplete")
            return try showForm(form, request: request, context: context, status: .unprocessableContent)
        }
        switch await authenticator.verify(
            username: username, password: password, address: context.clientAddress, logger: context.logger)
        {
        case .authenticated(let person):
            // A new id for the logged-in session; the form's session is deleted, not reused.
            if let old = request.cookies[pages.settings.sessionCookieName]?.value {
                try await sessions.remove(key: Self.sessionKeyPrefix + String(old))
            }
            context.sessions.clearSession()
            // The row lasts until the absolute end (the driver keeps no row longer), the cookie a while
            // after it; the idle end is the session's own (`WebSession.hasExpired`, and the row's expiry
            // once the session is refreshed). A cookie that ended with the session would be gone when a
            // form left open is sent: that form must still reach us to lead to the login, not to a CSRF
            // refusal.
            context.sessions.createSession(
                WebSession(uid: person.uid, createdAt: pages.now()), expiresIn: pages.settings.sessionCookieLifetime)
            context.logger.info("Logged in to the web pages", metadata: ["actor": .string(person.uid)])
            return WebPages.redirect(to: form.next ?? "/")
        case .refused:
            form.error = text("login.wrong_credentials")
            return try showForm(form, request: request, context: context, status: .unauthorized)
        case .throttled(let seconds):
            form.error = text("login.throttled", ["seconds": String(seconds)])
            return try showForm(
                form, request: request, context: context, status: .tooManyRequests,
                headers: [.retryAfter: String(seconds)])
        case .unavailable:
            form.error = text("login.unavailable")
            return try showForm(
                form, request: request, context: context, status: .serviceUnavailable)
        }
    }
}
