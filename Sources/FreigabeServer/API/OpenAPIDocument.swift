import Foundation

/// The OpenAPI 3.1 document of the JSON API (`openapi.yaml` at the repository root), served as it is
/// at `GET /api/v1/openapi.yaml`.
public struct OpenAPIDocument: Sendable, Hashable {
    public var yaml: String

    public init(yaml: String) {
        self.yaml = yaml
    }

    /// Reads the document; relative paths are taken from the working directory, like `Templates` and
    /// `Workflows`. A file that cannot be read is a configuration error (`api.openapi_file`): the server
    /// checks it at start, before it touches the database, and exits with 78 (EX_CONFIG).
    public static func load(path: String = "openapi.yaml") throws(ConfigurationError) -> OpenAPIDocument {
        do {
            return OpenAPIDocument(yaml: try String(contentsOfFile: path, encoding: .utf8))
        } catch {
            throw ConfigurationError(
                code: .invalidValue, key: AppConfiguration.Key.openAPIFile,
                description: "Die API-Beschreibung „\(path)“ (api.openapi_file) kann nicht gelesen werden.",
                details: "\(error)")
        }
    }
}
