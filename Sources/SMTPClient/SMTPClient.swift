import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Sends mail over SMTP: one connection per ``send(_:)`` call, all its messages over it, then QUIT.
///
/// ```swift
/// let client = try SMTPClient(configuration: .init(host: "mail.stadt.example", credentials: credentials))
/// let results = try await client.send([message])
/// ```
///
/// `send` throws when no message could be attempted (connection, TLS, authentication failed);
/// once the first mail transaction started it returns one ``DeliveryResult`` per message instead,
/// so a message the server accepted is never reported as failed because a later one was not.
public struct SMTPClient: Sendable {
    public let configuration: SMTPConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let tlsContext: NIOSSLContext?
    private let logger: Logger

    /// Checks the configuration and loads the TLS trust roots (a CA file that cannot be read fails here).
    public init(
        configuration: SMTPConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "SMTPClient")
    ) throws(SMTPError) {
        try configuration.validate()
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        var logger = logger
        logger[metadataKey: SMTPLogKey.server] = "\(configuration.host):\(configuration.port)"
        self.logger = logger
        switch configuration.security {
        case .plaintext:
            self.tlsContext = nil
        case .startTLS, .implicitTLS:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            tls.certificateVerification = .fullVerification
            if let caFile = configuration.tls.caFile {
                tls.trustRoots = .file(caFile)
            }
            do {
                self.tlsContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw .configuration("TLS setup failed: \(error)")
            }
        }
    }

    /// Sends `messages` over one connection, in order. Throws ``SMTPError`` when the session
    /// failed before the first message (``SMTPError/isTemporary`` says whether to retry);
    /// otherwise returns one result per message, in the order given.
    public func send(_ messages: [MailMessage]) async throws(SMTPError) -> [DeliveryResult] {
        guard !messages.isEmpty else {
            return []
        }
        let envelopes = messages.map(SMTPEnvelope.init)
        let configuration = self.configuration
        let machine = SMTPStateMachine(
            configuration: .init(
                security: configuration.security, credentials: configuration.credentials,
                clientHostname: configuration.clientHostname),
            envelopes: envelopes)
        let serverHostname = self.serverHostname
        let tlsContext = self.tlsContext
        let logger = self.logger
        let eventLoop = self.eventLoopGroup.next()
        let promise = eventLoop.makePromise(of: SMTPStateMachine.SessionOutcome.self)

        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if configuration.security == .implicitTLS, let tlsContext {
                        let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    let handler = SMTPChannelHandler(
                        machine: machine,
                        parser: SMTPReplyParser(maximumLineLength: configuration.maximumReplyLineLength),
                        timeouts: .init(
                            command: TimeAmount(configuration.commandTimeout),
                            data: TimeAmount(configuration.dataTimeout)),
                        startTLS: configuration.security == .startTLS
                            ? tlsContext.map { .init(context: $0, serverHostname: serverHostname) } : nil,
                        promise: promise,
                        logger: logger)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            var failure = SMTPError(networkError: error)
            if failure.code != .timeout && failure.code != .tlsFailure {
                failure = SMTPError(code: .connectionFailed, isTemporary: true, stage: .connect, details: "\(error)")
            }
            promise.fail(failure)
            logger.info("SMTP connection failed", metadata: [SMTPLogKey.error: "\(String(reflecting: failure))"])
            throw failure
        }

        let outcome: SMTPStateMachine.SessionOutcome
        do {
            outcome = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                // Closing ends the session; the machine reports what was delivered up to here.
                channel.close(promise: nil)
            }
        } catch {
            throw SMTPError(networkError: error)
        }
        switch outcome {
        case .failed(let error):
            logger.info("SMTP session failed", metadata: [SMTPLogKey.error: "\(String(reflecting: error))"])
            throw error
        case .completed(let results):
            logger.debug(
                "SMTP session done",
                metadata: [
                    SMTPLogKey.messages: "\(results.count)",
                    SMTPLogKey.delivered: "\(results.filter(\.isDelivered).count)",
                ])
            return results
        }
    }

    /// The name the certificate must carry: the configured one, else the host unless it is an IP
    /// address (SNI takes no addresses; NIOSSL then checks the certificate's IP entries).
    private var serverHostname: String? {
        if let name = self.configuration.tls.serverName {
            return name
        }
        let host = self.configuration.host
        let isIPAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return isIPAddress ? nil : host
    }
}
