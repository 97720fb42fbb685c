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
struct CrossSiteRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    static var fetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if !request.method.isSafe || request.headers[.authorization] != nil, let site = request.headers[Self.fetchSite],
            !["same-origin", "none"].contains(site.lowercased())
        {
            throw APIProblem(
                .forbidden, status: .forbidden,
                detail: UserText(request.method.isSafe ? "general.cross_site_read" : "general.cross_site"))
        }
        return try await next(request, context)
    }
}
