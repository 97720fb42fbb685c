import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// A tiny SMTP server on 127.0.0.1 that plays a script, for the faults the real test server cannot
/// produce (a 421 greeting, a connection dropped mid-DATA, silence, over-long replies, STARTTLS
/// missing or abused). It accepts connections one after another and runs `script` for each.
enum ScriptedServer {
    /// Runs `body` with the port of a server playing `script`; stops the server afterwards.
    /// With `tls` the server speaks TLS from the first byte (implicit TLS, port 465 style).
    static func run<T: Sendable>(
        tls: NIOSSLContext? = nil,
        script: @escaping @Sendable (ScriptedConnection) async throws -> Void,
        body: (Int) async throws -> T
    ) async throws -> T {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { child in
                child.eventLoop.makeCompletedFuture {
                    if let tls {
                        try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        let port = try #require(server.channel.localAddress?.port)
        let accepting = Task {
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    do {
                        try await connection.executeThenClose { inbound, outbound in
                            try await script(ScriptedConnection(inbound: inbound, outbound: outbound))
                        }
                    } catch is CancellationError {
                        return
                    } catch {
                        // A script that ends with a dropped connection may see write errors.
                    }
                }
            }
        }
        defer { accepting.cancel() }
        let result = try await body(port)
        accepting.cancel()
        try? await server.channel.close()
        return result
    }
}

/// One accepted connection, read line by line.
final class ScriptedConnection {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffered: [UInt8] = []
    /// Every line the client sent, in order (DATA content included).
    private(set) var received: [String] = []

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.iterator = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// Sends `text` as it is (include the CRLFs).
    func write(_ text: String) async throws {
        try await self.outbound.write(ByteBuffer(string: text))
    }

    /// Sends one reply line, adding CRLF.
    func reply(_ line: String) async throws {
        try await self.write(line + "\r\n")
    }

    /// The next line without CRLF, or nil when the client closed.
    func readLine() async throws -> String? {
        while true {
            if let end = self.buffered.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(self.buffered[..<end])
                self.buffered.removeSubrange(...end)
                if line.last == UInt8(ascii: "\r") {
                    line.removeLast()
                }
                let text = String(decoding: line, as: UTF8.self)
                self.received.append(text)
                return text
            }
            guard let chunk = try await self.iterator.next() else {
                return nil
            }
            self.buffered += chunk.readableBytesView
        }
    }

    /// Reads a line and checks that it starts with `prefix`.
    @discardableResult
    func expect(_ prefix: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let line = try await self.readLine()
        #expect(
            line?.uppercased().hasPrefix(prefix.uppercased()) == true, "expected \(prefix), got \(line ?? "EOF")",
            sourceLocation: sourceLocation)
        return line ?? ""
    }

    /// Reads the DATA content up to the terminating "." line.
    func readContent() async throws -> [String] {
        var lines: [String] = []
        while let line = try await self.readLine(), line != "." {
            lines.append(line)
        }
        return lines
    }

    /// Greeting and EHLO with the given extension lines.
    func handshake(extensions: [String] = ["8BITMIME"]) async throws {
        try await self.reply("220 scripted.test ESMTP")
        try await self.expect("EHLO ")
        let lines = ["scripted.test"] + extensions
        for (index, line) in lines.enumerated() {
            try await self.reply("250\(index == lines.count - 1 ? " " : "-")\(line)")
        }
    }

    /// Takes one message: MAIL, RCPT (all), DATA and content; answers 250 to all.
    func acceptMessage(recipients: Int = 1) async throws -> [String] {
        try await self.expect("MAIL FROM:")
        try await self.reply("250 2.1.0 ok")
        for _ in 0..<recipients {
            try await self.expect("RCPT TO:")
            try await self.reply("250 2.1.5 ok")
        }
        try await self.expect("DATA")
        try await self.reply("354 go ahead")
        let content = try await self.readContent()
        try await self.reply("250 2.0.0 queued")
        return content
    }
}
