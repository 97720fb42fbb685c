import Hummingbird

/// Adds the security headers to every response, including error responses.
///
/// The policy allows only same-origin resources: no inline script or style, no framing, forms post
/// only to us, no `<base>` tricks. Pages must therefore keep CSS in `/static/` and use no inline
/// `style=` or `<script>`.
///
/// Served over https (``WebSettings/isHTTPS``), browsers are told to use nothing else for a year (HSTS).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    var strictTransportSecurity = false

    static var headers: HTTPFields { securityHeaders }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Errors become responses only after all middleware has run; turn them into a response
            // here so they get the headers too.
            response = try error.response(from: request, context: context)
        }
        for field in Self.headers {
            response.headers[field.name] = field.value
        }
        if strictTransportSecurity {
            response.headers[HTTPFields.Element.Name("Strict-Transport-Security")!] = "max-age=31536000"
        }
        return response
    }
}

/// Built once: the middleware is generic, and a generic type cannot hold a static stored property.
/// `HTTPFields.Element.Name` because Hummingbird re-exports `HTTPFields` but not `HTTPField`.
private let securityHeaders: HTTPFields =
    [
        .contentSecurityPolicy: "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPFields.Element.Name("Referrer-Policy")!: "same-origin",
        HTTPFields.Element.Name("X-Frame-Options")!: "DENY",
    ]
