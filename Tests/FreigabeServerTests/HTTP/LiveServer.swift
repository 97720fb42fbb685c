import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

@testable import FreigabeServer

/// The production application on a real socket of 127.0.0.1, for what the router tests cannot see:
/// connections, timeouts, client addresses.
enum LiveServer {
    /// Runs `buildApplication(configuration:)` on a free port of 127.0.0.1 until `body` returns.
    static func run<Value: Sendable>(
        _ configuration: AppConfiguration, _ body: @Sendable (_ port: Int) async throws -> Value
    ) async throws -> Value {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = try await freePort()
        let port = configuration.port
        let app = try await buildApplication(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let services = ServiceGroup(
                configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "test")))
            group.addTask { try await services.run() }
            do {
                try await waitUntilServing(port: port)
                let value = try await body(port)
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return value
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }

    /// A port nobody listens on right now (the kernel picks it).
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    /// Waits until `/health` answers (and the connection asking it is closed again).
    static func waitUntilServing(port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let response = try? await RawConnection.request(port: port, "GET /health HTTP/1.1\r\nHost: t\r\n"),
                response.status == 200
            {
                return
            }
            guard ContinuousClock.now < deadline else { throw LiveServerError("server did not start on \(port)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct LiveServerError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

/// One TCP connection to the server: writes raw bytes, collects everything the server sends.
final class RawConnection: Sendable {
    let channel: any Channel
    private let bytes: ReceivedBytes

    private init(channel: any Channel, bytes: ReceivedBytes) {
        self.channel = channel
        self.bytes = bytes
    }

    static func open(port: Int) async throws -> RawConnection {
        let bytes = ReceivedBytes()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(bytes: bytes))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, bytes: bytes)
    }

    /// One request with `Connection: close`; `head` is the request line and header lines (each ending
    /// in CRLF) without the blank line.
    static func request(port: Int, _ head: String, within limit: Duration = .seconds(20)) async throws -> RawResponse {
        let connection = try await open(port: port)
        try await connection.send(head + "Connection: close\r\n\r\n")
        guard await connection.waitUntilClosed(within: limit) else {
            await connection.close()
            throw LiveServer.LiveServerError("no complete answer within \(limit)")
        }
        guard let response = connection.response else {
            throw LiveServer.LiveServerError("not an HTTP response: \(connection.received.prefix(200))")
        }
        return response
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Everything received so far, as text.
    var received: String { bytes.text }

    /// The first response received, once its head and (by `Content-Length`) body are complete.
    var response: RawResponse? { RawResponse(parsing: received) }

    var isOpen: Bool { channel.isActive }

    /// Polls until the server has closed the connection; false if it is still open after `limit`.
    func waitUntilClosed(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while channel.isActive {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Polls until a complete response arrived; nil after `limit`.
    func waitForResponse(within limit: Duration) async -> RawResponse? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let response { return response }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return response
    }

    func close() async {
        try? await channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let bytes: ReceivedBytes
        init(bytes: ReceivedBytes) { self.bytes = bytes }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes.append(unwrapInboundIn(data))
        }
    }

    private final class ReceivedBytes: Sendable {
        private let buffer = Mutex<[UInt8]>([])
        func append(_ data: ByteBuffer) { buffer.withLock { $0 += data.readableBytesView } }
        var text: String { buffer.withLock { String(decoding: $0, as: UTF8.self) } }
    }
}

/// A response as read off the wire.
struct RawResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: String

    /// Parses the first response in `text`; nil while it is incomplete.
    init?(parsing text: String) {
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let rest = text[headEnd.upperBound...]
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        guard rest.utf8.count >= length else { return nil }
        self.status = status
        self.headers = headers
        self.body = String(decoding: rest.utf8.prefix(length), as: UTF8.self)
    }
}
