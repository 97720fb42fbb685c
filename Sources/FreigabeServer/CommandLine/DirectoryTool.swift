import Configuration
import Foundation
import LDAPDirectory
import Logging

/// `freigabe directory check` and `freigabe directory lookup USERNAME`.
public enum DirectoryTool {
    /// Connects with the configured settings and reports what it found; fails when a configured role
    /// group is missing, the base DN lies outside the server's naming contexts, or a role the workflows
    /// ask for has no group (its tasks would reach nobody; not checked when the workflows cannot be read).
    public static func check(reader: ConfigReader, json: Bool) async throws -> ToolOutput {
        let configuration = try AppConfiguration(reader: reader)
        let check = try await withDirectory(configuration) { try await $0.check() }
        let workflows = Result { () throws(ConfigurationError) in
            try WorkflowLoader.load(directory: configuration.workflowsDirectory)
        }
        let rolesWithoutGroups = try? workflows.get().rolesWithoutGroups(configuration.directory?.roleGroups ?? [:])
        // The exit status says the same in both forms: monitoring reads the JSON one.
        let healthy =
            check.resolvedGroupCount == check.groups.count && check.baseDNWithinNamingContexts
            && rolesWithoutGroups?.isEmpty != false
        if json {
            let report = CheckReport(check: check, workflowRolesWithoutGroup: rolesWithoutGroups?.map(\.rawValue))
            return ToolOutput(standardOutput: [try encodeJSON(report)], succeeded: healthy)
        }
        let roles: String
        switch (workflows, rolesWithoutGroups) {
        case (_, let missing?):
            roles = missing.isEmpty ? "none" : "MISSING " + missing.map(\.rawValue).joined(separator: ", ")
        case (.failure(let error), nil): roles = "not checked (\(error.description))"
        case (.success, nil): roles = "not checked"
        }
        var lines = table([
            ("Server", check.url),
            ("Transport", check.transportSecurity.rawValue),
            ("Certificate verification", check.certificateVerification ? "on" : "OFF"),
            ("Bound as", check.boundAs ?? "anonymous"),
            ("Vendor", check.vendor ?? "unknown"),
            ("Naming contexts", check.namingContexts.joined(separator: "; ")),
            ("Base DN inside a naming context", check.baseDNWithinNamingContexts ? "yes" : "NO"),
            ("Membership lookup", check.membership.rawValue),
            ("Nested groups via in-chain rule", check.nestedGroupsViaMatchingRuleInChain ? "yes" : "no"),
            ("Role groups resolved", "\(check.resolvedGroupCount) of \(check.groups.count)"),
            ("Workflow roles without a group", roles),
        ])
        for group in check.groups {
            let grants = group.roles.map(\.rawValue) + group.stewardDomains.map { "steward:\($0)" }
            let members = group.memberCount.map { "\($0) members" } ?? "-"
            lines.append(
                "  \(group.found ? "ok     " : "MISSING") \(group.dn)  [\(grants.joined(separator: ", "))] \(members)")
        }
        return ToolOutput(standardOutput: lines, succeeded: healthy)
    }

    /// Prints a person and the roles Freigabe derives from their groups.
    public static func lookup(username: String, reader: ConfigReader, json: Bool) async throws -> ToolOutput {
        let person: Person
        do {
            person = try await withDirectory(try AppConfiguration(reader: reader)) {
                try await $0.person(username: username)
            }
        } catch let error as LDAPDirectoryError {
            return ToolOutput(standardError: [error.message], succeeded: false)
        }
        if json { return ToolOutput(standardOutput: [try encodeJSON(person)]) }
        return ToolOutput(
            standardOutput: table([
                ("User name", person.uid),
                ("Name", person.displayName),
                ("Mail", person.mail ?? "-"),
                ("Unit", person.organizationalUnit ?? "-"),
                ("DN", person.dn),
                ("Roles", person.roles.map(\.rawValue).joined(separator: ", ")),
                ("Steward of", person.stewardDomains.joined(separator: ", ")),
                ("Groups", person.groups.joined(separator: "\n" + String(repeating: " ", count: 33))),
            ]))
    }

    /// Opens the configured directory for one operation and always shuts it down again.
    private static func withDirectory<Result: Sendable>(
        _ configuration: AppConfiguration, _ operation: (LDAPDirectory) async throws -> Result
    ) async throws -> Result {
        guard let settings = configuration.directory else {
            throw ConfigurationError(
                code: .invalidValue, key: DirectorySettings.Key.url,
                description: "Kein Verzeichnis eingerichtet: setzen Sie ldap.url (FREIGABE_LDAP_URL) und ldap.base_dn.")
        }
        return try await withDirectory(settings, operation)
    }

    /// Opens a directory for one operation of a command-line tool and always shuts it down again.
    static func withDirectory<Result: Sendable>(
        _ settings: LDAPConfiguration, _ operation: (LDAPDirectory) async throws -> Result
    ) async throws -> Result {
        var logger = Logger(label: "freigabe.directory")
        logger.logLevel = .warning
        let directory = try LDAPDirectory(configuration: settings, logger: logger)
        do {
            let result = try await operation(directory)
            await directory.shutdown()
            return result
        } catch {
            await directory.shutdown()
            throw error
        }
    }

    private static func table(_ rows: [(String, String)]) -> [String] {
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { label, value in
            label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + (value.isEmpty ? "-" : value)
        }
    }

    /// The JSON form of `directory check`: the directory's fields as before, and the roles the workflows
    /// ask for that no group grants (absent when the workflows could not be read).
    private struct CheckReport: Encodable {
        var check: LDAPDirectoryCheck
        var workflowRolesWithoutGroup: [String]?

        func encode(to encoder: any Encoder) throws {
            try check.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encodeIfPresent(workflowRolesWithoutGroup, forKey: .workflowRolesWithoutGroup)
        }

        enum Key: String, CodingKey { case workflowRolesWithoutGroup }
    }

    private static func encodeJSON(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
