import Foundation

/// The OpenAPI 3.1 document of the JSON API (`openapi.yaml` at the repository root), served as it is
/// at `GET /api/v1/openapi.yaml`.
public struct OpenAPIDocument: Sendable, Hashable {
    public var yaml: String

    public init(yaml: String) {
        self.yaml = yaml
    }

    /// Reads the document; relative paths are taken from the working directory, like `Templates` and
    /// `Workflows`.
    public static func load(path: String = "openapi.yaml") throws -> OpenAPIDocument {
        do {
            return OpenAPIDocument(yaml: try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            throw OpenAPIDocumentError(path: path, underlying: "\(error)")
        }
    }
}

public struct OpenAPIDocumentError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var underlying: String

    public var description: String { "Die API-Beschreibung „\(path)“ kann nicht gelesen werden: \(underlying)" }
}
