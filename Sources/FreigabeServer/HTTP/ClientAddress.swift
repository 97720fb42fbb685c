import Foundation
import HTTPTypes
import Hummingbird

/// An IP address or network (`10.0.0.0/8`, `192.0.2.7`, `fd00::/8`, `::1`), for `http.trusted_proxies`.
///
/// Addresses are kept as 16 bytes; IPv4 is mapped into `::ffff:0:0/96`, so `127.0.0.1` and
/// `::ffff:127.0.0.1` are the same address.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefixLength: Int
    public let description: String

    /// Parses an address with an optional `/prefix`; nil if it is not one.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPNetwork.bytes(of: String(parts[0])) else { return nil }
        let isIPv4 = !parts[0].contains(":")
        let maximum = isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...maximum).contains(given), !parts[1].hasPrefix("+") else { return nil }
            length = given
        }
        self.bytes = address
        self.prefixLength = isIPv4 ? length + 96 : length
        self.description = text
    }

    /// Whether `address` (text, as `SocketAddress.ipAddress` gives it) lies in this network.
    public func contains(_ address: String) -> Bool {
        guard let other = IPNetwork.bytes(of: address) else { return false }
        var remaining = prefixLength
        for index in 0..<16 where remaining > 0 {
            let bits = min(remaining, 8)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != other[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// Whether the two networks share an address: the shorter prefix's bits agree.
    func overlaps(_ other: IPNetwork) -> Bool {
        var remaining = min(prefixLength, other.prefixLength)
        for index in 0..<16 where remaining > 0 {
            let bits = min(remaining, 8)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != other.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// The 16 bytes of an IPv4 or IPv6 address (IPv4 mapped), or nil.
    static func bytes(of text: String) -> [UInt8]? {
        var text = text
        // A zone id (`fe80::1%eth0`) is not part of the address.
        if let zone = text.firstIndex(of: "%") { text = String(text[..<zone]) }
        if !text.contains(":") {
            var address = in_addr()
            guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
            return [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + withUnsafeBytes(of: &address) { Array($0) }
        }
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}

/// Finds the client's address behind trusted reverse proxies.
///
/// Only when the peer itself is a trusted proxy are `X-Forwarded-For` (default) or `Forwarded`
/// (RFC 7239, `http.client_address_header`) read; their hops are walked from the right, skipping
/// trusted proxies, and the first untrusted hop is the client: everything left of it was written by
/// the client and may be invented. A hop that is not an IP address (`unknown`, an obfuscated name)
/// ends the walk at the last trusted hop. Only the configured header is read, so a header the proxy
/// passes through unchanged cannot be used to pick an address.
public struct ClientAddressResolver: Sendable {
    public enum Header: String, Sendable, CaseIterable {
        case xForwardedFor = "x-forwarded-for"
        case forwarded
    }

    let trustedProxies: [IPNetwork]
    let header: Header

    public init(trustedProxies: [IPNetwork], header: Header = .xForwardedFor) {
        self.trustedProxies = trustedProxies
        self.header = header
    }

    /// The client's address for a request from `peer` with `headers`.
    public func clientAddress(peer: String?, headers: HTTPFields) -> String? {
        guard let peer, isTrusted(peer) else { return peer }
        var client = peer
        for hop in hops(in: headers).reversed() {
            let address = Self.canonical(hop)
            guard IPNetwork.bytes(of: address) != nil else { break }
            client = address
            if !isTrusted(address) { break }
        }
        return client
    }

    func isTrusted(_ address: String) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }

    /// All hops of the configured header, leftmost first, over all its lines.
    func hops(in headers: HTTPFields) -> [String] {
        switch header {
        case .xForwardedFor:
            let name = HTTPField.Name("X-Forwarded-For")!
            return headers[values: name].flatMap { $0.split(separator: ",") }.map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        case .forwarded:
            let name = HTTPField.Name("Forwarded")!
            return headers[values: name].flatMap { $0.split(separator: ",") }.map { element in
                // `for=192.0.2.60;proto=http;by=203.0.113.43`; a hop without `for` is unknown.
                let pairs = element.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let pair = pairs.first(where: { $0.lowercased().hasPrefix("for=") }) else { return "unknown" }
                return pair.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
    }

    /// `[2001:db8::1]:4711` → `2001:db8::1`; `192.0.2.60:4711` → `192.0.2.60`.
    static func canonical(_ hop: String) -> String {
        if hop.hasPrefix("["), let end = hop.firstIndex(of: "]") {
            return String(hop[hop.index(after: hop.startIndex)..<end])
        }
        if hop.filter({ $0 == ":" }).count == 1, let colon = hop.firstIndex(of: ":") {
            return String(hop[..<colon])
        }
        return hop
    }
}

/// Sets ``AppRequestContext/clientAddress`` from the headers of trusted reverse proxies.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let resolver: ClientAddressResolver

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard !resolver.trustedProxies.isEmpty else { return try await next(request, context) }
        var context = context
        context.clientAddress = resolver.clientAddress(peer: context.remoteAddress?.ipAddress, headers: request.headers)
        return try await next(request, context)
    }
}
