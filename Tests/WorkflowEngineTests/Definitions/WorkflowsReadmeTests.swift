import Foundation
import Testing

@testable import WorkflowEngine

/// `Workflows/README.md` is what administrators edit definitions by: its examples must be valid and its
/// graphs must be those of the shipped files.
@Suite("Workflows/README.md")
struct WorkflowsReadmeTests {
    private static func readme() throws -> String {
        try String(
            contentsOf: DefinitionFixtures.workflowsDirectory.appendingPathComponent("README.md"), encoding: .utf8)
    }

    /// The fenced code blocks of one language, in order.
    private static func blocks(_ language: String, in text: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```\(language)" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("the first example is a valid definition, and the documented typo gives the documented message")
    func firstExample() throws {
        let example = try #require(Self.blocks("yaml", in: try Self.readme()).first)
        let definition = try DefinitionFixtures.parse(example, file: "Workflows/small-release.yaml")
        #expect(definition.id == "small-release")
        #expect(definition.steps.map(\.id) == ["owner_review", "privacy_review"])

        let typo = example.replacingOccurrences(of: "role: dsb", with: "role: dbs")
        let problems = DefinitionFixtures.problems(typo, file: "Workflows/small-release.yaml")
        let documented = try #require(Self.blocks("text", in: try Self.readme()).first)
        #expect(problems.count == 1)
        #expect(documented.contains("\n\(problems.first?.description ?? "-")\n"))
    }

    @Test("the pin shown as an example is the pin of the shipped Shared Data definition")
    func examplePin() throws {
        let pin = try DefinitionFixtures.shipped("shared-data.yaml").pin
        let readme = try Self.readme()
        #expect(readme.contains("`\(pin.description)`"), "README shows another pin than \(pin)")
        #expect(readme.contains("ok \(pin.description)"))
    }

    @Test("the graphs are those of the shipped definitions")
    func graphs() throws {
        let graphs = Self.blocks("mermaid", in: try Self.readme())
        let expected = try DefinitionFixtures.shippedFiles.map {
            MermaidGraph.render(try DefinitionFixtures.shipped($0))
        }
        #expect(graphs == expected, "regenerate them with `freigabe workflow graph`")
    }
}
