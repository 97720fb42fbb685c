import Foundation
import WorkflowEngine

/// `freigabe workflow validate` and `freigabe workflow graph`.
public enum WorkflowTool {
    /// Validates definition files: one `ok id@version (hash)` line per definition, or one
    /// `file:line: message` line per problem on standard error and failure.
    public static func validate(paths: [String]) -> ToolOutput {
        var sources: [DefinitionSet.Source] = []
        var unreadable: [String] = []
        for path in paths {
            do { sources.append(try readSource(path)) } catch { unreadable.append(error.description) }
        }
        guard unreadable.isEmpty else { return ToolOutput(standardError: unreadable, succeeded: false) }
        switch DefinitionSet(parser: WorkflowDefinitionParser.pinningBySHA256).load(sources) {
        case .success(let registry):
            return ToolOutput(standardOutput: registry.definitions.map { "ok \($0.pin)" })
        case .failure(let error):
            return ToolOutput(standardError: error.problems.map(\.description), succeeded: false)
        }
    }

    /// Renders one definition as a Mermaid state diagram.
    public static func graph(path: String) -> ToolOutput {
        do {
            let source = try readSource(path)
            let definition = try WorkflowDefinitionParser.pinningBySHA256.parse(source.text, file: source.file)
            return ToolOutput(standardOutput: [MermaidGraph.render(definition)])
        } catch let error as UnreadableFile {
            return ToolOutput(standardError: [error.description], succeeded: false)
        } catch let error as DefinitionError {
            return ToolOutput(standardError: error.problems.map(\.description), succeeded: false)
        } catch {
            return ToolOutput(standardError: ["\(path): \(error)"], succeeded: false)
        }
    }

    /// A file that cannot be read as UTF-8 text, described as `file[:line]: message`.
    struct UnreadableFile: Error, CustomStringConvertible {
        var description: String
    }

    private static func readSource(_ path: String) throws(UnreadableFile) -> DefinitionSet.Source {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UnreadableFile(description: "\(path): cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw UnreadableFile(description: "\(path):1: the file is not valid UTF-8")
        }
        return DefinitionSet.Source(file: path, text: text)
    }
}
