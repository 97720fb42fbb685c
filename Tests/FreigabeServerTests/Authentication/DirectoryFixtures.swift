import Configuration
import Foundation
import Testing

@testable import FreigabeServer

/// The real slapd started by `make services`, configured the way `make run` configures it: the
/// connection from `.local/env`, the roles from `scripts/demo/freigabe.yaml`.
enum DirectoryFixtures {
    /// `.local/env` (and `FREIGABE_*` of the process); the tests fail (never skip) without it.
    static func environment() throws -> [String: String] {
        let values = TestSupport.localServicesEnvironment()
        guard values["FREIGABE_LDAP_URL"] != nil else {
            throw FixtureError("no FREIGABE_LDAP_URL in .local/env: run `make services` (make test does) first")
        }
        return values
    }

    static var demoConfigFile: String {
        TestSupport.repositoryRoot.appendingPathComponent("scripts/demo/freigabe.yaml").path
    }

    /// A reader over the demo configuration, with `overrides` (environment-style names) on top.
    static func reader(overrides: [String: String] = [:]) async throws -> ConfigReader {
        var environment = try environment()
        environment["FREIGABE_CONFIG_FILE"] = demoConfigFile
        environment.merge(overrides) { _, new in new }
        return try await ConfigurationSources.reader(environment: environment)
    }

    /// The demo configuration with the real templates and workflows.
    static func configuration(overrides: [String: String] = [:]) async throws -> AppConfiguration {
        var configuration = try AppConfiguration(reader: try await reader(overrides: overrides))
        configuration.templatesDirectory = TestSupport.templatesDirectory
        configuration.workflowsDirectory = TestSupport.workflowsDirectory
        configuration.logLevel = .warning
        // These tests are about logins; the database (and its migrations and timers) stays out of them,
        // so they never touch the shared `freigabe` database.
        configuration.database = nil
        return configuration
    }

    /// HTTP Basic credentials.
    static func basic(_ username: String, _ password: String = "demo") -> String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
