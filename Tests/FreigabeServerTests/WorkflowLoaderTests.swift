import Foundation
import Testing

@testable import FreigabeServer

@Suite("Workflow definitions at start")
struct WorkflowLoaderTests {
    @Test("the shipped definitions load")
    func shippedDefinitionsLoad() throws {
        let library = try WorkflowLoader.load(directory: TestSupport.workflowsDirectory)
        #expect(Set(library.entries.map(\.definition.id)) == ["shared-data", "open-data"])
        #expect(library.current(for: .sharedData)?.definition.id == "shared-data")
    }

    @Test("a broken definition stops the start with file and line")
    func brokenDefinitionStopsStart() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broken = "id: broken\nversion: 1\ntitle: Kaputt\nkinds: [shared_data]\nstart: nowhere\n"
        try broken.write(toFile: directory + "/broken.yaml", atomically: true, encoding: .utf8)

        let error = #expect(throws: ConfigurationError.self) { try WorkflowLoader.load(directory: directory) }
        #expect(error?.code == .invalidWorkflows)
        #expect(
            error?.description.contains("\(directory)/broken.yaml:1: definition: missing required key 'withdraw'")
                == true)
    }

    @Test("an empty or missing directory is refused")
    func emptyDirectoryIsRefused() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: ConfigurationError.self) { try WorkflowLoader.load(directory: directory) }
        #expect(throws: ConfigurationError.self) { try WorkflowLoader.load(directory: directory + "/missing") }
    }

    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "freigabe-workflows-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
