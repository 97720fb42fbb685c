import Foundation
import Hummingbird
import LDAPDirectory
import Logging
import NIOCore
import PostgresNIO

/// Turns every error on a path under `/api/v1` into an `application/problem+json` response (RFC 9457).
///
/// Mount it on the router (not only on the API group): Hummingbird runs a group's middleware only for
/// matched routes, so only a router-level instance sees the 404 of an unknown API path and the
/// 401/429/503 of the authenticator. Paths outside the prefix pass through untouched, so the HTML pages
/// keep their error pages.
///
/// Mapping: ``APIProblem`` as is; ``ServiceError`` by its code (German message as `detail`, field
/// errors as `errors`); `HTTPResponseError`s (Hummingbird's `HTTPError`, the 413 of a body over the
/// limit, the authenticator's 401/429/503) by status, keeping their headers (`WWW-Authenticate`,
/// `Retry-After`); an unreachable directory or database as 503; anything else as 500 whose body says
/// nothing about the cause (the log has it).
public struct APIProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let pathPrefix: String

    public init(pathPrefix: String = "/api/v1") {
        self.pathPrefix = pathPrefix
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard path == pathPrefix || path.hasPrefix(pathPrefix + "/") else {
            return try await next(request, context)
        }
        do {
            return try await next(request, context)
        } catch {
            let problem = Self.problem(for: error, logger: context.logger)
            return Self.response(for: problem, request: request, requestID: context.id)
        }
    }

    /// The problem an error stands for; logs what the response must not say.
    static func problem(for error: any Error, logger: Logger) -> APIProblem {
        switch error {
        case let problem as APIProblem:
            return problem
        case let error as ServiceError:
            return problem(for: error)
        case let error as any HTTPResponseError:
            return problem(for: error)
        case let error as LDAPDirectoryError:
            // The authenticator maps login errors itself; this is the directory failing mid-request
            // (e.g. while resolving a principal). Fail closed.
            logger.error("directory error in API call", metadata: ["error": "\(String(reflecting: error))"])
            return APIProblem(
                .unavailable, status: .serviceUnavailable,
                detail: "Das Verzeichnis (LDAP) ist zurzeit nicht erreichbar. Bitte versuchen Sie es später erneut.")
        case is PSQLError:
            let mapped = Database.serviceError(from: error)
            logger.error("database error in API call", metadata: ["error": "\(String(reflecting: mapped))"])
            return problem(for: mapped)
        default:
            logger.error(
                "unhandled error in API call",
                metadata: ["error.type": "\(type(of: error))", "error": "\(String(reflecting: error))"])
            return APIProblem(
                .internal, status: .internalServerError,
                detail: "Ein interner Fehler ist aufgetreten. Bitte nennen Sie bei Rückfragen die request_id.")
        }
    }

    static func problem(for error: ServiceError) -> APIProblem {
        let type: ProblemType =
            switch error.code {
            case .validation: .validation
            case .notFound: .notFound
            case .forbidden: .forbidden
            case .conflict: .conflict
            case .invalidState: .invalidState
            case .idempotencyMismatch: .idempotencyKeyReused
            case .unavailable: .unavailable
            case .internal: .internal
            }
        var problem = APIProblem(
            type, status: HTTPResponse.Status(code: error.httpStatus), detail: error.message, errors: error.fieldErrors)
        if error.code == .internal || error.code == .unavailable {
            // The store's message is already generic; `details` (internals) stays in the log.
            problem.errors = [:]
        }
        if error.code == .unavailable {
            // A database or directory that failed is retried by the server on its own; clients wait a little.
            problem.headers[.retryAfter] = "5"
        }
        problem.engineCode = error.engineCode
        return problem
    }

    static func problem(for error: any HTTPResponseError) -> APIProblem {
        let status = error.status
        var headers = HTTPFields()
        var detail: String? = nil
        if let error = error as? HTTPError {
            headers = error.headers
            detail = error.body
        }
        let type = ProblemType.forStatus(status)
        if status == .contentTooLarge {
            detail = "Die Anfrage ist zu groß (höchstens \(APIBody.maximumSize / 1024) KiB)."
        }
        if type == .internal || type == .other && status.code >= 500 {
            // Hummingbird's own 5xx texts are English internals.
            detail = nil
        }
        return APIProblem(type, status: status, detail: detail ?? type.title, headers: headers)
    }

    static func response(for problem: APIProblem, request: Request, requestID: String) -> Response {
        let document = ProblemDocument(
            type: problem.type.uri, title: problem.type.title, status: Int(problem.status.code),
            detail: problem.detail, instance: request.uri.path, errors: problem.errors.isEmpty ? nil : problem.errors,
            code: problem.engineCode, requestID: requestID)
        var headers = problem.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        let body = (try? APIJSON.encode(document)) ?? ByteBuffer(string: #"{"status":500}"#)
        let response = Response(status: problem.status, headers: headers, body: .init(byteBuffer: body))
        return request.method == .head ? response.createHeadResponse() : response
    }
}
