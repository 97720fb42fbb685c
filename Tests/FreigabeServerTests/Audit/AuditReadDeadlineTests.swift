import AuditLog
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import FreigabeServer

/// `audit verify` and `audit export` read the whole log; a database that stops answering halfway (a
/// failover, a firewall dropping the connection, a frozen host: a stopped backend is all of these)
/// must end them with an error within their deadline, never hold the operator's terminal for ever.
@Suite("Decision log: verify and export give up on a database that stops answering", .serialized)
struct AuditReadDeadlineTests {
    let logger = StoreTestSupport.logger

    @Test("verify and export on a connection whose backend stopped: unavailable within the deadline", .runsAlone)
    func stoppedBackendEndsTheRead() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await AuditExportTests().lifecycles(fixture)
            let rows = try await fixture.app.query("SELECT current_database()", logger: logger)
            var environment = try StoreTestSupport.environment()
            environment["FREIGABE_DB_NAME"] = try #require(
                try await rows.decode(String.self).first(where: { _ in true }))
            var settings = try DatabaseSettings(environment: environment)
            // One connection, so that every read waits on the stopped one; verify's long-read deadlines
            // as `audit verify` sets them, shortened to seconds.
            settings.maxConnections = 1
            settings.timeouts.statement = .seconds(1)
            settings.timeouts = AuditTool.longReadTimeouts(
                settings.timeouts, environment: ["FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS": "1"])
            #expect(settings.timeouts.transaction == .seconds(1) + AuditTool.longReadGrace)
            let deadline = settings.timeouts.transaction + Database.stuckGrace
            let logger = logger
            try await Database.withClient(settings, logger: logger) { client in
                let verification = AuditVerification(
                    client: client, keys: TrustedKeys(AuditSealTests.signer.verifierKey), appRole: "freigabe_app")
                let verified = try await Self.whileStopped(client, deadline: deadline, logger: logger) { stop in
                    stop()
                    _ = try await verification.run(logger: logger)
                }
                #expect(verified.code == .unavailable, "\(verified)")
                // The export stops answering after its header and first event, in the middle of its batches.
                let exporter = AuditExporter(
                    query: AuditQuery(client: client), batching: AuditQuery.Batching(rows: 1, window: 1))
                let exported = try await Self.whileStopped(client, deadline: deadline, logger: logger) { stop in
                    var pieces = 0
                    _ = try await exporter.export(AuditFilter(), format: .jsonl, logger: logger) { _ in
                        pieces += 1
                        if pieces == 2 { stop() }
                    }
                }
                #expect(exported.code == .unavailable, "\(exported)")
            }
        }
    }

    /// Runs `work` on `client`'s one pooled connection, whose backend `work` stops by calling `stop`, and
    /// returns the error it ended with, which must come within `deadline` and a second's grace of the
    /// stop. The backend goes on again afterwards, also when the work hangs: then the test fails instead
    /// of waiting with it.
    static func whileStopped(
        _ client: PostgresClient, deadline: Duration, logger: Logger,
        _ work: @escaping @Sendable (_ stop: @escaping @Sendable () -> Void) async throws -> Void
    ) async throws -> ServiceError {
        // The pool may still hand out the connection a deadline closed before: then the next one.
        var backend: Int32?
        for attempt in 0..<50 where backend == nil {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(100)) }
            backend = try? await Database.read(client, logger: logger) { connection in
                try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self)
                    .first(where: { _ in true })
            }
        }
        let pid = try #require(backend)
        defer { kill(pid, SIGCONT) }
        let stoppedAt = Mutex<ContinuousClock.Instant?>(nil)
        // The tests run on the database's machine as root or as its owner, so they may stop it.
        let stop: @Sendable () -> Void = {
            stoppedAt.withLock { $0 = ContinuousClock.now }
            #expect(kill(pid, SIGSTOP) == 0)
        }
        let outcome = OneShot<Result<Void, any Error>>()
        let running = Task {
            do {
                try await work(stop)
                outcome.deliver(.success(()))
            } catch {
                outcome.deliver(.failure(error))
            }
        }
        let limit = deadline + .seconds(1)
        let watchdog = Task {
            try? await Task.sleep(for: limit + .seconds(10))
            outcome.deliver(.failure(StillWaiting()))
        }
        let result = await outcome.value()
        watchdog.cancel()
        kill(pid, SIGCONT)
        _ = await running.result
        let took = ContinuousClock.now - (stoppedAt.withLock { $0 } ?? ContinuousClock.now)
        switch result {
        case .success:
            Issue.record("the read ended without an error on a stopped backend")
            return ServiceError.unavailable("no error")
        case .failure(let error as StillWaiting):
            throw error
        case .failure(let error):
            #expect(took < limit, "gave up after \(took), deadline \(deadline)")
            return Database.serviceError(from: error)
        }
    }

    struct StillWaiting: Error, CustomStringConvertible {
        var description: String { "still waiting on the stopped backend long after the deadline" }
    }
}
