import Foundation
import Hummingbird

/// `openapi.yaml`, `health`, `ready`: no login needed.
struct OperationsController: Sendable {
    let document: OpenAPIDocument
    let readiness: ReadinessCheck

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(string: document.yaml)))
        }
        routes.get("health") { _, _ in
            try APIJSON.response(["status": "ok"])
        }
        routes.get("ready") { _, context in
            let report = await readiness(logger: context.logger)
            return try APIJSON.response(report, status: report.isReady ? .ok : .serviceUnavailable)
        }
        return routes
    }
}
