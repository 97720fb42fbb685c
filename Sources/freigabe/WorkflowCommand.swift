import ArgumentParser
import Foundation
import WorkflowEngine

struct WorkflowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow",
        abstract: "Check workflow definitions and draw them.",
        subcommands: [Validate.self, Graph.self]
    )

    /// Roles from LDAP groups that definitions may use besides the built-in ones.
    struct RoleOptions: ParsableArguments {
        @Option(name: .customLong("role"), help: "An extra role name configured from an LDAP group (repeatable).")
        var extraRoles: [String] = []

        var parser: WorkflowDefinitionParser { WorkflowDefinitionParser(customRoles: Set(extraRoles)) }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate definitions; print file:line: message for each problem and exit 1 if there is any."
        )

        @OptionGroup var roles: RoleOptions
        @Argument(help: "Definition files (YAML).") var files: [String]

        func run() throws {
            let sources = try files.map(readSource)
            switch DefinitionSet(parser: roles.parser).load(sources) {
            case .success(let registry):
                for definition in registry.definitions {
                    print("ok \(definition.pin)")
                }
            case .failure(let error):
                for problem in error.problems { printError(problem.description) }
                throw ExitCode.failure
            }
        }
    }

    struct Graph: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a definition as a Mermaid state diagram.")

        @OptionGroup var roles: RoleOptions
        @Argument(help: "A definition file (YAML).") var file: String

        func run() throws {
            let source = try readSource(file)
            do {
                print(MermaidGraph.render(try roles.parser.parse(source.text, file: source.file)), terminator: "")
            } catch {
                for problem in error.problems { printError(problem.description) }
                throw ExitCode.failure
            }
        }
    }
}

private func readSource(_ path: String) throws -> DefinitionSet.Source {
    guard let data = FileManager.default.contents(atPath: path) else {
        printError("\(path): cannot read the file")
        throw ExitCode.failure
    }
    guard let text = String(data: data, encoding: .utf8) else {
        printError("\(path):1: the file is not valid UTF-8")
        throw ExitCode.failure
    }
    return DefinitionSet.Source(file: path, text: text)
}

private func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
