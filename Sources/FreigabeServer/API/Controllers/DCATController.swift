import Foundation
import Hummingbird

/// The Open Data catalogue in DCAT-AP.de, `dcat/catalog.ttl` (Turtle) and `dcat/catalog.jsonld`
/// (JSON-LD): public, no login, since portals such as GovData harvest it. Only datasets actually
/// published are in it (``RequestService/publishedDatasets(logger:)``).
struct DCATController: Sendable {
    let service: RequestService
    let settings: DCATSettings

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("dcat/catalog.ttl") { _, context in
            let catalog = try await catalog(context)
            return Self.response(ByteBuffer(string: TurtleWriter.document(catalog.graph)), type: "text/turtle")
        }
        routes.get("dcat/catalog.jsonld") { _, context in
            let catalog = try await catalog(context)
            return Self.response(
                ByteBuffer(bytes: try JSONLDWriter.document(catalog.graph)), type: "application/ld+json")
        }
        return routes
    }

    private func catalog(_ context: AppRequestContext) async throws -> DCATCatalog {
        DCATCatalog(settings: settings, datasets: try await service.publishedDatasets(logger: context.logger))
    }

    private static func response(_ body: ByteBuffer, type: String) -> Response {
        // Harvesters poll; five minutes of staleness is nothing for a catalogue of publications.
        Response(
            status: .ok, headers: [.contentType: type + "; charset=utf-8", .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: body))
    }
}
