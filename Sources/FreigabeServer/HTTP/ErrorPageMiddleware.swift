import Foundation
import Hummingbird
import Logging

/// Turns errors into German (or English) HTML error pages for browsers.
///
/// Browsers (an `Accept` header with `text/html`) get a page; API clients keep Hummingbird's own
/// error response. Headers of the original error (e.g. `Allow`, later `WWW-Authenticate`) are kept.
/// Errors that are not HTTP errors are logged and answered with 500, never with their text.
struct ErrorPageMiddleware<Context: RequestContext>: RouterMiddleware {
    let renderer: PageRenderer

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            guard Self.wantsHTML(request) else { throw error }
            return try page(for: error.response(from: request, context: context), request: request)
        } catch {
            // The log is for operators; the response says nothing about the cause.
            context.logger.error(
                "Unhandled error",
                metadata: ["error.type": "\(type(of: error))", "error": "\(String(reflecting: error))"]
            )
            let failure = HTTPError(.internalServerError)
            guard Self.wantsHTML(request) else { throw failure }
            return try page(for: failure.response(from: request, context: context), request: request)
        }
    }

    static func wantsHTML(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("text/html") ?? false
    }

    private func page(for errorResponse: Response, request: Request) -> Response {
        let language = renderer.negotiation.language(forAcceptLanguage: request.headers[.acceptLanguage])
        let kind =
            switch errorResponse.status.code {
            case 404: "not_found"
            case 500...: "server_error"
            default: "client_error"
            }
        // Mustache has no conditionals on values, so the texts for this kind of error are picked here.
        let texts = renderer.catalog(for: language)
        let html =
            renderer.render(
                "error",
                language: language,
                values: [
                    "status": String(errorResponse.status.code),
                    "title": texts["errors.\(kind).title"] ?? "",
                    "message": texts["errors.\(kind).message"] ?? "",
                    // Shown so the reader can spot a typo; escaped by the template like every value.
                    "path": String((request.uri.path.removingPercentEncoding ?? request.uri.path).prefix(200)),
                ]
            ) ?? ""
        var response = errorResponse
        response.headers[.contentType] = "text/html; charset=utf-8"
        response.headers[.contentLanguage] = language
        response.headers[.vary] = "Accept-Language"
        response.body = .init(byteBuffer: ByteBuffer(string: html))
        return request.method == .head ? response.createHeadResponse() : response
    }
}
