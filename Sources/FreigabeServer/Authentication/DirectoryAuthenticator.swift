import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import LDAPDirectory
import Logging

/// HTTP Basic authentication against the city's directory, for scripts and the JSON API.
///
/// A request without credentials passes on unauthenticated (routes that need a person refuse it);
/// a request with credentials either authenticates or stops here:
/// - a login the ``LoginCache`` remembers passes at once and is never throttled;
/// - too many recent failures for that user name (from this address, or from all): 429 with
///   `Retry-After`, before the directory is asked at all, so guessing gets slower without ever locking
///   an employee out for good; the check reserves the attempt in the same step (``LoginThrottle``);
/// - wrong user name or password: 401 with a `WWW-Authenticate` challenge, counted by the throttle
///   (429 instead once the client address has failed too often; valid credentials from it still pass);
/// - directory unreachable, timed out or misconfigured: 503, failing closed.
///
/// The client address is ``AppRequestContext/clientAddress``: the peer, or what a trusted proxy
/// reports (``ClientAddressMiddleware``).
public struct DirectoryAuthenticator: RouterMiddleware {
    public typealias Context = AppRequestContext

    /// Told about every refused login, for the audit log: the user name when the directory knows it (a
    /// wrong password), nil when it does not (what was typed may be a password in the wrong field, and the
    /// log keeps its actors for good), and the client address.
    public typealias FailedLoginRecorder = @Sendable (_ knownUser: String?, _ clientAddress: String?) async -> Void

    let directory: LDAPDirectory?
    let throttle: LoginThrottle
    let cache: LoginCache?
    let onFailedLogin: FailedLoginRecorder?
    let metrics: AppMetrics?
    let coalescer = LoginCoalescer()
    let now: @Sendable () -> Date

    public init(
        directory: LDAPDirectory?, throttle: LoginThrottle, cache: LoginCache? = nil,
        onFailedLogin: FailedLoginRecorder? = nil, metrics: AppMetrics? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.directory = directory
        self.throttle = throttle
        self.cache = cache
        self.onFailedLogin = onFailedLogin
        self.metrics = metrics
        self.now = now
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.headers[.authorization] != nil else { return try await next(request, context) }
        guard let credentials = request.headers.basic else {
            throw Self.challenge(UserText("login.incomplete"))
        }
        guard directory != nil else {
            throw APIProblem(.unavailable, status: .serviceUnavailable, detail: UserText("login.no_directory"))
        }
        switch await verify(
            username: credentials.username, password: credentials.password, address: context.clientAddress,
            logger: context.logger)
        {
        case .authenticated(let person):
            return try await next(request, Self.authenticated(context, as: person))
        case .refused:
            throw Self.challenge(UserText("login.wrong_credentials"))
        case .throttled(let seconds):
            throw Self.tooManyFailures(retryAfter: seconds)
        case .unavailable:
            throw APIProblem(
                .unavailable, status: .serviceUnavailable, detail: UserText("login.directory_unavailable"),
                headers: [.retryAfter: APIProblem.unavailableRetryAfter])
        }
    }

    /// Checks a user name and password: the API's Basic credentials and the login page's form take
    /// this one path (cache, throttle, coalescing, audit of refusals, metrics).
    func verify(
        username: String, password: String, address: String?, logger: Logger
    ) async -> LoginCoalescer.Outcome {
        guard let directory else { return .unavailable }
        let started = ContinuousClock.now
        func record(_ result: String) { metrics?.login(result: result, duration: ContinuousClock.now - started) }
        // A remembered login is never throttled: its password was checked by the directory moments ago.
        if let person = await cache?.person(username: username, password: password) {
            record("cached")
            return .authenticated(person)
        }
        // The same credentials arriving together (a client opening several requests before the cache
        // knows them) share one directory bind and one throttle reservation.
        let outcome = await coalescer.run(username: username, password: password) {
            await login(username, password, address: address, directory: directory, logger: logger)
        }
        switch outcome {
        case .authenticated: record("ok")
        case .refused: record("refused")
        case .throttled: record("throttled")
        case .unavailable: record("unavailable")
        }
        return outcome
    }

    /// One login against the directory, with the throttle's bookkeeping, the audit of a refusal and the
    /// cache; its outcome may serve several requests with the same credentials.
    private func login(
        _ username: String, _ password: String, address: String?, directory: LDAPDirectory, logger: Logger
    ) async -> LoginCoalescer.Outcome {
        let reservation: LoginThrottle.Reservation
        switch throttle.reserve(username: username, address: address, now: now()) {
        case .allowed(let granted):
            reservation = granted
        case .retryAfter(let seconds):
            logger.notice("Login throttled", metadata: ["client.address": .string(address ?? "-")])
            return .throttled(seconds)
        }
        let person: Person
        do {
            person = try await directory.authenticate(username: username, password: password)
        } catch let error as LDAPDirectoryError where Self.isRefusal(error) {
            // The user's remembered login stays: a wrong password says nothing about the right one, and
            // forgetting it would let any guesser push the user into the throttle.
            let verdict = throttle.failed(reservation, now: now())
            await onFailedLogin?(error.code == .invalidCredentials ? username : nil, address)
            // The user name is logged for the operator; the password never is.
            logger.notice(
                "Login refused",
                metadata: [
                    "ldap.code": .string(error.code.description), "client.address": .string(address ?? "-"),
                ])
            switch verdict {
            case .refused: return .refused
            case .retryAfter(let seconds): return .throttled(seconds)
            }
        } catch {
            throttle.released(reservation)
            logger.error(
                "Directory unavailable for login",
                metadata: [
                    "ldap.code": .string((error as? LDAPDirectoryError)?.code.description ?? "-"),
                    "error": .string("\(error)"),
                ])
            return .unavailable
        }
        throttle.succeeded(reservation)
        await cache?.remember(username: username, password: password, person: person)
        return .authenticated(person)
    }

    private static func authenticated(_ context: Context, as person: Person) -> Context {
        var context = context
        context.identity = AuthenticatedUser(person: person)
        context.logger[metadataKey: "actor"] = .string(person.uid)
        return context
    }

    /// Errors that mean "these credentials are not valid", as opposed to "we could not check them".
    static func isRefusal(_ error: LDAPDirectoryError) -> Bool {
        [.invalidCredentials, .userNotFound, .ambiguousUser, .invalidUsername, .invalidPassword].contains(error.code)
    }

    static func tooManyFailures(retryAfter seconds: Int) -> APIProblem {
        APIProblem(
            .tooManyRequests, status: .tooManyRequests,
            detail: UserText("login.throttled", ["seconds": .number(seconds)]),
            headers: [.retryAfter: String(seconds)])
    }

    static func challenge(_ message: UserText) -> APIProblem {
        APIProblem(
            .unauthorized, status: .unauthorized, detail: message, headers: [.wwwAuthenticate: APIProblem.challenge])
    }
}
