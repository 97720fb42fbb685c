import Logging
import WorkflowEngine

/// Why a service call failed, modelled on PostgresNIO's `PSQLError`: a stable `code` for programs (and
/// the HTTP status), a `message` safe to show to the user (put into words in the client's language at the
/// edge), `fieldErrors` for forms, and `details` for logs only (may name internals; never a password).
public struct ServiceError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The input is wrong; `fieldErrors` names each field. HTTP 422 (400 for malformed shape).
        case validation
        /// No such request, dataset or deputyship, or the caller may not see it. HTTP 404.
        case notFound = "not_found"
        /// The caller may see the request but not do this (e.g. not their step, own request). HTTP 403.
        case forbidden
        /// The request changed meanwhile (a concurrent decision won, stale version). HTTP 409.
        case conflict
        /// The action is not possible in the request's state (deciding a withdrawn request). HTTP 409.
        case invalidState = "invalid_state"
        /// The Idempotency-Key was used before with a different request. HTTP 422.
        case idempotencyMismatch = "idempotency_mismatch"
        /// The database is unreachable or overloaded. HTTP 503.
        case unavailable
        /// A bug or inconsistent data (e.g. the pinned workflow cannot be loaded). HTTP 500.
        case `internal`
    }

    public var code: Code
    /// Safe to show.
    public var message: UserText
    /// Per field (JSON field names, e.g. `purpose`, `recipient.name`).
    public var fieldErrors: [String: UserText]
    /// The engine's code when the engine refused (e.g. `not_authorised`, `already_decided_another_step`).
    public var engineCode: String?
    /// For logs.
    public var details: String?

    public init(
        _ code: Code, message: UserText, fieldErrors: [String: UserText] = [:], engineCode: String? = nil,
        details: String? = nil
    ) {
        self.code = code
        self.message = message
        self.fieldErrors = fieldErrors
        self.engineCode = engineCode
        self.details = details
    }

    /// Safe to show or to pass on: code, message, fields, the engine's code; never `details`.
    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if !fieldErrors.isEmpty {
            text +=
                " " + fieldErrors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
        }
        if let engineCode { text += " [\(engineCode)]" }
        return text
    }

    /// For the log (`String(reflecting:)`): the description with `details`, which may name internals.
    public var debugDescription: String {
        guard let details else { return description }
        return description + " (\(details))"
    }

    /// The HTTP status the JSON API answers with.
    public var httpStatus: Int {
        switch code {
        case .validation, .idempotencyMismatch: 422
        case .notFound: 404
        case .forbidden: 403
        case .conflict, .invalidState: 409
        case .unavailable: 503
        case .internal: 500
        }
    }
}

extension ServiceError {
    static func validation(_ fieldErrors: [String: UserText]) -> ServiceError {
        ServiceError(.validation, message: UserText("general.input_invalid"), fieldErrors: fieldErrors)
    }

    /// - Parameter what: the catalogue key, by default the request's.
    static func notFound(_ what: String = "general.request_not_found") -> ServiceError {
        ServiceError(.notFound, message: UserText(what))
    }

    static func conflict(_ details: String? = nil) -> ServiceError {
        ServiceError(.conflict, message: UserText("general.conflict"), details: details)
    }

    static func unavailable(_ details: String) -> ServiceError {
        ServiceError(.unavailable, message: UserText("general.database_unavailable"), details: details)
    }

    /// The directory did not answer: the person is told it was the directory, not the database.
    static func directoryUnavailable(_ details: String) -> ServiceError {
        ServiceError(.unavailable, message: UserText("general.directory_unavailable"), details: details)
    }

    static func `internal`(_ details: String) -> ServiceError {
        ServiceError(.internal, message: UserText("general.internal"), details: details)
    }
}

extension ServiceError {
    /// Logs an error whose cause the answer keeps from the person (`internal`, `unavailable`) under the
    /// request's id, at the one place that answers for it: the error middleware, or a page that turns it
    /// into a page of its own (the form again with "not reachable", the case file's "inconsistent").
    func logCause(_ logger: Logger, as message: Logger.Message = "service error in a request") {
        guard code == .internal || code == .unavailable else { return }
        logger.error(message, metadata: ["error": "\(String(reflecting: self))"])
    }
}
