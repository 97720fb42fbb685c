import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// When a connection must have sent what, as a pure state machine (time is a parameter).
///
/// - From accepting the connection, and from the first byte of each later request, the request head
///   (request line and header fields) must be complete within the header timeout: a slowloris client
///   trickling a header byte now and then is closed (with 408).
/// - From a request head on, its body (if any) must be complete within the body timeout: a client
///   trickling a body byte now and then (Hummingbird's idle timer restarts on every piece) is answered
///   408 and closed, so a few hundred of them cannot hold every connection slot.
/// - Between requests, a keep-alive connection that sends nothing is closed after the idle timeout.
/// - While a request is being answered, a client that stops reading it is cut off after the idle
///   timeout: the connection takes no more (our buffer is past its high-water mark) and nothing written
///   reached the kernel for that long. A slow reader makes progress and is never cut; a long answer such
///   as an audit export does not wait for a gone one for ever.
struct ConnectionDeadlines {
    enum Phase: Equatable {
        /// Waiting for (the rest of) a request head since `since`.
        case readingHead(since: NIODeadline)
        /// Between requests, nothing received since `since`.
        case idle(since: NIODeadline)
        /// `heads` requests read whose responses have not ended.
        case answering(heads: Int)
    }

    enum Expiry: Equatable {
        case header
        /// A request's body was not complete in time.
        case body
        case idle
        /// Nothing we wrote reached the client's side since the idle timeout, while more waits.
        case stalledReader
    }

    let headerTimeout: TimeAmount
    let bodyTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private(set) var phase: Phase
    /// Since when the body of the request whose head came last is awaited; nil once it ended.
    private(set) var receivingBodySince: NIODeadline?
    /// While the connection takes no more of what we write: since when nothing of it went out (the
    /// stall began, or the last write reached the kernel). Nil while it takes everything.
    private(set) var unwritableSince: NIODeadline?

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount, idleTimeout: TimeAmount, openedAt now: NIODeadline) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.phase = .readingHead(since: now)
    }

    /// When the current phase runs out, or the client that stopped reading, if either can.
    var deadline: NIODeadline? {
        // A body still arriving is timed from its head, even once it has been answered (a route that did
        // not wait for it): its bytes are no new head, and the connection is not idle.
        let phaseDeadline: NIODeadline? =
            if let body = receivingBodySince {
                body + bodyTimeout
            } else {
                switch phase {
                case .readingHead(let since): since + headerTimeout
                case .idle(let since): since + idleTimeout
                case .answering: nil
                }
            }
        guard let stalled = unwritableSince.map({ $0 + idleTimeout }) else { return phaseDeadline }
        return min(phaseDeadline ?? stalled, stalled)
    }

    /// The connection stopped taking what we write (our buffer passed its high-water mark), or took it again.
    mutating func writabilityChanged(isWritable: Bool, at now: NIODeadline) {
        if isWritable {
            unwritableSince = nil
        } else if unwritableSince == nil {
            unwritableSince = now
        }
    }

    /// A write reached the kernel: the client is reading, however slowly. Returns whether the deadline moved.
    mutating func wrote(at now: NIODeadline) -> Bool {
        guard unwritableSince != nil else { return false }
        unwritableSince = now
        return true
    }

    /// Bytes arrived (possibly only part of a head).
    mutating func bytesReceived(at now: NIODeadline) {
        guard receivingBodySince == nil else { return }
        switch phase {
        case .idle: phase = .readingHead(since: now)
        // A trickle of bytes does not extend the header deadline.
        case .readingHead, .answering: break
        }
    }

    /// A complete request head was parsed; its body (or its end, when it has none) follows.
    mutating func headReceived(at now: NIODeadline) {
        receivingBodySince = now
        switch phase {
        case .readingHead, .idle: phase = .answering(heads: 1)
        case .answering(let heads): phase = .answering(heads: heads + 1)
        }
    }

    /// The end of a request (after its body) was parsed.
    mutating func requestEnded() {
        receivingBodySince = nil
    }

    /// The end of a response was written.
    mutating func responseEnded(at now: NIODeadline) {
        switch phase {
        case .answering(let heads) where heads > 1: phase = .answering(heads: heads - 1)
        case .answering: phase = .idle(since: now)
        // A response without a request (our own 408/431) changes nothing.
        case .readingHead, .idle: break
        }
    }

    /// Whether the connection has run out of time at `now`, and in which phase.
    func expiry(at now: NIODeadline) -> Expiry? {
        guard let deadline, now >= deadline else { return nil }
        if let since = unwritableSince, now >= since + idleTimeout { return .stalledReader }
        if receivingBodySince != nil { return .body }
        switch phase {
        case .readingHead: return .header
        case .idle: return .idle
        case .answering: return nil
        }
    }

    /// Whether no response is under way, so the handler may answer on its own (408, 431).
    var mayAnswer: Bool {
        if case .answering = phase { return false }
        return true
    }
}

/// Enforces ``ConnectionDeadlines`` on one HTTP/1 connection and answers an oversized request head
/// with 431 (NIO's decoder reports it as `HTTPParserError.headerOverflow`; Hummingbird would say 400).
///
/// Sits behind the HTTP decoder (added through `HTTP1Channel.Configuration.additionalChannelHandlers`):
/// it sees parsed request heads and written response ends, and every socket read as
/// `channelReadComplete`, even one that did not complete a head.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// How long the client may take to close after our 408/431 before the connection is cut.
    static let lingerAfterAnswer: TimeAmount = .seconds(1)

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var deadlines: ConnectionDeadlines?
    /// The request whose head came last has been answered (in part or whole) already, before its body
    /// ended (a route that did not wait for it): a 408 for its late body would be a second answer.
    private var answeredBeforeBody = false
    private var timer: Scheduled<Void>?
    /// Set once this handler has answered (408, 431) and closed its side: nothing more is passed on.
    private var answered = false

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // After our answer the rest of what the client sends is read and dropped, never served.
        guard !answered else { return }
        // The timer follows in `channelReadComplete`, which ends every read: one reschedule per read, not
        // two more per request (a GET's head and end come in the same read).
        switch unwrapInboundIn(data) {
        case .head:
            answeredBeforeBody = false
            deadlines?.headReceived(at: .now())
        case .end:
            deadlines?.requestEnded()
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !answered {
            deadlines?.bytesReceived(at: .now())
            reschedule(context)
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // After our 408 for a late body, the handler that waited for it answers nothing more.
        guard !answered else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let ends: Bool
        switch unwrapOutboundIn(data) {
        case .head(let head):
            ends = false
            if head.status.code >= 200 { answeredBeforeBody = true }
        case .body: ends = false
        case .end: ends = true
        }
        // When the bytes reach the kernel: progress for a slow reader, and the response's end counts from
        // then (the idle time starts when the last byte went out, not when it was queued).
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenSuccess { [self] in
            guard !answered else { return }
            let moved = deadlines?.wrote(at: .now()) ?? false
            if ends { deadlines?.responseEnded(at: .now()) }
            if moved || ends { reschedule(context) }
        }
        context.write(data, promise: written)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !answered {
            deadlines?.writabilityChanged(isWritable: context.channel.isWritable, at: .now())
            reschedule(context)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The decoder reports every later read as an error too; our answer has been given.
        guard !answered else { return }
        if case .headerOverflow? = error as? HTTPParserError, deadlines?.mayAnswer ?? true {
            answerAndClose(context, status: .requestHeaderFieldsTooLarge)
            return
        }
        context.fireErrorCaught(error)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard deadlines == nil else { return }
        deadlines = ConnectionDeadlines(
            headerTimeout: headerTimeout, bodyTimeout: bodyTimeout, idleTimeout: idleTimeout, openedAt: .now())
        reschedule(context)
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func reschedule(_ context: ChannelHandlerContext) {
        guard !answered else { return }
        cancelTimer()
        guard let deadline = deadlines?.deadline else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            switch deadlines?.expiry(at: .now()) {
            case .header: answerAndClose(context, status: .requestTimeout)
            // Unless an answer is already under way (a route that did not wait for the body).
            case .body where !answeredBeforeBody: answerAndClose(context, status: .requestTimeout)
            case .body, .idle, .stalledReader: context.close(promise: nil)
            case nil: reschedule(context)
            }
        }
    }

    /// Writes a bodiless response announcing the close, closes our side, and cuts the connection if
    /// the client has not closed its side soon after. Closing both sides at once while the client is
    /// still sending (an oversized head) would make the kernel reset the connection, and the client
    /// could lose the answer.
    private func answerAndClose(_ context: ChannelHandlerContext, status: HTTPResponse.Status) {
        answered = true
        cancelTimer()
        let head = HTTPResponse(status: status, headerFields: [.connection: "close", .contentLength: "0"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerAfterAnswer) {
            context.close(promise: nil)
        }
    }
}
