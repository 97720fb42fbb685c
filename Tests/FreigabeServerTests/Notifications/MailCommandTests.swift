import Configuration
import Foundation
import Testing

@testable import FreigabeServer

/// `freigabe mail test ADDRESS` against the SMTP sink, configured as `make run` configures it.
@Suite("freigabe mail test")
struct MailCommandTests {
    private func reader() async throws -> ConfigReader {
        let tls = try #require(TestSupport.localServicesEnvironment()["FREIGABE_TEST_TLS_DIR"])
        return try await DirectoryFixtures.reader(overrides: ["FREIGABE_SMTP_CA_FILE": tls + "/ca.pem"])
    }

    @Test("an accepted test message is reported with its Message-ID and stored by the sink")
    func accepted() async throws {
        let output = await OutboxTool.sendTest(to: "adam.arndt@stadt.example", reader: try await reader())
        #expect(output.succeeded, "\(output.standardError)")
        let line = try #require(output.standardOutput.first)
        #expect(line.hasPrefix("accepted by 127.0.0.1:"))
        let host = try #require(line.split(separator: "@").last?.dropLast())
        let mails = try await MailSink.mails(host: String(host))
        #expect(mails.contains { line.hasSuffix($0.messageID) && $0.to == ["adam.arndt@stadt.example"] })
    }

    @Test("a refused address, a malformed one and a missing configuration are errors, exit code 1")
    func refused() async throws {
        let refused = await OutboxTool.sendTest(to: "reject-test@stadt.example", reader: try await reader())
        #expect(!refused.succeeded)
        #expect(refused.standardError.first?.hasPrefix("Nicht angenommen: ") == true)
        #expect(refused.standardError.first?.contains("550") == true)
        let malformed = await OutboxTool.sendTest(to: "kein at\r\nBcc: x@y", reader: try await reader())
        #expect(!malformed.succeeded)
        let unconfigured = await OutboxTool.sendTest(
            to: "a@stadt.example", reader: try await ConfigurationSources.reader(environment: [:]))
        #expect(unconfigured.standardError == ["Kein SMTP-Server eingerichtet: setzen Sie „smtp.host“."])
    }
}
