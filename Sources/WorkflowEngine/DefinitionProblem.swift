/// One thing wrong with a workflow definition, located in its source file.
public struct DefinitionProblem: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based source line.
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, the form editors and CI logs jump to.
    public var description: String { "\(file):\(line): \(message)" }
}

/// A definition that could not be accepted, with every problem found (not just the first).
public struct DefinitionError: Error, Hashable, Sendable, CustomStringConvertible {
    public var problems: [DefinitionProblem]

    public init(problems: [DefinitionProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
