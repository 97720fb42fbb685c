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
/// Texts (`title`, `detail`, `errors`) are in the language `Accept-Language` asks for (German by default),
/// with `Content-Language` saying which.
///
/// Mapping: ``APIProblem`` as is; ``ServiceError`` by its code (message as `detail`, field
/// errors as `errors`); `HTTPResponseError`s (Hummingbird's `HTTPError`, the 413 of a body over the
/// limit, the authenticator's 401/429/503) by status, keeping their headers (`WWW-Authenticate`,
/// `Retry-After`); an unreachable directory or database as 503; anything else as 500 whose body says
/// nothing about the cause (the log has it).
public struct APIProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let pathPrefix: String
    let texts: StringCatalogs

    public init(pathPrefix: String = "/api/v1", texts: StringCatalogs) {
        self.pathPrefix = pathPrefix
        self.texts = texts
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
            return Self.response(
                for: problem, request: request, requestID: context.id,
                texts: texts.catalog(forAcceptLanguage: request.headers[.acceptLanguage]))
        }
    }

    /// The problem an error stands for; logs what the response must not say.
    static func problem(for error: any Error, logger: Logger) -> APIProblem {
        switch error {
        case let problem as APIProblem:
            return problem
        case let error as ServiceError:
            // The answer says only "internal" or "not reachable" with the request's id: the cause is here,
            // under that id (`hb.request.id`), for whoever is handed the reference.
            error.logCause(logger)
            return problem(for: error)
        case let error as any HTTPResponseError:
            return problem(for: error)
        case let error as LDAPDirectoryError:
            // The authenticator maps login errors itself; this is the directory failing mid-request
            // (e.g. while resolving a principal). Fail closed.
            logger.error("directory error in API call", metadata: ["error": "\(String(reflecting: error))"])
            return APIProblem(
                .unavailable, status: .serviceUnavailable, detail: UserText("general.directory_unavailable"),
                headers: [.retryAfter: APIProblem.unavailableRetryAfter])
        case is PSQLError:
            let mapped = Database.serviceError(from: error)
            logger.error("database error in API call", metadata: ["error": "\(String(reflecting: mapped))"])
            return problem(for: mapped)
        default:
            logger.error(
                "unhandled error in API call",
                metadata: ["error.type": "\(type(of: error))", "error": "\(String(reflecting: error))"])
            return APIProblem(.internal, status: .internalServerError, detail: UserText("general.internal_with_id"))
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
            problem.headers[.retryAfter] = APIProblem.unavailableRetryAfter
        }
        problem.engineCode = error.engineCode
        return problem
    }

    static func problem(for error: any HTTPResponseError) -> APIProblem {
        let status = error.status
        // Hummingbird's own texts (`HTTPError.body`) are English internals; the problem's title says it.
        let headers = (error as? HTTPError)?.headers ?? [:]
        let type = ProblemType.forStatus(status)
        let detail =
            status == .contentTooLarge
            ? UserText("general.too_large", ["kib": .number(APIBody.maximumSize / 1024)]) : type.title
        return APIProblem(type, status: status, detail: detail, headers: headers)
    }

    static func response(
        for problem: APIProblem, request: Request, requestID: String, texts: StringCatalog
    ) -> Response {
        let document = ProblemDocument(
            type: problem.type.uri, title: problem.type.title.resolved(in: texts), status: Int(problem.status.code),
            detail: problem.detail.resolved(in: texts), instance: request.uri.path,
            errors: problem.errors.isEmpty ? nil : problem.errors.mapValues { $0.resolved(in: texts) },
            code: problem.engineCode, requestID: requestID)
        var headers = problem.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        headers[.contentLanguage] = texts.language
        headers[.vary] = "Accept-Language"
        let body = (try? APIJSON.encode(document)) ?? ByteBuffer(string: #"{"status":500}"#)
        let response = Response(status: problem.status, headers: headers, body: .init(byteBuffer: body))
        return request.method == .head ? response.createHeadResponse() : response
    }
}
