import Hummingbird
import Logging

/// Logs one line per request: method, path, status and duration.
///
/// Hummingbird's `LogRequestsMiddleware` logs the full URI; ours logs only the path (``loggedPath(_:)``),
/// because query strings and the decision links' paths carry tokens that must not end up in log files.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    var level: Logger.Level = .info

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, status: response.status, since: start, logger: context.logger)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            log(request, status: status, since: start, logger: context.logger)
            throw error
        }
    }

    private func log(
        _ request: Request, status: HTTPResponse.Status, since start: ContinuousClock.Instant, logger: Logger
    ) {
        let duration = ContinuousClock.now - start
        let milliseconds =
            Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        logger.log(
            level: level,
            "request",
            metadata: [
                "http.method": .string(request.method.rawValue),
                "http.path": .string(loggedPath(request.uri.path)),
                "http.status": .stringConvertible(status.code),
                "duration_ms": .stringConvertible((milliseconds * 10).rounded() / 10),
            ]
        )
    }
}

/// `path` as a log may keep it: a decision link's token (`/e/{token}`, a credential until it is used;
/// only its SHA-256 is stored) is left out.
func loggedPath(_ path: String) -> String {
    path.hasPrefix("/e/") ? "/e/…" : path
}
