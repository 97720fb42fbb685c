import Hummingbird
import Synchronization

/// A session whose row could not be read (the database did not answer) is not a session that ended.
///
/// hummingbird-auth's `SessionMiddleware` goes on without a session when its storage throws, so the
/// pages would take the cookie for one whose session ended: "Ihre Sitzung ist abgelaufen", a form led to
/// the login, while the person's session is intact and the database is what failed. The driver notes
/// its failure for the request (``note(_:)``); ``Guard`` answers it (503) before anything takes the
/// missing session for an ended one.
enum SessionReadFailure {
    /// The failure of this request's session read, if any.
    final class Outcome: Sendable {
        let failure = Mutex<ServiceError?>(nil)
    }

    @TaskLocal static var outcome: Outcome?

    /// Called by the driver when reading a session failed.
    static func note(_ error: ServiceError) {
        outcome?.failure.withLock { $0 = error }
    }

    /// Around `SessionMiddleware`: gives the request its ``Outcome``.
    struct Scope: RouterMiddleware {
        typealias Context = AppRequestContext

        func handle(
            _ request: Request, context: Context, next: (Request, Context) async throws -> Response
        ) async throws -> Response {
            try await SessionReadFailure.$outcome.withValue(Outcome()) { try await next(request, context) }
        }
    }

    /// Right after `SessionMiddleware`: a failed read answers as the database's failure does.
    struct Guard: RouterMiddleware {
        typealias Context = AppRequestContext

        func handle(
            _ request: Request, context: Context, next: (Request, Context) async throws -> Response
        ) async throws -> Response {
            if let failure = SessionReadFailure.outcome?.failure.withLock({ $0 }) { throw failure }
            return try await next(request, context)
        }
    }
}
