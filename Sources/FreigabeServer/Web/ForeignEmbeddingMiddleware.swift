import HTTPTypes
import Hummingbird

/// Refuses a page that another site loads without showing it to the person: as an image, a script, a
/// `fetch` or in a frame (`Sec-Fetch-Site` `cross-site` or `same-site`, and no top-level navigation to a
/// document).
///
/// The session cookie (`SameSite=Lax`) goes along with requests from a sibling subdomain, so such a load
/// would be read as the person, and an auditor's or administrator's reading is recorded in the decision
/// log in their name (`audit_read`) for a page they never saw. A link followed from another site (a
/// webmail's, the intranet's) is a top-level navigation: the person sees the page, and it passes. So
/// does every client that sends no `Sec-Fetch-*` headers.
struct ForeignEmbeddingMiddleware<Context: RequestContext>: RouterMiddleware {
    static var fetchMode: HTTPField.Name { HTTPField.Name("Sec-Fetch-Mode")! }
    static var fetchDest: HTTPField.Name { HTTPField.Name("Sec-Fetch-Dest")! }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let site = request.headers[CrossSiteRequestMiddleware<Context>.fetchSite]?.lowercased(),
            site == "cross-site" || site == "same-site"
        {
            let navigates = request.headers[Self.fetchMode]?.lowercased() == "navigate"
            let document = request.headers[Self.fetchDest].map { $0.lowercased() == "document" } ?? true
            guard navigates && document else {
                throw APIProblem(.forbidden, status: .forbidden, detail: UserText("general.cross_site_embedding"))
            }
        }
        return try await next(request, context)
    }
}
