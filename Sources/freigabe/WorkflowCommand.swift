import ArgumentParser
import FreigabeServer

struct WorkflowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow",
        abstract: "Check workflow definitions and draw them.",
        subcommands: [Validate.self, Graph.self]
    )

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate definitions; print file:line: message for each problem and exit 1 if there is any."
        )

        @Argument(help: "Definition files (YAML).") var files: [String]

        func run() throws { try WorkflowTool.validate(paths: files).emit() }
    }

    struct Graph: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a definition as a Mermaid state diagram.")

        @Argument(help: "A definition file (YAML).") var file: String

        func run() throws { try WorkflowTool.graph(path: file).emit() }
    }
}
