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

    /// Told about every refused login, for the audit log (user name as typed, client address).
    public typealias FailedLoginRecorder = @Sendable (_ username: String, _ clientAddress: String?) async -> Void

    let directory: LDAPDirectory?
    let throttle: LoginThrottle
    let cache: LoginCache?
    let onFailedLogin: FailedLoginRecorder?
    let metrics: AppMetrics?
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
            throw Self.challenge(
                "Die Anmeldedaten sind unvollständig; erwartet wird HTTP Basic (Benutzername:Passwort).")
        }
        guard let directory else {
            throw HTTPError(
                .serviceUnavailable, message: "Anmeldung nicht möglich: es ist kein Verzeichnis (LDAP) eingerichtet.")
        }
        let started = ContinuousClock.now
        func record(_ result: String) { metrics?.login(result: result, duration: ContinuousClock.now - started) }
        // A remembered login is never throttled: its password was checked by the directory moments ago.
        if let person = await cache?.person(username: credentials.username, password: credentials.password) {
            record("cached")
            return try await next(request, Self.authenticated(context, as: person))
        }
        let address = context.clientAddress
        let reservation: LoginThrottle.Reservation
        switch throttle.reserve(username: credentials.username, address: address, now: now()) {
        case .allowed(let granted):
            reservation = granted
        case .retryAfter(let seconds):
            context.logger.notice("Login throttled", metadata: ["client.address": .string(address ?? "-")])
            record("throttled")
            throw Self.tooManyFailures(retryAfter: seconds)
        }
        let person: Person
        do {
            person = try await directory.authenticate(username: credentials.username, password: credentials.password)
        } catch let error as LDAPDirectoryError where Self.isRefusal(error) {
            // The user's remembered login stays: a wrong password says nothing about the right one, and
            // forgetting it would let any guesser push the user into the throttle.
            let verdict = throttle.failed(reservation, now: now())
            record("refused")
            await onFailedLogin?(credentials.username, address)
            // The user name is logged for the operator; the password never is.
            context.logger.notice(
                "Login refused",
                metadata: [
                    "ldap.code": .string(error.code.description), "client.address": .string(address ?? "-"),
                ])
            switch verdict {
            case .refused: throw Self.challenge("Benutzername oder Passwort ist falsch.")
            case .retryAfter(let seconds): throw Self.tooManyFailures(retryAfter: seconds)
            }
        } catch let error as LDAPDirectoryError {
            throttle.released(reservation)
            record("unavailable")
            context.logger.error(
                "Directory unavailable for login",
                metadata: ["ldap.code": .string(error.code.description), "error": .string(error.description)])
            throw HTTPError(
                .serviceUnavailable,
                message: "Das Verzeichnis (LDAP) ist nicht erreichbar; bitte später erneut versuchen.")
        } catch {
            throttle.released(reservation)
            throw error
        }
        throttle.succeeded(reservation)
        record("ok")
        await cache?.remember(username: credentials.username, password: credentials.password, person: person)
        return try await next(request, Self.authenticated(context, as: person))
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

    static func tooManyFailures(retryAfter seconds: Int) -> HTTPError {
        HTTPError(
            .tooManyRequests, headers: [.retryAfter: String(seconds)],
            message: "Zu viele fehlgeschlagene Anmeldungen. Bitte versuchen Sie es in \(seconds) Sekunden erneut.")
    }

    static func challenge(_ message: String) -> HTTPError {
        HTTPError(
            .unauthorized, headers: [.wwwAuthenticate: #"Basic realm="Freigabe", charset="UTF-8""#], message: message)
    }
}
