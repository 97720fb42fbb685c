import Foundation
import Hummingbird

/// The CSRF token of the two forms a browser without a session fills in, the login and a mail link's
/// confirm page: a double-submit cookie (OWASP), kept in the browser only.
///
/// Mail scanners open every link of a mail, and bots every login page; a form that started a session
/// for its token wrote a `web_sessions` row per visit, so a GET changed the database. This token costs
/// the server nothing: the page sets it as a cookie (`SameSite=Strict`, `HttpOnly`, `__Host-` over https)
/// and puts the same value in the form; the POST must carry both, equal. Another site can neither read
/// the cookie nor set it for us. A browser with a session uses the session's synchroniser token, as every
/// other form does; the login then starts the first session, with a new id.
enum SessionlessFormToken {
    /// Whether a browser without a session may post to `path`: the login and the confirm pages
    /// (`/e/{token}`).
    static func admits(path: String) -> Bool { path == "/anmelden" || path.hasPrefix("/e/") }

    static func cookieName(https: Bool) -> String { https ? "__Host-freigabe-form" : "freigabe-form" }

    /// How long an untouched login or confirm form stays usable. An approver opens a mail link on the
    /// phone between meetings and confirms hours later, after lunch or the next morning; a cookie that
    /// ended before that made the confirmation a CSRF refusal (403) that lost the typed reason. The
    /// token guards only that the form is ours (it is no login and opens nothing by itself), so it may
    /// live as long as a mail link usually does (``DecisionLinkStore/defaultDays``).
    static let lifetime: Duration = .seconds(DecisionLinkStore.defaultDays * 86400)

    /// The browser's token when it is well-formed, else a new one.
    static func token(in request: Request, https: Bool) -> String {
        if let value = request.cookies[cookieName(https: https)]?.value, isWellFormed(String(value)) {
            return String(value)
        }
        return WebSession.newToken()
    }

    /// The cookie that carries `token` back with the form.
    static func cookie(_ token: String, https: Bool) -> Cookie {
        Cookie(
            name: cookieName(https: https), value: token, maxAge: Int(lifetime.seconds), path: "/",
            secure: https, httpOnly: true, sameSite: .strict)
    }

    /// Whether a form posted without a session to a page that admits it carries the token of its cookie.
    static func accepts(_ request: Request, form: WebForm, https: Bool) -> Bool {
        guard admits(path: request.uri.path),
            let cookie = request.cookies[cookieName(https: https)]?.value, isWellFormed(String(cookie))
        else { return false }
        return WebSession.constantTimeEquals(form["_csrf"], String(cookie))
    }

    /// 256 bits as ``WebSession/newToken()`` writes them: 43 characters of URL-safe base64.
    static func isWellFormed(_ value: String) -> Bool {
        value.utf8.count == 43
            && value.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "_")
            }
    }
}
