import Foundation
import Hummingbird

/// The kinds of problem the JSON API reports, each with a stable `type` URI, a title and its
/// HTTP status (RFC 9457). Clients switch on `type`; `title` and `detail` are for people. The URIs
/// are identifiers, not links: they stay the same in every installation and are listed in
/// `openapi.yaml` (`components.schemas.Problem`).
public enum ProblemType: String, Sendable, Hashable, CaseIterable {
    /// The body is not JSON (syntax error, invalid UTF-8) or not a JSON object.
    case invalidJSON = "invalid-json"
    /// The JSON has the wrong shape: unknown fields, wrong types, unknown enum values, bad dates.
    case invalidBody = "invalid-body"
    /// Another malformed part of the request: a query parameter, `If-Match`.
    case badRequest = "bad-request"
    /// Values are missing or break the rules; `errors` names each field.
    case validation
    case unauthorized
    case forbidden
    /// No such resource, or the caller may not see it.
    case notFound = "not-found"
    case methodNotAllowed = "method-not-allowed"
    /// The request changed meanwhile (concurrent decision, stale `If-Match`).
    case conflict
    /// The action is not possible in the request's current state (e.g. deciding a withdrawn request).
    case invalidState = "invalid-state"
    case payloadTooLarge = "payload-too-large"
    case unsupportedMediaType = "unsupported-media-type"
    /// The `Idempotency-Key` was used before for a different request.
    case idempotencyKeyReused = "idempotency-key-reused"
    case tooManyRequests = "too-many-requests"
    /// The database or the directory cannot be reached.
    case unavailable
    case `internal`
    /// Any other HTTP error.
    case other = "http-error"

    /// Every `type` URI starts with this.
    public static let base = "https://freigabe.stadt.example/problems/"

    public var uri: String { Self.base + rawValue }

    /// The catalogue's title of the type (`messages.problem.<type>`).
    public var title: UserText { UserText("problem." + rawValue) }

    /// The type for an HTTP status that carries no more specific meaning.
    static func forStatus(_ status: HTTPResponse.Status) -> ProblemType {
        switch status.code {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 405: .methodNotAllowed
        case 409: .conflict
        case 413: .payloadTooLarge
        case 415: .unsupportedMediaType
        case 422: .validation
        case 429: .tooManyRequests
        case 500: .internal
        case 502, 503, 504: .unavailable
        default: .other
        }
    }
}

/// An error the API layer raises itself (bad body, bad header, missing login), answered as
/// `application/problem+json` by ``APIProblemMiddleware``.
public struct APIProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// `Retry-After` of every 503 (API and pages): the database or directory that failed is retried by the
    /// server on its own; clients wait a little.
    static let unavailableRetryAfter = "5"

    public var type: ProblemType
    public var status: HTTPResponse.Status
    /// Safe to show; in the client's language when answered.
    public var detail: UserText
    /// Per field (JSON field names as in the request, nested ones with dots).
    public var errors: [String: UserText]
    /// Extra response headers, e.g. the `WWW-Authenticate` challenge.
    public var headers: HTTPFields
    /// The workflow engine's reason for a refusal, passed on as `code`.
    public var engineCode: String?

    public init(
        _ type: ProblemType, status: HTTPResponse.Status, detail: UserText, errors: [String: UserText] = [:],
        headers: HTTPFields = [:]
    ) {
        self.type = type
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    public var description: String {
        "\(status.code) \(type.rawValue): \(detail)"
            + (errors.isEmpty
                ? "" : " " + errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
    }

    /// The challenge every protected route answers without credentials (as the directory
    /// authenticator does for wrong ones).
    static let challenge = #"Basic realm="Freigabe", charset="UTF-8""#

    static let unauthorized = APIProblem(
        .unauthorized, status: .unauthorized,
        detail: UserText("login.required"),
        headers: [.wwwAuthenticate: challenge])

    static func invalidBody(_ errors: [String: UserText]) -> APIProblem {
        APIProblem(.invalidBody, status: .badRequest, detail: UserText("body.shape"), errors: errors)
    }

    static func validation(_ errors: [String: UserText]) -> APIProblem {
        APIProblem(
            .validation, status: .unprocessableContent, detail: UserText("general.input_invalid"), errors: errors)
    }

    static func badRequest(_ detail: UserText, errors: [String: UserText] = [:]) -> APIProblem {
        APIProblem(.badRequest, status: .badRequest, detail: detail, errors: errors)
    }

    static func notFound(_ detail: UserText) -> APIProblem {
        APIProblem(.notFound, status: .notFound, detail: detail)
    }
}

/// The JSON body of a problem response (RFC 9457 members plus our extensions `errors`, `code` and
/// `request_id`).
struct ProblemDocument: Encodable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String?
    var instance: String?
    /// Field → message, for validation and shape errors.
    var errors: [String: String]?
    /// The workflow engine's reason when it refused (e.g. `already_decided_another_step`).
    var code: String?
    /// The server's id of this HTTP request, as in its logs: quote it when reporting a problem.
    var requestID: String?

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, instance, errors, code
        case requestID = "request_id"
    }
}
