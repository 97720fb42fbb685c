import Configuration
import Foundation
import LDAPDirectory
import Testing

@testable import FreigabeServer

@Suite("LDAP settings")
struct DirectorySettingsTests {
    private func configuration(_ environment: [String: String]) async throws -> AppConfiguration {
        try AppConfiguration(reader: try await ConfigurationSources.reader(environment: environment))
    }

    @Test("no ldap.url: no directory")
    func absent() async throws {
        #expect(try await configuration([:]).directory == nil)
    }

    @Test("the demo file and .local/env give the demo directory with every role group")
    func demo() async throws {
        let directory = try #require(try await DirectoryFixtures.configuration().directory)
        let environment = try DirectoryFixtures.environment()
        #expect(directory.url == environment["FREIGABE_LDAP_URL"])
        #expect(directory.baseDN == "dc=stadt,dc=example")
        #expect(directory.membership == .groupSearch)
        #expect(directory.userFilter == LDAPConfiguration.openLDAPUserFilter)
        #expect(Set(directory.roleGroups.keys) == Set(DirectoryRole.allCases))
        #expect(directory.roleGroups[.dsb] == ["cn=freigabe-dsb,ou=groups,dc=stadt,dc=example"])
        #expect(directory.stewardGroups["mobilitaet"] == ["cn=stewards-mobilitaet,ou=groups,dc=stadt,dc=example"])
        #expect(directory.stewardGroups.count == 3)
        #expect(directory.serviceAccount?.bindDN == environment["FREIGABE_LDAP_BIND_DN"])
        #expect(!String(describing: directory).contains(environment["FREIGABE_LDAP_BIND_PASSWORD"] ?? "§"))
    }

    @Test("Active Directory flavour: its filter, attributes and memberOf, each still overridable")
    func activeDirectory() async throws {
        let base: [String: String] = [
            "FREIGABE_LDAP_URL": "ldaps://dc1.stadt.example", "FREIGABE_LDAP_BASE_DN": "DC=stadt,DC=example",
            "FREIGABE_LDAP_FLAVOUR": "active_directory",
            "FREIGABE_LDAP_ROLES_DSB":
                "CN=DSB,OU=Gruppen,DC=stadt,DC=example; CN=DSB-Vertretung,OU=Gruppen,DC=stadt,DC=example",
        ]
        let directory = try #require(try await configuration(base).directory)
        #expect(directory.userFilter == LDAPConfiguration.activeDirectoryUserFilter)
        #expect(directory.attributes == .activeDirectory)
        #expect(directory.membership == .memberOf)
        #expect(directory.transportSecurity == .ldaps)
        #expect(directory.roleGroups[.dsb]?.count == 2)
        var overridden = base
        overridden["FREIGABE_LDAP_MEMBERSHIP"] = "group_search"
        #expect(try await configuration(overridden).directory?.membership == .groupSearch)
    }

    @Test("the service password comes from a file, without its trailing newline")
    func passwordFile() async throws {
        let path = NSTemporaryDirectory() + "freigabe-ldap-\(UUID().uuidString)"
        try "geheim\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = try await configuration([
            "FREIGABE_LDAP_URL": "ldap://127.0.0.1:389", "FREIGABE_LDAP_BASE_DN": "dc=stadt,dc=example",
            "FREIGABE_LDAP_BIND_DN": "cn=svc,dc=stadt,dc=example", "FREIGABE_LDAP_BIND_PASSWORD_FILE": path,
        ]).directory
        #expect(directory?.serviceAccount?.password == "geheim")
    }

    @Test(
        "bad settings stop the start with a message naming the key",
        arguments: [
            (["FREIGABE_LDAP_URL": "ldap://127.0.0.1"], "ldap.base_dn"),
            (["FREIGABE_LDAP_FLAVOUR": "novell"], "ldap.flavour"),
            (["FREIGABE_LDAP_MEMBERSHIP": "magic"], "ldap.membership"),
            (["FREIGABE_LDAP_START_TLS": "vielleicht"], "ldap.start_tls"),
            (["FREIGABE_LDAP_NETWORK_TIMEOUT_SECONDS": "0"], "ldap.network_timeout_seconds"),
            (["FREIGABE_LDAP_POOL_SIZE": "1000"], "ldap.pool_size"),
            (["FREIGABE_LDAP_STEWARDS": "ohne-gleichheitszeichen"], "ldap.stewards"),
            (["FREIGABE_LDAP_BIND_DN": "cn=svc,dc=stadt,dc=example"], "ldap.bind_password"),
            (
                ["FREIGABE_LDAP_BIND_DN": "cn=svc", "FREIGABE_LDAP_BIND_PASSWORD_FILE": "/nonexistent"],
                "ldap.bind_password_file"
            ),
            // Plain LDAP to another host would send passwords in clear.
            (["FREIGABE_LDAP_URL": "ldap://ldap.stadt.example"], "ldap.url"),
        ])
    func invalid(settings: [String: String], key: String) async throws {
        var environment = ["FREIGABE_LDAP_URL": "ldap://127.0.0.1:389", "FREIGABE_LDAP_BASE_DN": "dc=stadt,dc=example"]
        environment.merge(settings) { _, new in new }
        if settings["FREIGABE_LDAP_URL"] == "ldap://127.0.0.1" { environment["FREIGABE_LDAP_BASE_DN"] = nil }
        let error = await #expect(throws: ConfigurationError.self) { try await configuration(environment) }
        #expect(error?.key == key)
        #expect(error?.description.isEmpty == false)
    }
}
