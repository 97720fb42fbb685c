import Foundation

/// How the web pages are served (`web.*`): the address people reach them at, and how long a login lasts.
public struct WebSettings: Sendable, Hashable {
    /// The address staff open in their browser (and mails link to), without a trailing slash.
    ///
    /// `https` makes the session cookie `Secure` with the `__Host-` prefix and adds HSTS; plain `http`
    /// is accepted only for a loopback host, for development.
    public var publicURL: URL
    /// A session ends after this long without a request (`web.session_idle_minutes`, default 30).
    public var idleTimeout: Duration
    /// A session ends this long after the login, active or not (`web.session_max_hours`, default 10).
    public var absoluteTimeout: Duration

    /// How many days a decision link in a mail is valid (`web.decision_link_days`, default 14), at least
    /// until its step's deadline (``DecisionLinkStore/expiry(minted:days:deadline:)``).
    public var decisionLinkDays = DecisionLinkStore.defaultDays
    /// The longest lifetime `web.decision_link_days` allows, also for a link kept until its step's deadline.
    static let maximumLinkDays = 60
    /// Whether a decision link's confirm page may take the person's password when they are not logged
    /// in (`web.decision_link_password`, default true: phones rarely have a session).
    public var decisionLinkPassword = true

    public init(
        publicURL: URL = URL(string: "http://127.0.0.1:8080")!, idleTimeout: Duration = .seconds(30 * 60),
        absoluteTimeout: Duration = .seconds(10 * 3600)
    ) {
        self.publicURL = publicURL
        self.idleTimeout = idleTimeout
        self.absoluteTimeout = absoluteTimeout
    }

    public enum Key {
        public static let publicURL = "web.public_url"
        public static let idleMinutes = "web.session_idle_minutes"
        public static let maxHours = "web.session_max_hours"
        public static let linkDays = "web.decision_link_days"
        public static let linkPassword = "web.decision_link_password"
    }

    /// How long the session cookie outlives the session's absolute end. A form left open overnight or
    /// over a weekend must still carry it when it is sent, to lead to the login and back to the form
    /// (``EndedSessionForms``) rather than to a CSRF refusal; the session itself has ended
    /// (``WebSession/hasExpired(at:settings:)``, its row gone), and the cookie names nothing then.
    static let cookieOutlivesSession: Duration = .seconds(14 * 86400)

    /// The session cookie's lifetime from the login.
    var sessionCookieLifetime: Duration { absoluteTimeout + Self.cookieOutlivesSession }

    /// Whether browsers reach us over TLS (directly or through the city's proxy).
    public var isHTTPS: Bool { publicURL.scheme == "https" }

    /// `__Host-` binds the cookie to this exact host and path `/`, and browsers accept it only with
    /// `Secure`; over development http the plain name is the only one a browser keeps.
    var sessionCookieName: String { isHTTPS ? "__Host-freigabe-session" : "freigabe-session" }

    static func read(_ values: SettingValues) throws -> WebSettings {
        var settings = WebSettings()
        if let url = try values.parsed(
            Key.publicURL, expected: "https://Rechner[:Port] ohne Pfad (http:// nur für 127.0.0.1 oder localhost)",
            parse: publicURL)
        {
            settings.publicURL = url
        }
        if let minutes = try values.parsed(
            Key.idleMinutes, expected: "Minuten von 1 bis 1440",
            parse: { Int(digits: $0, in: 1...1440) })
        {
            settings.idleTimeout = .seconds(minutes * 60)
        }
        if let hours = try values.parsed(
            Key.maxHours, expected: "Stunden von 1 bis 24", parse: { Int(digits: $0, in: 1...24) })
        {
            settings.absoluteTimeout = .seconds(hours * 3600)
        }
        if let days = try values.parsed(
            Key.linkDays, expected: "Tage von 1 bis \(maximumLinkDays)",
            parse: { Int(digits: $0, in: 1...maximumLinkDays) })
        {
            settings.decisionLinkDays = days
        }
        if let password = try values.parsed(Key.linkPassword, expected: "true, false", parse: DirectorySettings.bool) {
            settings.decisionLinkPassword = password
        }
        return settings
    }

    /// An absolute http(s) URL without path, query, fragment or credentials; http only on loopback. No
    /// path: the pages, their redirects and the `__Host-` cookie live at the site's root, so a prefix
    /// (`https://intranet.stadt.example/freigabe`) would reach the mails' links only.
    static func publicURL(_ text: String) -> URL? {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty, components.path.isEmpty, components.query == nil,
            components.fragment == nil, components.user == nil, components.password == nil
        else { return nil }
        switch scheme {
        case "https": break
        case "http" where host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1": break
        default: return nil
        }
        return components.url
    }
}
