import Foundation
import Hummingbird
import Testing

@testable import FreigabeServer

@Suite("Client address behind trusted proxies")
struct ClientAddressTests {
    static func networks(_ list: String) -> [IPNetwork] { HTTPServerSettings.networks(list) ?? [] }

    static func forwarded(_ values: [String], header: String = "X-Forwarded-For") -> HTTPFields {
        var fields = HTTPFields()
        for value in values { fields.append(.init(name: .init(header)!, value: value)) }
        return fields
    }

    @Test(
        "networks contain their addresses, IPv4 and IPv6",
        arguments: [
            ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false),
            ("192.0.2.7", "192.0.2.7", true), ("192.0.2.7", "192.0.2.8", false),
            ("192.0.2.7", "::ffff:192.0.2.7", true), ("172.16.0.0/12", "172.31.255.255", true),
            ("172.16.0.0/12", "172.32.0.0", false), ("fd00::/8", "fd12:3456::1", true), ("fd00::/8", "fe80::1", false),
            ("::1", "::1", true), ("0.0.0.0/0", "203.0.113.1", true), ("10.0.0.0/8", "unknown", false),
        ])
    func networkContains(network: String, address: String, expected: Bool) throws {
        let parsed = try #require(IPNetwork(network))
        #expect(parsed.contains(address) == expected)
    }

    @Test(
        "malformed entries are refused",
        arguments: ["10.0.0.0/33", "10.0.0/8", "::1/129", "localhost", "10.0.0.1/", "1.2.3.4/+8"])
    func malformed(entry: String) {
        #expect(IPNetwork(entry) == nil)
    }

    @Test("the peer is the client unless it is a trusted proxy")
    func untrustedPeer() {
        let resolver = ClientAddressResolver(trustedProxies: Self.networks("10.0.0.0/8"))
        let headers = Self.forwarded(["198.51.100.7"])
        #expect(resolver.clientAddress(peer: "192.0.2.1", headers: headers) == "192.0.2.1")
        #expect(resolver.clientAddress(peer: "10.0.0.5", headers: headers) == "198.51.100.7")
        #expect(resolver.clientAddress(peer: nil, headers: headers) == nil)
    }

    @Test("hops are walked from the right over all header lines; trusted hops are skipped")
    func rightmostUntrusted() {
        let resolver = ClientAddressResolver(trustedProxies: Self.networks("127.0.0.1, 10.0.0.0/8"))
        let cases: [([String], String)] = [
            (["203.0.113.9, 198.51.100.7, 10.1.2.3"], "198.51.100.7"),
            (["203.0.113.9", "198.51.100.7", "10.1.2.3"], "198.51.100.7"),
            (["10.9.9.9, 10.1.2.3"], "10.9.9.9"),
            ([], "127.0.0.1"),
            (["garbage, 10.1.2.3"], "10.1.2.3"),
            (["198.51.100.7, unknown"], "127.0.0.1"),
            (["2001:db8::7"], "2001:db8::7"),
        ]
        for (values, expected) in cases {
            #expect(resolver.clientAddress(peer: "127.0.0.1", headers: Self.forwarded(values)) == expected, "\(values)")
        }
    }

    @Test("Forwarded (RFC 7239) is read only when configured, with ports and brackets removed")
    func forwardedHeader() {
        let proxies = Self.networks("127.0.0.1")
        let headers =
            Self.forwarded(
                [#"for=203.0.113.9;proto=https, for="[2001:db8::17]:4711";by=10.0.0.1"#], header: "Forwarded")
            + Self.forwarded(["198.51.100.7"])
        let standard = ClientAddressResolver(trustedProxies: proxies, header: .forwarded)
        #expect(standard.clientAddress(peer: "127.0.0.1", headers: headers) == "2001:db8::17")
        let legacy = ClientAddressResolver(trustedProxies: proxies)
        #expect(legacy.clientAddress(peer: "127.0.0.1", headers: headers) == "198.51.100.7")
        let port = Self.forwarded(["for=192.0.2.60:8080"], header: "Forwarded")
        #expect(standard.clientAddress(peer: "127.0.0.1", headers: port) == "192.0.2.60")
        let hidden = Self.forwarded(["for=_hidden"], header: "Forwarded")
        #expect(standard.clientAddress(peer: "127.0.0.1", headers: hidden) == "127.0.0.1")
    }
}
