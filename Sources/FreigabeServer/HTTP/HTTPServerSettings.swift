import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// How the HTTP server treats connections and whom it believes about client addresses (`http.*`
/// besides host and port).
///
/// Built from what Hummingbird offers: `HTTP1Channel.Configuration` (its idle timeout, the decoder's
/// header limits, an extra channel handler) and `ApplicationConfiguration.availableConnectionsDelegate`
/// (``MaximumAvailableConnections``: beyond the limit the server stops accepting, new connections
/// wait in the kernel's backlog, and no file descriptor is spent on them). The header-read timeout and
/// the 431 are ours (``ConnectionDeadlineHandler``): Hummingbird's idle timer only sees parsed parts, so
/// a half-sent head would count as idle.
public struct HTTPServerSettings: Sendable, Equatable {
    public enum Key {
        public static let headerTimeout = "http.header_timeout_seconds"
        public static let bodyTimeout = "http.body_timeout_seconds"
        public static let idleTimeout = "http.idle_timeout_seconds"
        public static let maxConnections = "http.max_connections"
        public static let trustedProxies = "http.trusted_proxies"
        public static let clientAddressHeader = "http.client_address_header"
    }

    /// File descriptors kept free beside client connections: database and LDAP pools, templates,
    /// static files, logs.
    public static let reservedFileDescriptors = 256
    /// Upper bound of the default connection limit on hosts with a very high file limit.
    public static let defaultConnectionCeiling = 10_000
    /// Request line and header fields together; a larger head gets 431.
    public static let maximumHeadBytes = 16 * 1024
    public static let maximumHeaderFields = 100

    /// Time for a request head to arrive completely, from connection start or from its first byte.
    public var headerTimeout: Duration
    /// Time for a request's body to arrive completely, from its head: the largest (a 4 MiB catalogue file)
    /// takes about 35 s at 1 Mbit/s.
    public var bodyTimeout: Duration
    /// Time a keep-alive connection may sit idle between requests.
    public var idleTimeout: Duration
    /// Connections served at once; further ones wait in the backlog until one closes.
    public var maxConnections: Int
    /// Proxies whose `X-Forwarded-For` / `Forwarded` is believed; empty: the peer is the client.
    public var trustedProxies: [IPNetwork]
    /// The header the trusted proxies write.
    public var clientAddressHeader: ClientAddressResolver.Header

    public init(
        headerTimeout: Duration = .seconds(20), bodyTimeout: Duration = .seconds(60),
        idleTimeout: Duration = .seconds(60),
        maxConnections: Int = HTTPServerSettings.defaultMaxConnections(), trustedProxies: [IPNetwork] = [],
        clientAddressHeader: ClientAddressResolver.Header = .xForwardedFor
    ) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.trustedProxies = trustedProxies
        self.clientAddressHeader = clientAddressHeader
    }

    /// The settings from `http.*`; unset keys keep their defaults.
    static func read(_ values: SettingValues) throws -> HTTPServerSettings {
        var settings = HTTPServerSettings()
        settings.headerTimeout = try values.seconds(Key.headerTimeout, in: 1...3600) ?? settings.headerTimeout
        settings.bodyTimeout = try values.seconds(Key.bodyTimeout, in: 1...3600) ?? settings.bodyTimeout
        settings.idleTimeout = try values.seconds(Key.idleTimeout, in: 1...3600) ?? settings.idleTimeout
        let limit = fileDescriptorLimit().map { $0 - Self.reservedFileDescriptors } ?? .max
        var connections = "ganze Zahl ab 1"
        if limit < .max {
            connections +=
                ", unter dem Dateilimit des Prozesses abzüglich \(Self.reservedFileDescriptors): höchstens \(limit)"
        }
        settings.maxConnections =
            try values.wholeNumber(Key.maxConnections, in: 1...max(1, limit), expected: connections)
            ?? settings.maxConnections
        if let proxies = try values.parsed(
            Key.trustedProxies,
            expected: "IP-Adressen oder Netze (CIDR) der eigenen Proxys, getrennt durch Komma; kein Netz weiter als /7",
            parse: Self.networks)
        {
            settings.trustedProxies = proxies
        }
        let headers = ClientAddressResolver.Header.allCases.map(\.rawValue).joined(separator: ", ")
        if let header = try values.parsed(
            Key.clientAddressHeader, expected: headers,
            parse: { ClientAddressResolver.Header(rawValue: $0.lowercased()) })
        {
            settings.clientAddressHeader = header
        }
        return settings
    }

    /// `10.0.0.1, 10.1.0.0/16; ::1` → networks; nil if one entry is not an address, or a network so wide
    /// (`0.0.0.0/0`, `::/0`, an IPv6 range holding all of IPv4) that any client would be a trusted proxy
    /// and could name its own address (for the `/metrics` check, the login limits, the security log).
    static func networks(_ list: String) -> [IPNetwork]? {
        let entries = list.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " })
        let networks = entries.compactMap { IPNetwork(String($0)) }.filter(AddressPolicy.isNarrowEnough)
        return networks.count == entries.count ? networks : nil
    }

    /// The soft limit on open files (`ulimit -n`), if the system tells.
    public static func fileDescriptorLimit() -> Int? {
        var limit = rlimit()
        #if os(Linux)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        // RLIM_INFINITY is the largest value and clamps to Int.max.
        guard getrlimit(resource, &limit) == 0 else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// The file limit minus what the rest of the process needs, at most ``defaultConnectionCeiling``.
    public static func defaultMaxConnections() -> Int {
        guard let limit = fileDescriptorLimit() else { return defaultConnectionCeiling }
        return max(1, min(defaultConnectionCeiling, limit - reservedFileDescriptors))
    }

    /// The HTTP/1.1 server: timeouts, header limits, 431.
    public var serverBuilder: HTTPServerBuilder {
        let header = TimeAmount(headerTimeout)
        let idle = TimeAmount(idleTimeout)
        return .http1(
            configuration: .init(
                additionalChannelHandlers: [
                    ConnectionDeadlineHandler(
                        headerTimeout: header, bodyTimeout: TimeAmount(bodyTimeout), idleTimeout: idle)
                ],
                idleTimeout: idle,
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: Self.maximumHeadBytes, maxHeaderListSize: Self.maximumHeadBytes,
                    maxHeaderFieldCount: Self.maximumHeaderFields)))
    }

    /// Hummingbird's application configuration for `address` with the connection limit.
    public func applicationConfiguration(address: BindAddress, logger: Logger) -> ApplicationConfiguration {
        ApplicationConfiguration(
            address: address, availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger))
    }

    var clientAddressResolver: ClientAddressResolver {
        ClientAddressResolver(trustedProxies: trustedProxies, header: clientAddressHeader)
    }
}
