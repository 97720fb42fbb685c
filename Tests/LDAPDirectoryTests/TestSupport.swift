import Foundation
import Logging
import Synchronization
import Testing

@testable import LDAPDirectory

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The private slapd that `scripts/services up` starts, described by `.local/env` (the process
/// environment wins). Tests that need it fail, not skip, when it is not configured: `make test`
/// always starts the services first.
enum Slapd {
    static let environment: [String: String] = {
        var values: [String: String] = [:]
        let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let envFile = root.appendingPathComponent(".local/env")
        if let text = try? String(contentsOf: envFile, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                var line = line.trimmingCharacters(in: .whitespaces)
                guard !line.hasPrefix("#") else { continue }
                if line.hasPrefix("export ") {
                    line.removeFirst("export ".count)
                }
                guard let equals = line.firstIndex(of: "=") else { continue }
                var value = String(line[line.index(after: equals)...])
                if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                    value = String(value.dropFirst().dropLast())
                }
                values[String(line[..<equals])] = value
            }
        }
        for (key, value) in ProcessInfo.processInfo.environment where key.hasPrefix("FREIGABE_") {
            values[key] = value
        }
        return values
    }()

    static func value(_ key: String) throws -> String {
        try #require(
            environment[key].flatMap { $0.isEmpty ? nil : $0 },
            "\(key) is not set: run `scripts/services up` (make test does) so that .local/env describes the test slapd"
        )
    }

    static var url: String { get throws { try value("FREIGABE_LDAP_URL") } }
    static var ldapsURL: String { get throws { try value("FREIGABE_LDAPS_URL") } }
    static var baseDN: String { get throws { try value("FREIGABE_LDAP_BASE_DN") } }
    static var caFile: String { get throws { try value("FREIGABE_LDAP_CA_FILE") } }
    static var tlsDirectory: String { get throws { try value("FREIGABE_TEST_TLS_DIR") } }

    static var serviceAccount: LDAPConfiguration.ServiceAccount {
        get throws {
            LDAPConfiguration.ServiceAccount(
                bindDN: try value("FREIGABE_LDAP_BIND_DN"), password: try value("FREIGABE_LDAP_BIND_PASSWORD"))
        }
    }

    /// Port of an ldap:// or ldaps:// URL.
    static func port(of url: String) throws -> UInt16 {
        let port = url.split(separator: ":").last.flatMap { UInt16($0.prefix(while: \.isNumber)) }
        return try #require(port, "no port in \(url)")
    }

    /// The demo directory's settings. DirectoryRole groups are spelled differently from the directory on
    /// purpose (case, spaces) to exercise DN normalisation against real server output.
    static func configuration(
        membership: LDAPConfiguration.MembershipLookup = .groupSearch,
        url: String? = nil,
        cacheTTL: Duration = .seconds(300)
    ) throws -> LDAPConfiguration {
        let base = try baseDN
        return LDAPConfiguration(
            url: try url ?? self.url,
            baseDN: base,
            userSearchBase: "ou=people,\(base)",
            groupSearchBase: "ou=groups,\(base)",
            membership: membership,
            roleGroups: [
                .dsb: ["CN=Freigabe-DSB, OU=Groups, \(base.uppercased())"],
                .isb: ["cn=freigabe-isb,ou=groups,\(base)"],
                .openDataOfficer: ["cn=freigabe-open-data,ou=groups,\(base)"],
                .governance: ["cn=freigabe-governance,ou=groups,\(base)"],
                .auditor: ["cn=freigabe-auditors,ou=groups,\(base)"],
                .admin: ["cn=freigabe-admins,ou=groups,\(base)"],
            ],
            stewardGroups: [
                "umwelt": ["cn=stewards-umwelt,ou=groups,\(base)"],
                "mobilitaet": ["cn=stewards-mobilitaet, ou=groups, \(base)"],
                "bevoelkerung": ["cn=stewards-bevoelkerung,ou=groups,\(base)"],
            ],
            networkTimeout: .seconds(3),
            operationTimeout: .seconds(5),
            cacheTTL: cacheTTL,
            poolSize: 2,
            serviceAccount: try serviceAccount
        )
    }

    /// Runs `body` with a directory and shuts it down afterwards, also when `body` throws.
    static func withDirectory<T>(
        _ configuration: LDAPConfiguration,
        logger: Logger = Logger(label: "test.ldap"),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        _ body: (LDAPDirectory) async throws -> T
    ) async throws -> T {
        let directory = try LDAPDirectory(configuration: configuration, logger: logger, now: now)
        do {
            let result = try await body(directory)
            await directory.shutdown()
            return result
        } catch {
            await directory.shutdown()
            throw error
        }
    }

    /// The LDIF record adding group `dn` (`cn=NAME,...`, a `groupOfNames`) with `members`, and `extra`
    /// lines (another object class and its attributes).
    static func groupAddition(_ dn: String, members: [String], extra: [String] = []) -> String {
        let name = dn.split(separator: ",")[0].dropFirst("cn=".count)
        let lines =
            ["dn: \(dn)", "changetype: add", "objectClass: groupOfNames"] + extra + ["cn: \(name)"]
            + members.map { "member: \($0)" }
        return lines.joined(separator: "\n") + "\n\n"
    }

    /// The LDIF records deleting the entries `dns`.
    static func deletion(of dns: [String]) -> String {
        dns.map { "dn: \($0)\nchangetype: delete\n\n" }.joined()
    }

    /// Applies an LDIF change as the directory's admin (ldapmodify).
    static func modify(_ ldif: String) throws {
        let passwordFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("ldap-admin-\(UUID().uuidString)")
        try Data(try value("FREIGABE_LDAP_ADMIN_PASSWORD").utf8).write(to: passwordFile)
        defer { try? FileManager.default.removeItem(at: passwordFile) }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passwordFile.path)
        let result = try runTool(
            "ldapmodify",
            ["-x", "-H", try url, "-D", try value("FREIGABE_LDAP_ADMIN_DN"), "-y", passwordFile.path],
            input: ldif)
        #expect(result.status == 0, "ldapmodify failed: \(result.output)")
    }
}

/// Runs a command from PATH and returns its exit status and combined output.
func runTool(_ name: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [name] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
    }
    try stdin.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Log records kept in memory, to check warnings and that no password is ever logged.
final class LogRecorder: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: String
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] {
        self.records.withLock { $0 }
    }

    var text: String {
        self.all.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n")
    }

    func logger(label: String = "test.ldap") -> Logger {
        var logger = Logger(label: label) { _ in Handler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ record: Record) {
        self.records.withLock { $0.append(record) }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let metadata = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            self.recorder.append(Record(level: event.level, message: "\(event.message)", metadata: metadata))
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released; tiny race, fine for tests).
func freePort() throws -> UInt16 {
    let listener = try TCPListener()
    let port = listener.port
    listener.close()
    return port
}

/// A listening socket on 127.0.0.1 that never accepts: the kernel completes TCP handshakes into the
/// backlog, so clients connect and then wait forever for an answer.
final class TCPListener: Sendable {
    let descriptor: Int32
    let port: UInt16

    init(port: UInt16 = 0) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0, "socket() failed")
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0, "bind() failed")
        try #require(listen(fd, 64) == 0, "listen() failed")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.descriptor = fd
        self.port = UInt16(bigEndian: address.sin_port)
    }

    func close() {
        _ = Glibc.close(self.descriptor)
    }
}

/// `openssl s_server` with a given certificate, on a free port of 127.0.0.1. Its output records
/// whatever a client sent after a successful handshake.
final class OpenSSLServer {
    let port: UInt16
    private let process: Process
    private let outputFile: URL

    init(certificate: String, key: String) throws {
        self.port = try freePort()
        self.outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("s_server-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: self.outputFile.path, contents: nil)
        let output = try FileHandle(forWritingTo: self.outputFile)
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        self.process.arguments = [
            "openssl", "s_server", "-accept", "127.0.0.1:\(self.port)", "-cert", certificate, "-key", key,
        ]
        self.process.standardOutput = output
        self.process.standardError = output
        self.process.standardInput = Pipe()
        try self.process.run()
        // Wait until it listens.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? String(contentsOf: self.outputFile, encoding: .utf8))?.contains("ACCEPT") == true {
                return
            }
            usleep(20_000)
        }
        self.stop()
        Issue.record("openssl s_server did not start")
    }

    /// Stops the server (by its pid) and returns what it printed. SIGKILL, because a child of the
    /// test runner may inherit a signal mask that blocks SIGTERM.
    @discardableResult
    func stop() -> String {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
        let text = (try? String(contentsOf: self.outputFile, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: self.outputFile)
        return text
    }
}

/// A TCP forwarder from a local port to the test slapd that can cut all connections at once,
/// as a server restart or an idle timeout would.
final class TCPProxy: @unchecked Sendable {
    // @unchecked: `connections` and `stopped` are only accessed under `lock`; the descriptors are
    // plain integers used by the pump threads, which close them themselves.
    let port: UInt16
    private let listener: TCPListener
    private let targetPort: UInt16
    /// Held back before each piece of the server's answer is passed on: a slow directory.
    private let answerDelay: Duration
    private let lock = NSLock()
    private var connections: [Int32] = []
    private var stopped = false
    private var answers = 0

    init(targetPort: UInt16, port: UInt16 = 0, answerDelay: Duration = .zero) throws {
        self.listener = try TCPListener(port: port)
        self.port = self.listener.port
        self.targetPort = targetPort
        self.answerDelay = answerDelay
        Thread.detachNewThread { [self] in self.acceptLoop() }
    }

    /// Shuts down every proxied connection (both sides); new connections are still accepted.
    func dropAllConnections() {
        self.lock.withLock {
            for fd in self.connections {
                shutdown(fd, Int32(SHUT_RDWR))
            }
        }
    }

    var openConnections: Int {
        self.lock.withLock { self.connections.count }
    }

    /// Pieces of the server's answers passed on so far.
    var answersPassedOn: Int {
        self.lock.withLock { self.answers }
    }

    func stop() {
        self.lock.withLock { self.stopped = true }
        shutdown(self.listener.descriptor, Int32(SHUT_RDWR))
        self.dropAllConnections()
    }

    private func acceptLoop() {
        while true {
            let client = accept(self.listener.descriptor, nil, nil)
            if client < 0 {
                if self.lock.withLock({ self.stopped }) {
                    self.listener.close()
                    return
                }
                continue
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = self.targetPort.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                _ = Glibc.close(client)
                _ = Glibc.close(server)
                continue
            }
            self.lock.withLock { self.connections += [client, server] }
            Thread.detachNewThread { [self] in self.pump(client, server) }
        }
    }

    private func pump(_ a: Int32, _ b: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        loop: while true {
            guard poll(&fds, 2, -1) > 0 else { break }
            for index in 0..<2 where fds[index].revents != 0 {
                let from = fds[index].fd
                let to = index == 0 ? b : a
                let count = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                if count <= 0 { break loop }
                if index == 1 {
                    if self.answerDelay > .zero {
                        let (seconds, attoseconds) = self.answerDelay.components
                        usleep(useconds_t(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
                    }
                    self.lock.withLock { self.answers += 1 }
                }
                var written = 0
                while written < count {
                    let n = buffer.withUnsafeBytes {
                        send(to, $0.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL))
                    }
                    if n <= 0 { break loop }
                    written += n
                }
            }
        }
        shutdown(a, Int32(SHUT_RDWR))
        shutdown(b, Int32(SHUT_RDWR))
        self.lock.withLock { self.connections.removeAll { $0 == a || $0 == b } }
        _ = Glibc.close(a)
        _ = Glibc.close(b)
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let start = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)

    func now() -> ContinuousClock.Instant {
        self.start + self.offset.withLock { $0 }
    }

    func advance(by duration: Duration) {
        self.offset.withLock { $0 += duration }
    }
}
