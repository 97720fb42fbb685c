import AuditLog
import Foundation
import Logging
import PostgresNIO

/// What `GET /api/v1/ready` reports: whether this instance should get traffic.
public struct ReadinessReport: Sendable, Hashable, Encodable {
    public enum Status: String, Sendable, Hashable, Encodable {
        case ready
        case notReady = "not_ready"
    }

    /// Whether the database answered the check within its timeout.
    public enum DatabaseState: String, Sendable, Hashable, Encodable {
        case ok, unreachable
        /// It answered, but refused the application role a read (SQLSTATE 42501): a restore without the
        /// privileges, or a role that `freigabe migrate` has not granted them to.
        case permissionDenied = "permission_denied"
    }

    /// Whether every migration of this program is applied unchanged; `unknown` when the database is
    /// unreachable.
    public enum MigrationState: String, Sendable, Hashable, Encodable {
        case current, pending, mismatched, unknown
    }

    /// The decision log's protection. Reported, not a reason to take the instance out of service:
    /// `freigabe audit verify` shows what changed.
    public enum AuditLogState: String, Sendable, Hashable, Encodable {
        /// The append-only triggers are enabled and as the migrations wrote them, and events are sealed.
        case protected
        /// One is disabled, missing or changed.
        case triggersDisabled = "triggers_disabled"
        /// The application role owns (or is a member of the owner of) one of the log's tables, so it could
        /// disable their triggers: a restore made as that role, or with `--no-owner`.
        case ownedByApplicationRole = "owned_by_app_role"
        /// An event written more than five minutes ago is not sealed: no sealer runs, or it refuses (its
        /// log says why, e.g. a history that differs from the outside copy).
        case sealingStalled = "sealing_stalled"
        /// This instance is of an older release than the database's migrations (a rolling update, or a
        /// rollback): everything but the trigger functions' bodies holds, which a newer release's
        /// migration may have replaced and its instances check. A finding when it lasts.
        case newerRelease = "newer_release"
        /// Not checked: the database is unreachable or its migrations are not current.
        case unknown
    }

    /// Whether the workflow definitions this instance loaded are the texts requests use under their id
    /// and version; `unknown` when the database is unreachable or its migrations are not current.
    public enum WorkflowState: String, Sendable, Hashable, Encodable {
        case current
        /// A file was edited without raising its `version:` after requests used it
        /// (``WorkflowLibrary/EditedVersion``): this instance would start new requests on another text
        /// under the same version. Not ready; the log names the file.
        case editedWithoutVersion = "edited_without_version"
        case unknown
    }

    /// With `audit.checkpoint_file` set, whether this instance's signed checkpoints reach it. Reported,
    /// not a reason to take the instance out of service.
    public enum CheckpointFileState: String, Sendable, Hashable, Encodable {
        /// The last signed checkpoint reached the file, or none was due yet.
        case written
        /// Appending fails (logged at error level, counted in
        /// `freigabe_audit_seal_failures_total{reason="checkpoint_file"}`).
        case failing
    }

    /// Whether this instance's clock agrees with the database's (``ClockOffset``). Reported, not a reason
    /// to take the instance out of service; absent when the database did not answer.
    public enum ClockState: String, Sendable, Hashable, Encodable {
        case ok
        /// More than ``ClockOffset/tolerance`` apart (logged as an error with the offset).
        case off
    }

    public var status: Status
    public var database: DatabaseState
    public var migrations: MigrationState
    public var workflows: WorkflowState = .unknown
    public var auditLog: AuditLogState = .unknown
    /// Absent without `audit.checkpoint_file`.
    public var auditCheckpointFile: CheckpointFileState?
    public var clock: ClockState?

    enum CodingKeys: String, CodingKey {
        case status, database, migrations, workflows, clock
        case auditLog = "audit_log"
        case auditCheckpointFile = "audit_checkpoint_file"
    }

    public var isReady: Bool { status == .ready }
}

/// The readiness check: the database answers within a timeout, every migration of this program is
/// applied unchanged (``MigrationStatus/isCurrent``), and no workflow file was edited under a version in
/// use. Versions the database has beyond ours (a newer release migrated it during a rolling update) do
/// not make this instance unready: migrations only add.
public struct ReadinessCheck: Sendable {
    let check: @Sendable (Logger) async -> ReadinessReport

    public init(_ check: @escaping @Sendable (Logger) async -> ReadinessReport) {
        self.check = check
    }

    /// Asks PostgreSQL through `client` (the application's pool), giving up after `timeout`, and compares
    /// this instance's clock (`now`, the system's) with the database's; with
    /// `workflows`, also whether they are the texts in use under their versions; with `outsideCopy`,
    /// also reports whether the signed checkpoints reach `audit.checkpoint_file`.
    static func database(
        _ client: PostgresClient, workflows: WorkflowLibrary? = nil, outsideCopy: OutsideCopyStatus? = nil,
        timeout: Duration = .seconds(3), now: @escaping @Sendable () -> Date = Date.init
    ) -> ReadinessCheck {
        ReadinessCheck { logger in
            var report = await databaseReport(
                client, workflows: workflows, timeout: timeout, now: now, logger: logger)
            if let outsideCopy {
                report.auditCheckpointFile = outsideCopy.failing == nil ? .written : .failing
            }
            return report
        }
    }

    private static func databaseReport(
        _ client: PostgresClient, workflows: WorkflowLibrary?, timeout: Duration, now: @escaping @Sendable () -> Date,
        logger: Logger
    ) async -> ReadinessReport {
        // One lease under the store's deadlines, which also bound the probe (the transaction answers by
        // its deadline and closes its connection), so probes every few seconds against a silent server
        // can neither hang nor take the pool's connections one by one.
        var timeouts = Database.timeouts(for: client)
        timeouts.transaction = timeout
        timeouts.poolWait = min(timeouts.poolWait, timeout)
        let outcome:
            Result<
                (
                    MigrationStatus, [WorkflowLibrary.EditedVersion], ReadinessReport.AuditLogState,
                    ReadinessReport.ClockState
                ), any Error
            >
        do {
            outcome = .success(
                try await Database.transaction(client, logger: logger, scope: .singleStatement, timeouts: timeouts) {
                    connection in
                    let offset = try await ClockOffset.measure(on: connection, now: now, logger: logger)
                    let clock: ReadinessReport.ClockState = ClockOffset.isWithinTolerance(offset) ? .ok : .off
                    if clock == .off {
                        logger.error(
                            "this instance's clock is off from the database's: leases, due timers and deadlines go wrong among several instances (set up NTP)",
                            metadata: ["clock.offset_seconds": "\(offset)"])
                    }
                    let status = try await Migrator.status(on: connection, logger: logger)
                    guard status.isCurrent else { return (status, [], ReadinessReport.AuditLogState.unknown, clock) }
                    let edited = try await workflows?.editedVersions(on: connection, logger: logger) ?? []
                    for version in edited {
                        logger.error(
                            "not ready: a workflow definition was edited without a new version",
                            metadata: ["problem": "\(version)"])
                    }
                    // `audit verify`'s check: a trigger pointed at a function that lets everything through is
                    // reported as well as a disabled one.
                    let disabled = try await AuditTriggerGuard.problems(
                        on: connection, bodiesKnown: status.unknown.isEmpty, logger: logger)
                    if !disabled.isEmpty {
                        logger.error(
                            "the decision log's append-only triggers are disabled or changed (run freigabe audit verify)",
                            metadata: ["triggers": "\(disabled)"])
                        return (status, edited, .triggersDisabled, clock)
                    }
                    let owned = try await AuditVerification.tablesOwnable(by: nil, on: connection, logger: logger)
                    if !owned.isEmpty {
                        logger.error(
                            "the application role owns tables of the decision log, or may act as their owner, and could disable their triggers (restore them as the owner role)",
                            metadata: ["tables": "\(owned.map(\.table))"])
                        return (status, edited, .ownedByApplicationRole, clock)
                    }
                    if let since = try await unsealedSince(on: connection, logger: logger) {
                        logger.error(
                            "the decision log is not being sealed (no sealer runs, or it refuses: see its log)",
                            metadata: ["audit.oldest_unsealed_recorded_at": "\(AuditTimestamp(since))"])
                        return (status, edited, .sealingStalled, clock)
                    }
                    guard status.unknown.isEmpty else {
                        // Not "protected": this release cannot tell the newer migrations' function bodies.
                        logger.warning(
                            "the database carries migrations of a newer release: the trigger functions' bodies are left to its instances",
                            metadata: ["migration.unknown": "\(status.unknown)"])
                        return (status, edited, .newerRelease, clock)
                    }
                    return (status, edited, .protected, clock)
                })
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let (status, edited, auditLog, clock)) where status.isCurrent:
            return ReadinessReport(
                status: edited.isEmpty ? .ready : .notReady, database: .ok, migrations: .current,
                workflows: edited.isEmpty ? .current : .editedWithoutVersion, auditLog: auditLog, clock: clock)
        case .success(let (status, _, _, clock)):
            logger.warning(
                "not ready: migrations are not current",
                metadata: ["pending": "\(status.pending)", "mismatched": "\(status.mismatched)"])
            return ReadinessReport(
                status: .notReady, database: .ok, migrations: status.mismatched.isEmpty ? .pending : .mismatched,
                clock: clock)
        case .failure(let error) where Database.sqlState(of: error) == "42501":
            logger.error(
                "not ready: the application role may not read the tables (run freigabe migrate, which grants its privileges)",
                metadata: ["error": "\(Database.serverMessage(of: error) ?? String(reflecting: error))"])
            return ReadinessReport(status: .notReady, database: .permissionDenied, migrations: .unknown)
        case .failure(let error):
            logger.warning("not ready: database unreachable", metadata: ["error": "\(String(reflecting: error))"])
            return ReadinessReport(status: .notReady, database: .unreachable, migrations: .unknown)
        }
    }

    func callAsFunction(logger: Logger) async -> ReadinessReport { await check(logger) }

    /// When the first event after the newest sealed one was written, if that is longer ago than `audit
    /// verify`'s grace (``AuditVerification/defaultSealingGrace``): two index probes, whatever the log's size, as a load balancer asks
    /// every few seconds. Events committed out of order just below the newest seal are `audit verify`'s
    /// to find; a stopped or refusing sealer leaves every new event after it.
    static func unsealedSince(on connection: PostgresConnection, logger: Logger) async throws -> Date? {
        let grace = Int64(AuditVerification.defaultSealingGrace.components.seconds)
        let rows = try await connection.query(
            """
            SELECT e.recorded_at FROM audit_events e
            WHERE e.id > (SELECT coalesce(max(event_row), 0) FROM audit_seals)
              AND e.recorded_at < now() - make_interval(secs => \(grace))
            ORDER BY e.id LIMIT 1
            """, logger: logger)
        return try await rows.decode(Date.self).first(where: { _ in true })
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
