import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    var bytes: [UInt8]

    init?(_ text: String) {
        var trimmed = Substring(text)
        if trimmed.hasPrefix("["), trimmed.hasSuffix("]") { trimmed = trimmed.dropFirst().dropLast() }
        guard trimmed.utf8.count <= 64 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 16)
        let string = String(trimmed)
        if string.withCString({ inet_pton(AF_INET, $0, &buffer) }) == 1 {
            bytes = Array(buffer.prefix(4))
        } else if string.withCString({ inet_pton(AF_INET6, $0, &buffer) }) == 1 {
            bytes = buffer
        } else {
            return nil
        }
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            self.bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            self.bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            return nil
        }
    }

    var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, 64) } != nil
        guard ok else { return "?" }
        return String(cString: buffer)
    }

    /// The IPv4 address inside a NAT64 or 6to4 IPv6 address: it is what gets reached. (IPv4-mapped
    /// addresses need no unwrapping: ``IPNetwork`` keeps IPv4 mapped.)
    var embeddedIPv4: IPAddress? {
        guard bytes.count == 16 else { return nil }
        if bytes[0..<12] == [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] {
            return IPAddress(bytes: Array(bytes[12..<16]))
        }
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return IPAddress(bytes: Array(bytes[2..<6])) }
        return nil
    }
}

/// Which addresses a webhook may be sent to: public ones, and those of the allow-list. Refused unless
/// allowed: loopback, link-local (with the cloud metadata service 169.254.169.254), private and unique
/// local networks, shared address space (carrier NAT), unspecified, multicast, broadcast and reserved
/// ranges, also when wrapped in an IPv6 address (IPv4-mapped, NAT64, 6to4). A receiver on such an
/// address would let whoever can edit a subscription reach inside the city's network (SSRF).
struct AddressPolicy: Sendable, Hashable {
    var allowed: [IPNetwork]

    init(allowed: [IPNetwork] = []) {
        self.allowed = allowed
    }

    /// Checked in order: the metadata service before the link-local range it lies in.
    private static let refused: [(network: IPNetwork, what: String)] = [
        ("0.0.0.0/8", "unspezifiziert"), ("10.0.0.0/8", "privat"), ("100.64.0.0/10", "Carrier-NAT"),
        ("127.0.0.0/8", "Loopback"), ("169.254.169.254/32", "Metadatendienst"), ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "privat"), ("192.0.0.0/24", "reserviert"), ("192.168.0.0/16", "privat"),
        ("198.18.0.0/15", "reserviert"), ("224.0.0.0/4", "Multicast"), ("240.0.0.0/4", "reserviert"),
        ("::/128", "unspezifiziert"), ("::1/128", "Loopback"), ("fc00::/7", "privat (ULA)"),
        ("fe80::/10", "link-local"), ("ff00::/8", "Multicast"),
    ].map { (IPNetwork($0.0)!, $0.1) }

    /// Why `address` may not be connected to, nil when it may.
    func refusal(of address: IPAddress) -> String? {
        let text = address.description
        if allowed.contains(where: { $0.contains(text) }) { return nil }
        if let inner = address.embeddedIPv4, let reason = refusal(of: inner) { return reason }
        guard let hit = Self.refused.first(where: { $0.network.contains(text) }) else { return nil }
        return "\(text) ist \(hit.what)"
    }

    /// IPv6 ranges that wrap the whole IPv4 space (IPv4-mapped, NAT64, 6to4), each with the prefix
    /// length at which its embedded IPv4 address begins.
    private static let ipv4Wrappers: [IPNetwork] = ["::ffff:0:0/96", "64:ff9b::/96", "2002::/16"].map {
        IPNetwork($0)!
    }

    /// Whether `network` names a range, not (nearly) everything: at least a /8 for IPv4, a /7 for IPv6
    /// (the unique local fc00::/7), and at least a /8 of the IPv4 space inside any IPv6 range that
    /// wraps it: `::ffff:0:0/96`, `::/8` or `2002::/16` would otherwise allow every IPv4 address,
    /// loopback and private networks included.
    static func isNarrowEnough(_ network: IPNetwork) -> Bool {
        guard network.prefixLength >= 7 else { return false }
        return ipv4Wrappers.allSatisfy { wrapper in
            !network.overlaps(wrapper) || network.prefixLength >= wrapper.prefixLength + 8
        }
    }

    /// `localhost` and its subdomains always mean this machine (RFC 6761), whatever DNS says.
    static func isLocalhostName(_ host: String) -> Bool {
        let host = host.lowercased()
        return host == "localhost" || host.hasSuffix(".localhost") || host == "localhost."
    }
}

/// The addresses of a host name, from the system resolver (`getaddrinfo`, on a thread pool: it
/// blocks). getaddrinfo cannot be cancelled, so the wait is bounded by racing it against a timer on
/// the same promise: after `timeout` the caller goes on and the lookup ends on its own later.
///
/// The lookups have threads of their own, not NIO's shared pool, where the files the pages need are
/// read: a resolver that does not answer blocks only them. And at most ``Slots/capacity`` lookups
/// are under way at once; past that, a lookup waits for a slot within its own timeout (a round of twenty
/// deliveries to one host waits a moment, it does not fail twelve of them), and fails at its timeout
/// when hung lookups hold every slot, instead of queueing behind them for ever.
enum HostResolver {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let slots = Slots(capacity: 8)
    /// A thread per slot: a lookup that holds a slot is running, never queued behind hung ones.
    private static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: slots.capacity)
        pool.start()
        return pool
    }()

    static func addresses(of host: String, port: Int, timeout: Duration) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        let deadline = ContinuousClock.now + timeout
        guard await slots.take(before: deadline) else {
            throw Failure(
                description:
                    "„\(host)“ nicht binnen \(timeout) aufgelöst: \(slots.capacity) Auflösungen laufen noch "
                    + "(DNS antwortet langsam oder nicht)")
        }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = eventLoop.makePromise(of: [IPAddress].self)
        // A promise completed twice keeps the first result: whichever of lookup and timer ends first.
        let left = max(deadline - ContinuousClock.now, .milliseconds(1))
        let timer = eventLoop.scheduleTask(in: .nanoseconds(left.nanoseconds)) {
            promise.fail(Failure(description: "„\(host)“ nicht binnen \(timeout) aufgelöst"))
        }
        threads.submit { state in
            // Released when the lookup itself ends, not when the caller stops waiting.
            defer { slots.release() }
            guard case .active = state else {
                promise.fail(Failure(description: "Thread-Pool beendet"))
                return
            }
            promise.completeWith(Result { try lookup(host, port: port) })
        }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    private static func lookup(_ host: String, port: Int) throws -> [IPAddress] {
        do {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &result)
            guard status == 0, let first = result else {
                throw Failure(description: "„\(host)“ nicht auflösbar (getaddrinfo \(status))")
            }
            defer { freeaddrinfo(first) }
            var found: [IPAddress] = []
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let entry = next {
                if let sockaddr = entry.pointee.ai_addr {
                    switch Int32(entry.pointee.ai_family) {
                    case AF_INET:
                        let v4 = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
                        found.append(IPAddress(bytes: withUnsafeBytes(of: v4.sin_addr) { Array($0) }))
                    case AF_INET6:
                        let v6 = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
                        found.append(IPAddress(bytes: withUnsafeBytes(of: v6.sin6_addr) { Array($0) }))
                    default:
                        break
                    }
                }
                next = entry.pointee.ai_next
            }
            var unique: [IPAddress] = []
            for address in found where !unique.contains(address) { unique.append(address) }
            return unique
        }
    }
}
