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
