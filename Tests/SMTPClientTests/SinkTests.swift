import Foundation
import Logging
import Synchronization
import Testing

@testable import SMTPClient

/// The test SMTP server that `scripts/services up` runs (`scripts/smtp-sink.py`: STARTTLS with the
/// test CA's certificate for "localhost", AUTH PLAIN/LOGIN, every message stored as a file,
/// `reject…@` → 550 and `tempfail…@` → 451). Fails, never skips, when it is not configured.
enum SMTPSink {
    static func configuration(
        password: String? = nil, serverName: String? = "localhost", caFile: String? = nil
    ) throws -> SMTPConfiguration {
        let tlsDirectory = try TestEnvironment.value("FREIGABE_TEST_TLS_DIR")
        let portText = try TestEnvironment.value("FREIGABE_SMTP_PORT")
        let port: Int? = Int(portText)
        return SMTPConfiguration(
            host: try TestEnvironment.value("FREIGABE_SMTP_HOST"),
            port: try #require(port, "FREIGABE_SMTP_PORT is not a number"),
            security: .startTLS,
            tls: .init(caFile: caFile ?? tlsDirectory + "/ca.pem", serverName: serverName),
            credentials: SMTPCredentials(
                username: try TestEnvironment.value("FREIGABE_SMTP_USER"),
                password: try password ?? TestEnvironment.value("FREIGABE_SMTP_PASSWORD")),
            clientHostname: "freigabe.test",
            connectTimeout: .seconds(5), commandTimeout: .seconds(10), dataTimeout: .seconds(10))
    }

    /// The stored file of the message with `id`: the sink's `X-Freigabe-*` lines, then the message.
    static func storedMessage(_ id: MessageID) throws -> [UInt8] {
        let directory = URL(fileURLWithPath: try TestEnvironment.value("FREIGABE_MAIL_DIR"))
        let needle = Array("Message-ID: \(id.bracketed)\r\n".utf8)
        // The sink writes the file (atomically) before it answers 250, so it is there already.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".eml") }.sorted(by: >)
        for name in names {
            let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
            if bytes.firstRange(of: needle) != nil {
                return bytes
            }
        }
        Issue.record("no stored message with \(id) in \(directory.path)")
        throw CancellationError()
    }

    /// What Python's standard `email` package (an independent MIME implementation) reads from the
    /// stored file: decoded headers, addresses and both bodies.
    struct PythonView: Decodable {
        var subject: String
        var fromName: String
        var fromAddress: String
        var to: [[String]]
        var headerNames: [String]
        var text: String
        var html: String?
        var defects: [String]
    }

    static func readWithPython(_ bytes: [UInt8]) throws -> PythonView {
        let script = """
            import email, email.policy, json, sys
            raw = sys.stdin.buffer.read()
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            html = msg.get_body(('html',))
            defects = [str(d) for part in msg.walk() for d in part.defects]
            print(json.dumps({
                'subject': str(msg['subject']),
                'fromName': msg['from'].addresses[0].display_name,
                'fromAddress': msg['from'].addresses[0].addr_spec,
                'to': [[a.display_name, a.addr_spec] for a in msg['to'].addresses],
                'headerNames': list(msg.keys()),
                'text': msg.get_body(('plain',)).get_content().replace('\\r\\n', '\\n'),
                'html': html.get_content().replace('\\r\\n', '\\n') if html is not None else None,
                'defects': defects,
            }))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(bytes))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 could not read the message")
        return try JSONDecoder().decode(PythonView.self, from: data)
    }
}

@Suite(.serialized) struct SinkTests {
    static func message(
        to recipients: [Mailbox], subject: String = "Test", text: String = "Hallo", html: String? = nil
    ) throws -> MailMessage {
        try MailMessage(
            messageID: MessageID.random(domain: "sink-test.freigabe.example"),
            date: Date(),
            from: Mailbox(try EmailAddress("freigabe@stadt.example"), displayName: "Freigabe – Amt für Geoinformation"),
            to: recipients, subject: subject, textBody: text, htmlBody: html,
            inReplyTo: try MessageID("req-1@freigabe.stadt.example"),
            references: [try MessageID("req-1@freigabe.stadt.example")])
    }

    static func mailbox(_ address: String, _ name: String? = nil) throws -> Mailbox {
        Mailbox(try EmailAddress(address), displayName: name)
    }

    @Test func germanMailOverSTARTTLSAndAuthReadsBackEqual() async throws {
        let text = """
            Guten Tag Frau Ölmann,

            der Datensatz „Bäume und Sträucher im Straßenraum“ wartet auf Ihre Entscheidung als Data Owner. Die Frist endet in 5 Arbeitstagen.
            .
            Mit freundlichen Grüßen – Ihr Freigabe-System
            """
        let html = "<p>Guten Tag Frau Ölmann,</p>\n<p>der Datensatz „Bäume“ wartet auf Ihre Entscheidung.</p>"
        let subject = "Freigabe erbeten: „Bäume & Sträucher im Straßenraum“ – Prüfung durch Jürgen Weiß (Größe 3 MB) ✓"
        let message = try Self.message(
            to: [try Self.mailbox("dana.oelmann@stadt.example", "Dana Ölmann")], subject: subject, text: text,
            html: html)
        let configuration = try SMTPSink.configuration()
        let results = try await SMTPClient(configuration: configuration).send([message])
        #expect(results.count == 1)
        #expect(results.first?.isDelivered == true, "\(results)")

        let stored = try SMTPSink.storedMessage(message.messageID)
        let reader = try MIMEReader(stored)
        #expect(reader.message.header("X-Freigabe-TLS") == "yes")
        #expect(reader.message.header("X-Freigabe-Auth") == configuration.credentials?.username)
        #expect(reader.message.header("X-Freigabe-Envelope-From") == "freigabe@stadt.example")
        #expect(reader.message.header("X-Freigabe-Envelope-To") == "dana.oelmann@stadt.example")
        #expect(try MIMEReader.decodeEncodedWords(reader.message.header("Subject") ?? "") == subject)
        #expect(reader.message.header("Message-ID") == message.messageID.bracketed)
        #expect(reader.message.header("Auto-Submitted") == "auto-generated")
        let parts = try reader.parts()
        #expect(parts.count == 2)
        #expect(
            MIMEReader.decodeQuotedPrintable(parts.first?.rawBody ?? "")
                == text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(
            MIMEReader.decodeQuotedPrintable(parts.last?.rawBody ?? "")
                == html.replacingOccurrences(of: "\n", with: "\r\n"))

        // And as an independent MIME implementation reads it.
        let python = try SMTPSink.readWithPython(stored)
        #expect(python.subject == subject)
        #expect(python.fromName == "Freigabe – Amt für Geoinformation")
        #expect(python.fromAddress == "freigabe@stadt.example")
        #expect(python.to == [["Dana Ölmann", "dana.oelmann@stadt.example"]])
        #expect(python.text == text)
        #expect(python.html == html)
        #expect(python.defects == [])
    }

    @Test func hostileSubjectAndNameCannotAddHeadersOverTheWire() async throws {
        let hostile = "Antrag\r\nBcc: opfer@evil.example\r\nX-Injected: ja\r\n\r\nfremder Text"
        let message = try Self.message(
            to: [try Self.mailbox("empfaenger@stadt.example", "Mallory\r\nBcc: opfer2@evil.example")], subject: hostile)
        let results = try await SMTPClient(configuration: try SMTPSink.configuration()).send([message])
        #expect(results.first?.isDelivered == true)
        let python = try SMTPSink.readWithPython(try SMTPSink.storedMessage(message.messageID))
        #expect(
            !python.headerNames.contains { ["bcc", "x-injected"].contains($0.lowercased()) }, "\(python.headerNames)")
        #expect(python.subject == "Antrag Bcc: opfer@evil.example X-Injected: ja fremder Text")
        #expect(python.to == [["Mallory Bcc: opfer2@evil.example", "empfaenger@stadt.example"]])
        // A single part's body ends with the message's final line break.
        #expect(python.text == "Hallo\n")
    }

    @Test func twoMessagesInOneSend() async throws {
        let first = try Self.message(to: [try Self.mailbox("eins@stadt.example")], subject: "Erste")
        let second = try Self.message(to: [try Self.mailbox("zwei@stadt.example")], subject: "Zweite")
        let results = try await SMTPClient(configuration: try SMTPSink.configuration()).send([first, second])
        #expect(results.map(\.messageID) == [first.messageID, second.messageID])
        #expect(results.allSatisfy { $0.isDelivered }, "\(results)")
        #expect(try MIMEReader(try SMTPSink.storedMessage(first.messageID)).message.header("Subject") == "Erste")
        #expect(try MIMEReader(try SMTPSink.storedMessage(second.messageID)).message.header("Subject") == "Zweite")
    }

    @Test func rejectedRecipientFailsAloneTheOtherIsDelivered() async throws {
        let message = try Self.message(to: [
            try Self.mailbox("gut@stadt.example"), try Self.mailbox("reject-me@stadt.example"),
        ])
        let results = try await SMTPClient(configuration: try SMTPSink.configuration()).send([message])
        let result = try #require(results.first)
        #expect(result.recipients.first?.outcome == .delivered)
        guard case .failed(let error) = result.recipients.last?.outcome else {
            Issue.record("rejected recipient was delivered")
            return
        }
        #expect(error.reply?.code == 550)
        #expect(error.isPermanent)
        #expect(error.stage == .rcptTo)
        #expect(result.permanentlyFailed == [try EmailAddress("reject-me@stadt.example")])
        let stored = try MIMEReader(try SMTPSink.storedMessage(message.messageID))
        #expect(stored.message.header("X-Freigabe-Envelope-To") == "gut@stadt.example")
    }

    @Test func tempfailRecipientIsTemporary() async throws {
        let message = try Self.message(to: [
            try Self.mailbox("tempfail-1@stadt.example"), try Self.mailbox("gut@stadt.example"),
        ])
        let results = try await SMTPClient(configuration: try SMTPSink.configuration()).send([message])
        let result = try #require(results.first)
        #expect(result.temporarilyFailed == [try EmailAddress("tempfail-1@stadt.example")])
        #expect(result.recipients.last?.outcome == .delivered)
        guard case .failed(let error) = result.recipients.first?.outcome else {
            Issue.record("tempfail recipient was delivered")
            return
        }
        #expect(error.reply?.code == 451)
        #expect(error.reply?.enhancedStatus?.description == "4.3.0")
    }

    @Test func onlyRejectedRecipientsMeansNoMessageAndTheNextStillGoes() async throws {
        let refused = try Self.message(to: [try Self.mailbox("reject-a@stadt.example")])
        let good = try Self.message(to: [try Self.mailbox("gut@stadt.example")])
        let results = try await SMTPClient(configuration: try SMTPSink.configuration()).send([refused, good])
        #expect(results.map(\.isDelivered) == [false, true])
        #expect(results.first?.permanentlyFailed.count == 1)
    }

    @Test func thePasswordAppearsInNoLogLine() async throws {
        // Logged at trace level, everything the client says about a whole session with AUTH.
        let lines = CapturedLog()
        var logger = Logger(label: "smtp-test") { _ in CapturingLogHandler(lines: lines) }
        logger.logLevel = .trace
        let configuration = try SMTPSink.configuration()
        let credentials = try #require(configuration.credentials)
        let results = try await SMTPClient(configuration: configuration, logger: logger)
            .send([try Self.message(to: [try Self.mailbox("gut@stadt.example")])])
        #expect(results.first?.isDelivered == true)
        let log = lines.all.joined(separator: "\n")
        #expect(log.contains("AUTH PLAIN <redacted>"), "the AUTH step is logged, redacted")
        let secrets = [
            credentials.password,
            Data(credentials.password.utf8).base64EncodedString(),
            Data("\u{0}\(credentials.username)\u{0}\(credentials.password)".utf8).base64EncodedString(),
        ]
        for secret in secrets {
            #expect(!log.contains(secret))
        }
    }

    @Test func wrongPasswordIsPermanent() async throws {
        let client = try SMTPClient(configuration: try SMTPSink.configuration(password: "falsch"))
        let error = await #expect(throws: SMTPError.self) {
            try await client.send([try Self.message(to: [try Self.mailbox("gut@stadt.example")])])
        }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.isPermanent == true)
        #expect(error?.reply?.code == 535)
        #expect(!(error.map { String(reflecting: $0) } ?? "").contains("falsch"))
    }

    @Test func certificateMustNameTheHost() async throws {
        // The sink's certificate names "localhost" only: connecting by IP without a server name fails.
        let client = try SMTPClient(configuration: try SMTPSink.configuration(serverName: nil))
        let error = await #expect(throws: SMTPError.self) {
            try await client.send([try Self.message(to: [try Self.mailbox("gut@stadt.example")])])
        }
        #expect(error?.code == .tlsFailure)
        #expect(error?.isTemporary == true)
    }

    @Test func certificateMustChainToATrustedCA() async throws {
        // The self-signed certificate is not the CA that signed the sink's certificate.
        let tlsDirectory = try TestEnvironment.value("FREIGABE_TEST_TLS_DIR")
        let client = try SMTPClient(configuration: try SMTPSink.configuration(caFile: tlsDirectory + "/selfsigned.pem"))
        let error = await #expect(throws: SMTPError.self) {
            try await client.send([try Self.message(to: [try Self.mailbox("gut@stadt.example")])])
        }
        #expect(error?.code == .tlsFailure)
    }
}

/// Log lines (message and metadata) collected by ``CapturingLogHandler``.
final class CapturedLog: Sendable {
    private let storage = Mutex<[String]>([])

    func append(_ line: String) {
        self.storage.withLock { $0.append(line) }
    }

    var all: [String] { self.storage.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let lines: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        self.lines.append("\(event.level) \(event.message) \(merged.sorted { $0.key < $1.key })")
    }
}
