import Configuration
import Foundation
import NIOCore
import Testing

@testable import FreigabeServer

@Suite("HTTP server settings and connection deadlines")
struct HTTPServerSettingsTests {
    static func configuration(_ environment: [String: String]) async throws -> AppConfiguration {
        try AppConfiguration(reader: try await ConfigurationSources.reader(environment: environment))
    }

    @Test("defaults: 20 s for a head, 60 s idle, connections below the file limit, no trusted proxy")
    func defaults() async throws {
        let settings = try await Self.configuration([:]).http
        #expect(settings.headerTimeout == .seconds(20))
        #expect(settings.bodyTimeout == .seconds(60))
        #expect(settings.idleTimeout == .seconds(60))
        #expect(settings.trustedProxies.isEmpty)
        #expect(settings.clientAddressHeader == .xForwardedFor)
        let limit = try #require(HTTPServerSettings.fileDescriptorLimit())
        #expect(settings.maxConnections >= 1)
        #expect(settings.maxConnections <= limit - HTTPServerSettings.reservedFileDescriptors)
    }

    @Test("every key can be set")
    func keys() async throws {
        let settings = try await Self.configuration([
            "FREIGABE_HTTP_HEADER_TIMEOUT_SECONDS": "5", "FREIGABE_HTTP_BODY_TIMEOUT_SECONDS": "90",
            "FREIGABE_HTTP_IDLE_TIMEOUT_SECONDS": "30",
            "FREIGABE_HTTP_MAX_CONNECTIONS": "100", "FREIGABE_HTTP_TRUSTED_PROXIES": "10.0.0.1; 10.1.0.0/16 ::1",
            "FREIGABE_HTTP_CLIENT_ADDRESS_HEADER": "Forwarded",
        ]).http
        #expect(settings.headerTimeout == .seconds(5))
        #expect(settings.bodyTimeout == .seconds(90))
        #expect(settings.idleTimeout == .seconds(30))
        #expect(settings.maxConnections == 100)
        #expect(settings.trustedProxies.map(\.description) == ["10.0.0.1", "10.1.0.0/16", "::1"])
        #expect(settings.clientAddressHeader == .forwarded)
    }

    @Test(
        "bad values stop the start naming the key",
        arguments: [
            ("FREIGABE_HTTP_HEADER_TIMEOUT_SECONDS", "0"), ("FREIGABE_HTTP_IDLE_TIMEOUT_SECONDS", "ewig"),
            ("FREIGABE_HTTP_BODY_TIMEOUT_SECONDS", "-1"), ("FREIGABE_HTTP_BODY_TIMEOUT_SECONDS", "3601"),
            ("FREIGABE_HTTP_MAX_CONNECTIONS", "0"), ("FREIGABE_HTTP_MAX_CONNECTIONS", "100000000"),
            ("FREIGABE_HTTP_TRUSTED_PROXIES", "10.0.0.1, proxy.stadt.example"),
            // Any client would be a trusted proxy, naming its own address.
            ("FREIGABE_HTTP_TRUSTED_PROXIES", "0.0.0.0/0"), ("FREIGABE_HTTP_TRUSTED_PROXIES", "10.0.0.1, ::/0"),
            ("FREIGABE_HTTP_TRUSTED_PROXIES", "::ffff:0:0/96"),
            ("FREIGABE_HTTP_CLIENT_ADDRESS_HEADER", "x-real-ip"),
        ])
    func badValues(variable: String, value: String) async throws {
        let error = await #expect(throws: ConfigurationError.self) {
            try await Self.configuration([variable: value])
        }
        #expect(error?.description.contains(variable) == true)
    }

    @Test("connection deadlines: head from the start, idle after a response, nothing while answering")
    func deadlines() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var machine = ConnectionDeadlines(
            headerTimeout: .seconds(2), bodyTimeout: .seconds(5), idleTimeout: .seconds(10), openedAt: start)
        #expect(machine.deadline == start + .seconds(2))
        machine.bytesReceived(at: start + .seconds(1))
        #expect(machine.deadline == start + .seconds(2), "a trickle does not extend the deadline")
        #expect(machine.expiry(at: start + .seconds(2)) == .header)
        machine.headReceived(at: start + .seconds(2))
        #expect(machine.deadline == start + .seconds(7), "the body from the head on")
        #expect(machine.expiry(at: start + .seconds(7)) == .body)
        machine.requestEnded()
        #expect(machine.deadline == nil)
        #expect(!machine.mayAnswer)
        // Answered before its body ended: the body's deadline still holds, its bytes are no new head.
        var early = ConnectionDeadlines(
            headerTimeout: .seconds(2), bodyTimeout: .seconds(5), idleTimeout: .seconds(10), openedAt: start)
        early.headReceived(at: start + .seconds(1))
        early.responseEnded(at: start + .seconds(2))
        early.bytesReceived(at: start + .seconds(3))
        #expect(early.deadline == start + .seconds(6))
        #expect(early.expiry(at: start + .seconds(6)) == .body)
        early.requestEnded()
        #expect(early.deadline == start + .seconds(12), "idle since the answer once the body is in")
        machine.headReceived(at: start + .seconds(2))
        machine.requestEnded()
        machine.responseEnded(at: start + .seconds(3))
        #expect(machine.deadline == nil, "a pipelined second request is still being answered")
        machine.responseEnded(at: start + .seconds(4))
        #expect(machine.phase == .idle(since: start + .seconds(4)))
        #expect(machine.expiry(at: start + .seconds(13)) == nil)
        #expect(machine.expiry(at: start + .seconds(14)) == .idle)
        machine.bytesReceived(at: start + .seconds(5))
        #expect(machine.deadline == start + .seconds(7))
        #expect(machine.mayAnswer)
    }

    @Test("connection deadlines: a client that stops reading an answer runs out after the idle timeout")
    func stalledReader() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var machine = ConnectionDeadlines(
            headerTimeout: .seconds(2), bodyTimeout: .seconds(5), idleTimeout: .seconds(10), openedAt: start)
        machine.headReceived(at: start)
        machine.requestEnded()
        machine.writabilityChanged(isWritable: false, at: start + .seconds(1))
        // A second notice does not move the start of the stall.
        machine.writabilityChanged(isWritable: false, at: start + .seconds(5))
        #expect(machine.deadline == start + .seconds(11))
        #expect(machine.expiry(at: start + .seconds(10)) == nil)
        #expect(machine.expiry(at: start + .seconds(11)) == .stalledReader)
        // A write that reaches the kernel is progress: a slow reader is never cut.
        let moved = machine.wrote(at: start + .seconds(9))
        #expect(moved)
        #expect(machine.expiry(at: start + .seconds(11)) == nil)
        #expect(machine.deadline == start + .seconds(19))
        // Reading again lifts it: an answer that simply takes long is not timed.
        machine.writabilityChanged(isWritable: true, at: start + .seconds(6))
        #expect(machine.deadline == nil)
        #expect(machine.expiry(at: start + .seconds(60)) == nil)
        // Stalled between requests (our last answer still in the buffer): the earlier deadline wins.
        machine.responseEnded(at: start + .seconds(20))
        machine.writabilityChanged(isWritable: false, at: start + .seconds(25))
        #expect(machine.deadline == start + .seconds(30))
        #expect(machine.expiry(at: start + .seconds(35)) == .stalledReader)
    }
}
