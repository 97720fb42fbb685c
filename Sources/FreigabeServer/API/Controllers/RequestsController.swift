import Foundation
import Hummingbird
import Logging
import WorkflowEngine

/// Requests: file one, read one, list mine, the inbox, and the six commands on a request.
struct RequestsController: Sendable {
    let service: RequestService
    let now: @Sendable () -> Date

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.post("requests") { request, context in
            let caller = try context.caller()
            let headers = try CommandHeaders(request)
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let input = try NewRequest.read(body)
            let view = try await service.createRequest(
                input, caller: caller, now: now(), idempotencyKey: headers.idempotencyKey,
                logger: context.logger(for: caller))
            return try Self.requestResponse(view, status: .created, location: true)
        }
        routes.get("me/requests") { request, context in
            let caller = try context.caller()
            let query = try Self.requestQuery(request.uri.queryParameters)
            let items = try await service.myRequests(
                caller: caller, query: query, now: now(), logger: context.logger(for: caller))
            return try APIJSON.response(PagedList(items: items, limit: query.limit, offset: query.offset))
        }
        routes.get("requests/{id}") { _, context in
            let caller = try context.caller()
            let id = try Self.requestID(context)
            let view = try await service.request(
                id: id, caller: caller, now: now(), logger: context.logger(for: caller))
            return try Self.requestResponse(view)
        }
        routes.get("inbox") { request, context in
            let caller = try context.caller()
            let (after, limit) = try Self.inboxQuery(request.uri.queryParameters)
            let page = try await service.inboxPage(
                caller: caller, after: after, limit: limit, withSideLists: false, now: now(),
                logger: context.logger(for: caller))
            return try APIJSON.response(InboxList(page))
        }
        routes.get("inbox/stalled") { request, context in
            let caller = try context.caller()
            try QueryNames.none.check(request.uri.queryParameters)
            return try APIJSON.response(
                ItemList(
                    items: try await service.stalledRequests(
                        caller: caller, now: now(), logger: context.logger(for: caller))))
        }
        routes.get("inbox/revocable") { request, context in
            let caller = try context.caller()
            try QueryNames.none.check(request.uri.queryParameters)
            return try APIJSON.response(
                ItemList(
                    items: try await service.revocableGrants(
                        caller: caller, now: now(), logger: context.logger(for: caller))))
        }
        routes.get("me/deputy-decisions") { request, context in
            let caller = try context.caller()
            try QueryNames.none.check(request.uri.queryParameters)
            return try APIJSON.response(
                ItemList(
                    items: try await service.decisionsTakenForCaller(
                        caller: caller, now: now(), logger: context.logger(for: caller))))
        }
        routes.post("requests/{id}/submit") { request, context in
            try await command(request, context) { id, caller, headers, logger in
                try NoteBody.empty(try await APIBody.object(request, allowEmpty: true))
                return try await service.submit(
                    requestID: id, caller: caller, now: now(), expectedVersion: headers.expectedVersion,
                    idempotencyKey: headers.idempotencyKey, logger: logger)
            }
        }
        routes.post("requests/{id}/decisions") { request, context in
            try await command(request, context) { id, caller, headers, logger in
                guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
                let decision = try DecisionBody.read(body)
                return try await service.decide(
                    requestID: id, decision: decision.decision, branch: decision.branch, caller: caller, now: now(),
                    expectedVersion: headers.expectedVersion, idempotencyKey: headers.idempotencyKey, logger: logger)
            }
        }
        routes.post("requests/{id}/resubmit") { request, context in
            try await command(request, context) { id, caller, headers, logger in
                let changes = try Resubmission.read(try await APIBody.object(request, allowEmpty: true))
                return try await service.resubmit(
                    requestID: id, changes: changes, caller: caller, now: now(),
                    expectedVersion: headers.expectedVersion, idempotencyKey: headers.idempotencyKey, logger: logger)
            }
        }
        routes.post("requests/{id}/edit") { request, context in
            try await command(request, context) { id, caller, headers, logger in
                let changes = try RequestDetails.Patch.read(try await APIBody.object(request, allowEmpty: true))
                return try await service.editDraft(
                    requestID: id, changes: changes, caller: caller, now: now(),
                    expectedVersion: headers.expectedVersion, idempotencyKey: headers.idempotencyKey, logger: logger)
            }
        }
        routes.post("requests/{id}/withdraw") { request, context in
            try await command(request, context) { id, caller, headers, logger in
                let comment = try NoteBody.comment(try await APIBody.object(request, allowEmpty: true))
                return try await service.withdraw(
                    requestID: id, comment: comment, caller: caller, now: now(),
                    expectedVersion: headers.expectedVersion, idempotencyKey: headers.idempotencyKey, logger: logger)
            }
        }
        routes.post("requests/{id}/revoke") { request, context in
            try await command(request, context) { id, caller, headers, logger in
                guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
                let reason = try NoteBody.reason(body)
                return try await service.revoke(
                    requestID: id, reason: reason, caller: caller, now: now(),
                    expectedVersion: headers.expectedVersion, idempotencyKey: headers.idempotencyKey, logger: logger)
            }
        }
        routes.post("requests/{id}/discontinue") { request, context in
            try await command(request, context) { id, caller, headers, logger in
                guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
                let reason = try NoteBody.reason(body)
                return try await service.discontinue(
                    requestID: id, reason: reason, caller: caller, now: now(),
                    expectedVersion: headers.expectedVersion, idempotencyKey: headers.idempotencyKey, logger: logger)
            }
        }
        return routes
    }

    /// What every command on a request shares: the caller, the request id from the path, the headers
    /// read once, and the answer (the request, or 204 with `Prefer: return=minimal`).
    private func command(
        _ request: Request, _ context: AppRequestContext,
        _ body: (UUID, Caller, CommandHeaders, Logger) async throws -> RequestView
    ) async throws -> Response {
        let caller = try context.caller()
        let id = try Self.requestID(context)
        let headers = try CommandHeaders(request)
        let view = try await body(id, caller, headers, context.logger(for: caller))
        guard headers.prefersMinimalReturn else { return try Self.requestResponse(view) }
        return Response(
            status: .noContent,
            headers: [.eTag: Self.etag(view.version), CommandHeaders.preferenceApplied: "return=minimal"])
    }

    static func requestID(_ context: AppRequestContext) throws(APIProblem) -> UUID {
        // A malformed id cannot name a request: the same 404 as for one that does not exist.
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw APIProblem.notFound(UserText("general.request_not_found"))
        }
        return id
    }

    static func etag(_ version: Int) -> String { "\"\(version)\"" }

    static func requestResponse(
        _ view: RequestView, status: HTTPResponse.Status = .ok, location: Bool = false
    ) throws -> Response {
        var headers: HTTPFields = [.eTag: etag(view.version)]
        if location { headers[.location] = "/api/v1/requests/\(view.id.uuidString)" }
        return try APIJSON.response(view, status: status, headers: headers)
    }

    static func requestQuery(_ parameters: Parameters) throws(APIProblem) -> RequestQuery {
        var errors: [String: UserText] = [:]
        QueryNames.myRequests.refuse(parameters, errors: &errors)
        var phase: RequestPhase? = nil
        if let value = parameters.get("phase"), !value.isEmpty {
            phase = RequestPhase(rawValue: value)
            if phase == nil {
                errors["phase"] = UserText(
                    "query.phase_unknown",
                    ["allowed": .text(RequestPhase.allCases.map(\.rawValue).joined(separator: ", "))])
            }
        }
        let (limit, offset) = ListQuery.paging(parameters, errors: &errors)
        guard errors.isEmpty else { throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors) }
        return RequestQuery(phase: phase, limit: limit, offset: offset)
    }

    /// `/inbox`'s paging: `limit` as the other lists, `after` the `next` of the page before (an ``InboxCursor``).
    static func inboxQuery(_ parameters: Parameters) throws(APIProblem) -> (after: InboxCursor?, limit: Int) {
        var errors: [String: UserText] = [:]
        QueryNames.inbox.refuse(parameters, errors: &errors)
        let limit = ListQuery.limit(parameters, errors: &errors)
        var after: InboxCursor?
        // Even empty: `next` never is, so `after=` is a client's mistake, not "from the top".
        if let value = parameters.get("after") {
            after = InboxCursor(value)
            if after == nil { errors["after"] = UserText("query.inbox_cursor") }
        }
        guard errors.isEmpty else { throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors) }
        return (after, limit)
    }

}
