import Foundation
import HTTPTypes
import Hummingbird

/// Refuses a state-changing API call that a browser says another site started (`Sec-Fetch-Site`).
///
/// The API authenticates with HTTP Basic, and a browser that once answered its login prompt sends those
/// credentials with every later request to the site, also with a `fetch` or a form from another site
/// (`POST …/withdraw` needs no body at all). Programs calling the API send no `Sec-Fetch-Site`; a browser
/// sends it on every request, so a call from another site (or a sibling subdomain, `same-site`) is refused
/// before anyone is authenticated. A read from another site is refused too when it carries credentials:
/// an auditor's reading is recorded in the decision log, and an `<img>` on another site's page would
/// otherwise make the browser read (and record) in their name. Public reads without credentials (the
/// Open Data catalogue a portal links to) pass.
///
/// Browsers older than `Sec-Fetch-Site` (Safari before 16.4) still send `Origin` with a call another page
/// starts: one naming neither Freigabe's public address (`web.public_url`) nor the host the call was
/// sent to is refused the same way (`null`, a sandboxed frame's or a file's, too).
struct CrossSiteRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    static var fetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }
    static var origin: HTTPField.Name { HTTPField.Name("Origin")! }

    /// `web.public_url`'s origin (`https://freigabe.stadt.example`), as browsers write it.
    let publicOrigin: String?
    /// The scheme Freigabe is served with (`web.public_url`'s): an `http://` page is no origin of an
    /// `https://` deployment, whatever its host.
    let publicScheme: String

    init(publicURL: URL) {
        publicOrigin = Self.origin(of: publicURL.absoluteString)
        publicScheme = publicURL.scheme?.lowercased() ?? "https"
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if !request.method.isSafe || request.headers[.authorization] != nil, isFromAnotherSite(request) {
            throw APIProblem(
                .forbidden, status: .forbidden,
                detail: UserText(request.method.isSafe ? "general.cross_site_read" : "general.cross_site"))
        }
        return try await next(request, context)
    }

    private func isFromAnotherSite(_ request: Request) -> Bool {
        if let site = request.headers[Self.fetchSite] { return !["same-origin", "none"].contains(site.lowercased()) }
        guard let origin = request.headers[Self.origin] else { return false }
        guard let named = Self.origin(of: origin) else { return true }
        if named == publicOrigin { return false }
        // The host the call was sent to (behind a proxy that keeps `Host`, or without `web.public_url`).
        guard let host = request.head.authority else { return true }
        return Self.origin(of: publicScheme + "://" + host) != named
    }

    /// `scheme://host[:port]` in lower case without a default port, or nil for anything else (`null`).
    static func origin(of text: String) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(),
            ["http", "https"].contains(scheme), !host.isEmpty
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        let port = url.port.flatMap { $0 == defaultPort ? nil : ":\($0)" } ?? ""
        return scheme + "://" + host + port
    }
}
