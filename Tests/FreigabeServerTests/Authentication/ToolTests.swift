import Foundation
import Testing

@testable import FreigabeServer

/// The command-line tools behind `freigabe workflow ...` and `freigabe directory ...`.
@Suite("Command-line tools")
struct ToolTests {
    @Test("workflow validate: ok lines for the shipped definitions")
    func validateShipped() {
        let output = WorkflowTool.validate(
            paths: ["shared-data.yaml", "open-data.yaml"].map {
                TestSupport.workflowsDirectory + "/" + $0
            })
        #expect(output.succeeded)
        #expect(output.standardOutput.count == 2)
        #expect(output.standardOutput.allSatisfy { $0.hasPrefix("ok ") })
        #expect(output.standardError.isEmpty)
    }

    @Test("workflow validate: file:line per problem, unreadable and non-UTF-8 files, failure")
    func validateBroken() throws {
        let directory = NSTemporaryDirectory() + "freigabe-tool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broken = directory + "/broken.yaml"
        try "id: x\nversion: 1\ntitle: T\nkinds: [kaputt]\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let output = WorkflowTool.validate(paths: [broken])
        #expect(!output.succeeded)
        #expect(
            output.standardError.contains("\(broken):4: kinds: unknown value 'kaputt' (known: shared_data, open_data)"))

        let latin1 = directory + "/latin1.yaml"
        try Data([0x69, 0x64, 0x3A, 0x20, 0xE4]).write(to: URL(fileURLWithPath: latin1))
        #expect(WorkflowTool.validate(paths: [latin1]).standardError == ["\(latin1):1: the file is not valid UTF-8"])
        #expect(WorkflowTool.validate(paths: [directory + "/missing.yaml"]).succeeded == false)
    }

    @Test("workflow validate refuses a role the server would refuse to load, with the same message")
    func validateMatchesTheServer() throws {
        let directory = NSTemporaryDirectory() + "freigabe-roles-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shipped = try String(contentsOfFile: TestSupport.workflowsDirectory + "/shared-data.yaml", encoding: .utf8)
        let special = directory + "/special.yaml"
        try shipped.replacingOccurrences(of: "role: isb", with: "role: fachamt_leitung")
            .write(toFile: special, atomically: true, encoding: .utf8)
        let output = WorkflowTool.validate(paths: [special])
        #expect(!output.succeeded)
        let problem = try #require(output.standardError.first)
        #expect(problem.contains("fachamt_leitung"), "\(output)")
        do {
            _ = try WorkflowLoader.load(directory: directory)
            Issue.record("the server loaded a role it cannot resolve")
        } catch {
            #expect(error.details?.contains(problem) == true || error.description.contains(problem), "\(error)")
        }
        #expect(WorkflowTool.validate(paths: [TestSupport.workflowsDirectory + "/shared-data.yaml"]).succeeded)
    }

    @Test("workflow graph prints Mermaid")
    func graph() {
        let output = WorkflowTool.graph(path: TestSupport.workflowsDirectory + "/open-data.yaml")
        #expect(output.succeeded)
        #expect(output.standardOutput.first?.contains("stateDiagram-v2") == true)
    }

    @Test("directory lookup shows the roles Freigabe derives; unknown users fail")
    func lookup() async throws {
        let reader = try await DirectoryFixtures.reader()
        let dora = try await DirectoryTool.lookup(username: "dora", reader: reader, json: false)
        #expect(dora.succeeded)
        #expect(dora.standardOutput.contains { $0.hasPrefix("Roles") && $0.hasSuffix("dsb") })
        let json = try await DirectoryTool.lookup(username: "sina", reader: reader, json: true)
        let person = try JSONSerialization.jsonObject(with: Data(json.standardOutput.joined().utf8)) as? [String: Any]
        #expect(person?["stewardDomains"] as? [String] == ["mobilitaet"])
        let unknown = try await DirectoryTool.lookup(username: "niemand", reader: reader, json: false)
        #expect(!unknown.succeeded)
        #expect(!unknown.standardError.isEmpty)
    }

    @Test("directory check: reachable, every configured role group resolves")
    func check() async throws {
        let output = try await DirectoryTool.check(reader: try await DirectoryFixtures.reader(), json: false)
        #expect(output.succeeded, "\(output.standardOutput)")
        #expect(output.standardOutput.contains { $0.hasPrefix("Role groups resolved") && $0.hasSuffix("9 of 9") })
        // A role group the directory does not have fails the check in both forms (monitoring reads JSON).
        let missing = try await DirectoryFixtures.reader(overrides: [
            "FREIGABE_LDAP_ROLES_DSB": "cn=gibt-es-nicht,ou=groups,dc=stadt,dc=example"
        ])
        for json in [false, true] {
            let broken = try await DirectoryTool.check(reader: missing, json: json)
            #expect(!broken.succeeded, "json: \(json)")
        }
        // A role the workflows ask for that no group grants fails it too: its tasks would reach nobody.
        let workflows = ["FREIGABE_WORKFLOWS_DIR": TestSupport.workflowsDirectory]
        let complete = try await DirectoryTool.check(
            reader: try await DirectoryFixtures.reader(overrides: workflows), json: false)
        #expect(
            complete.standardOutput.contains { $0.hasPrefix("Workflow roles without a group") && $0.hasSuffix("none") })
        let withoutISB = try await DirectoryFixtures.reader(
            overrides: workflows.merging(["FREIGABE_LDAP_ROLES_ISB": ""]) { $1 })
        let text = try await DirectoryTool.check(reader: withoutISB, json: false)
        #expect(!text.succeeded)
        #expect(text.standardOutput.contains { $0.hasSuffix("MISSING isb") }, "\(text.standardOutput)")
        let json = try await DirectoryTool.check(reader: withoutISB, json: true)
        #expect(!json.succeeded)
        let report = try JSONSerialization.jsonObject(with: Data(json.standardOutput.joined().utf8)) as? [String: Any]
        #expect(report?["workflowRolesWithoutGroup"] as? [String] == ["isb"])
        #expect(report?["groups"] != nil, "the directory's fields as before")
    }
}
