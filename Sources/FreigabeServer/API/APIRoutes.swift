import Foundation
import Hummingbird
import Logging
import WorkflowEngine

/// The JSON API under `/api/v1`, as `openapi.yaml` describes it: one controller per resource
/// (``OperationsController``, ``CatalogController``, ``RequestsController``, ``DeputyshipsController``,
/// ``AuditController``).
///
/// Every route but `openapi.yaml`, `health`, `ready` and the `dcat/` catalogue needs an authenticated person
/// (`context.identity`, set by ``DirectoryAuthenticator``, which the router runs before these routes);
/// without one it answers 401 with a Basic challenge. Authorisation itself is the service's, on every
/// call, from the roles LDAP reports now: the routes only translate HTTP to service calls and back.
///
/// Commands read JSON bodies strictly (``APIBody``) and their headers once (``CommandHeaders``:
/// `Idempotency-Key`, `If-Match` with the request's version, `Prefer`). GET routes change nothing (the
/// service may append a security event when someone asks for a request they may not see).
public struct APIRoutes: Sendable {
    let service: RequestService
    let document: OpenAPIDocument
    let readiness: ReadinessCheck
    let dcat: DCATSettings
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - readiness: what `/ready` checks; by default the service's database, migrations and workflows.
    ///   - dcat: what the Open Data catalogue says about the city (`dcat.*`).
    ///   - now: the clock every command and query uses (tests drive deadlines with it).
    public init(
        service: RequestService, document: OpenAPIDocument, readiness: ReadinessCheck? = nil,
        dcat: DCATSettings = DCATSettings(), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.service = service
        self.document = document
        self.readiness = readiness ?? .database(service.client, workflows: service.workflows)
        self.dcat = dcat
        self.now = now
    }

    /// Adds every controller's routes to `group` (the `/api/v1` group); their errors become problem
    /// answers in the router's ``APIProblemMiddleware``.
    public func add(to group: RouterGroup<AppRequestContext>) {
        group.addRoutes(OperationsController(document: document, readiness: readiness).routes)
        group.addRoutes(CatalogController(service: service, now: now).routes)
        group.addRoutes(RequestsController(service: service, now: now).routes)
        group.addRoutes(DeputyshipsController(service: service, now: now).routes)
        group.addRoutes(DCATController(service: service, settings: dcat).routes)
        group.addRoutes(AuditController(service: service, now: now).routes)
    }
}

/// What every controller reads from the request context.
extension AppRequestContext {
    /// The person behind the request, or 401 with a Basic challenge.
    func caller() throws(APIProblem) -> Caller {
        guard let person = identity?.person else { throw APIProblem.unauthorized }
        return Caller(person: person, clientAddress: clientAddress)
    }

    /// The request's logger with the actor (the service adds `request.id` for the Freigabe request).
    func logger(for caller: Caller) -> Logger {
        var logger = logger
        logger[metadataKey: "actor"] = .string(caller.uid)
        return logger
    }
}

/// Query parameters shared by the lists.
enum ListQuery {
    /// `limit` 1...200 (default 50), `offset` 0...100000 (default 0).
    static func paging(_ parameters: Parameters, errors: inout [String: UserText]) -> (Int, Int) {
        let limit = limit(parameters, errors: &errors)
        var offset = 0
        // Given empty (`offset=`) is no number either: refused, as an empty `after=` is, not taken as absent.
        if let value = parameters.get("offset") {
            if let number = Int(digits: value, in: 0...100_000) {
                offset = number
            } else {
                errors["offset"] = UserText("query.offset_range")
            }
        }
        return (limit, offset)
    }

    /// `limit` 1...200 (default 50).
    static func limit(_ parameters: Parameters, errors: inout [String: UserText]) -> Int {
        let standard = 50
        guard let value = parameters.get("limit") else { return standard }
        if let number = Int(digits: value, in: 1...200) { return number }
        errors["limit"] = UserText("query.limit_range")
        return standard
    }
}
