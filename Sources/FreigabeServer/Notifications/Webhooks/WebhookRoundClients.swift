import AsyncHTTPClient
import Synchronization

/// The HTTP clients of one dispatcher round: one per receiver host and checked address, shared by every
/// attempt of the round, so that a batch to one receiver reuses its connections (keep-alive) instead of
/// opening one client, one event loop registration and one TLS handshake per attempt. Shut down when
/// the round ends (``shutdown()``), so no client outlives its round: the next round resolves and checks
/// the host again and pins a fresh client to what it finds.
///
/// Keyed by the pinned address too: the address is part of the client's configuration
/// (`dnsOverride`), and a client pinned to one address must never carry a request meant for another.
final class WebhookRoundClients: Sendable {
    struct Key: Hashable, Sendable {
        var host: String
        /// The checked address the host name is pinned to; nil when the URL names an address.
        var pinned: String?
    }

    private let clients = Mutex<[Key: HTTPClient]>([:])
    let policy: AddressPolicy
    let timeout: Duration

    init(policy: AddressPolicy, timeout: Duration) {
        self.policy = policy
        self.timeout = timeout
    }

    /// How many clients the round made (tests: one per receiver, not per attempt).
    var count: Int { clients.withLock { $0.count } }

    /// The round's client for `host`, pinned to `pinned`; made on first use.
    func client(host: String, pinned: String?) -> HTTPClient {
        clients.withLock { clients in
            let key = Key(host: host, pinned: pinned)
            if let client = clients[key] { return client }
            // The attempt's own deadline (WebhookSender) bounds each request; these bound the parts.
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .nanoseconds(timeout.nanoseconds), read: .nanoseconds(timeout.nanoseconds)))
            configuration.httpVersion = .http1Only
            if let pinned { configuration.dnsOverride = [host: pinned] }
            configuration.http1_1ConnectionDebugInitializer = WebhookSender.peerCheck(policy)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    /// Shuts every client of the round down; called once all its attempts have ended.
    func shutdown() async {
        let all = clients.withLock { clients in
            let all = Array(clients.values)
            clients.removeAll()
            return all
        }
        for client in all { try? await client.shutdown() }
    }
}
