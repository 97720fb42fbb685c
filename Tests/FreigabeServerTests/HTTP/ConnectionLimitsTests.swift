import Foundation
import Glibc
import Testing

@testable import FreigabeServer

/// Slow, idle and surplus connections against the production server on a real socket, with short
/// timeouts so the suite stays fast.
@Suite("Connection timeouts and limits", .serialized)
struct ConnectionLimitsTests {
    static func configuration(
        header: Int = 1, body: Int = 5, idle: Int = 2, maxConnections: Int = 64
    )
        -> AppConfiguration
    {
        var configuration = TestSupport.configuration
        configuration.http.headerTimeout = .seconds(header)
        configuration.http.bodyTimeout = .seconds(body)
        configuration.http.idleTimeout = .seconds(idle)
        configuration.http.maxConnections = maxConnections
        return configuration
    }

    static let health = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"

    @Test(
        "a slowloris client that stalls in the request head is answered 408 and closed after the header timeout",
        .runsAlone)
    func slowloris() async throws {
        try await LiveServer.run(Self.configuration(header: 1, idle: 5)) { port async throws in
            let started = ContinuousClock.now
            let slow = try await RawConnection.open(port: port)
            try await slow.send("GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            // Trickling bytes does not extend the deadline.
            try await Task.sleep(for: .milliseconds(400))
            try await slow.send("a")
            #expect(slow.isOpen)
            #expect(await slow.waitUntilClosed(within: .seconds(4)))
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(3), "closed after \(elapsed)")
            #expect(slow.response?.status == 408)
            // A connection that never sends anything is held to the same deadline.
            let silent = try await RawConnection.open(port: port)
            #expect(await silent.waitUntilClosed(within: .seconds(4)))
        }
    }

    /// Hummingbird's idle timer restarts on every piece of a body, so a body trickled a byte at a time
    /// held its connection slot for ever: with all slots taken so, nobody was served, `/health` included.
    @Test("bodies trickled a byte at a time: 408 (or the early answer) and closed after the body timeout", .runsAlone)
    func slowBody() async throws {
        try await TestDatabase.with { database in
            var environment = try StoreTestSupport.environment()
            environment["FREIGABE_DB_NAME"] = database.name
            var configuration = try await DirectoryFixtures.configuration()
            configuration.database = try DatabaseSettings(environment: environment)
            configuration.http.headerTimeout = .seconds(5)
            configuration.http.bodyTimeout = .seconds(2)
            configuration.http.idleTimeout = .seconds(60)
            configuration.http.maxConnections = 2
            let live = configuration
            try await LiveServer.run(live) { port async throws in
                // The login form's token, so that the post waits for its whole body (the token is in it).
                let form = try await RawConnection.request(port: port, "GET /anmelden HTTP/1.1\r\nHost: t\r\n")
                let cookie = try #require(form.headers["set-cookie"]?.split(separator: ";").first, "\(form.status)")
                let token = try #require(cookie.split(separator: "=", maxSplits: 1).last)
                let started = ContinuousClock.now
                let login = try await RawConnection.open(port: port)
                try await login.send(
                    "POST /anmelden HTTP/1.1\r\nHost: t\r\nCookie: \(cookie)\r\n"
                        + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n_csrf=\(token)&username="
                )
                // A route that answers before reading the body (401 without credentials): answered, then closed.
                let api = try await RawConnection.open(port: port)
                try await api.send(
                    "POST /api/v1/requests HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                )
                // Both slots taken: a third client waits in the backlog while the bodies trickle.
                let waiting = try await RawConnection.open(port: port)
                try await waiting.send(Self.health)
                for _ in 0..<3 {
                    try await Task.sleep(for: .milliseconds(500))
                    for trickler in [login, api] where trickler.isOpen { try? await trickler.send("a") }
                }
                #expect(await login.waitUntilClosed(within: .seconds(5)))
                #expect(login.response?.status == 408)
                #expect(await api.waitUntilClosed(within: .seconds(5)))
                #expect(api.response?.status == 401, "one answer, no 408 after it")
                // A second status line, not the digits: the answer's random request id may hold "408".
                #expect(!api.received.contains("HTTP/1.1 408"))
                let elapsed = ContinuousClock.now - started
                #expect(elapsed >= .milliseconds(1_900) && elapsed < .seconds(6), "closed after \(elapsed)")
                #expect(await waiting.waitForResponse(within: .seconds(5))?.status == 200, "the freed slot serves")
                await waiting.close()
            }
        }
    }

    @Test("an idle keep-alive connection is closed after the idle timeout, not the header timeout", .runsAlone)
    func idleKeepAlive() async throws {
        try await LiveServer.run(Self.configuration(header: 1, idle: 2)) { port async throws in
            let connection = try await RawConnection.open(port: port)
            try await connection.send(Self.health)
            let response = await connection.waitForResponse(within: .seconds(5))
            #expect(response?.status == 200)
            let answered = ContinuousClock.now
            // Longer than the header timeout: an idle connection is not a slow head.
            try await Task.sleep(for: .milliseconds(1_500))
            #expect(connection.isOpen)
            #expect(await connection.waitUntilClosed(within: .seconds(4)))
            let idle = ContinuousClock.now - answered
            #expect(idle >= .milliseconds(1_900) && idle < .seconds(4), "closed after \(idle)")
        }
    }

    @Test("beyond max_connections a connection waits unserved until a slot is freed, then /health answers")
    func connectionLimit() async throws {
        try await LiveServer.run(Self.configuration(header: 10, idle: 10, maxConnections: 3)) { port async throws in
            var held: [RawConnection] = []
            for _ in 0..<3 {
                let connection = try await RawConnection.open(port: port)
                try await connection.send(Self.health)
                #expect(await connection.waitForResponse(within: .seconds(5))?.status == 200)
                held.append(connection)
            }
            let surplus = try await RawConnection.open(port: port)
            try await surplus.send(Self.health)
            try await Task.sleep(for: .milliseconds(800))
            #expect(surplus.received.isEmpty, "the fourth connection was served: \(surplus.received)")
            await held.removeFirst().close()
            #expect(await surplus.waitForResponse(within: .seconds(5))?.status == 200)
            for connection in held { await connection.close() }
            await surplus.close()
        }
    }

    @Test("a client that stops reading a long answer is cut off after the idle timeout", .runsAlone)
    func stalledReader() async throws {
        // A 32 MB static file: more than the kernel's buffers on both sides hold.
        let templates = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID())").path
        try FileManager.default.copyItem(atPath: TestSupport.templatesDirectory, toPath: templates)
        defer { try? FileManager.default.removeItem(atPath: templates) }
        let size = 32 << 20
        try Data(count: size).write(to: URL(fileURLWithPath: templates + "/static/big.bin"))
        var configuration = Self.configuration(header: 5, idle: 2)
        configuration.templatesDirectory = templates
        try await LiveServer.run(configuration) { port async throws in
            let socket = try StalledReader(port: port)
            defer { socket.close() }
            try socket.send("GET /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            // Reads nothing for longer than the idle timeout, then everything there is.
            try await Task.sleep(for: .seconds(4))
            let (received, closed) = try await socket.drain(for: .seconds(5))
            #expect(closed, "the server still writes after \(received) bytes")
            #expect(received < size, "the whole file arrived: \(received) bytes")
        }
    }

    @Test("a 20 KB header gets 431")
    func oversizedHeader() async throws {
        try await LiveServer.run(Self.configuration()) { port async throws in
            let big = String(repeating: "a", count: 20 * 1024)
            let response = try await RawConnection.request(
                port: port, "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: \(big)\r\n")
            #expect(response.status == 431)
            // Many small header fields add up the same way.
            let many = (0..<400).map { "X-Field-\($0): \(String(repeating: "b", count: 40))\r\n" }.joined()
            let second = try await RawConnection.request(port: port, "GET /health HTTP/1.1\r\nHost: t\r\n\(many)")
            #expect(second.status == 431)
            // An ordinary request on a new connection is unaffected.
            #expect(try await RawConnection.request(port: port, "GET /health HTTP/1.1\r\nHost: t\r\n").status == 200)
        }
    }

    @Test("405 with Allow and OPTIONS with 204 reach a real client too")
    func methodsOverTheWire() async throws {
        try await LiveServer.run(Self.configuration()) { port async throws in
            let delete = try await RawConnection.request(port: port, "DELETE /health HTTP/1.1\r\nHost: t\r\n")
            #expect(delete.status == 405)
            #expect(delete.headers["allow"] == "GET, HEAD")
            let options = try await RawConnection.request(port: port, "OPTIONS /health HTTP/1.1\r\nHost: t\r\n")
            #expect(options.status == 204)
            #expect(options.headers["allow"] == "GET, HEAD, OPTIONS")
        }
    }
}

/// A client socket with a small receive window that reads only when told to.
private final class StalledReader: Sendable {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var window: Int32 = 4096
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &window, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw LiveServer.LiveServerError("connect failed: \(errno)") }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw LiveServer.LiveServerError("send failed: \(errno)")
        }
    }

    /// Reads for at most `limit`: the bytes received and whether the server closed the connection.
    func drain(for limit: Duration) async throws -> (bytes: Int, closed: Bool) {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        let end = ContinuousClock.now + limit
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < end {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return (total, true) }
            if count > 0 {
                total += count
                continue
            }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { return (total, true) }
            try await Task.sleep(for: .milliseconds(5))
        }
        return (total, false)
    }

    func close() { _ = Glibc.close(descriptor) }
}
