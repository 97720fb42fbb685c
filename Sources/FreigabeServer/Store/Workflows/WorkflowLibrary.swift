import Foundation
import LDAPDirectory
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
        /// The file it was read from, as given to the parser.
        public var file: String
    }

    public let entries: [Entry]
    /// Every role a loaded definition's step escalates to (asked on every inbox's first page).
    let escalationRoles: Set<Role>
    /// Parses stored definitions of requests in flight (the parser the definitions were loaded with).
    public let parser: WorkflowDefinitionParser

    /// Parses `sources` (as `freigabe workflow validate` does); every problem is reported at once.
    /// Reading a directory of definitions is `WorkflowLoader`'s job.
    public init(
        sources: [DefinitionSet.Source], parser: WorkflowDefinitionParser = .pinningBySHA256
    ) throws(DefinitionError) {
        switch DefinitionSet(parser: parser).loadWithSources(sources) {
        case .success(let loaded):
            self.entries = loaded.map { Entry(definition: $0.definition, source: $0.source.text, file: $0.source.file) }
            self.escalationRoles = Set(entries.flatMap { $0.definition.steps.compactMap(\.escalationRole) })
            self.parser = parser
        case .failure(let error):
            throw error
        }
    }

    /// The directory roles the loaded definitions ask for (a step's role, the role a step escalates to,
    /// who may revoke) that no group in `roleGroups` grants (`ldap.roles.*`): their tasks would reach
    /// nobody and their steps wait until they escalate. The dataset's owner and stewards come from the
    /// catalogue, not from such a group.
    public func rolesWithoutGroups(_ roleGroups: [DirectoryRole: [String]]) -> [DirectoryRole] {
        var asked: Set<Role> = []
        for definition in entries.map(\.definition) {
            for step in definition.steps {
                asked.formUnion(step.roles)
                if let escalation = step.escalationRole { asked.insert(escalation) }
            }
            for end in definition.ends { asked.formUnion(end.revocableBy) }
        }
        return asked.compactMap { DirectoryRole(rawValue: $0.identifier) }
            .filter { roleGroups[$0]?.isEmpty ?? true }.sorted()
    }

    /// The newest definition serving `kind` (highest version), as new requests take it.
    public func current(for kind: ReleaseKind) -> Entry? {
        entries.filter { $0.definition.kinds.contains(kind) }
            .max { ($0.definition.id, $0.definition.version) < ($1.definition.id, $1.definition.version) }
    }

    func entry(for pin: WorkflowPin) -> Entry? { entries.first { $0.definition.pin == pin } }

    /// A definition new requests would start on whose id and version requests already use with another
    /// text only: the file was edited without raising `version:` (Workflows/README.md, "Versioning").
    /// The requests keep the stored text, but "version 3" would name two rulebooks, and a draft on the
    /// old text would not move.
    public struct EditedVersion: Sendable, Hashable, CustomStringConvertible {
        public var file: String
        public var pin: WorkflowPin
        /// The first text stored under that id and version, and since when it is in use.
        public var storedHash: String
        public var storedSince: Date

        public var description: String {
            "\(file): \(pin.id) version \(pin.version) was changed after requests used it (in use since "
                + "\(storedSince.formatted(.iso8601)) with SHA-256 \(storedHash.prefix(12)), the file now has "
                + "\(pin.contentHash.prefix(12))): restore the file, or copy it, raise `version:` and keep the old "
                + "file while its requests are open (Workflows/README.md, Versioning)"
        }
    }

    /// The definitions new requests start on (``current(for:)``): an older version kept for its requests
    /// is looked up by its full pin and falls back to the stored text, so an edit there changes nothing.
    var inForce: [Entry] {
        ReleaseKind.allCases.compactMap { current(for: $0) }
            .reduce(into: []) { result, entry in
                if !result.contains(where: { $0.definition.pin == entry.definition.pin }) { result.append(entry) }
            }
    }

    /// The definitions in force that are ``EditedVersion``s: their own text is not stored under their id
    /// and version, another is (one statement on `workflow_definitions`' primary key). A database that
    /// already holds two texts of one version (stored before this check) accepts either of them.
    func editedVersions(on connection: PostgresConnection, logger: Logger) async throws -> [EditedVersion] {
        let checked = inForce
        let rows = try await connection.query(
            """
            SELECT f.ordinality::int, d.content_hash, d.first_used_at
            FROM unnest(\(checked.map(\.definition.id))::text[], \(checked.map { Int32($0.definition.version) })::int[],
                        \(checked.map(\.definition.contentHash))::text[]) WITH ORDINALITY AS f(id, version, hash, ordinality)
            JOIN LATERAL (\(unescaped: Self.otherTextOnly("f.id", "f.version", "f.hash"))) d ON true
            ORDER BY f.ordinality
            """, logger: logger)
        var edited: [EditedVersion] = []
        for try await (ordinality, hash, since) in rows.decode((Int, String, Date).self) {
            let entry = checked[ordinality - 1]
            edited.append(
                EditedVersion(file: entry.file, pin: entry.definition.pin, storedHash: hash, storedSince: since))
        }
        return edited
    }

    /// The first other text stored under the id and version of these SQL expressions, when theirs is not
    /// stored: a subquery of `content_hash` and `first_used_at`, no row when the text is fine.
    static func otherTextOnly(_ id: String, _ version: String, _ hash: String) -> String {
        """
        SELECT content_hash, first_used_at FROM workflow_definitions
        WHERE workflow_id = \(id) AND version = \(version) AND content_hash <> \(hash)
          AND NOT EXISTS (
              SELECT 1 FROM workflow_definitions
              WHERE workflow_id = \(id) AND version = \(version) AND content_hash = \(hash))
        ORDER BY first_used_at, content_hash LIMIT 1
        """
    }
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
