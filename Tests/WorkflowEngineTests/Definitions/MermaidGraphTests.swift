import Testing
import Yams

@testable import WorkflowEngine

@Suite("Mermaid graph of a definition")
struct MermaidGraphTests {
    private static func node(_ id: String) -> String { id.replacingOccurrences(of: "-", with: "_") }

    @Test(
        "a shipped definition renders with front matter, every node and every transition",
        arguments: DefinitionFixtures.shippedFiles)
    func shipped(_ fileName: String) throws {
        let definition = try DefinitionFixtures.shipped(fileName)
        let graph = MermaidGraph.render(definition)
        let lines = graph.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count > 10)
        #expect(lines[0] == "---")
        #expect(lines[1] == "title: \"\(definition.title.de) (\(definition.id) v\(definition.version))\"")
        #expect(lines[2] == "---")
        #expect(lines[3] == "stateDiagram-v2")
        #expect(graph.hasSuffix("\n"))

        #expect(lines.contains("    [*] --> draft"))
        #expect(lines.contains("    draft --> \(Self.node(definition.start)): submit"))
        #expect(lines.contains("    draft --> \(Self.node(definition.withdrawTo)): withdraw"))
        for step in definition.steps {
            let id = Self.node(step.id)
            #expect(lines.contains { $0.hasPrefix("    \(id): \(step.title.de)") }, "step \(step.id)")
            let approve = step.condition == nil ? "approve" : "approve / skip"
            #expect(lines.contains("    \(id) --> \(Self.node(step.onApprove)): \(approve)"))
            #expect(lines.contains("    \(id) --> \(Self.node(step.onReject)): reject"))
            #expect(lines.contains("    \(id) --> \(Self.node(definition.withdrawTo)): withdraw"))
            #expect(lines.contains("    \(id) --> changes_requested: request_changes") == step.allowsRequestChanges)
            #expect(lines.contains("    changes_requested --> \(id): resubmit") == step.allowsRequestChanges)
            if let days = step.deadline?.workingDays {
                #expect(lines.contains { $0.hasPrefix("    \(id): ") && $0.hasSuffix("<br/>\(days) AT") })
            }
            if step.isParallel {
                #expect(lines.contains("    state \(id) {"))
                for branch in step.branches {
                    #expect(lines.contains { $0.hasPrefix("        \(Self.node(branch.id)): \(branch.title.de)") })
                }
            }
        }
        for end in definition.ends {
            let id = Self.node(end.id)
            #expect(lines.contains("    \(id): \(end.title.de)"), "end \(end.id)")
            if let target = end.onExpire { #expect(lines.contains("    \(id) --> \(Self.node(target)): expire")) }
            if let target = end.onRevoke { #expect(lines.contains("    \(id) --> \(Self.node(target)): revoke")) }
            #expect(lines.contains("    \(id) --> [*]") == (end.type != .granted))
        }
    }

    @Test("shared-data shows expiry and revocation of granted access")
    func sharedDataEnds() throws {
        let graph = MermaidGraph.render(try DefinitionFixtures.shipped("shared-data.yaml"))
        #expect(graph.contains("    granted --> expired: expire\n"))
        #expect(graph.contains("    granted --> revoked: revoke\n"))
        #expect(graph.contains("    privacy_review --> security_review: approve / skip\n"))
    }

    @Test("open-data shows the parallel DSB, ISB and Data Governance branches as one composite state")
    func openDataParallel() throws {
        let graph = MermaidGraph.render(try DefinitionFixtures.shipped("open-data.yaml"))
        #expect(
            graph.contains(
                """
                    state legal_review {
                        privacy_review: Datenschutzprüfung (DSB) (bedingt)
                        --
                        security_review: Prüfung der Informationssicherheit (ISB) (bedingt)
                        --
                        exclusions_review: Prüfung der Ausschlussgründe durch die Daten-Governance (bedingt)
                    }

                """))
        #expect(
            graph.contains(
                "    legal_review: Prüfung der Ausschlussgründe (Datenschutz, Sicherheit, Rechte Dritter)<br/>"
                    + "dsb + isb + governance<br/>10 AT\n"))
    }

    @Test("':' in titles is escaped, so the front matter stays valid YAML and labels stay whole")
    func colonEscaped() throws {
        let text = DefinitionFixtures.base(replacing: [
            3: "title: \"Freigabe: Test\"",
            16: "    title: \"DSB: Datenschutz\"",
            37: "    title: \"Zurückgezogen: Ende\"",
        ])
        let graph = MermaidGraph.render(try DefinitionFixtures.parse(text))
        let lines = graph.split(separator: "\n").map(String.init)
        let title = try #require(lines.dropFirst().first)
        // The title is a quoted YAML string, so ':' and '#' in it cannot break the front matter.
        #expect(title == "title: \"Freigabe: Test (test-flow v1)\"")
        let frontMatter = try #require(try Yams.load(yaml: title) as? [String: String])
        #expect(frontMatter["title"] == "Freigabe: Test (test-flow v1)")
        let privacy = try #require(lines.first { $0.hasPrefix("    privacy: ") })
        #expect(!privacy.dropFirst("    privacy: ".count).contains(":"), "\(privacy)")
        let withdrawn = try #require(lines.first { $0.hasPrefix("    withdrawn: ") })
        #expect(!withdrawn.dropFirst("    withdrawn: ".count).contains(":"), "\(withdrawn)")
        #expect(graph.contains("#58;"), "Mermaid's entity code for ':'")
    }

    @Test("ids with '-' become valid Mermaid state ids")
    func hyphenatedIDs() throws {
        let text = DefinitionFixtures.base(replacing: [
            5: "start: owner-review", 10: "  - id: owner-review", 32: "  - id: not-granted",
            14: "    on: { approve: privacy, reject: not-granted }",
            19: "    on: { approve: granted, reject: not-granted }",
        ])
        let graph = MermaidGraph.render(try DefinitionFixtures.parse(text))
        #expect(graph.contains("    draft --> owner_review: submit\n"))
        #expect(graph.contains("    owner_review --> not_granted: reject\n"))
        let stateLines = graph.split(separator: "\n").dropFirst(4)
        #expect(!stateLines.contains { $0.contains("owner-review") || $0.contains("not-granted") })
    }

    @Test("a multi-line title is rendered on one line")
    func newlineInTitle() throws {
        let text = DefinitionFixtures.base(replacing: [11: "    title: \"Data\\nOwner\""])
        let graph = MermaidGraph.render(try DefinitionFixtures.parse(text))
        #expect(graph.contains("    owner: Data Owner<br/>data_owner<br/>5 AT\n"))
    }

    @Test("a quorum is shown")
    func quorum() throws {
        let text = DefinitionFixtures.base(replacing: [17: "    role: dsb\n    quorum: 2"])
        let graph = MermaidGraph.render(try DefinitionFixtures.parse(text))
        #expect(graph.contains("    privacy: DSB<br/>dsb ×2\n"))
    }
}
