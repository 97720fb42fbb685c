import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route of the router answers, taken from `Router.routes` once all routes are
/// added (``install(_:)``); read by ``AllowedMethodsMiddleware``.
final class RouteMethods: Sendable {
    private struct Route {
        var path: RouterPath
        var methods: Set<HTTPRequest.Method>
    }

    /// The order `Allow` lists methods in; others follow alphabetically.
    private static let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]

    private let routes = Mutex<[Route]>([])

    /// Takes the router's routes; a GET route also answers HEAD (`autoGenerateHeadEndpoints`).
    func install<Context: RequestContext>(_ descriptions: [Router<Context>.RouteDescription]) {
        var byPath: [String: Route] = [:]
        for description in descriptions {
            var route = byPath[description.path.description] ?? Route(path: description.path, methods: [])
            route.methods.insert(description.method)
            if description.method == .get { route.methods.insert(.head) }
            byPath[description.path.description] = route
        }
        routes.withLock { $0 = Array(byPath.values) }
    }

    /// Whether a browser may GET `page` (a path, with or without its query): a route there answers GET.
    /// A form's own address is often POST-only, and a way back to it would end in a 405.
    func answersGET(_ page: String) -> Bool {
        methods(for: String(page.prefix { $0 != "?" && $0 != "#" }))?.contains(.get) ?? false
    }

    /// The methods of all routes matching `path`; nil if none matches.
    func methods(for path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let methods = routes.withLock { routes in
            routes.filter { Self.matches($0.path, segments) }.reduce(into: Set<HTTPRequest.Method>()) {
                $0.formUnion($1.methods)
            }
        }
        guard !methods.isEmpty else { return nil }
        return methods.sorted {
            switch (Self.order.firstIndex(of: $0), Self.order.firstIndex(of: $1)) {
            case (let left?, let right?): left < right
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): $0.rawValue < $1.rawValue
            }
        }
    }

    private static func matches(_ path: RouterPath, _ segments: [Substring]) -> Bool {
        let components = Array(path)
        if let last = components.last, last.description == "**" {
            return segments.count >= components.count - 1
                && zip(components.dropLast(), segments).allSatisfy { $0 ~= $1 }
        }
        return components.count == segments.count && zip(components, segments).allSatisfy { $0 ~= $1 }
    }
}

/// `405 Method Not Allowed` with `Allow` for a known path and a method it does not answer (the
/// router alone says 404), and `204` with `Allow` for `OPTIONS` on a known path. Unknown paths pass
/// on to the 404. Mounted on the router, so it sees requests no route matched; the API's problem
/// middleware outside it turns the 405 into problem+json.
///
/// The routes are matched only once the router has answered 404: every request that found its route
/// (nearly all) passes without matching the path against every route.
struct AllowedMethodsMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteMethods

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // A handler's own 404 (a request that does not exist) answers a method its route has.
            guard let methods = routes.methods(for: request.uri.path), !methods.contains(request.method) else {
                throw error
            }
            return try allowed(methods, request: request)
        }
    }

    private func allowed(_ methods: [HTTPRequest.Method], request: Request) throws -> Response {
        let allow = methods.map(\.rawValue).joined(separator: ", ")
        if request.method == .options {
            return Response(status: .noContent, headers: [.allow: allow + ", OPTIONS"])
        }
        throw HTTPError(.methodNotAllowed, headers: [.allow: allow])
    }
}
