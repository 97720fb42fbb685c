import Foundation
import Hummingbird

/// Reads the form of every state-changing page request and checks its CSRF token before any route runs.
///
/// Synchroniser token: each session has a random token (``WebSession/csrfToken``) that every form
/// carries in `_csrf`; a form without it or with another one is refused with 403 and changes nothing.
/// `SameSite=Lax` on the cookie is a second wall, not the first. A browser without a session may post
/// only the two forms it fills in before a login (the login, a mail link's confirm page), with the
/// double-submit token of ``SessionlessFormToken``; any other form from it is refused, except that a
/// browser whose session ended (its cookie names no live session) is sent to log in again and back to the
/// form's page (``EndedSessionForms``), with nothing changed; so is one whose confirm page or login form
/// was shown with the session's token before the session ended. Safe methods pass untouched: no page changes
/// state on GET or HEAD.
struct FormCSRFMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// Whether the site is served over https (the sessionless forms' cookie is `__Host-` then).
    var https: Bool
    /// The session cookie's name: a form that carries it without a live session was posted after the end.
    var sessionCookieName: String
    /// Where such a form leads: the login, and then back to the form's page.
    var endedSessions: EndedSessionForms

    /// The pages whose forms upload a file (`multipart/form-data`): the catalogue import.
    static let uploadPaths: Set<String> = ["/verwaltung/import"]

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard !request.method.isSafe else { return try await next(request, context) }
        let contentType = request.headers[.contentType] ?? ""
        let isMultipart = contentType.lowercased().hasPrefix("multipart/form-data")
        guard contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") || isMultipart else {
            throw Self.refusal(.unsupportedMediaType, "web.not_a_form")
        }
        // A session that ended (its row expired or was deleted) is no reason for a 403 whose reload posts
        // again: the person logs in again and comes back to the page. The form changes nothing.
        let cookieWithoutSession = context.sessions.session == nil && request.cookies[sessionCookieName] != nil
        let sessionEnded = cookieWithoutSession && EndedSessionForms.concerns(request)
        if sessionEnded, isMultipart { return endedSessions.redirect(request, form: nil) }
        // Files are uploaded on one page, by someone logged in: nobody else makes this process read and
        // split megabytes before the token is checked.
        if isMultipart, context.sessions.session == nil || !Self.uploadPaths.contains(request.uri.path) {
            throw Self.refusal(.unsupportedMediaType, "web.not_a_form")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(
                upTo: isMultipart ? WebForm.maximumUploadBytes : WebForm.maximumBytes)
        } catch {
            throw Self.refusal(.contentTooLarge, "web.form_too_large")
        }
        let form: WebForm
        do {
            form =
                isMultipart
                ? try WebForm(multipart: Array(buffer.readableBytesView), boundary: Self.boundary(of: contentType))
                : try WebForm(urlEncoded: String(buffer: buffer))
        } catch .tooLarge {
            throw Self.refusal(.contentTooLarge, "web.form_too_large")
        } catch {
            throw Self.refusal(.badRequest, "web.form_malformed")
        }
        if sessionEnded { return endedSessions.redirect(request, form: form) }
        let accepted =
            if let session = context.sessions.session {
                session.acceptsCSRFToken(form["_csrf"])
            } else {
                SessionlessFormToken.accepts(request, form: form, https: https)
            }
        guard accepted else {
            // A mail link's confirm page (or the login) shown while the session lived carries the session's
            // token, not the sessionless one: its session ended meanwhile, so log in again and come back.
            if cookieWithoutSession { return endedSessions.redirect(request, form: form) }
            context.logger.notice(
                "Form refused: CSRF token missing or wrong", metadata: ["http.path": "\(loggedPath(request.uri.path))"])
            throw Self.refusal(.forbidden, "web.csrf")
        }
        var context = context
        context.form = form
        return try await next(request, context)
    }

    /// The `boundary` parameter of a multipart content type ("" when there is none).
    static func boundary(of contentType: String) -> String {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else {
                continue
            }
            let value = pair[1].trimmingCharacters(in: .whitespaces)
            return value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2
                ? String(value.dropFirst().dropLast()) : value
        }
        return ""
    }

    /// A refusal in the page's language (catalogue `messages.web.*`), shown by the error page.
    static func refusal(_ status: HTTPResponse.Status, _ key: String) -> APIProblem {
        APIProblem(ProblemType.forStatus(status), status: status, detail: UserText(key))
    }
}
