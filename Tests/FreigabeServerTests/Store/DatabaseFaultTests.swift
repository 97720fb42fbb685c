import Foundation
import Hummingbird
import HummingbirdTesting
import LDAPDirectory
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization
import Testing

@testable import FreigabeServer

/// Faults of the database under a transaction: sessions ended by the server, statements that outlive
/// the deadline, an exhausted pool, a database that is down or does not answer. Every one must end in
/// an answer (``ServiceError/Code/unavailable``, 503) within the configured time, never in a hang.
@Suite("Database faults: deadlines and dead connections")
struct DatabaseFaultTests {
    let logger = StoreTestSupport.logger

    struct BodyError: Error {}

    @Test("a session the server ended (pg_terminate_backend) fails the transaction at once, without a hang", .runsAlone)
    func terminatedSessionDoesNotHang() async throws {
        try await TestDatabase.with { database in
            var settings = database.settings
            // Long deadlines: this is about the dead connection, not about the deadline rescuing it.
            settings.timeouts = .init(transaction: .seconds(60), poolWait: .seconds(60), statement: .seconds(60))
            let logger = self.logger
            try await Database.withClient(settings, logger: logger) { app in
                try await database.withClients { _, admin in
                    let started = ContinuousClock.now
                    let outcome = await answer(within: .seconds(10)) {
                        try await Database.transaction(app, logger: logger) { connection in
                            let pid =
                                try await connection.query("SELECT pg_backend_pid()", logger: logger)
                                .decode(Int32.self).first(where: { _ in true }) ?? 0
                            try await terminate(pid: pid, admin: admin)
                            for _ in 0..<300 where !connection.isClosed { try await Task.sleep(for: .milliseconds(10)) }
                            #expect(connection.isClosed)
                            // The command gives up after its statement failed: the ROLLBACK that follows
                            // must not be written to the dead connection (PostgresNIO would never answer it).
                            throw BodyError()
                        }
                    }
                    let elapsed = ContinuousClock.now - started
                    switch outcome {
                    case .none: Issue.record("no answer within 10 s: the transaction hangs on its dead connection")
                    case .some(.success): Issue.record("the transaction succeeded on a terminated session")
                    case .some(.failure(let error)): #expect(error is BodyError, "\(String(reflecting: error))")
                    }
                    #expect(elapsed < .seconds(5))
                    // The pool replaced the connection: the next transaction works.
                    let one = try await Database.transaction(app, logger: logger) { connection in
                        try await connection.query("SELECT 1", logger: logger).decode(Int.self).first { _ in true }
                    }
                    #expect(one == 1)
                }
            }
        }
    }

    @Test("many sessions terminated under concurrent transactions: every transaction answers")
    func terminationsUnderLoad() async throws {
        try await TestDatabase.with { database in
            var settings = database.settings
            settings.maxConnections = 10
            settings.timeouts = .init(transaction: .seconds(3), poolWait: .seconds(2))
            let logger = self.logger
            let user = settings.user
            try await Database.withClient(settings, logger: logger) { app in
                try await database.withClients { _, admin in
                    let answered = Counter()
                    async let killer: Void = {
                        for _ in 0..<25 {
                            try? await Task.sleep(for: .milliseconds(60))
                            _ = try? await admin.query(
                                """
                                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                WHERE datname = \(database.name) AND usename = \(user)
                                """, logger: logger)
                        }
                    }()
                    let outcome = await answer(within: .seconds(40)) {
                        await withTaskGroup(of: Void.self) { group in
                            for _ in 0..<30 {
                                group.addTask {
                                    for _ in 0..<10 {
                                        _ = try? await Database.transaction(app, logger: logger) { connection in
                                            try await connection.query("SELECT pg_sleep(0.02)", logger: logger)
                                            try await connection.query("SELECT 1", logger: logger)
                                        }
                                        answered.add()
                                    }
                                }
                            }
                        }
                    }
                    await killer
                    #expect(outcome != nil, "transactions hung: \(answered.value) of 300 answered")
                    #expect(answered.value == 300)
                }
            }
        }
    }

    @Test("a transaction that outlives its deadline fails as unavailable, on time", .runsAlone)
    func transactionDeadline() async throws {
        try await TestDatabase.with { database in
            var settings = database.settings
            settings.timeouts = .init(transaction: .seconds(1), poolWait: .seconds(1), statement: .seconds(60))
            let logger = self.logger
            try await Database.withClient(settings, logger: logger) { app in
                let started = ContinuousClock.now
                let outcome = await answer(within: .seconds(15)) {
                    try await Database.transaction(app, logger: logger) { connection in
                        try await connection.query("SELECT pg_sleep(20)", logger: logger)
                    }
                }
                let elapsed = ContinuousClock.now - started
                expectUnavailable(outcome)
                #expect(elapsed < .seconds(3), "took \(elapsed)")
            }
        }
    }

    /// A table held by a migration or a maintainer's `LOCK TABLE` is the database being busy, not somebody
    /// faster: 503 with Retry-After, which clients retry, not 409 "changed meanwhile" (was 409).
    @Test("a lock not granted within lock_timeout (SQLSTATE 55P03) is unavailable, not a conflict", .runsAlone)
    func lockTimeoutIsUnavailable() async throws {
        try await TestDatabase.with { database in
            var lockWaitOfHalfASecond = database.settings
            lockWaitOfHalfASecond.timeouts.lock = .milliseconds(500)
            let settings = lockWaitOfHalfASecond
            let logger = self.logger
            try await Database.withClient(settings, admin: true, logger: logger) { admin in
                try await Database.withClient(settings, logger: logger) { app in
                    try await Database.transaction(admin, logger: logger) { connection in
                        try await connection.query("LOCK TABLE requests IN ACCESS EXCLUSIVE MODE", logger: logger)
                        let outcome = await answer(within: .seconds(10)) {
                            try await Database.transaction(app, logger: logger) { connection in
                                try await connection.query("SELECT count(*) FROM requests", logger: logger)
                                    .decode(Int.self).first { _ in true }
                            }
                        }
                        if case .failure(let error) = outcome {
                            #expect(Database.sqlState(of: error) == "55P03", "\(String(reflecting: error))")
                        }
                        expectUnavailable(outcome)
                    }
                }
            }
        }
    }

    @Test("waiting for a pooled connection ends after db.pool_wait_timeout_seconds", .runsAlone)
    func poolWaitDeadline() async throws {
        try await TestDatabase.with { database in
            var settings = database.settings
            settings.maxConnections = 1
            settings.timeouts = .init(transaction: .seconds(10), poolWait: .milliseconds(500))
            let logger = self.logger
            try await Database.withClient(settings, logger: logger) { app in
                // The one connection is opened first, so the holder below never waits for a slow connect.
                #expect(try await Database.transaction(app, logger: logger) { _ in 0 } == 0)
                async let holder: Void = Database.transaction(app, logger: logger) { connection in
                    try await connection.query("SELECT pg_sleep(2.5)", logger: logger)
                }
                try await Task.sleep(for: .milliseconds(300))
                let started = ContinuousClock.now
                let outcome = await answer(within: .seconds(10)) {
                    try await Database.transaction(app, logger: logger) { _ in 1 }
                }
                let elapsed = ContinuousClock.now - started
                expectUnavailable(outcome)
                #expect(elapsed < .seconds(2), "took \(elapsed)")
                try await holder
                // The holder gave its connection back: the pool serves again.
                #expect(try await Database.transaction(app, logger: logger) { _ in 2 } == 2)
            }
        }
    }

    @Test("the application's sessions carry statement_timeout, lock_timeout, idle_in_transaction_session_timeout")
    func serverSideTimeouts() async throws {
        try await TestDatabase.with { database in
            var settings = database.settings
            settings.timeouts.statement = .seconds(4)
            settings.timeouts.lock = .milliseconds(1500)
            settings.timeouts.idleInTransaction = .seconds(10)
            let logger = self.logger
            try await Database.withClient(settings, logger: logger) { app in
                let values = try await Database.transaction(app, logger: logger) { connection in
                    var values: [String] = []
                    for name in ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"] {
                        let rows = try await connection.query(
                            "SELECT current_setting(\(name))", logger: logger)
                        for try await value in rows.decode(String.self) { values.append(value) }
                    }
                    return values
                }
                #expect(values == ["4s", "1500ms", "10s"])
            }
            // Migrations (the admin role) are not limited.
            try await Database.withClient(settings, admin: true, logger: logger) { admin in
                let value = try await Database.transaction(admin, logger: logger) { connection in
                    try await connection.query("SELECT current_setting('statement_timeout')", logger: logger)
                        .decode(String.self).first { _ in true }
                }
                #expect(value == "0")
            }
        }
    }

    @Test("database down (closed port): 503 within the pool wait, and again for the next call", .runsAlone)
    func closedPortFailsFast() async throws {
        let environment = try StoreTestSupport.environment()
        var settings = try DatabaseSettings(environment: environment)
        settings.port = try await closedPort()
        settings.timeouts = .init(transaction: .seconds(5), poolWait: .seconds(3), connect: .seconds(3))
        let logger = self.logger
        try await Database.withClient(settings, logger: logger) { app in
            for call in 1...2 {
                let started = ContinuousClock.now
                let outcome = await answer(within: .seconds(20)) {
                    try await Database.transaction(app, logger: logger) { _ in 1 }
                }
                let elapsed = ContinuousClock.now - started
                expectUnavailable(outcome)
                #expect(elapsed < .seconds(5), "call \(call) took \(elapsed)")
                print("database down (closed port), call \(call): unavailable after \(elapsed)")
            }
        }
    }

    @Test("database not answering (accepts, never replies): 503 within the deadline", .runsAlone)
    func silentServerFailsFast() async throws {
        let logger = self.logger
        try await withSilentDatabase { app in
            let started = ContinuousClock.now
            let outcome = await answer(within: .seconds(20)) {
                try await Database.transaction(app, logger: logger) { _ in 1 }
            }
            let elapsed = ContinuousClock.now - started
            expectUnavailable(outcome)
            #expect(elapsed < .seconds(5), "took \(elapsed)")
            print("database not answering: unavailable after \(elapsed)")
        }
    }

    /// The scrape read the database without the store's deadlines: with PostgreSQL silent it hung
    /// instead of saying so.
    @Test("a /metrics scrape with the database not answering says database_up 0 within the deadline", .runsAlone)
    func metricsWithSilentDatabase() async throws {
        let logger = self.logger
        try await withSilentDatabase { app in
            let metrics = AppMetrics()
            let started = ContinuousClock.now
            let outcome = await answer(within: .seconds(20)) {
                await MetricsRoutes(metrics: metrics, token: nil, directory: nil, database: app).sample(logger: logger)
            }
            let elapsed = ContinuousClock.now - started
            #expect(outcome != nil, "the scrape did not answer within 20 s")
            #expect(elapsed < .seconds(8), "took \(elapsed)")
            let text = String(buffer: ByteBuffer(bytes: metrics.registry.emitToBuffer()))
            #expect(text.contains("freigabe_metrics_database_up 0"), "\(text)")
        }
    }

    /// The audit export's download and the Verfahrensakte's reads asked the database without the store's
    /// deadlines: with PostgreSQL silent they hung instead of answering 503.
    @Test(
        "the audit download and the case file's reads with the database not answering: unavailable in time", .runsAlone)
    func auditReadsWithSilentDatabase() async throws {
        let logger = self.logger
        try await withSilentDatabase { app in
            let query = AuditQuery(client: app)
            let reads: [(String, @Sendable () async throws -> Void)] = [
                (
                    "download",
                    {
                        _ = try await AuditExportDownload(client: app).response(
                            AuditFilter(), options: .init(format: .jsonl, csv: CSVOptions()),
                            slot: try AuditExportDownload.slot(), logger: logger)
                    }
                ),
                ("leaf hashes", { _ = try await query.leafHashes(0..<1, logger: logger) }),
                (
                    "unsealed",
                    { _ = try await query.unsealedCount(request: UUID(), grace: .seconds(300), logger: logger) }
                ),
                ("row", { _ = try await query.requestRowExists(UUID(), logger: logger) }),
                ("reads", { _ = try await query.readCount(request: UUID(), logger: logger) }),
            ]
            for (name, read) in reads {
                let started = ContinuousClock.now
                let outcome = await answer(within: .seconds(20)) { try await read() }
                let elapsed = ContinuousClock.now - started
                expectUnavailable(outcome)
                #expect(elapsed < .seconds(8), "\(name) took \(elapsed)")
            }
        }
    }

    /// The load balancer's probe, through the production router: a database that is down or silent makes
    /// `/ready` say 503 "unreachable" within its 3-second probe, twice in a row (the probe holds no
    /// connection it could not give back), and never hangs the probe.
    @Test("GET /api/v1/ready with the database down or not answering: 503 unreachable in time", .runsAlone)
    func readinessWithoutDatabase() async throws {
        let logger = self.logger
        var closed = try DatabaseSettings(environment: try StoreTestSupport.environment())
        closed.port = try await closedPort()
        closed.timeouts = .init(transaction: .seconds(5), poolWait: .seconds(3), connect: .seconds(2))
        let probe: @Sendable (PostgresClient) async throws -> Void = { app in
            let directory = try LDAPDirectory(configuration: try DemoDirectory.configuration(), logger: logger)
            let service = RequestService(
                client: app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: DirectoryPrincipalResolver(directory: directory))
            let router = try await APIFixture.makeRouter(
                service: service, directory: directory,
                document: try OpenAPIDocument.load(path: APIFixture.openAPIPath), clock: TestClock(Clock.start))
            do {
                try await Application(router: router, logger: logger).test(.router) { client in
                    for probe in 1...2 {
                        let started = ContinuousClock.now
                        let answer = try await client.executeRequest(
                            uri: "/api/v1/ready", method: .get, headers: [:], body: nil)
                        let elapsed = ContinuousClock.now - started
                        #expect(answer.status == .serviceUnavailable, "probe \(probe)")
                        let report = try JSONSerialization.jsonObject(with: Data(buffer: answer.body)) as? [String: Any]
                        #expect(report?["status"] as? String == "not_ready", "\(String(describing: report))")
                        #expect(report?["database"] as? String == "unreachable", "\(String(describing: report))")
                        #expect(elapsed < .seconds(5), "probe \(probe) took \(elapsed)")
                    }
                }
            } catch {
                await directory.shutdown()
                throw error
            }
            await directory.shutdown()
        }
        try await Database.withClient(closed, logger: logger, probe)
        try await withSilentDatabase(probe)
    }

    /// `body` with a client of a database server that accepts connections and never answers.
    private func withSilentDatabase(_ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        var settings = try DatabaseSettings(environment: try StoreTestSupport.environment())
        settings.tls = .disable
        let silent = try await SilentServer.start()
        settings.port = silent.port
        settings.timeouts = .init(transaction: .seconds(5), poolWait: .seconds(3), connect: .seconds(2))
        do {
            try await Database.withClient(settings, logger: logger, body)
        } catch {
            try? await silent.stop()
            throw error
        }
        try await silent.stop()
    }

    @Test("db.*_timeout_seconds are read, in seconds, and refused when not positive")
    func timeoutSettings() throws {
        let settings = try DatabaseSettings(environment: [
            "FREIGABE_DB_TRANSACTION_TIMEOUT_SECONDS": "7", "FREIGABE_DB_POOL_WAIT_TIMEOUT_SECONDS": "2.5",
            "FREIGABE_DB_CONNECT_TIMEOUT_SECONDS": "1", "FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS": "6",
            "FREIGABE_DB_LOCK_TIMEOUT_SECONDS": "0.5", "FREIGABE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS": "30",
        ])
        #expect(
            settings.timeouts
                == .init(
                    transaction: .seconds(7), poolWait: .milliseconds(2500), connect: .seconds(1),
                    statement: .seconds(6), lock: .milliseconds(500), idleInTransaction: .seconds(30)))
        #expect(DatabaseSettings().timeouts == .init())
        #expect(
            DatabaseSettings.Timeouts().startupParameters.map { "\($0.0)=\($0.1)" } == [
                "statement_timeout=4000", "lock_timeout=2000", "idle_in_transaction_session_timeout=10000",
            ])
        for bad in ["0", "-1", "abc", "3601"] {
            #expect(throws: DatabaseSettings.SettingsError.self) {
                try DatabaseSettings(environment: ["FREIGABE_DB_TRANSACTION_TIMEOUT_SECONDS": bad])
            }
        }
    }

    /// PostgresNIO reads the CA file only when it connects: a typo showed as "database unreachable" on
    /// every request instead of as the setting at fault when the server starts.
    @Test("db.tls_ca_file is read at start: a missing file, a directory or no PEM certificate is refused")
    func caFileCheckedAtStart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let notPEM = folder.appendingPathComponent("key.txt").path
        try Data("kein Zertifikat\n".utf8).write(to: URL(fileURLWithPath: notPEM))
        for bad in [folder.appendingPathComponent("fehlt.pem").path, folder.path, notPEM] {
            let error = #expect(throws: DatabaseSettings.SettingsError.self, "\(bad)") {
                try DatabaseSettings(environment: ["FREIGABE_DB_TLS": "verify_full", "FREIGABE_DB_TLS_CA_FILE": bad])
            }
            #expect(error?.variable == "FREIGABE_DB_TLS_CA_FILE")
            #expect(error?.message.contains(bad) == true, "\(error?.message ?? "")")
        }
        // Not read while TLS is off.
        #expect(
            try DatabaseSettings(environment: ["FREIGABE_DB_TLS": "disable", "FREIGABE_DB_TLS_CA_FILE": notPEM]).caFile
                == notPEM)
    }

    @Test("a ServiceError unavailable is a 503 problem with Retry-After and without internals")
    func unavailableIs503() {
        let problem = APIProblemMiddleware<AppRequestContext>.problem(
            for: ServiceError.unavailable("transaction exceeded its deadline"))
        #expect(problem.status.code == 503)
        #expect(problem.headers[.retryAfter] == "5")
        #expect(!problem.detail.german.contains("deadline"))
        let conflict = APIProblemMiddleware<AppRequestContext>.problem(for: ServiceError.conflict("x"))
        #expect(conflict.headers[.retryAfter] == nil)
    }
}

// MARK: - Helpers

/// Runs `body` and returns its outcome, or nil when it did not answer within `limit`. Unlike a task
/// group this does not wait for a body that hangs (the test then fails instead of hanging).
func answer<Value: Sendable>(
    within limit: Duration, _ body: @escaping @Sendable () async throws -> Value
) async -> Result<Value, any Error>? {
    let outcome = await withTimeout(limit) { await Result(catchingAsync: body) }
    switch outcome {
    case .success(let result): return result
    case .failure: return nil
    }
}

extension Result where Failure == any Error {
    init(catchingAsync body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

func expectUnavailable<Value>(
    _ outcome: Result<Value, any Error>?, sourceLocation: SourceLocation = #_sourceLocation
) {
    switch outcome {
    case .none:
        Issue.record("no answer at all", sourceLocation: sourceLocation)
    case .some(.success):
        Issue.record("expected unavailable, but the transaction succeeded", sourceLocation: sourceLocation)
    case .some(.failure(let error)):
        #expect(
            Database.serviceError(from: error).code == .unavailable, "\(String(reflecting: error))",
            sourceLocation: sourceLocation)
    }
}

private func terminate(pid: Int32, admin: PostgresClient) async throws {
    try await admin.query("SELECT pg_terminate_backend(\(pid))", logger: StoreTestSupport.logger)
}

/// A port on 127.0.0.1 nobody listens on (bound, then closed).
func closedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port ?? 1
    try await channel.close()
    return port
}

/// A TCP server on 127.0.0.1 that accepts connections and never says a word: a database that hangs.
struct SilentServer {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start() async throws -> SilentServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        return SilentServer(channel: channel)
    }

    func stop() async throws { try await channel.close() }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
