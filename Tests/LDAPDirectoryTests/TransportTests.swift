import Foundation
import Testing

@testable import LDAPDirectory

/// TLS, unreachable directories and dropped connections. The TLS failure cases use
/// `openssl s_server` with the test certificates of `scripts/services` (FREIGABE_TEST_TLS_DIR).
@Suite("transport: TLS, timeouts, reconnects")
struct TransportTests {
    // MARK: TLS that works

    @Test("StartTLS to localhost with the test CA")
    func startTLS() async throws {
        let port = try Slapd.port(of: try Slapd.url)
        var configuration = try Slapd.configuration(url: "ldap://localhost:\(port)")
        configuration.tls = .init(startTLS: true, caFile: try Slapd.caFile)
        try await Slapd.withDirectory(configuration) { directory async throws in
            #expect(try await directory.authenticate(username: "anna", password: "demo").uid == "anna")
            let check = try await directory.check()
            #expect(check.transportSecurity == .startTLS)
            #expect(check.certificateVerification)
        }
    }

    @Test("ldaps to localhost with the test CA")
    func ldaps() async throws {
        var configuration = try Slapd.configuration(url: try Slapd.ldapsURL)
        configuration.tls.caFile = try Slapd.caFile
        try await Slapd.withDirectory(configuration) { directory async throws in
            #expect(try await directory.authenticate(username: "dora", password: "demo").roles == [.dsb])
            let check = try await directory.check()
            #expect(check.transportSecurity == .ldaps)
            #expect(check.certificateVerification)
        }
    }

    // MARK: TLS that must fail

    @Test("ldaps to 127.0.0.1 fails: the certificate names localhost only")
    func ldapsHostnameMismatch() async throws {
        let port = try Slapd.port(of: try Slapd.ldapsURL)
        var configuration = try Slapd.configuration(url: "ldaps://127.0.0.1:\(port)")
        configuration.tls.caFile = try Slapd.caFile
        try await expectTLSFailure(configuration)
    }

    @Test("StartTLS to 127.0.0.1 fails: the certificate names localhost only")
    func startTLSHostnameMismatch() async throws {
        var configuration = try Slapd.configuration()
        configuration.tls = .init(startTLS: true, caFile: try Slapd.caFile)
        try await expectTLSFailure(configuration)
    }

    @Test("ldaps without the test CA fails (the system store does not trust it)")
    func unknownCA() async throws {
        let configuration = try Slapd.configuration(url: try Slapd.ldapsURL)
        try await expectTLSFailure(configuration)
    }

    @Test(
        "servers with a self-signed, expired or wrong-host certificate never see credentials",
        arguments: ["selfsigned", "expired", "wronghost"])
    func badCertificates(name: String) async throws {
        let directory = try Slapd.tlsDirectory
        let server = try OpenSSLServer(certificate: "\(directory)/\(name).pem", key: "\(directory)/\(name).key")
        var configuration = try Slapd.configuration(url: "ldaps://localhost:\(server.port)")
        configuration.tls.caFile = try Slapd.caFile
        configuration.networkTimeout = .seconds(2)
        configuration.operationTimeout = .seconds(2)
        let started = ContinuousClock.now
        do {
            try await expectTLSFailure(configuration, password: "Geheim-\(name)")
        } catch {
            server.stop()
            throw error
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        let output = server.stop()
        // s_server prints what it receives after a handshake; nothing may have arrived.
        #expect(!output.contains("Geheim"), "\(output)")
        #expect(!output.contains("freigabe-svc"), "\(output)")
        #expect(!output.contains("uid=anna"), "\(output)")
    }

    @Test("insecure mode connects despite the host name mismatch and logs a warning")
    func insecure() async throws {
        let port = try Slapd.port(of: try Slapd.ldapsURL)
        var configuration = try Slapd.configuration(url: "ldaps://127.0.0.1:\(port)")
        configuration.tls.insecure = true
        let recorder = LogRecorder()
        try await Slapd.withDirectory(configuration, logger: recorder.logger()) { directory async throws in
            #expect(try await directory.authenticate(username: "anna", password: "demo").uid == "anna")
            #expect(try await directory.check().certificateVerification == false)
        }
        let warnings = recorder.all.filter { $0.level == .warning }
        #expect(warnings.contains { $0.message.contains("verification is DISABLED") }, "\(recorder.text)")
    }

    @Test("no warning in the default (verifying) mode")
    func noWarningByDefault() async throws {
        var configuration = try Slapd.configuration(url: try Slapd.ldapsURL)
        configuration.tls.caFile = try Slapd.caFile
        let recorder = LogRecorder()
        try await Slapd.withDirectory(configuration, logger: recorder.logger()) { directory async throws in
            _ = try await directory.person(username: "anna")
        }
        #expect(!recorder.all.contains { $0.level >= .warning }, "\(recorder.text)")
    }

    private func expectTLSFailure(
        _ configuration: LDAPConfiguration,
        password: String = "demo",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await Slapd.withDirectory(configuration) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self, sourceLocation: sourceLocation) {
                try await directory.authenticate(username: "anna", password: password)
            }
            #expect(error?.code == .tlsFailure, "\(String(reflecting: error))", sourceLocation: sourceLocation)
            let check = await #expect(throws: LDAPDirectoryError.self, sourceLocation: sourceLocation) {
                try await directory.check()
            }
            #expect(check?.code == .tlsFailure, sourceLocation: sourceLocation)
        }
    }

    // MARK: Unreachable directories fail closed, in time

    @Test("a closed port is directoryUnavailable, at once", arguments: ["ldap", "ldaps"])
    func closedPort(scheme: String) async throws {
        var configuration = try Slapd.configuration(url: "\(scheme)://localhost:\(try freePort())")
        configuration.tls.caFile = try Slapd.caFile
        let started = ContinuousClock.now
        try await Slapd.withDirectory(configuration) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: "demo")
            }
            #expect(error?.code == .directoryUnavailable, "\(String(reflecting: error))")
            let lookup = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.person(username: "anna")
            }
            #expect(lookup?.code == .directoryUnavailable)
        }
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test(
        "a server that accepts TCP but never answers times out within the configured limit",
        arguments: ["ldap", "ldaps", "starttls"])
    func silentServer(mode: String) async throws {
        let listener = try TCPListener()
        defer { listener.close() }
        var configuration = try Slapd.configuration(
            url: "\(mode == "ldaps" ? "ldaps" : "ldap")://127.0.0.1:\(listener.port)")
        configuration.tls = .init(startTLS: mode == "starttls", caFile: try Slapd.caFile)
        configuration.networkTimeout = .seconds(1)
        configuration.operationTimeout = .seconds(1)
        try await Slapd.withDirectory(configuration) { directory async throws in
            for _ in 0..<2 {
                let started = ContinuousClock.now
                let error = await #expect(throws: LDAPDirectoryError.self) {
                    try await directory.authenticate(username: "anna", password: "demo")
                }
                let elapsed = ContinuousClock.now - started
                #expect(
                    error?.code == .timeout || error?.code == .directoryUnavailable, "\(String(reflecting: error))")
                // Network or operation timeout (1 s each) plus scheduling on a busy machine; below the
                // hard deadline (5 s), so libldap's own timeouts (and shim.h's handshake bound) ended it.
                #expect(elapsed < .milliseconds(3500), "took \(elapsed)")
                #expect(elapsed >= .milliseconds(900), "gave up before the timeout: \(elapsed)")
            }
        }
    }

    @Test("the hard deadline bounds a call even if libldap's timeouts did not")
    func hardDeadline() async throws {
        let started = ContinuousClock.now
        let error = await #expect(throws: LDAPDirectoryError.self) {
            try await withDeadline(.milliseconds(200), operation: "test") {
                try await Task.sleep(for: .seconds(30))
                return 1
            }
        }
        #expect(error?.code == .timeout)
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(try await withDeadline(.seconds(5), operation: "test") { 42 } == 42)
    }

    // MARK: Dropped connections

    @Test("the pool survives slapd dropping its connections")
    func droppedConnections() async throws {
        let proxy = try TCPProxy(targetPort: try Slapd.port(of: try Slapd.url))
        defer { proxy.stop() }
        var configuration = try Slapd.configuration(url: "ldap://127.0.0.1:\(proxy.port)", cacheTTL: .zero)
        configuration.poolSize = 2
        try await Slapd.withDirectory(configuration) { directory async throws in
            for round in 0..<3 {
                #expect(try await directory.authenticate(username: "anna", password: "demo").uid == "anna")
                #expect(try await directory.person(username: "sina").stewardDomains == ["mobilitaet"])
                #expect(proxy.openConnections > 0)
                proxy.dropAllConnections()
                let deadline = ContinuousClock.now + .seconds(5)
                while proxy.openConnections > 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(proxy.openConnections == 0, "round \(round)")
            }
            // After the drops: pooled connections are dead, the next calls reconnect transparently.
            #expect(try await directory.authenticate(username: "dora", password: "demo").roles == [.dsb])
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "dora", password: "wrong")
            }
            #expect(error?.code == .invalidCredentials)
        }
    }

    @Test("while the directory is down calls fail closed, and recover when it is back")
    func outageAndRecovery() async throws {
        let port = try freePort()
        var configuration = try Slapd.configuration(url: "ldap://127.0.0.1:\(port)", cacheTTL: .zero)
        configuration.networkTimeout = .seconds(1)
        configuration.operationTimeout = .seconds(1)
        try await Slapd.withDirectory(configuration) { directory async throws in
            let error = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: "demo")
            }
            #expect(error?.code == .directoryUnavailable)
            // The "directory" comes up on that port (a proxy to slapd).
            let proxy = try TCPProxy(targetPort: try Slapd.port(of: try Slapd.url), port: port)
            defer { proxy.stop() }
            #expect(try await directory.authenticate(username: "anna", password: "demo").uid == "anna")
        }
    }
}
