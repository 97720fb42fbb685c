import ArgumentParser
import Foundation
import FreigabeServer
import LDAPDirectory
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// `freigabe-bench ldap`: logins per second and p50/p99 of authenticate + roles against the configured
/// directory (the local slapd in `make bench-ldap`), with a cold and a warm cache.
///
/// How "no event-loop thread is ever blocked by libldap" is checked: the clients are actors whose
/// executor is a NIO event loop, so everything but libldap runs on event-loop threads, and a 1 ms
/// repeating timer on every loop records how late it fires. A libldap call on a loop would delay it by
/// a whole LDAP round trip or more; in addition LDAPDirectory asserts in debug builds that no libldap
/// call runs on an event loop.
struct LDAPBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ldap", abstract: "Benchmark directory logins (authenticate + roles).")

    @Option(help: "YAML configuration file with the ldap.* settings.") var config: String?
    @Option(help: "Concurrent clients.") var clients = 16
    @Option(help: "Logins per client and run.") var loginsPerClient = 200
    @Option(help: "Users to log in as, round robin (all with the same password).")
    var users = "anna,otto,paul,stefan,sina,bea,dora,ingo,olga,greta,alex,adam,marta,volker,jürgen"
    @Option(help: "Their password.") var password = "demo"

    func run() async throws {
        let reader = try await ConfigurationSources.reader(
            overrides: config.map { [AppConfiguration.Key.configFile: $0] } ?? [:])
        guard let settings = try AppConfiguration(reader: reader).directory else {
            throw ValidationError("No directory configured (ldap.url).")
        }
        let names = users.split(separator: ",").map(String.init)
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        var logger = Logger(label: "freigabe-bench")
        logger.logLevel = .error
        print(
            "freigabe-bench ldap: \(clients) clients × \(loginsPerClient) logins, \(System.coreCount) cores, \(settings.url)"
        )

        for (name, ttl) in [("cold (cache off)", Duration.zero), ("warm (cache 300 s)", Duration.seconds(300))] {
            var runSettings = settings
            runSettings.cacheTTL = ttl
            let directory = try LDAPDirectory(configuration: runSettings, logger: logger)
            if ttl > .zero {
                for user in names { _ = try await directory.authenticate(username: user, password: password) }
            }
            let probe = LatenessProbe()
            let timers = probe.start(on: loops)
            let started = ContinuousClock.now
            let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
                for index in 0..<clients {
                    let client = LoginClient(eventLoop: loops.next(), directory: directory)
                    group.addTask {
                        try await client.run(count: loginsPerClient, users: names, offset: index, password: password)
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let summary = LatencySummary(latencies: latencies, elapsed: ContinuousClock.now - started)
            for timer in timers { timer.cancel() }
            await directory.shutdown()
            print("\(name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(summary.line)")
            print(
                String(
                    format: "%@ worst event-loop timer lateness %.2f ms", String(repeating: " ", count: 21),
                    probe.worst.milliseconds))
        }
        try await loops.shutdownGracefully()
    }
}

/// One benchmark client; its code runs on an event loop (see `LDAPBenchmark`).
actor LoginClient {
    nonisolated let unownedExecutor: UnownedSerialExecutor
    let directory: LDAPDirectory

    init(eventLoop: any EventLoop, directory: LDAPDirectory) {
        self.unownedExecutor = eventLoop.executor.asUnownedSerialExecutor()
        self.directory = directory
    }

    func run(count: Int, users: [String], offset: Int, password: String) async throws -> [Duration] {
        var latencies: [Duration] = []
        latencies.reserveCapacity(count)
        for index in 0..<count {
            let started = ContinuousClock.now
            _ = try await directory.authenticate(username: users[(index + offset) % users.count], password: password)
            latencies.append(ContinuousClock.now - started)
        }
        return latencies
    }
}

/// Measures how late a 1 ms repeating timer fires on each event loop.
final class LatenessProbe: Sendable {
    private let worstLateness = Mutex<Duration>(.zero)

    var worst: Duration { worstLateness.withLock { $0 } }

    func start(on group: MultiThreadedEventLoopGroup) -> [RepeatedTask] {
        group.makeIterator().map { loop in
            let expected = Mutex<NIODeadline>(.now() + .milliseconds(1))
            return loop.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { _ in
                let now = NIODeadline.now()
                let late = expected.withLock { deadline -> Int64 in
                    defer { deadline = now + .milliseconds(1) }
                    return (now - deadline).nanoseconds
                }
                self.worstLateness.withLock { $0 = max($0, .nanoseconds(late)) }
            }
        }
    }
}
