import Foundation
import Logging
import PostgresNIO
import Synchronization
import WorkflowEngine

/// The workflow definitions the server loaded, with their exact source text: a new request stores the
/// text in `workflow_definitions`, so it keeps its definition even when the file changes or disappears.
public struct WorkflowLibrary: Sendable {
    public struct Entry: Sendable {
        public var definition: WorkflowDefinition
        public var source: String
    }

    public let entries: [Entry]
    /// Parses stored definitions of requests in flight (the parser the definitions were loaded with).
    public let parser: WorkflowDefinitionParser

    /// Parses `sources` (as `freigabe workflow validate` does); every problem is reported at once.
    /// Reading a directory of definitions is `WorkflowLoader`'s job.
    public init(
        sources: [DefinitionSet.Source], parser: WorkflowDefinitionParser = .pinningBySHA256
    ) throws(DefinitionError) {
        switch DefinitionSet(parser: parser).loadWithSources(sources) {
        case .success(let loaded):
            self.entries = loaded.map { Entry(definition: $0.definition, source: $0.source.text) }
            self.parser = parser
        case .failure(let error):
            throw error
        }
    }

    /// The newest definition serving `kind` (highest version), as new requests take it.
    public func current(for kind: ReleaseKind) -> Entry? {
        entries.filter { $0.definition.kinds.contains(kind) }
            .max { ($0.definition.id, $0.definition.version) < ($1.definition.id, $1.definition.version) }
    }

    func entry(for pin: WorkflowPin) -> Entry? { entries.first { $0.definition.pin == pin } }
}

/// Definitions of requests in flight, by pin: from the library when the file is still there, otherwise
/// parsed once from the text stored in `workflow_definitions`.
final class PinnedDefinitionCache: Sendable {
    private let library: WorkflowLibrary
    private let parsed = Mutex<[WorkflowPin: WorkflowDefinition]>([:])

    init(library: WorkflowLibrary) { self.library = library }

    /// The definition, borrowing a connection only when it must be read from the database.
    func definition(for pin: WorkflowPin, client: PostgresClient, logger: Logger) async throws -> WorkflowDefinition {
        if let entry = library.entry(for: pin) { return entry.definition }
        if let cached = parsed.withLock({ $0[pin] }) { return cached }
        return try await Database.read(client, logger: logger) {
            try await self.definition(for: pin, on: $0, logger: logger)
        }
    }

    func definition(
        for pin: WorkflowPin, on connection: PostgresConnection, logger: Logger
    ) async throws -> WorkflowDefinition {
        if let entry = library.entry(for: pin) { return entry.definition }
        if let cached = parsed.withLock({ $0[pin] }) { return cached }
        let rows = try await connection.query(
            """
            SELECT source FROM workflow_definitions
            WHERE workflow_id = \(pin.id) AND version = \(pin.version) AND content_hash = \(pin.contentHash)
            """, logger: logger)
        guard let source = try await rows.decode(String.self).first(where: { _ in true }) else {
            throw ServiceError.internal("workflow definition \(pin) is not stored")
        }
        let definition: WorkflowDefinition
        do {
            definition = try library.parser.parse(source, file: "workflow_definitions:\(pin)", pinned: true)
        } catch {
            throw ServiceError.internal("stored workflow definition \(pin) no longer parses: \(error)")
        }
        guard definition.pin == pin else {
            throw ServiceError.internal("stored workflow definition \(pin) has hash \(definition.contentHash)")
        }
        parsed.withLock { $0[pin] = definition }
        return definition
    }
}
