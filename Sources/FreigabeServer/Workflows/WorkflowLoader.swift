import Foundation
import WorkflowEngine

/// Loads every `*.yaml` definition in the workflows directory at start, so a broken definition stops
/// the server with `file:line` messages instead of failing the first request that needs it.
enum WorkflowLoader {
    static func load(directory: String) throws(ConfigurationError) -> WorkflowLibrary {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
        } catch {
            throw ConfigurationError(
                code: .invalidWorkflows, key: "workflows.dir",
                description: "Das Workflow-Verzeichnis „\(directory)“ kann nicht gelesen werden.",
                details: String(describing: error))
        }
        guard !files.isEmpty else {
            throw ConfigurationError(
                code: .invalidWorkflows, key: "workflows.dir",
                description: "Im Workflow-Verzeichnis „\(directory)“ liegen keine Workflow-Definitionen (*.yaml).")
        }
        var sources: [DefinitionSet.Source] = []
        for file in files {
            let path = directory + "/" + file
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else {
                throw ConfigurationError(
                    code: .invalidWorkflows, key: "workflows.dir",
                    description: "Die Workflow-Definition „\(path)“ ist nicht lesbar oder kein UTF-8.")
            }
            sources.append(DefinitionSet.Source(file: path, text: text))
        }
        do {
            return try WorkflowLibrary(sources: sources)
        } catch {
            throw ConfigurationError(
                code: .invalidWorkflows, key: "workflows.dir",
                description: "Ungültige Workflow-Definitionen:\n" + error.description)
        }
    }
}
