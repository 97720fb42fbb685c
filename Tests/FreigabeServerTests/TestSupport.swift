import Foundation
import Hummingbird

@testable import FreigabeServer

/// Paths and builders shared by the tests.
enum TestSupport {
    /// The repository root, found from this file's path (`Tests/FreigabeServerTests/TestSupport.swift`).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The real `Templates/` folder, so tests see exactly what the server serves.
    static let templatesDirectory = repositoryRoot.appendingPathComponent("Templates").path

    /// The shipped `Workflows/` folder.
    static let workflowsDirectory = repositoryRoot.appendingPathComponent("Workflows").path

    static var configuration: AppConfiguration {
        AppConfiguration(
            templatesDirectory: templatesDirectory, workflowsDirectory: workflowsDirectory, logLevel: .warning)
    }

    /// The settings `make services` wrote to `.local/env`, overridden by `FREIGABE_*` variables of the
    /// test process (so CI or a developer can point the tests elsewhere).
    static func localServicesEnvironment() -> [String: String] {
        var values: [String: String] = [:]
        let file = repositoryRoot.appendingPathComponent(".local/env").path
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                var line = line.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("#") { continue }
                if line.hasPrefix("export ") { line.removeFirst("export ".count) }
                guard let equals = line.firstIndex(of: "=") else { continue }
                values[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
        }
        for (key, value) in ProcessInfo.processInfo.environment where key.hasPrefix("FREIGABE_") {
            values[key] = value
        }
        return values
    }

    static func makeApp() async throws -> some ApplicationProtocol {
        try await buildApplication(configuration: configuration)
    }

    static func makeRenderer() async throws -> PageRenderer {
        try await PageRenderer.load(templatesDirectory: templatesDirectory)
    }
}

extension HTTPFields.Element.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
}
