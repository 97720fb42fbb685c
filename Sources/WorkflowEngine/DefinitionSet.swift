/// Loads several definition files at once, as `freigabe workflow validate` and the server do: every file
/// is parsed and checked, and an id/version defined twice across files is reported at the later file.
public struct DefinitionSet: Sendable {
    public var parser: WorkflowDefinitionParser

    public init(parser: WorkflowDefinitionParser) { self.parser = parser }

    /// One file's name and text.
    public struct Source: Sendable {
        public var file: String
        public var text: String

        public init(file: String, text: String) {
            self.file = file
            self.text = text
        }
    }

    /// A valid definition together with the text it was parsed from.
    public struct Loaded: Sendable {
        public var definition: WorkflowDefinition
        public var source: Source
    }

    /// Parses all sources. Returns the registry when every file is valid, otherwise every problem found.
    public func load(_ sources: [Source]) -> Result<WorkflowRegistry, DefinitionError> {
        loadWithSources(sources).flatMap { loaded in
            var registry = WorkflowRegistry()
            for entry in loaded {
                // Duplicates were refused above, so registering cannot fail.
                try? registry.register(entry.definition, file: entry.source.file)
            }
            return .success(registry)
        }
    }

    /// Like `load`, but keeps each definition's source text (the server stores it for requests in flight).
    public func loadWithSources(_ sources: [Source]) -> Result<[Loaded], DefinitionError> {
        var loaded: [Loaded] = []
        var problems: [DefinitionProblem] = []
        var firstFile: [String: String] = [:]
        // Each kind is served by one workflow id: the newest version of it files the new requests. A
        // second id for the same kind would quietly take over, or be ignored, by the order of the ids.
        var workflowOfKind: [ReleaseKind: (id: String, file: String)] = [:]
        for source in sources {
            do {
                let definition = try parser.parse(source.text, file: source.file)
                let key = "\(definition.id)@\(definition.version)"
                if let earlier = firstFile[key] {
                    problems.append(
                        DefinitionProblem(
                            file: source.file, line: lineOfKey("version", in: source.text),
                            message: "duplicate id/version \(key): already defined in \(earlier)"))
                    continue
                }
                let claimed = definition.kinds.sorted { $0.rawValue < $1.rawValue }.compactMap { kind in
                    workflowOfKind[kind].flatMap { $0.id == definition.id ? nil : (kind, $0) }
                }
                if let (kind, other) = claimed.first {
                    problems.append(
                        DefinitionProblem(
                            file: source.file, line: lineOfKey("kinds", in: source.text),
                            message:
                                "kind \(kind.rawValue) is already served by workflow \(other.id) (\(other.file)): one "
                                + "workflow id per kind; a changed workflow is a new version of the same id"))
                    continue
                }
                for kind in definition.kinds { workflowOfKind[kind] = (definition.id, source.file) }
                firstFile[key] = source.file
                loaded.append(Loaded(definition: definition, source: source))
            } catch {
                problems += error.problems
            }
        }
        return problems.isEmpty ? .success(loaded) : .failure(DefinitionError(problems: problems))
    }

    /// The line of a top-level key (`version:`, `kinds:`), where a clash between files is best fixed.
    private func lineOfKey(_ key: String, in text: String) -> Int {
        // `isNewline` also splits "\r\n", which is a single Character in Swift.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        return (lines.firstIndex { $0.hasPrefix("\(key):") } ?? 0) + 1
    }
}
