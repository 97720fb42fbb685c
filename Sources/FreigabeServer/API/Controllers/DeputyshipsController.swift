import Foundation
import Hummingbird

/// Deputyships (Vertretungen): list mine, set one up, read one, end one.
struct DeputyshipsController: Sendable {
    let service: RequestService
    let now: @Sendable () -> Date

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("deputyships") { request, context in
            let caller = try context.caller()
            try QueryNames.none.check(request.uri.queryParameters)
            return try APIJSON.response(
                ItemList(
                    items: try await service.deputyships(
                        caller: caller, everyone: true, now: now(), logger: context.logger(for: caller))))
        }
        routes.post("deputyships") { request, context in
            let caller = try context.caller()
            let headers = try CommandHeaders(request)
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let input = try NewDeputyship.read(body)
            let view = try await service.createDeputyship(
                input, caller: caller, now: now(), idempotencyKey: headers.idempotencyKey,
                logger: context.logger(for: caller))
            return try APIJSON.response(
                view, status: .created, headers: [.location: "/api/v1/deputyships/\(view.id.uuidString)"])
        }
        routes.get("deputyships/{id}") { _, context in
            let caller = try context.caller()
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw APIProblem.notFound(UserText("general.deputyship_not_found"))
            }
            return try APIJSON.response(
                try await service.deputyship(id: id, caller: caller, now: now(), logger: context.logger(for: caller)))
        }
        routes.post("deputyships/{id}/end") { request, context in
            let caller = try context.caller()
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw APIProblem.notFound(UserText("general.deputyship_not_found"))
            }
            // Ending is idempotent by nature (ending an ended deputyship changes nothing), so the key is
            // only checked for its form.
            _ = try CommandHeaders(request)
            try NoteBody.empty(try await APIBody.object(request, allowEmpty: true))
            let view = try await service.endDeputyship(
                id: id, caller: caller, now: now(), logger: context.logger(for: caller))
            return try APIJSON.response(view)
        }
        return routes
    }
}
