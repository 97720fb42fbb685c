import Foundation
import Hummingbird
import Logging
import WorkflowEngine

/// The JSON API under `/api/v1`, as `openapi.yaml` describes it.
///
/// Every route but `openapi.yaml`, `health` and `ready` needs an authenticated person
/// (`context.identity`, set by ``DirectoryAuthenticator``, which the router runs before these routes);
/// without one it answers 401 with a Basic challenge. Authorisation itself is the service's, on every
/// call, from the roles LDAP reports now: the routes only translate HTTP to service calls and back.
///
/// Commands read JSON bodies strictly (``APIBody``), pass `Idempotency-Key` to the service and, where
/// the service supports optimistic locking, `If-Match` with the request's version (the `ETag` of
/// every request answer). GET routes change nothing (the service may append a security event when
/// someone asks for a request they may not see).
public struct APIRoutes: Sendable {
    let service: RequestService
    let document: OpenAPIDocument
    let readiness: ReadinessCheck
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - readiness: what `/ready` checks; by default the service's database and migrations.
    ///   - now: the clock every command and query uses (tests drive deadlines with it).
    public init(
        service: RequestService, document: OpenAPIDocument, readiness: ReadinessCheck? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.service = service
        self.document = document
        self.readiness = readiness ?? .database(service.client)
        self.now = now
    }

    static let idempotencyKeyHeader = HTTPFields.Element.Name("Idempotency-Key")!

    /// Adds the routes to `group` (the `/api/v1` group); their errors become problem answers in the
    /// router's ``APIProblemMiddleware``.
    public func add(to group: RouterGroup<AppRequestContext>) {

        group.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(string: document.yaml)))
        }
        group.get("health") { _, _ in
            try APIJSON.response(["status": "ok"])
        }
        group.get("ready") { _, context in
            let report = await readiness(logger: context.logger)
            return try APIJSON.response(report, status: report.isReady ? .ok : .serviceUnavailable)
        }

        // Catalogue
        group.get("datasets") { request, context in
            _ = try caller(context)
            let query = try Self.datasetQuery(request.uri.queryParameters)
            let items = try await service.datasets(query, logger: context.logger)
            return try APIJSON.response(PagedList(items: items, limit: query.limit, offset: query.offset))
        }
        group.get("datasets/{id}") { _, context in
            _ = try caller(context)
            let id = context.parameters.get("id") ?? ""
            return try APIJSON.response(try await service.dataset(id: id, logger: context.logger))
        }
        group.put("datasets/{id}") { request, context in
            let caller = try caller(context)
            let id = context.parameters.get("id") ?? ""
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let input = try DatasetInput.read(id: id, body)
            let logger = logger(context, caller)
            // 201 for a new dataset, 200 for a replaced one (a concurrent creation may turn a 201 into a
            // 200; the stored dataset is the same either way).
            let existed = (try? await service.dataset(id: id, logger: logger)) != nil
            let view = try await service.upsertDataset(input, caller: caller, now: now(), logger: logger)
            return try APIJSON.response(view, status: existed ? .ok : .created)
        }
        group.get("domains") { _, context in
            _ = try caller(context)
            return try APIJSON.response(ItemList(items: try await service.domains(logger: context.logger)))
        }

        // Requests
        group.post("requests") { request, context in
            let caller = try caller(context)
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let input = try NewRequest.read(body)
            let view = try await service.createRequest(
                input, caller: caller, now: now(), idempotencyKey: Self.idempotencyKey(request),
                logger: logger(context, caller))
            return try Self.requestResponse(view, status: .created, location: true)
        }
        group.get("me/requests") { request, context in
            let caller = try caller(context)
            let query = try Self.requestQuery(request.uri.queryParameters)
            let items = try await service.myRequests(
                caller: caller, query: query, now: now(), logger: logger(context, caller))
            return try APIJSON.response(PagedList(items: items, limit: query.limit, offset: query.offset))
        }
        group.get("requests/{id}") { _, context in
            let caller = try caller(context)
            let id = try Self.requestID(context)
            let view = try await service.request(id: id, caller: caller, now: now(), logger: logger(context, caller))
            return try Self.requestResponse(view)
        }
        group.post("requests/{id}/submit") { request, context in
            let caller = try caller(context)
            let id = try Self.requestID(context)
            try NoteBody.empty(try await APIBody.object(request, allowEmpty: true))
            let view = try await service.submit(
                requestID: id, caller: caller, now: now(), expectedVersion: try Self.expectedVersion(request),
                idempotencyKey: Self.idempotencyKey(request), logger: logger(context, caller))
            return try Self.commandResponse(view, for: request)
        }
        group.post("requests/{id}/decisions") { request, context in
            let caller = try caller(context)
            let id = try Self.requestID(context)
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let decision = try DecisionBody.read(body)
            let view = try await service.decide(
                requestID: id, decision: decision.decision, branch: decision.branch, caller: caller, now: now(),
                expectedVersion: try Self.expectedVersion(request), idempotencyKey: Self.idempotencyKey(request),
                logger: logger(context, caller))
            return try Self.commandResponse(view, for: request)
        }
        group.post("requests/{id}/resubmit") { request, context in
            let caller = try caller(context)
            let id = try Self.requestID(context)
            let changes = try Resubmission.read(try await APIBody.object(request, allowEmpty: true))
            let view = try await service.resubmit(
                requestID: id, changes: changes, caller: caller, now: now(),
                expectedVersion: try Self.expectedVersion(request), idempotencyKey: Self.idempotencyKey(request),
                logger: logger(context, caller))
            return try Self.commandResponse(view, for: request)
        }
        group.post("requests/{id}/withdraw") { request, context in
            let caller = try caller(context)
            let id = try Self.requestID(context)
            let comment = try NoteBody.comment(try await APIBody.object(request, allowEmpty: true))
            let view = try await service.withdraw(
                requestID: id, comment: comment, caller: caller, now: now(),
                expectedVersion: try Self.expectedVersion(request), idempotencyKey: Self.idempotencyKey(request),
                logger: logger(context, caller))
            return try Self.commandResponse(view, for: request)
        }
        group.post("requests/{id}/revoke") { request, context in
            let caller = try caller(context)
            let id = try Self.requestID(context)
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let reason = try NoteBody.reason(body)
            let view = try await service.revoke(
                requestID: id, reason: reason, caller: caller, now: now(),
                expectedVersion: try Self.expectedVersion(request), idempotencyKey: Self.idempotencyKey(request),
                logger: logger(context, caller))
            return try Self.commandResponse(view, for: request)
        }
        group.get("inbox") { _, context in
            let caller = try caller(context)
            return try APIJSON.response(
                ItemList(items: try await service.inbox(caller: caller, now: now(), logger: logger(context, caller))))
        }

        // Deputyships
        group.get("deputyships") { _, context in
            let caller = try caller(context)
            return try APIJSON.response(
                ItemList(
                    items: try await service.deputyships(caller: caller, now: now(), logger: logger(context, caller))))
        }
        group.post("deputyships") { request, context in
            let caller = try caller(context)
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let input = try NewDeputyship.read(body)
            let view = try await service.createDeputyship(
                input, caller: caller, now: now(), idempotencyKey: Self.idempotencyKey(request),
                logger: logger(context, caller))
            return try APIJSON.response(
                view, status: .created, headers: [.location: "/api/v1/deputyships/\(view.id.uuidString)"])
        }
        group.post("deputyships/{id}/end") { request, context in
            let caller = try caller(context)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw APIProblem.notFound(UserText("general.deputyship_not_found"))
            }
            try NoteBody.empty(try await APIBody.object(request, allowEmpty: true))
            // Ending is idempotent by nature (ending an ended deputyship changes nothing), so the key is
            // only checked for its form.
            if let key = Self.idempotencyKey(request) { try Self.checkKeyForm(key) }
            let view = try await service.endDeputyship(
                id: id, caller: caller, now: now(), logger: logger(context, caller))
            return try APIJSON.response(view)
        }
    }

    // MARK: Helpers

    /// The person behind the request, or 401 with a Basic challenge.
    func caller(_ context: AppRequestContext) throws(APIProblem) -> Caller {
        guard let person = context.identity?.person else { throw APIProblem.unauthorized }
        return Caller(person: person, clientAddress: context.clientAddress)
    }

    /// The request's logger with the actor (the service adds `request.id` for the Freigabe request).
    func logger(_ context: AppRequestContext, _ caller: Caller) -> Logger {
        var logger = context.logger
        logger[metadataKey: "actor"] = .string(caller.uid)
        return logger
    }

    static func requestID(_ context: AppRequestContext) throws(APIProblem) -> UUID {
        // A malformed id cannot name a request: the same 404 as for one that does not exist.
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw APIProblem.notFound(UserText("general.request_not_found"))
        }
        return id
    }

    static func idempotencyKey(_ request: Request) -> String? {
        request.headers[idempotencyKeyHeader]
    }

    static func checkKeyForm(_ key: String) throws(APIProblem) {
        let valid =
            !key.isEmpty && key.utf8.count <= 255
            && key.unicodeScalars.allSatisfy { $0.value >= 0x21 && $0.value <= 0x7e }
        guard valid else {
            throw APIProblem.validation(["idempotency_key": UserText("idempotency.key_invalid")])
        }
    }

    /// `If-Match` with the version as the `ETag` gave it (`"3"`, also `W/"3"` or `3`); `*` or no header:
    /// no check.
    static func expectedVersion(_ request: Request) throws(APIProblem) -> Int? {
        guard let header = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces) else { return nil }
        if header == "*" { return nil }
        var text = Substring(header)
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = text.dropFirst().dropLast() }
        guard !text.isEmpty, text.count <= 9, text.allSatisfy({ $0.isASCII && $0.isNumber }), let version = Int(text)
        else {
            throw APIProblem.badRequest(
                UserText("idempotency.if_match_invalid"), errors: ["if_match": UserText("idempotency.if_match_field")])
        }
        return version
    }

    static func etag(_ version: Int) -> String { "\"\(version)\"" }

    static func requestResponse(
        _ view: RequestView, status: HTTPResponse.Status = .ok, location: Bool = false
    ) throws
        -> Response
    {
        var headers: HTTPFields = [.eTag: etag(view.version)]
        if location { headers[.location] = "/api/v1/requests/\(view.id.uuidString)" }
        return try APIJSON.response(view, status: status, headers: headers)
    }

    static let prefer = HTTPFields.Element.Name("Prefer")!
    static let preferenceApplied = HTTPFields.Element.Name("Preference-Applied")!

    /// The answer to a command: the whole request, or with `Prefer: return=minimal` (RFC 7240) 204 and
    /// the new version in `ETag` (nothing to encode; scripts and tools that only move a request on).
    static func commandResponse(_ view: RequestView, for request: Request) throws -> Response {
        guard prefersMinimalReturn(request.headers[values: prefer]) else { return try requestResponse(view) }
        return Response(
            status: .noContent, headers: [.eTag: etag(view.version), preferenceApplied: "return=minimal"])
    }

    /// Whether one of the `Prefer` fields holds `return=minimal` (token case-insensitive, value may be
    /// quoted; preferences are separated by commas, parameters by semicolons).
    static func prefersMinimalReturn(_ fields: [String]) -> Bool {
        fields.lazy.flatMap { $0.split(separator: ",") }.contains { preference in
            let name = preference.split(separator: ";", maxSplits: 1).first ?? ""
            let pair = name.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
            return pair.count == 2 && pair[0].lowercased() == "return" && pair[1].lowercased() == "minimal"
        }
    }

    static func datasetQuery(_ parameters: Parameters) throws(APIProblem) -> DatasetQuery {
        var errors: [String: UserText] = [:]
        let text = parameters.get("q").flatMap { $0.isEmpty ? nil : $0 }
        if let text, text.count > 200 { errors["q"] = UserText("catalog.search_too_long") }
        let domain = parameters.get("domain").flatMap { $0.isEmpty ? nil : $0 }
        if let domain, domain.count > 100 { errors["domain"] = UserText("catalog.domain_too_long") }
        var classification: Classification? = nil
        if let value = parameters.get("classification"), !value.isEmpty {
            classification = Classification(rawValue: value)
            if classification == nil {
                errors["classification"] = UserText(
                    "catalog.classification_unknown",
                    ["allowed": .text(Classification.allCases.map(\.rawValue).joined(separator: ", "))])
            }
        }
        let (limit, offset) = paging(parameters, errors: &errors)
        guard errors.isEmpty else { throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors) }
        return DatasetQuery(text: text, domain: domain, classification: classification, limit: limit, offset: offset)
    }

    static func requestQuery(_ parameters: Parameters) throws(APIProblem) -> RequestQuery {
        var errors: [String: UserText] = [:]
        var phase: RequestPhase? = nil
        if let value = parameters.get("phase"), !value.isEmpty {
            phase = RequestPhase(rawValue: value)
            if phase == nil {
                errors["phase"] = UserText(
                    "query.phase_unknown",
                    ["allowed": .text(RequestPhase.allCases.map(\.rawValue).joined(separator: ", "))])
            }
        }
        let (limit, offset) = paging(parameters, errors: &errors)
        guard errors.isEmpty else { throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors) }
        return RequestQuery(phase: phase, limit: limit, offset: offset)
    }

    /// `limit` 1...200 (default 50), `offset` 0...100000 (default 0).
    static func paging(_ parameters: Parameters, errors: inout [String: UserText]) -> (Int, Int) {
        var limit = 50
        var offset = 0
        if let value = parameters.get("limit"), !value.isEmpty {
            if let number = Int(value), (1...200).contains(number) {
                limit = number
            } else {
                errors["limit"] = UserText("query.limit_range")
            }
        }
        if let value = parameters.get("offset"), !value.isEmpty {
            if let number = Int(value), (0...100_000).contains(number) {
                offset = number
            } else {
                errors["offset"] = UserText("query.offset_range")
            }
        }
        return (limit, offset)
    }
}
