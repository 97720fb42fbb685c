import Foundation
import Glibc
import NIOCore
import NIOSSL
import Synchronization
import Testing

@testable import SMTPClient

/// The NIO client against scripted servers on 127.0.0.1: faults the real test server cannot make.
@Suite struct ScriptedServerTests {
    static func configuration(
        port: Int, security: SMTPConfiguration.Security = .plaintext, credentials: SMTPCredentials? = nil,
        commandTimeout: Duration = .seconds(5), dataTimeout: Duration = .seconds(5)
    ) -> SMTPConfiguration {
        SMTPConfiguration(
            host: "127.0.0.1", port: port, security: security,
            tls: SMTPConfiguration.TLS(
                caFile: try? TestEnvironment.value("FREIGABE_TEST_TLS_DIR") + "/ca.pem", serverName: "localhost"),
            credentials: credentials, clientHostname: "client.test", connectTimeout: .seconds(5),
            commandTimeout: commandTimeout, dataTimeout: dataTimeout)
    }

    static func message(_ id: String, to recipients: [String] = ["a@stadt.example"]) throws -> MailMessage {
        try MailMessage(
            messageID: MessageID(id), date: Date(timeIntervalSince1970: 1_796_116_200),
            from: Mailbox(EmailAddress("freigabe@stadt.example"), displayName: "Freigabe"),
            to: try recipients.map { Mailbox(try EmailAddress($0)) }, subject: "Test", textBody: "Hallo\n.\nEnde")
    }

    /// Expects `send` to throw and returns the error.
    static func sendFailure(_ client: SMTPClient, _ messages: [MailMessage]) async -> SMTPError? {
        do {
            let results = try await client.send(messages)
            Issue.record("expected an error, got \(results)")
            return nil
        } catch {
            return error
        }
    }

    @Test func startTLSRequiredButNotOffered() async throws {
        let sawAfterEHLO = ReceivedLines()
        let error = try await ScriptedServer.run(
            script: { connection in
                try await connection.handshake(extensions: ["AUTH PLAIN LOGIN", "SIZE 1000000"])
                // The next command must be QUIT: no AUTH, no MAIL over the plain connection.
                if let line = try await connection.readLine() {
                    sawAfterEHLO.append(line)
                }
                try await connection.reply("221 bye")
            },
            body: { port in
                let client = try SMTPClient(
                    configuration: Self.configuration(
                        port: port, security: .startTLS, credentials: SMTPCredentials(username: "u", password: "p")))
                let error = await Self.sendFailure(client, [try Self.message("s1@test.example")])
                // send returns when the outcome is known; the QUIT may still be on its way.
                _ = await sawAfterEHLO.waitForLines(1)
                return error
            })
        #expect(error?.code == .startTLSUnavailable)
        #expect(sawAfterEHLO.lines == ["QUIT"])
    }

    @Test func dataBeforeTheTLSHandshakeIsRefused() async throws {
        // CVE-2011-0411: a reply smuggled in with the 220 to STARTTLS must not be read as if it came over TLS.
        let error = try await ScriptedServer.run(
            script: { connection in
                try await connection.handshake(extensions: ["STARTTLS"])
                try await connection.expect("STARTTLS")
                try await connection.write("220 go ahead\r\n250-smuggled\r\n250 AUTH PLAIN\r\n")
                _ = try await connection.readLine()
            },
            body: { port in
                let client = try SMTPClient(configuration: Self.configuration(port: port, security: .startTLS))
                return await Self.sendFailure(client, [try Self.message("s2@test.example")])
            })
        #expect(error?.code == .protocolViolation)
        #expect(error?.stage == .startTLS)
    }

    @Test func greeting421() async throws {
        let error = try await ScriptedServer.run(
            script: { connection in
                try await connection.reply("421 4.3.2 scripted.test too busy, try later")
            },
            body: { port in
                let client = try SMTPClient(configuration: Self.configuration(port: port))
                return await Self.sendFailure(client, [try Self.message("g1@test.example")])
            })
        #expect(error?.code == .serviceUnavailable)
        #expect(error?.isTemporary == true)
        #expect(error?.reply?.enhancedStatus?.description == "4.3.2")
    }

    @Test func connectionDroppedMidDATAAfterAMessageWentThroughOnTheSameConnection() async throws {
        let connections = ReceivedLines()
        let results = try await ScriptedServer.run(
            script: { connection in
                connections.append("connection")
                try await connection.handshake()
                let first = try await connection.acceptMessage()
                #expect(first.contains("Message-ID: <d1@test.example>"))
                try await connection.expect("RSET")
                try await connection.reply("250 2.0.0 reset")
                try await connection.expect("MAIL FROM:")
                try await connection.reply("250 ok")
                try await connection.expect("RCPT TO:")
                try await connection.reply("250 ok")
                try await connection.expect("DATA")
                try await connection.reply("354 go")
                // Read a few lines of the message, then drop the connection without a reply.
                for _ in 0..<3 {
                    _ = try await connection.readLine()
                }
            },
            body: { port in
                let client = try SMTPClient(configuration: Self.configuration(port: port))
                return try await client.send([try Self.message("d1@test.example"), try Self.message("d2@test.example")])
            })
        #expect(connections.lines == ["connection"])
        #expect(results.count == 2)
        #expect(results[0].isDelivered)
        guard case .failed(let error) = results[1].recipients[0].outcome else {
            Issue.record("second message reported delivered")
            return
        }
        #expect(error.code == .connectionClosed)
        #expect(error.isTemporary)
        #expect(error.stage == .messageContent)
    }

    @Test func serverThatNeverAnswersTimesOut() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let error = try await ScriptedServer.run(
            script: { _ in try await Task.sleep(for: .seconds(30)) },
            body: { port in
                let client = try SMTPClient(
                    configuration: Self.configuration(port: port, commandTimeout: .milliseconds(500)))
                return await Self.sendFailure(client, [try Self.message("t1@test.example")])
            })
        let elapsed = clock.now - start
        #expect(error?.code == .timeout)
        #expect(error?.stage == .greeting)
        #expect(error?.isTemporary == true)
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(3), "took \(elapsed)")
    }

    @Test func noReplyAfterTheMessageTimesOutWithTheDataTimeout() async throws {
        let results = try await ScriptedServer.run(
            script: { connection in
                try await connection.handshake()
                try await connection.expect("MAIL FROM:")
                try await connection.reply("250 ok")
                try await connection.expect("RCPT TO:")
                try await connection.reply("250 ok")
                try await connection.expect("DATA")
                try await connection.reply("354 go")
                _ = try await connection.readContent()
                try await Task.sleep(for: .seconds(30))
            },
            body: { port in
                let client = try SMTPClient(
                    configuration: Self.configuration(
                        port: port, commandTimeout: .seconds(5), dataTimeout: .milliseconds(500)))
                return try await client.send([try Self.message("t2@test.example")])
            })
        guard case .failed(let error) = results.first?.recipients.first?.outcome else {
            Issue.record("expected a failure, got \(results)")
            return
        }
        #expect(error.code == .timeout)
        #expect(error.stage == .messageContent)
    }

    @Test func overLongReplyIsAProtocolError() async throws {
        let error = try await ScriptedServer.run(
            script: { connection in
                try await connection.reply("220 ready")
                try await connection.expect("EHLO")
                try await connection.reply("250 " + String(repeating: "x", count: 10_000))
                _ = try await connection.readLine()
            },
            body: { port in
                let client = try SMTPClient(configuration: Self.configuration(port: port))
                return await Self.sendFailure(client, [try Self.message("l1@test.example")])
            })
        #expect(error?.code == .protocolViolation)
        #expect(error?.stage == .ehlo)
    }

    @Test func dotStuffedContentArrivesIntact() async throws {
        let content = ReceivedLines()
        let results = try await ScriptedServer.run(
            script: { connection in
                try await connection.handshake()
                for line in try await connection.acceptMessage() {
                    content.append(line)
                }
                try await connection.expect("QUIT")
                try await connection.reply("221 bye")
            },
            body: { port in
                let client = try SMTPClient(configuration: Self.configuration(port: port))
                return try await client.send([try Self.message("dot@test.example")])
            })
        #expect(results.first?.isDelivered == true)
        // The body line "." is encoded by quoted-printable ("=2E"); the MIME structure has no
        // leading dots either. What arrives is the composed message exactly, CRLF-free lines.
        let expected = String(decoding: MIMEComposer.compose(try Self.message("dot@test.example")), as: UTF8.self)
            .components(separatedBy: "\r\n").dropLast()
        #expect(content.lines == Array(expected))
    }

    @Test func implicitTLSWithAuthAgainstATLSServer() async throws {
        let auth = ReceivedLines()
        let results = try await ScriptedServer.run(
            tls: try Self.serverTLS(),
            script: { connection in
                try await connection.handshake(extensions: ["AUTH LOGIN PLAIN", "SIZE 100000"])
                auth.append(try await connection.expect("AUTH PLAIN "))
                try await connection.reply("235 2.7.0 ok")
                _ = try await connection.acceptMessage()
                try await connection.expect("QUIT")
                try await connection.reply("221 bye")
            },
            body: { port in
                let client = try SMTPClient(
                    configuration: Self.configuration(
                        port: port, security: .implicitTLS,
                        credentials: SMTPCredentials(username: "user", password: "pässwort")))
                return try await client.send([try Self.message("tls@test.example")])
            })
        #expect(results.first?.isDelivered == true)
        let response = try #require(auth.lines.first.map { String($0.dropFirst("AUTH PLAIN ".count)) })
        #expect(Data(base64Encoded: response) == Data("\u{0}user\u{0}pässwort".utf8))
    }

    /// A relay that completes the TLS handshake of implicit TLS and then sends no greeting.
    @Test func silentGreetingAfterImplicitTLSTimesOut() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let error = try await ScriptedServer.run(
            tls: try Self.serverTLS(),
            script: { _ in try await Task.sleep(for: .seconds(30)) },
            body: { port in
                let client = try SMTPClient(
                    configuration: Self.configuration(
                        port: port, security: .implicitTLS, commandTimeout: .milliseconds(500)))
                return await Self.sendFailure(client, [try Self.message("quiet@test.example")])
            })
        let elapsed = clock.now - start
        #expect(error?.code == .timeout)
        #expect(error?.stage == .greeting)
        #expect(elapsed < .seconds(5), "took \(elapsed)")
    }

    @Test func implicitTLSVerifiesTheServerName() async throws {
        // The certificate names "localhost"; without a server name the client checks 127.0.0.1. The
        // client gives up in the TLS handshake, before any SMTP line: the script only waits for the close
        // (expecting a greeting exchange here raced with the client's refusal).
        let error = try await ScriptedServer.run(
            tls: try Self.serverTLS(),
            script: { connection in _ = try? await connection.readLine() },
            body: { port in
                var configuration = Self.configuration(port: port, security: .implicitTLS)
                configuration.tls.serverName = nil
                return await Self.sendFailure(
                    try SMTPClient(configuration: configuration), [try Self.message("v@test.example")])
            })
        #expect(error?.code == .tlsFailure)
        #expect(error?.stage == .tlsHandshake)
    }

    @Test func silentTLSHandshakeAfterSTARTTLSTimesOut() async throws {
        let error = try await ScriptedServer.run(
            script: { connection in
                try await connection.handshake(extensions: ["STARTTLS"])
                try await connection.expect("STARTTLS")
                try await connection.reply("220 go ahead")
                // Never answers the ClientHello.
                try await Task.sleep(for: .seconds(30))
            },
            body: { port in
                let client = try SMTPClient(
                    configuration: Self.configuration(
                        port: port, security: .startTLS, commandTimeout: .milliseconds(500)))
                return await Self.sendFailure(client, [try Self.message("h@test.example")])
            })
        #expect(error?.code == .timeout)
        #expect(error?.stage == .tlsHandshake)
    }

    static func serverTLS() throws -> NIOSSLContext {
        let tlsDirectory = try TestEnvironment.value("FREIGABE_TEST_TLS_DIR")
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(tlsDirectory + "/server.pem").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsDirectory + "/server.key", format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }

    @Test func connectionRefused() async throws {
        // A port that was just free: bind, note it, close.
        let port = try await ScriptedServer.run(script: { _ in }, body: { $0 })
        let client = try SMTPClient(configuration: Self.configuration(port: port))
        let error = await Self.sendFailure(client, [try Self.message("r@test.example")])
        #expect(error?.code == .connectionFailed)
        #expect(error?.isTemporary == true)
    }

    @Test func connectTimeout() async throws {
        // A listener that never accepts, its queue full: the kernel drops further SYNs, so the
        // next connection attempt hangs until the client's own deadline ends it.
        let listener = try FullListener()
        defer { listener.close() }
        let clock = ContinuousClock()
        let start = clock.now
        var configuration = Self.configuration(port: listener.port)
        configuration.connectTimeout = .milliseconds(500)
        let error = await Self.sendFailure(
            try SMTPClient(configuration: configuration), [try Self.message("c@test.example")])
        let elapsed = clock.now - start
        #expect(error?.code == .timeout)
        #expect(error?.stage == .connect)
        #expect(error?.isTemporary == true)
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(3), "took \(elapsed)")
    }

    @Test func configurationIsCheckedAndShowsNoPassword() throws {
        let credentials = SMTPCredentials(username: "svc", password: "Sehr-Geheim-123")
        #expect(throws: SMTPError.self) {
            try SMTPClient(
                configuration: SMTPConfiguration(host: "127.0.0.1", security: .plaintext, credentials: credentials))
        }
        #expect(throws: SMTPError.self) {
            try SMTPClient(configuration: SMTPConfiguration(host: "127.0.0.1", clientHostname: "bad name\r\n"))
        }
        // Plain only to a relay on this machine, unless allowed by name.
        for host in [
            "mail.stadt.example", "127.example", "127.0.0.1.example", "10.0.0.25", "::2", "127.0.0.08", "127.+1.0.1",
            "127.0.0.256",
        ] {
            #expect(throws: SMTPError.self, "\(host)") {
                try SMTPClient(configuration: SMTPConfiguration(host: host, security: .plaintext))
            }
        }
        var trusted = SMTPConfiguration(host: "mail.stadt.example", security: .plaintext)
        trusted.allowPlaintextNonLoopback = true
        _ = try SMTPClient(configuration: trusted)
        _ = try SMTPClient(configuration: SMTPConfiguration(host: "127.0.0.1", security: .plaintext))
        #expect(throws: SMTPError.self) {
            try SMTPClient(
                configuration: SMTPConfiguration(host: "127.0.0.1", tls: .init(caFile: "/nonexistent/ca.pem")))
        }
        let configuration = SMTPConfiguration(host: "mail.stadt.example", credentials: credentials)
        #expect(configuration.port == 587)
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [
            configuration.description, String(reflecting: configuration), "\(credentials)",
            String(reflecting: credentials), dumped, "\([credentials])",
        ] {
            #expect(!text.contains("Sehr-Geheim-123"), "\(text)")
        }
    }
}

/// Lines collected by a server script, read by the test afterwards.
final class ReceivedLines: Sendable {
    private let storage = Mutex<[String]>([])

    func append(_ line: String) {
        self.storage.withLock { $0.append(line) }
    }

    var lines: [String] { self.storage.withLock { $0 } }

    /// The lines once there are `count` of them, or what there is after two seconds.
    func waitForLines(_ count: Int) async -> [String] {
        for _ in 0..<200 where self.lines.count < count {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return self.lines
    }
}

/// A TCP listener on 127.0.0.1 with a backlog of 0 that never accepts, filled with connections
/// until one no longer completes: from then on every connection attempt hangs.
final class FullListener {
    let port: Int
    private let listenSocket: Int32
    private var fillers: [Int32] = []

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        try #require(bound == 0)
        try #require(listen(listener, 0) == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listenSocket = listener
        self.port = Int(UInt16(bigEndian: address.sin_port))
        // Non-blocking connects until one stays in progress: the accept queue is full then.
        for _ in 0..<8 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            self.fillers.append(filler)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) }
            }
            var pollFD = pollfd(fd: filler, events: Int16(POLLOUT), revents: 0)
            if poll(&pollFD, 1, 200) == 0 {
                return
            }
        }
        Issue.record("the listen queue never filled up")
    }

    func close() {
        for fd in self.fillers + [self.listenSocket] {
            _ = Glibc.close(fd)
        }
    }
}
