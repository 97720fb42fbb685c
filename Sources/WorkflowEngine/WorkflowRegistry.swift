/// Every known definition version, by id and version. Requests find their pinned definition here;
/// new requests take the newest version that serves their kind.
public struct WorkflowRegistry: Hashable, Sendable {
    public private(set) var definitions: [WorkflowDefinition] = []

    public init() {}

    /// Adds a definition. The same id and version twice is an error unless the content is identical:
    /// a changed file must get a new version, or requests pinned to the old text could not be trusted.
    public mutating func register(
        _ definition: WorkflowDefinition, file: String = "<input>", line: Int = 1
    )
        throws(DefinitionError)
    {
        if let existing = definitions.first(where: { $0.id == definition.id && $0.version == definition.version }) {
            if existing.contentHash == definition.contentHash { return }
            throw DefinitionError(problems: [
                DefinitionProblem(
                    file: file, line: line,
                    message: "duplicate id/version \(definition.id)@\(definition.version) with different content; "
                        + "give the changed definition a new version")
            ])
        }
        definitions.append(definition)
    }

    public func definition(for pin: WorkflowPin) -> WorkflowDefinition? {
        definitions.first { $0.pin == pin }
    }

    /// The newest version of the workflow that serves `kind` (highest version; ties are impossible).
    public func current(for kind: ReleaseKind) -> WorkflowDefinition? {
        definitions.filter { $0.kinds.contains(kind) }.max { ($0.id, $0.version) < ($1.id, $1.version) }
    }
}
