import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP attempt at one webhook: resolve the host, refuse addresses the policy refuses, POST the
/// signed body to the address that was checked, judge the answer.
///
/// AsyncHTTPClient has no hook to choose or veto the address it resolves, so the sender resolves the
/// name itself, checks every address, and pins the connection to the first with the client's
/// `dnsOverride` (the URL's host stays in `Host`, SNI and the certificate check). When the connection
/// is up, its peer address is checked once more (`http1_1ConnectionDebugInitializer`, HTTP/1 only),
/// so what is refused is the address actually connected to, whatever DNS says between the two.
///
/// The HTTP client comes from the round (``WebhookRoundClients``): attempts of one round at one
/// receiver share it and its connections.
struct WebhookSender: Sendable {
    var policy: AddressPolicy
    var timeout: Duration
    var clients: WebhookRoundClients

    enum Result: Sendable, Hashable {
        case delivered(status: Int)
        /// 410 Gone: the receiver wants no more.
        case gone
        /// Try again later; `retryAfter` when the receiver said when.
        case failed(status: Int?, error: String, retryAfter: Duration?)
    }

    struct RefusedAddress: Error, CustomStringConvertible {
        var reason: String
        var description: String { "Adresse abgelehnt: \(reason)" }
    }

    func send(
        to subscription: WebhookSettings.Subscription, body: Data, headers signed: WebhookSigner.Headers, now: Date
    ) async -> Result {
        let host = subscription.host
        let started = ContinuousClock.now
        let addresses: [IPAddress]
        do {
            addresses = try await HostResolver.addresses(of: host, port: subscription.port, timeout: timeout)
        } catch {
            return .failed(status: nil, error: "\(error)", retryAfter: nil)
        }
        // One refused address refuses the name: a receiver's DNS that also answers 127.0.0.1 is a trap.
        for address in addresses {
            if let reason = policy.refusal(of: address) {
                return .failed(status: nil, error: RefusedAddress(reason: reason).description, retryAfter: nil)
            }
        }
        guard let pinned = addresses.first else {
            return .failed(status: nil, error: "„\(host)“ hat keine Adresse", retryAfter: nil)
        }
        let remaining = timeout - (ContinuousClock.now - started)
        let client = clients.client(host: host, pinned: IPAddress(host) == nil ? pinned.description : nil)
        var request = HTTPClientRequest(url: subscription.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Freigabe-Webhooks/1")
        request.headers.add(name: "webhook-id", value: signed.id)
        request.headers.add(name: "webhook-timestamp", value: String(signed.timestamp))
        request.headers.add(name: "webhook-signature", value: signed.signature)
        request.body = .bytes(ByteBuffer(bytes: body))
        let result: Result
        let prepared = request
        do {
            // The status and headers decide; they are what the deadline is for.
            let response = try await withDeadline(remaining) {
                try await client.execute(prepared, timeout: .nanoseconds(remaining.nanoseconds))
            }
            result = Self.judge(status: Int(response.status.code), headers: response.headers, now: now)
            // A little of the body is read so that the connection ends cleanly; its content is not used,
            // and a receiver that answers 200 and then holds its body open must not turn a delivery into a
            // timeout (and a repeat).
            _ = try? await withDeadline(Self.bodyDeadline) { try await response.body.collect(upTo: 16 * 1024) }
        } catch let error as DeadlineExceeded {
            result = .failed(status: nil, error: "Zeitüberschreitung: \(error)", retryAfter: nil)
        } catch {
            result = .failed(status: nil, error: Self.describe(error), retryAfter: nil)
        }
        return result
    }

    /// How long the body after an answer's head is read at most (it is thrown away).
    static let bodyDeadline: Duration = .seconds(1)

    /// Fails a new connection whose peer is an address `policy` refuses (AsyncHTTPClient then does not
    /// use it): the check against the address actually connected to.
    static func peerCheck(_ policy: AddressPolicy) -> @Sendable (any Channel) -> EventLoopFuture<Void> {
        { channel in
            guard let remote = channel.remoteAddress, let address = IPAddress(remote) else {
                return channel.eventLoop.makeFailedFuture(RefusedAddress(reason: "Gegenstelle unbekannt"))
            }
            if let reason = policy.refusal(of: address) {
                return channel.eventLoop.makeFailedFuture(RefusedAddress(reason: reason))
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
    }

    /// 2xx delivered, 410 gone, anything else (redirects included: they are not followed) again later,
    /// as Standard Webhooks receivers expect.
    ///
    /// A 4xx too: every attempt carries a new timestamp and signature, and the usual 4xx pass by
    /// themselves: a 401 from a receiver that switched to the new secret before every sender did, a
    /// 400 for a timestamp outside its tolerance, a 404 from an ingress while the receiver restarts.
    /// Failing those at once lost the events of every such minute for good. The schedule's last status
    /// and error stay visible meanwhile (`freigabe outbox list`, the outbox page).
    static func judge(status: Int, headers: HTTPHeaders, now: Date) -> Result {
        switch status {
        case 200..<300:
            return .delivered(status: status)
        case 410:
            return .gone
        case 300..<400:
            let location = headers.first(name: "Location").map { " nach „\(String($0.prefix(200)))“" } ?? ""
            return .failed(
                status: status, error: "HTTP \(status): Weiterleitung\(location) nicht gefolgt", retryAfter: nil)
        default:
            return .failed(
                status: status, error: "HTTP \(status)",
                retryAfter: headers.first(name: "Retry-After").flatMap { retryAfter($0, now: now) })
        }
    }

    /// `Retry-After`: seconds or an HTTP date (RFC 9110 10.2.3); nil when unreadable (a sign, a
    /// fraction, words). At most a day: more digits than an `Int` holds are a long time, not garbage. A
    /// date in the past is zero.
    static func retryAfter(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        var seconds: Double?
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            seconds = Int(text).map(Double.init) ?? 86_400
        } else {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
            if let date = formatter.date(from: text) { seconds = max(date.timeIntervalSince(now), 0) }
        }
        guard let seconds else { return nil }
        return .seconds(min(seconds, 86_400))
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            // The client's own timeouts may fire a moment before the overall deadline: the same thing.
            if [.readTimeout, .connectTimeout, .deadlineExceeded, .writeTimeout].contains(error) {
                return "Zeitüberschreitung: \(error)"
            }
            return "HTTP-Client: \(error)"
        }
        return String(describing: error).prefix(500).description
    }
}
