import Testing

@testable import LDAPDirectory

/// A directory that swallows packets (a port whose kernel completes TCP handshakes but nobody ever
/// answers): logins must not queue behind each other for the pooled connections, the circuit
/// breaker must fail calls at once while the directory keeps failing, and the directory must
/// recover on its own once the directory answers again. Real sockets, the real slapd.
@Suite("faults: a directory that swallows packets")
struct FailingDirectoryTests {
    /// The default pool size and breaker settings, with 2 s timeouts (pool wait: 1 s).
    private func blackHoleConfiguration(port: UInt16) throws -> LDAPConfiguration {
        var configuration = try Slapd.configuration(url: "ldap://127.0.0.1:\(port)", cacheTTL: .zero)
        configuration.networkTimeout = .seconds(2)
        configuration.operationTimeout = .seconds(2)
        configuration.poolSize = 4
        configuration.circuitBreaker = LDAPConfiguration.CircuitBreaker()
        #expect(configuration.circuitBreaker.failureThreshold == 3)
        #expect(configuration.effectivePoolWaitTimeout == .seconds(1))
        return configuration
    }

    @Test("20 concurrent logins against a black hole end within one operation timeout + 1 s; the breaker opens")
    func concurrentLoginsAgainstBlackHole() async throws {
        let listener = try TCPListener()
        defer { listener.close() }
        let configuration = try blackHoleConfiguration(port: listener.port)
        let recorder = LogRecorder()
        let clock = ManualClock()
        try await Slapd.withDirectory(configuration, logger: recorder.logger(), now: clock.now) { directory async in
            #expect(directory.circuitState == .closed)
            let started = ContinuousClock.now
            let outcomes = await withTaskGroup(of: (Duration, Duration, String).self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let callStarted = ContinuousClock.now
                        let outcome: String
                        do {
                            _ = try await directory.authenticate(username: "user\(index)", password: "demo")
                            outcome = "succeeded"
                        } catch let error as LDAPDirectoryError {
                            outcome = "\(error.code)"
                        } catch {
                            outcome = "\(type(of: error))"
                        }
                        return (callStarted - started, ContinuousClock.now - callStarted, outcome)
                    }
                }
                var outcomes: [(Duration, Duration, String)] = []
                for await outcome in group {
                    outcomes.append(outcome)
                }
                return outcomes
            }
            let total = ContinuousClock.now - started
            let slowest = outcomes.map(\.1).max() ?? .zero
            let lastStart = outcomes.map(\.0).max() ?? .zero
            let firstEnd = outcomes.map { $0.0 + $0.1 }.min() ?? .zero
            print(
                "20 logins against a black hole: all ended after \(total), slowest call \(slowest), "
                    + "last call started after \(lastStart)")
            // Each call, timed from its own start: within one operation timeout + 1 s. (The batch's
            // wall time adds how late the test's tasks got a thread while other suites block some.)
            for (start, duration, outcome) in outcomes {
                #expect(
                    duration < configuration.operationTimeout + .seconds(1),
                    "a call started after \(start) took \(duration) (\(outcome))")
            }
            // And they did run concurrently: the last one started before the first one ended.
            #expect(lastStart < firstEnd, "last start \(lastStart), first end \(firstEnd)")
            var counts: [String: Int] = [:]
            for (_, _, outcome) in outcomes {
                counts[outcome, default: 0] += 1
            }
            // Only the calls holding one of the 4 search connections asked the directory (and timed
            // out); the others failed without asking it: they gave up waiting for a connection after
            // 1 s (poolTimeout), or, when the test's tasks started late, were failed when the calls
            // ahead of them failed (directoryUnavailable) or opened the breaker (circuitOpen).
            // Nobody waited a whole timeout for a connection and then another for the directory.
            #expect(counts["timeout"] == 4, "\(counts)")
            #expect(
                Set(counts.keys).isSubset(of: ["timeout", "poolTimeout", "directoryUnavailable", "circuitOpen"]),
                "\(counts)")
            print("outcomes of the 20 logins: \(counts.sorted { $0.key < $1.key })")
            #expect(directory.searchPool.usage == (leased: 0, idle: 0, waiting: 0))
            #expect(directory.bindPool.usage == (leased: 0, idle: 0, waiting: 0))
            #expect(directory.circuitState == .open)
            #expect(recorder.all.contains { $0.message.contains("circuit breaker opened") }, "\(recorder.text)")
        }
    }

    @Test("an open breaker fails calls at once; a failed probe opens it again; it closes when slapd answers")
    func breakerOpensFailsFastAndRecovers() async throws {
        let listener = try TCPListener()
        let port = listener.port
        var listenerClosed = false
        defer {
            if !listenerClosed {
                listener.close()
            }
        }
        let configuration = try blackHoleConfiguration(port: port)
        let recorder = LogRecorder()
        let clock = ManualClock()
        try await Slapd.withDirectory(configuration, logger: recorder.logger(), now: clock.now) {
            directory async throws in
            // Three logins in a row time out: the breaker opens.
            for _ in 0..<3 {
                let error = await #expect(throws: LDAPDirectoryError.self) {
                    try await directory.authenticate(username: "anna", password: "demo")
                }
                #expect(error?.code == .timeout, "\(String(reflecting: error))")
            }
            #expect(directory.circuitState == .open)

            // Open: calls fail at once, without touching the pool or the directory.
            for _ in 0..<5 {
                let started = ContinuousClock.now
                let error = await #expect(throws: LDAPDirectoryError.self) {
                    try await directory.authenticate(username: "anna", password: "demo")
                }
                let elapsed = ContinuousClock.now - started
                print("call refused by the open breaker after \(elapsed)")
                #expect(elapsed < .milliseconds(100), "took \(elapsed)")
                #expect(error?.code == .circuitOpen)
                #expect(error?.description == "The directory is not available at the moment.")
                #expect(String(reflecting: error).contains("circuit breaker"))
                let lookup = await #expect(throws: LDAPDirectoryError.self) {
                    try await directory.person(username: "anna")
                }
                #expect(lookup?.code == .circuitOpen)
            }

            // After the cool-down one call probes the (still silent) directory; the others still fail
            // at once while it does; its failure opens the breaker again.
            clock.advance(by: configuration.circuitBreaker.coolDown)
            #expect(directory.circuitState == .halfOpen)
            let probe = Task {
                try await directory.authenticate(username: "anna", password: "demo")
            }
            try await waitUntil { recorder.all.contains { $0.message.contains("probing the directory") } }
            let started = ContinuousClock.now
            let refused = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: "demo")
            }
            #expect(refused?.code == .circuitOpen)
            #expect(ContinuousClock.now - started < .milliseconds(100))
            let probeError = await #expect(throws: LDAPDirectoryError.self) {
                try await probe.value
            }
            #expect(probeError?.code == .timeout)
            #expect(directory.circuitState == .open)
            #expect(recorder.all.contains { $0.message.contains("probe failed") }, "\(recorder.text)")

            // The directory comes back on that port (a proxy to slapd). Still open: refused at once.
            listener.close()
            listenerClosed = true
            let proxy = try TCPProxy(targetPort: try Slapd.port(of: try Slapd.url), port: port)
            defer { proxy.stop() }
            let stillOpen = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "anna", password: "demo")
            }
            #expect(stillOpen?.code == .circuitOpen)

            // After the cool-down the probe succeeds and closes the breaker: no restart needed.
            clock.advance(by: configuration.circuitBreaker.coolDown)
            #expect(directory.circuitState == .halfOpen)
            #expect(try await directory.authenticate(username: "anna", password: "demo").uid == "anna")
            #expect(directory.circuitState == .closed)
            #expect(recorder.all.contains { $0.message.contains("breaker closed") }, "\(recorder.text)")
            #expect(try await directory.authenticate(username: "dora", password: "demo").roles == [.dsb])
            #expect(try await directory.person(username: "sina").stewardDomains == ["mobilitaet"])
        }
    }

    @Test("a call queued behind a call that times out fails with it, not one timeout later")
    func queuedBehindFailure() async throws {
        let listener = try TCPListener()
        defer { listener.close() }
        var configuration = try Slapd.configuration(url: "ldap://127.0.0.1:\(listener.port)", cacheTTL: .zero)
        configuration.networkTimeout = .seconds(1)
        configuration.operationTimeout = .seconds(1)
        configuration.poolSize = 1
        // Neither the pool wait nor the breaker ends the second call here: only the rule under test.
        configuration.poolWaitTimeout = .seconds(10)
        configuration.circuitBreaker.failureThreshold = 10
        try await Slapd.withDirectory(configuration) { directory async throws in
            let first = Task { try await directory.authenticate(username: "anna", password: "demo") }
            try await waitUntil { directory.searchPool.usage.leased == 1 }
            let started = ContinuousClock.now
            let second = await #expect(throws: LDAPDirectoryError.self) {
                try await directory.authenticate(username: "otto", password: "demo")
            }
            let elapsed = ContinuousClock.now - started
            print("call queued behind a timing-out call ended after \(elapsed)")
            #expect(second?.code == .directoryUnavailable, "\(String(reflecting: second))")
            #expect(String(reflecting: second).contains("queued for a connection"))
            #expect(elapsed < configuration.operationTimeout + .milliseconds(500), "took \(elapsed)")
            let firstError = await #expect(throws: LDAPDirectoryError.self) {
                try await first.value
            }
            #expect(firstError?.code == .timeout)
            #expect(directory.circuitState == .closed)
            #expect(directory.searchPool.usage == (leased: 0, idle: 0, waiting: 0))
        }
    }

    @Test("wrong passwords and unknown users never open the breaker, even with a threshold of one")
    func refusalsDoNotOpen() async throws {
        var configuration = try Slapd.configuration(cacheTTL: .zero)
        configuration.circuitBreaker = LDAPConfiguration.CircuitBreaker(failureThreshold: 1, coolDown: .seconds(60))
        try await Slapd.withDirectory(configuration) { directory async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        let error = await #expect(throws: LDAPDirectoryError.self) {
                            if index % 3 == 0 {
                                _ = try await directory.authenticate(username: "nobody\(index)", password: "demo")
                            } else {
                                _ = try await directory.authenticate(username: "anna", password: "wrong\(index)")
                            }
                        }
                        #expect(error?.code == (index % 3 == 0 ? .userNotFound : .invalidCredentials))
                    }
                }
                try await group.waitForAll()
            }
            #expect(directory.circuitState == .closed)
            #expect(try await directory.authenticate(username: "anna", password: "demo").uid == "anna")
        }
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            try #require(ContinuousClock.now < deadline, "condition not reached")
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
