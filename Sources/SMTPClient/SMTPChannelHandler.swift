import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Drives one ``SMTPStateMachine`` over a channel: parses replies, feeds events, performs actions,
/// and keeps a timer on every step that waits for the server. Lives on the channel's event loop;
/// its outcome leaves through `promise`.
final class SMTPChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Timeouts {
        var command: TimeAmount
        var data: TimeAmount
    }

    /// What STARTTLS puts under the connection.
    struct StartTLS {
        var context: NIOSSLContext
        /// nil when connecting by IP address: NIOSSL then checks the certificate's IP entries.
        var serverHostname: String?
    }

    private var machine: SMTPStateMachine
    private var parser: SMTPReplyParser
    private let timeouts: Timeouts
    private let startTLS: StartTLS?
    private let promise: EventLoopPromise<SMTPStateMachine.SessionOutcome>
    private let logger: Logger
    private var timer: Scheduled<Void>?

    init(
        machine: SMTPStateMachine,
        parser: SMTPReplyParser,
        timeouts: Timeouts,
        startTLS: StartTLS?,
        promise: EventLoopPromise<SMTPStateMachine.SessionOutcome>,
        logger: Logger
    ) {
        self.machine = machine
        self.parser = parser
        self.timeouts = timeouts
        self.startTLS = startTLS
        self.promise = promise
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        // The greeting (for implicit TLS: the handshake and the greeting) must come in time.
        self.arm(self.timeouts.command, context: context)
        self.run(self.machine.connected(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        do {
            try self.parser.append(buffer.readableBytesView)
            while let reply = try self.parser.next() {
                self.logger.debug("SMTP reply", metadata: [SMTPLogKey.reply: "\(reply.code)"])
                self.cancelTimer()
                self.run(self.machine.replyReceived(reply), context: context)
            }
        } catch {
            self.run(self.machine.errorCaught(error), context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            self.cancelTimer()
            let action = self.machine.tlsEstablished()
            // Implicit TLS: the greeting comes only now, and must come within a step's timeout as well.
            if case .wait = action { self.arm(self.timeouts.command, context: context) }
            self.run(action, context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.cancelTimer()
        self.run(self.machine.errorCaught(SMTPError(networkError: error)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelTimer()
        self.run(self.machine.connectionClosed(), context: context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimer()
        // Only takes effect if the machine never finished (the channel died before it was active).
        self.promise.fail(SMTPError(code: .connectionClosed, isTemporary: true, stage: .connect))
    }

    private func run(_ action: SMTPStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .wait:
            break
        case .send(let command):
            // `description` redacts AUTH payloads; `line` (with them) only goes to the socket.
            self.logger.debug("SMTP command", metadata: [SMTPLogKey.command: "\(command)"])
            self.write(Array(command.line.utf8), context: context)
            self.arm(self.timeouts.command, context: context)
        case .sendContent(let bytes):
            self.logger.debug("SMTP message content", metadata: [SMTPLogKey.octets: "\(bytes.count)"])
            self.write(bytes, context: context)
            self.arm(self.timeouts.data, context: context)
        case .startTLSHandshake:
            self.beginTLS(context: context)
        case .finish(let outcome, let sendQuit):
            self.cancelTimer()
            self.promise.succeed(outcome)
            if sendQuit && context.channel.isActive {
                self.write(Array(SMTPCommand.quit.line.utf8), context: context)
            }
            context.close(promise: nil)
        }
    }

    private func beginTLS(context: ChannelHandlerContext) {
        // Bytes that arrived with the 220 to STARTTLS were sent before TLS: reading them later as
        // if they came over TLS is the STARTTLS injection of CVE-2011-0411.
        guard !self.parser.hasBufferedInput else {
            self.run(
                self.machine.errorCaught(.protocolViolation("data after the reply to STARTTLS", stage: .startTLS)),
                context: context)
            return
        }
        guard let startTLS = self.startTLS else {
            self.run(self.machine.errorCaught(.configuration("STARTTLS without a TLS context")), context: context)
            return
        }
        do {
            let handler = try NIOSSLClientHandler(context: startTLS.context, serverHostname: startTLS.serverHostname)
            self.arm(self.timeouts.command, context: context)
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            self.cancelTimer()
            self.run(self.machine.errorCaught(SMTPError(networkError: error)), context: context)
        }
    }

    private func write(_ bytes: [UInt8], context: ChannelHandlerContext) {
        let buffer = context.channel.allocator.buffer(bytes: bytes)
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        self.cancelTimer()
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.timer = nil
            self.run(self.machine.timedOut(), context: context)
        }
    }

    private func cancelTimer() {
        self.timer?.cancel()
        self.timer = nil
    }
}

extension SMTPError {
    /// Classifies an error from NIO or NIOSSL. All are temporary: the network or the server's TLS
    /// setup may be fine again later.
    init(networkError error: any Error) {
        switch error {
        case let error as SMTPError:
            self = error
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            self.init(code: .tlsFailure, isTemporary: true, details: String(describing: error))
        case ChannelError.connectTimeout:
            self.init(code: .timeout, isTemporary: true, stage: .connect, details: "connect timeout")
        default:
            self.init(code: .connectionClosed, isTemporary: true, details: String(describing: error))
        }
    }
}
