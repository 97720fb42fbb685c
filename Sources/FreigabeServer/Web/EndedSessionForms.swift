import Foundation
import Hummingbird

/// Where a form goes that was posted after its session ended (idle or absolute limit, the row expired or
/// deleted): to the login page, which says that the session expired and afterwards leads back to the
/// page the form was on. The POST itself changes nothing, and its CSRF token is never taken for valid.
///
/// The way back is always an address a browser can GET: a form's own address is often POST-only
/// (`/antraege`, `/antraege/{id}/entscheidung`), and a login that came back to it would show an error page.
/// It is the page named by `Referer` if that is one of ours, else the one derived from the form's route.
struct EndedSessionForms: Sendable {
    /// The methods each route answers (filled once all routes are added).
    let routes: RouteMethods

    /// Whether `request` is a form this type answers once its session has ended: a state-changing request
    /// other than the two forms a browser fills in before a login (``SessionlessFormToken``). Asked by
    /// both middlewares that find a session ended: ``SessionAuthenticator`` (past its limits) and
    /// ``FormCSRFMiddleware`` (its row gone).
    static func concerns(_ request: Request) -> Bool {
        !request.method.isSafe && !SessionlessFormToken.admits(path: request.uri.path)
    }

    /// The answer to a state-changing form whose session ended: 303 to the login page.
    func redirect(_ request: Request, form: WebForm?) -> Response {
        if request.uri.path == "/abmelden" {
            // A logout of a session that has ended anyway: what the person asked for has happened.
            return WebPages.redirect(to: "/anmelden?abgemeldet=1")
        }
        return WebPages.redirect(to: WebPages.login(returningTo: formPage(of: request, form: form), expired: true))
    }

    /// The page (a GET address, with its query) the form of `request` was on.
    func formPage(of request: Request, form: WebForm?) -> String {
        if let referer = request.headers[.referer], let page = Self.pathAndQuery(ofReferer: referer), isPage(page) {
            return page
        }
        let path = request.uri.path
        if path == "/antraege" {
            // The new-request form, for the kind and dataset the form carried.
            let parameters = [("kind", form?["kind"]), ("dataset", form?["dataset_id"])].compactMap { name, value in
                value.map { "\(name)=\(WebPages.queryValue($0))" }
            }
            let page = "/antraege/neu" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
            return WebPages.safeLocalPath(page) ?? "/"
        }
        // The form's own address if it is a page (`/antraege/{id}/ueberarbeiten`), else the nearest page
        // above it (`/antraege/{id}` for its decision, `/vertretungen` for ending a deputyship).
        var segments = path.split(separator: "/", omittingEmptySubsequences: true)
        while !segments.isEmpty {
            let candidate = "/" + segments.joined(separator: "/")
            if isPage(candidate) { return candidate }
            segments.removeLast()
        }
        return "/"
    }

    /// Whether `page` is a path of ours that a browser may GET and a login may lead to.
    func isPage(_ page: String) -> Bool {
        guard WebPages.safeLocalPath(page) != nil else { return false }
        let path = String(page.prefix { $0 != "?" && $0 != "#" })
        // The login itself, the language switch (a redirect) and the API are no pages to come back to.
        guard path != "/anmelden", !path.hasPrefix("/sprache/"), !path.hasPrefix("/api/") else { return false }
        return routes.answersGET(path)
    }

    /// The path and query of an absolute or local `Referer`; never its host: only our own pages are used.
    static func pathAndQuery(ofReferer referer: String) -> String? {
        guard let components = URLComponents(string: referer) else { return nil }
        let path = components.percentEncodedPath
        guard !path.isEmpty else { return nil }
        let page = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        return WebPages.safeLocalPath(page)
    }
}
