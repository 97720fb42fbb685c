import Crypto
import Foundation
import Hummingbird
import HummingbirdCore
import LDAPDirectory
import Mustache

/// What every web page shares: the language, the frame around the content (who is logged in, the
/// CSRF token for the page's forms, the language switch), rendering, redirects.
struct WebPages: Sendable {
    let renderer: PageRenderer
    let settings: WebSettings
    let now: @Sendable () -> Date

    /// A cookie the language switch sets; it wins over `Accept-Language`.
    static let languageCookie = "freigabe-lang"

    func language(_ request: Request) -> String { Self.language(of: request, renderer: renderer) }

    /// The language switch's choice, else `Accept-Language`, else German.
    static func language(of request: Request, renderer: PageRenderer) -> String {
        if let chosen = request.cookies[languageCookie]?.value, renderer.languages.contains(String(chosen)) {
            return String(chosen)
        }
        return renderer.negotiation.language(forAcceptLanguage: request.headers[.acceptLanguage])
    }

    func text(_ request: Request) -> PageText { PageText(catalog: renderer.catalog(for: language(request))) }

    /// The answers with which a form comes back with what was wrong: refused input, a wrong password, a
    /// decision someone else took first.
    static let statusesWithErrors: Set<HTTPResponse.Status> = [
        .badRequest, .unauthorized, .conflict, .unprocessableContent,
    ]

    /// The page `template` with `page` as its content (read as `{{page.…}}`), inside the layout.
    func render(
        _ template: String, title: String, page: Any? = nil, request: Request, context: AppRequestContext,
        status: HTTPResponse.Status = .ok, csrf: String? = nil
    ) throws -> Response {
        let language = language(request)
        let text = PageText(catalog: renderer.catalog(for: language))
        var frame = PageFrame(request: request, context: context, text: text, languages: renderer.languages)
        if let csrf { frame.csrf = csrf }
        // A form that came back with its errors says so in the title, the first thing a screen reader
        // reads of the new page (WCAG 3.3.1); freigabe.js moves the focus to the error summary.
        let title = Self.statusesWithErrors.contains(status) ? text("form.error_title", ["title": title]) : title
        var values: [String: Any] = ["frame": frame, "pageTitle": title]
        if let page { values["page"] = page }
        guard let html = renderer.render(template, language: language, values: values) else {
            // Templates are checked at start (`PageRenderer.requiredTemplates`).
            throw HTTPError(.internalServerError)
        }
        return HTMLPage(html: html, language: language, status: status).response(from: request, context: context)
    }

    /// ``render(_:title:page:request:context:status:csrf:)`` for a page whose form a browser without a
    /// session may post (the login, a mail link's confirm page): without a session its token is a
    /// ``SessionlessFormToken`` and no session is started, so showing the page writes nothing.
    func renderForm(
        _ template: String, title: String, page: Any, request: Request, context: AppRequestContext,
        status: HTTPResponse.Status = .ok
    ) throws -> Response {
        guard context.sessions.session == nil else {
            return try render(template, title: title, page: page, request: request, context: context, status: status)
        }
        let token = SessionlessFormToken.token(in: request, https: settings.isHTTPS)
        var response = try render(
            template, title: title, page: page, request: request, context: context, status: status, csrf: token)
        response.setCookie(SessionlessFormToken.cookie(token, https: settings.isHTTPS))
        return response
    }

    /// 303 See Other to a path of ours (never to another site: `next` values come from the browser).
    static func redirect(to path: String) -> Response {
        Response(status: .seeOther, headers: [.location: safeLocalPath(path) ?? "/"])
    }

    /// `value` as a query parameter's value or one path segment: only RFC 3986's unreserved ASCII
    /// characters stay as they are (`.alphanumerics` would let „ä“ through unencoded).
    static func queryValue(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// The login page that comes back to `path` afterwards (`weiter`, percent-encoded); with `loggedOut`
    /// it also says that the person logged out, with `expired` that the session expired.
    static func login(returningTo path: String, loggedOut: Bool = false, expired: Bool = false) -> String {
        let back = WebPages.queryValue(path)
        return "/anmelden?" + (loggedOut ? "abgemeldet=1&" : "") + (expired ? "abgelaufen=1&" : "") + "weiter=" + back
    }

    /// `path` when it is a path on this site (`/…`, not `//host` or `/\host`), else nil.
    ///
    /// A browser removes tabs and line breaks anywhere in a URL, strips spaces and control characters at
    /// its ends and reads `\` as `/`, so `/<TAB>/evil.example` would take it to another site: no control
    /// character, space or backslash anywhere.
    static func safeLocalPath(_ path: String?) -> String? {
        guard let path, path.hasPrefix("/"), !path.hasPrefix("//"), path.utf8.count <= 500,
            path.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "\\") })
        else { return nil }
        return path
    }
}

/// The person a page is for; pages that need one throw ``LoginRequired`` without, which becomes a
/// redirect to the login page that comes back here afterwards.
struct LoginRequired: Error {
    var returnPath: String
    /// The session ended on this request: the login page says so.
    var expired = false
}

extension AppRequestContext {
    /// The caller of a page, or ``LoginRequired``.
    func pageCaller(_ request: Request) throws -> Caller {
        guard let person = identity?.person else {
            throw LoginRequired(
                returnPath: request.pathAndQuery, expired: sessionExpired)
        }
        var caller = Caller(person: person, clientAddress: clientAddress)
        caller.channel = .web
        return caller
    }
}

/// The frame of every page: the layout's header (navigation, who is logged in, logout, language).
struct PageFrame {
    struct User {
        var uid: String
        var name: String
        var isAdmin: Bool
        /// Auditors and administrators see the decision log.
        var isAuditor: Bool
        /// Names the person in what the browser keeps of a form they type (`freigabe.js`), without the
        /// uid in clear: someone else logging in at the same browser never gets it back.
        var keepKey: String { Self.keepKey(uid: uid) }

        static func keepKey(uid: String) -> String {
            SHA256.hash(data: Data(("freigabe-kept-form:" + uid).utf8)).prefix(8)
                .map { String(format: "%02x", $0) }.joined()
        }
    }

    struct LanguageLink {
        var code: String
        var label: String
        var href: String
    }

    var user: User?
    /// The session's CSRF token for every form on the page.
    var csrf: String?
    var languages: [LanguageLink]
    /// Mark the navigation entry of this page (`aria-current`); stored, as Mustache reads only stored
    /// properties.
    var isStart = false
    var isCatalog = false
    var isInbox = false
    var isDeputyships = false
    var isAdmin = false
    var isAudit = false

    init(request: Request, context: AppRequestContext, text: PageText, languages: [String]) {
        if let person = context.identity?.person {
            user = User(
                uid: person.uid, name: person.displayName, isAdmin: person.roles.contains(.admin),
                isAuditor: person.roles.contains(.auditor) || person.roles.contains(.admin))
        }
        csrf = context.sessions.session?.csrfToken
        let back = Self.languageSwitchReturn(request)
        self.languages = languages.filter { $0 != text.language }.map { code in
            LanguageLink(
                code: code, label: text("language.\(code)"),
                href: "/sprache/\(code)?zurueck="
                    + WebPages.queryValue(back))
        }
        let path = request.uri.path
        isStart = path == "/"
        isCatalog = path.hasPrefix("/katalog")
        isInbox = path.hasPrefix("/eingang")
        isDeputyships = path.hasPrefix("/vertretungen")
        isAdmin = path.hasPrefix("/verwaltung")
        isAudit = path.hasPrefix("/pruefung")
    }
}

extension Request {
    /// The address as the browser asked for it, without scheme and host: the login comes back to it, the
    /// language switch too.
    var pathAndQuery: String { uri.path + (uri.query.map { "?" + $0 } ?? "") }

    /// The query as a page's search form (`method="get"`) writes it: a space typed into a field arrives
    /// as `+` (a `+` typed is `%2B`), which `uri.queryParameters` would keep as a `+`, so that
    /// „Paul Peters“ was searched as „Paul+Peters“.
    var formQuery: Parameters {
        guard let query = uri.query, query.contains("+") else { return uri.queryParameters }
        return URI("/?" + query.replacingOccurrences(of: "+", with: "%20")).queryParameters
    }
}

extension PageFrame {
    /// Where the language switch leads back to: this page with its query (the new-request form needs its
    /// kind and dataset, the inbox its page), or, for a page that answers a form (a POST address, often
    /// POST-only), the page the form was on (the `Referer`'s path and query, never its host), else the
    /// start page.
    static func languageSwitchReturn(_ request: Request) -> String {
        guard request.method == .get || request.method == .head else {
            return request.headers[.referer].flatMap(EndedSessionForms.pathAndQuery(ofReferer:)) ?? "/"
        }
        return WebPages.safeLocalPath(request.pathAndQuery)
            ?? WebPages.safeLocalPath(request.uri.path) ?? "/"
    }
}

/// The frame is in every page: it answers Mustache by name instead of by `Mirror` reflection, with
/// `Mirror`'s meaning (a nil optional is not found, so the name is looked up further out).
extension PageFrame: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "user": user
        case "csrf": csrf
        case "languages": languages
        case "isStart": isStart
        case "isCatalog": isCatalog
        case "isInbox": isInbox
        case "isDeputyships": isDeputyships
        case "isAdmin": isAdmin
        case "isAudit": isAudit
        default: nil
        }
    }
}

extension PageFrame.User: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "uid": uid
        case "name": self.name
        case "isAdmin": isAdmin
        case "isAuditor": isAuditor
        case "keepKey": keepKey
        default: nil
        }
    }
}

extension PageFrame.LanguageLink: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "code": code
        case "label": label
        case "href": href
        default: nil
        }
    }
}
