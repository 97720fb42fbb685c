/// What a command-line tool prints and whether it succeeded. The tools live in FreigabeServer so that
/// the `freigabe` executable stays a thin argument parser and the tools can be tested directly.
public struct ToolOutput: Sendable, Equatable {
    public var standardOutput: [String] = []
    public var standardError: [String] = []
    public var succeeded = true

    public init(standardOutput: [String] = [], standardError: [String] = [], succeeded: Bool = true) {
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.succeeded = succeeded
    }
}
