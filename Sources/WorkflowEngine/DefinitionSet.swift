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
        for source in sources {
            do {
                let definition = try parser.parse(source.text, file: source.file)
                let key = "\(definition.id)@\(definition.version)"
                if let earlier = firstFile[key] {
                    problems.append(
                        DefinitionProblem(
                            file: source.file, line: lineOfVersion(in: source.text),
                            message: "duplicate id/version \(key): already defined in \(earlier)"))
                    continue
                }
                firstFile[key] = source.file
                loaded.append(Loaded(definition: definition, source: source))
            } catch {
                problems += error.problems
            }
        }
        return problems.isEmpty ? .success(loaded) : .failure(DefinitionError(problems: problems))
    }

    /// The line of the top-level `version:` key, where a duplicate is best fixed.
    private func lineOfVersion(in text: String) -> Int {
        // `isNewline` also splits "\r\n", which is a single Character in Swift.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        return (lines.firstIndex { $0.hasPrefix("version:") } ?? 0) + 1
    }
}
