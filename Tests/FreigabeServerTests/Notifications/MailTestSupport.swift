import Foundation
import LDAPDirectory
import Logging
import NIOPosix
import PostgresNIO
import SMTPClient
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// A message as the SMTP sink of `make services` stored it (`scripts/smtp-sink.py`: one `.eml` file per
/// accepted message), read back with Python's standard `email` package, an implementation of MIME
/// that is not ours.
struct SunkMail: Decodable, Sendable {
    var file: String
    var messageID: String
    var inReplyTo: String
    var references: String
    var subject: String
    var to: [String]
    var envelopeTo: String
    var headerNames: [String]
    var text: String
    var html: String
    var defects: [String]
}

enum MailSink {
    /// Every stored message whose `Message-ID` ends in `@host`, oldest first. Each test sends under a
    /// host name of its own, so it sees only its own mail in the shared directory.
    static func mails(host: String) async throws -> [SunkMail] {
        let environment = TestSupport.localServicesEnvironment()
        let directory = try #require(environment["FREIGABE_MAIL_DIR"], "FREIGABE_MAIL_DIR missing: run make services")
        let script = """
            import email, email.policy, json, os, sys
            folder, host = sys.argv[1], sys.argv[2]
            found = []
            for name in sorted(os.listdir(folder)):
                if not name.endswith('.eml'):
                    continue
                raw = open(os.path.join(folder, name), 'rb').read()
                if ('@' + host + '>').encode() not in raw:
                    continue
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                mid = str(msg['message-id'] or '')
                if not mid.endswith('@' + host + '>'):
                    continue
                text = msg.get_body(('plain',))
                html = msg.get_body(('html',))
                found.append({
                    'file': name, 'messageID': mid, 'inReplyTo': str(msg['in-reply-to'] or ''),
                    'references': str(msg['references'] or ''), 'subject': str(msg['subject']),
                    'to': [a.addr_spec for a in msg['to'].addresses],
                    'envelopeTo': str(msg['x-freigabe-envelope-to']), 'headerNames': list(msg.keys()),
                    'text': text.get_content().replace('\\r\\n', '\\n') if text is not None else '',
                    'html': html.get_content().replace('\\r\\n', '\\n') if html is not None else '',
                    'defects': [str(d) for part in msg.walk() for d in part.defects],
                })
            print(json.dumps(found))
            """
        let output = try await run("/usr/bin/python3", ["-c", script, directory, host])
        return try JSONDecoder().decode([SunkMail].self, from: Data(output.utf8))
    }

    /// Waits until at least `count` messages of `host` are stored (the service test sends in the background).
    static func waitForMails(host: String, count: Int, within seconds: Double) async throws -> [SunkMail] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let mails = try await mails(host: host)
            if mails.count >= count || Date() > deadline { return mails }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// ``runBlocking(_:_:input:)`` on a thread of its own. Waiting for a process blocks its thread; on the
    /// cooperative pool (two threads on the CI machine) a few tests polling the sink that way stalled every
    /// other test's deadlines and timers by seconds.
    static func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(executable, arguments, input: input) })
            }
        }
    }

    /// Runs a program to its end and answers its standard output; blocks the calling thread.
    static func runBlocking(_ executable: String, _ arguments: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSetupError("\(executable) failed: \(String(decoding: errorData, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// People added to the real slapd for one test (and removed afterwards): the demo directory has
/// nobody who prefers English, nobody without an address, and no address the sink refuses.
enum TestPeople {
    /// Adds a person (password-less, they never log in) and returns their uid. The address is
    /// `<mailPrefix><uid>@stadt.example` (the sink refuses `reject…@` and defers `tempfail…@`); no
    /// address at all with `mailPrefix: nil`.
    static func add(_ prefix: String, mailPrefix: String? = "", language: String? = nil) throws -> String {
        let uid = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        var lines = [
            "dn: uid=\(uid),ou=people,dc=stadt,dc=example", "changetype: add", "objectClass: inetOrgPerson",
            "uid: \(uid)", "cn: Test \(prefix)", "sn: \(prefix)", "displayName: Test \(prefix.capitalized)",
        ]
        if let mailPrefix { lines.append("mail: \(mailPrefix)\(uid)@stadt.example") }
        if let language { lines.append("preferredLanguage: \(language)") }
        try modify(lines.joined(separator: "\n") + "\n")
        return uid
    }

    static func setMail(_ uid: String, _ mail: String) throws {
        try modify("dn: uid=\(uid),ou=people,dc=stadt,dc=example\nchangetype: modify\nreplace: mail\nmail: \(mail)\n")
    }

    /// Gives `uid` the directory name `name`, as typed (base64 in the LDIF: CR/LF and all).
    static func setDisplayName(_ uid: String, _ name: String) throws {
        try modify(
            "dn: uid=\(uid),ou=people,dc=stadt,dc=example\nchangetype: modify\nreplace: displayName\n"
                + "displayName:: \(Data(name.utf8).base64EncodedString())\n")
    }

    static func remove(_ uids: [String]) {
        for uid in uids { try? modify("dn: uid=\(uid),ou=people,dc=stadt,dc=example\nchangetype: delete\n") }
    }

    /// ldapmodify as the directory's admin (`.local/env`); the password goes through a file of mode 600.
    static func modify(_ ldif: String) throws {
        let environment = TestSupport.localServicesEnvironment()
        let url = try #require(environment["FREIGABE_LDAP_URL"])
        let admin = try #require(environment["FREIGABE_LDAP_ADMIN_DN"])
        let password = try #require(environment["FREIGABE_LDAP_ADMIN_PASSWORD"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ldap-admin-\(UUID().uuidString)")
        FileManager.default.createFile(
            atPath: file.path, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try MailSink.runBlocking(
            "/usr/bin/ldapmodify", ["-x", "-H", url, "-D", admin, "-y", file.path], input: ldif)
    }
}

/// A fresh database with the demo catalogue, the real directory and a dispatcher that sends to the
/// SMTP sink under a host name of its own.
struct MailFixture: Sendable {
    let service: ServiceFixture
    let directory: LDAPDirectory
    let settings: MailSettings
    let composer: MailComposer
    let logger: Logger

    var host: String { settings.hostName }

    /// - Parameter hostPrefix: the start of the host name (Message-ID and EHLO); the SMTP sink fails on
    ///   purpose for `dropdata-` and `busy-` (see `scripts/smtp-sink.py`).
    /// - Parameter overrides: further settings (`FREIGABE_LDAP_STEWARDS`, ...).
    static func with(
        hostPrefix: String = "t", overrides: [String: String] = [:],
        workflows: WorkflowLibrary = StoreTestSupport.workflows,
        _ body: @Sendable (MailFixture) async throws -> Void
    ) async throws {
        let renderer = try await TestSupport.makeRenderer()
        let tls = try #require(TestSupport.localServicesEnvironment()["FREIGABE_TEST_TLS_DIR"])
        let configuration = try await DirectoryFixtures.configuration(
            overrides: [
                "FREIGABE_SMTP_CA_FILE": tls + "/ca.pem",
                "FREIGABE_MAIL_HOST_NAME": "\(hostPrefix)\(UUID().uuidString.prefix(12).lowercased()).freigabe.test",
            ].merging(overrides) { $1 })
        let settings = try #require(configuration.mail, "smtp.* not configured: run make services")
        let logger = {
            var logger = Logger(label: "freigabe.mail.tests")
            logger.logLevel = .error
            return logger
        }()
        let directory = try LDAPDirectory(configuration: try #require(configuration.directory), logger: logger)
        do {
            try await ServiceFixture.with(workflows: workflows) { service in
                try await body(
                    MailFixture(
                        service: service, directory: directory, settings: settings,
                        composer: MailComposer(renderer: renderer, workflows: workflows),
                        logger: logger))
            }
            await directory.shutdown()
        } catch {
            await directory.shutdown()
            throw error
        }
    }

    /// A dispatcher on this database; `port` points it elsewhere (a closed port), jitter is fixed to none;
    /// `directory` stands in for the real one (a directory that fails for some people).
    /// - Parameter workflows: the workflow files this dispatcher's instance has (another version than the
    ///   requests', after an administrator changed them).
    func dispatcher(
        port: Int? = nil, settings: MailSettings? = nil, metrics: AppMetrics? = nil,
        directory: (any MailDirectory)? = nil, workflows: WorkflowLibrary? = nil, logger: Logger? = nil
    ) throws
        -> OutboxDispatcher
    {
        var settings = settings ?? self.settings
        if let port { settings.smtp.port = port }
        settings.smtp.connectTimeout = .seconds(3)
        return try OutboxDispatcher(
            client: service.app, directory: directory ?? LDAPMailDirectory(directory: self.directory),
            composer: workflows.map { MailComposer(renderer: composer.renderer, workflows: $0) } ?? composer,
            settings: settings, metrics: metrics, logger: logger ?? self.logger, random: { 0.5 })
    }

    /// Writes a mail row as a command would (the payload the EffectWriter builds).
    @discardableResult
    func enqueue(_ message: OutboxMessage, at now: Date = Date()) async throws -> Int64 {
        let payload = try StoredJSON.encode(message)
        let rows = try await service.app.query(
            """
            INSERT INTO outbox (kind, topic, request_id, payload, created_at, available_at)
            VALUES ('mail', \(message.topic.rawValue), \(message.requestID), \(payload)::jsonb, \(now), \(now))
            RETURNING id
            """, logger: logger)
        return try #require(try await rows.decode(Int64.self).first(where: { _ in true }))
    }

    struct Row: Sendable {
        var id: Int64
        var topic: String
        var attempts: Int
        var availableAt: Date
        var sentAt: Date?
        var failedAt: Date?
        var lastError: String?
        var deliveredTo: [String]
        var undeliverableTo: [String]
    }

    /// Row `id`'s random delivery key, part of its `Message-ID` and `webhook-id`.
    func deliveryKey(_ id: Int64) async throws -> UUID? {
        try await service.admin.query("SELECT delivery_key FROM outbox WHERE id = \(id)", logger: logger)
            .decode(UUID?.self).first(where: { _ in true }) ?? nil
    }

    func rows() async throws -> [Row] {
        let rows = try await service.admin.query(
            """
            SELECT id, topic, attempts, available_at, sent_at, failed_at, last_error, delivered_to, undeliverable_to
            FROM outbox WHERE kind = 'mail' ORDER BY id
            """, logger: logger)
        var result: [Row] = []
        for try await (id, topic, attempts, available, sent, failed, error, delivered, undeliverable) in rows.decode(
            (Int64, String, Int, Date, Date?, Date?, String?, [String], [String]).self)
        {
            result.append(
                Row(
                    id: id, topic: topic, attempts: attempts, availableAt: available, sentAt: sent, failedAt: failed,
                    lastError: error, deliveredTo: delivered, undeliverableTo: undeliverable))
        }
        return result
    }

    /// A message about a real request of this database, to `recipients`.
    func message(
        _ topic: OutboxTopic, about request: RequestView, to recipients: [OutboxRecipient], text: String? = nil,
        title: String = "Baumkataster"
    ) -> OutboxMessage {
        OutboxMessage(
            topic: topic, requestID: request.id, requestNumber: request.number, datasetID: "baumkataster",
            datasetTitle: title, kind: .sharedData, recipients: recipients, text: text)
    }

    static func person(_ uid: String) -> OutboxRecipient { OutboxRecipient(role: "requester", uid: uid, group: nil) }

    /// A TCP port on loopback nobody listens on.
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        try await channel.close()
        return port
    }
}
