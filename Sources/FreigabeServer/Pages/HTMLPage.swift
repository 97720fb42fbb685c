import Hummingbird

/// A rendered HTML page as a response.
///
/// `Vary: Accept-Language` because the same URL answers in German or English; `no-store` because pages
/// show personal data: never from a shared cache, never from the back button after logout.
struct HTMLPage: ResponseGenerator {
    var html: String
    var language: String
    var status: HTTPResponse.Status = .ok

    func response(from request: Request, context: some RequestContext) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentLanguage: language,
            .vary: "Accept-Language",
            .cacheControl: "no-store",
        ]
        // Every page that says "not now" (a form shown again because the directory or the database did
        // not answer, the error page) says when to try again, as the API does.
        if status == .serviceUnavailable { headers[.retryAfter] = APIProblem.unavailableRetryAfter }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
