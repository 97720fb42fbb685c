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

        @Option(name: .customLong("role"), help: "An extra role name configured from an LDAP group (repeatable).")
        var extraRoles: [String] = []

        @Argument(help: "Definition files (YAML).") var files: [String]

        func run() throws { try WorkflowTool.validate(paths: files, extraRoles: extraRoles).emit() }
    }

    struct Graph: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a definition as a Mermaid state diagram.")

        @Option(name: .customLong("role"), help: "An extra role name configured from an LDAP group (repeatable).")
        var extraRoles: [String] = []

        @Argument(help: "A definition file (YAML).") var file: String

        func run() throws { try WorkflowTool.graph(path: file, extraRoles: extraRoles).emit() }
    }
}
