import Foundation
import Hummingbird
import Logging

/// Turns errors into German (or English) HTML error pages for browsers.
///
/// Browsers (an `Accept` header with `text/html`) get a page; other clients Hummingbird's own error
/// response with the status (and never the text) of the error. The error is put into words as the JSON API would (``APIProblemMiddleware``'s
/// mapping, the same catalogue texts: "Über diesen Schritt hat bereits … entschieden" for a 409), headers
/// of the original error (`Allow`, `Retry-After`) are kept. A 500 shows the request's id, which the log
/// line of the error carries too, and nothing about the cause. A page that needs a login redirects to
/// the login page (``LoginRequired``).
struct ErrorPageMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let renderer: PageRenderer

    struct ErrorPage {
        var status: Int
        var title: String
        var message: String
        var path: String?
        var reference: String?
        var loginHref: String?
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let login as LoginRequired {
            return WebPages.redirect(to: WebPages.login(returningTo: login.returnPath, expired: login.expired))
        } catch {
            if !Self.wantsHTML(request), let error = error as? any HTTPResponseError { throw error }
            // Logged here (a 500's cause with the request's id); the answer says nothing about it.
            let problem = APIProblemMiddleware<Context>.problem(for: error, logger: context.logger)
            guard Self.wantsHTML(request) else { throw HTTPError(problem.status, headers: problem.headers) }
            // Hummingbird's own 404 (no such route) has no words of its own; the service's has.
            return page(for: problem, routeMissing: error is HTTPError, request: request, context: context)
        }
    }

    static func wantsHTML(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("text/html") ?? false
    }

    private func page(for problem: APIProblem, routeMissing: Bool, request: Request, context: Context) -> Response {
        let language = WebPages.language(of: request, renderer: renderer)
        let texts = renderer.catalog(for: language)
        let code = Int(problem.status.code)
        // Own titles for the statuses people meet; the problem's own words as the message, except for
        // an unknown address and server errors, whose causes are no one's business.
        let kind =
            switch code {
            case 401: "unauthorized"
            case 403: "forbidden"
            case 404: "not_found"
            case 409: "conflict"
            case 429: "too_many"
            case 503: "unavailable"
            case 500...: "server_error"
            default: "client_error"
            }
        let message =
            ((code == 404 && routeMissing) || (code >= 500 && code != 503))
            ? texts["errors.\(kind).message"] ?? "" : problem.detail.resolved(in: texts)
        let page = ErrorPage(
            status: code, title: texts["errors.\(kind).title"] ?? problem.type.title.resolved(in: texts),
            message: message,
            path: code == 404
                ? String((request.uri.path.removingPercentEncoding ?? request.uri.path).prefix(200)) : nil,
            reference: code >= 500 ? context.id : nil,
            loginHref: code == 401 ? "/anmelden" : nil)
        // The header as on every page: the language switch, and who is logged in (as far as the session
        // was read before the error) with the way out.
        var frame = PageFrame(
            request: request, context: context, text: PageText(catalog: texts), languages: renderer.languages)
        if frame.user == nil, let uid = context.sessions.session?.uid {
            // The pages' middleware read the session before the error, and the error left before the
            // person was set on this context (a copy further in): named by the session's uid.
            frame.user = PageFrame.User(uid: uid, name: uid, isAdmin: false, isAuditor: false)
        }
        let html =
            renderer.render(
                "error", language: language, values: ["frame": frame, "page": page, "pageTitle": page.title])
            ?? ""
        var headers = problem.headers
        headers[.wwwAuthenticate] = nil
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentLanguage] = language
        headers[.vary] = "Accept-Language"
        headers[.cacheControl] = "no-store"
        let response = Response(
            status: problem.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
        return request.method == .head ? response.createHeadResponse() : response
    }
}
