import Foundation
import Logging
import PostgresNIO

/// What `GET /api/v1/ready` reports: whether this instance should get traffic.
public struct ReadinessReport: Sendable, Hashable, Encodable {
    public enum Status: String, Sendable, Hashable, Encodable {
        case ready
        case notReady = "not_ready"
    }

    public var status: Status
    /// `ok`, `unreachable`.
    public var database: String
    /// `current`, `pending`, `mismatched`, `unknown` (not checked because the database is unreachable).
    public var migrations: String
    /// `protected` (the decision log's append-only triggers are enabled and as the migrations wrote them),
    /// `triggers_disabled` (one is disabled, missing or changed), `unknown`.
    /// Reported, not a reason to take the instance out of service: someone with the owner's rights
    /// switched them off, and `freigabe audit verify` shows what changed.
    public var auditLog: String = "unknown"

    enum CodingKeys: String, CodingKey {
        case status, database, migrations
        case auditLog = "audit_log"
    }

    public var isReady: Bool { status == .ready }
}

/// The readiness check: the database answers within a timeout and every migration of this program is
/// applied unchanged (``MigrationStatus/isCurrent``). Versions the database has beyond ours (a newer
/// release migrated it during a rolling update) do not make this instance unready: migrations only add.
public struct ReadinessCheck: Sendable {
    let check: @Sendable (Logger) async -> ReadinessReport

    public init(_ check: @escaping @Sendable (Logger) async -> ReadinessReport) {
        self.check = check
    }

    /// Asks PostgreSQL through `client` (the application's pool), giving up after `timeout`.
    public static func database(_ client: PostgresClient, timeout: Duration = .seconds(3)) -> ReadinessCheck {
        ReadinessCheck { logger in
            let outcome = await withTimeout(timeout) {
                let status = try await Migrator.status(client: client, logger: logger)
                let disabled = status.isCurrent ? try await disabledAuditTriggers(client, logger: logger) : nil
                return (status, disabled)
            }
            switch outcome {
            case .success(let (status, disabled)) where status.isCurrent:
                if let disabled, !disabled.isEmpty {
                    logger.error(
                        "the decision log's append-only triggers are disabled or changed (run freigabe audit verify)",
                        metadata: ["triggers": "\(disabled)"])
                }
                return ReadinessReport(
                    status: .ready, database: "ok", migrations: "current",
                    auditLog: disabled.map { $0.isEmpty ? "protected" : "triggers_disabled" } ?? "unknown")
            case .success(let (status, _)):
                logger.warning(
                    "not ready: migrations are not current",
                    metadata: ["pending": "\(status.pending)", "mismatched": "\(status.mismatched)"])
                return ReadinessReport(
                    status: .notReady, database: "ok", migrations: status.mismatched.isEmpty ? "pending" : "mismatched")
            case .failure(let error):
                logger.warning("not ready: database unreachable", metadata: ["error": "\(String(reflecting: error))"])
                return ReadinessReport(status: .notReady, database: "unreachable", migrations: "unknown")
            }
        }
    }

    func callAsFunction(logger: Logger) async -> ReadinessReport { await check(logger) }

    /// What is wrong with the decision log's append-only triggers: the check of `audit verify`
    /// (``AuditTriggerGuard``), so that a trigger pointed at a function that lets everything through is
    /// reported here as well as a disabled one.
    static func disabledAuditTriggers(_ client: PostgresClient, logger: Logger) async throws -> [String] {
        try await AuditTriggerGuard.problems(client, logger: logger)
    }
}

struct TimeoutError: Error {}

/// Runs `body`, or fails with ``TimeoutError`` after `timeout`, whatever `body` does: the answer never
/// waits for it. On timeout `body` is cancelled (PostgresNIO then gives up waiting for a connection)
/// and left to end on its own; a task group would wait for it, and a PostgresNIO query future does not
/// react to cancellation (a statement on a connection that died without closing would keep `/ready`
/// from answering at all).
func withTimeout<Value: Sendable>(
    _ timeout: Duration, _ body: @escaping @Sendable () async throws -> Value
) async -> Result<Value, any Error> {
    let outcome = OneShot<Result<Value, any Error>>()
    let work = Task { outcome.deliver(await Result(catching: body)) }
    let timer = Task {
        if (try? await Task.sleep(for: timeout)) != nil { outcome.deliver(.failure(TimeoutError())) }
    }
    let result = await withTaskCancellationHandler {
        await outcome.value()
    } onCancel: {
        outcome.deliver(.failure(CancellationError()))
    }
    work.cancel()
    timer.cancel()
    return result
}

extension Result where Failure == any Error {
    fileprivate init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
