import Foundation
import LDAPDirectory
import Logging
import PostgresNIO

/// Small helpers over `PostgresClient` shared by the store.
enum Database {
    /// Runs `body` in one transaction on one connection: BEGIN, body, COMMIT; ROLLBACK when `body` throws.
    ///
    /// Unlike `PostgresClient.withTransaction` this rethrows `body`'s own error instead of wrapping it in
    /// `PostgresTransactionError`, so `ServiceError`s and `PSQLError`s reach the error mapping unchanged.
    ///
    /// Every transaction has a deadline (``DatabaseSettings/Timeouts``, from the settings the client was
    /// made with, see ``DatabaseSettings/makeClient(admin:logger:)``): waiting for a connection ends after
    /// `poolWait`, the whole transaction after `transaction`. Both fail with
    /// ``ServiceError/Code/unavailable`` (503). When the transaction deadline passes while a statement
    /// runs, the connection is closed: that fails the statement in flight (PostgresNIO's query futures
    /// do not react to task cancellation) and the server rolls the transaction back.
    ///
    /// PostgresNIO 1.33.2 drops a statement written to a connection that is already closed without ever
    /// answering it: `PostgresConnection.query` writes with `promise: nil`, so the closed channel's
    /// failure never reaches the query's promise (postgres-nio #487 cascaded it; that fix was reverted in
    /// #501 and is not in this release). After the server ended a session (`pg_terminate_backend`, a
    /// restart), the next statement on it, e.g. the ROLLBACK after the failed one, waited forever and
    /// so did the HTTP request and graceful shutdown. Two defences:
    /// - no statement of ours (BEGIN, COMMIT, ROLLBACK) is written to a closed connection; a closed one
    ///   needs no ROLLBACK, the server has rolled back already;
    /// - `body` runs in a task of its own, and the caller waits for it at most until the deadline plus
    ///   ``stuckGrace``. A body that has not ended by then waits for an answer that can never come (its
    ///   connection is closed, every statement in flight has failed): it is left behind, logged, and the
    ///   caller gets ``ServiceError/Code/unavailable``. Its lease is no loss: the pool forgets closed
    ///   connections. `body` is `@Sendable` because it may outlive the call this way.
    static func transaction<Result: Sendable>(
        _ client: PostgresClient, logger: Logger, scope: Scope = .transaction,
        timeouts override: DatabaseSettings.Timeouts? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let timeouts = override ?? timeouts(for: client)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + timeouts.transaction
        let leaseDeadline = min(start + timeouts.poolWait, deadline)
        let outcome = OneShot<Swift.Result<Result, any Error>>()
        let watch = TransactionWatch()
        let work = Task {
            do {
                outcome.deliver(
                    .success(
                        try await transactionOnLiveConnection(
                            client, timeouts: timeouts, deadline: deadline, watch: watch, scope: scope,
                            logger: logger, body)))
            } catch {
                outcome.deliver(.failure(error))
            }
        }
        // One timer for the three deadlines in turn, armed one at a time: two tasks and one timer per
        // call instead of the four tasks and three timers of a lease handed over from a child task (a
        // command makes two or three calls, and the timers showed as 5 % of `make bench`'s samples).
        let watchdog = Task {
            guard (try? await Task.sleep(until: leaseDeadline, clock: clock)) != nil else { return }
            // Cancelling the waiting task withdraws its request from the pool.
            if watch.leaseDeadlinePassed() { work.cancel() }
            guard (try? await Task.sleep(until: deadline, clock: clock)) != nil else { return }
            switch watch.deadlinePassed() {
            case .close(let connection):
                logger.warning(
                    "transaction deadline passed: closing its connection",
                    metadata: ["db.transaction_timeout": "\(timeouts.transaction)"])
                // Not awaited: closing may wait for the server, and the transaction must answer now.
                connection.close().whenComplete { _ in }
            case .stopLeasing:
                work.cancel()
            case .nothing:
                break
            }
            guard (try? await Task.sleep(until: deadline + stuckGrace, clock: clock)) != nil else { return }
            if outcome.deliver(.failure(ServiceError.unavailable("transaction stuck on a closed connection"))) {
                logger.error(
                    "transaction stuck on a closed connection (postgres-nio #487): left behind",
                    metadata: ["db.transaction_timeout": "\(timeouts.transaction)"])
            }
        }
        let result = await withTaskCancellationHandler {
            await outcome.value()
        } onCancel: {
            work.cancel()
        }
        watchdog.cancel()
        return try result.get()
    }

    /// Reads on one leased connection with the same deadlines as a transaction (pool wait, the whole
    /// call) and without BEGIN/COMMIT: every query of the service goes through here or ``transaction``,
    /// so no call waits on the database without a bound.
    static func read<Result: Sendable>(
        _ client: PostgresClient, logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(client, logger: logger, scope: .singleStatement, body)
    }

    /// What `body` of ``transaction(_:logger:scope:_:)`` is.
    enum Scope: Sendable {
        /// Several statements between BEGIN and COMMIT.
        case transaction
        /// One statement, which PostgreSQL runs as its own transaction (a read, or a write of
        /// data-modifying CTEs): no BEGIN and COMMIT round trips, the same deadlines.
        case singleStatement
    }

    /// How many leases one transaction tries when the pool hands out connections the server ended.
    static let closedLeaseAttempts = 64

    /// How long after its deadline a transaction may take to end once its connection was closed.
    static let stuckGrace: Duration = .seconds(1)

    /// The pool may hand out a connection the server has just ended, before it noticed the close: such
    /// a lease is given back and another one taken (nothing was sent yet), within the same deadline.
    private static func transactionOnLiveConnection<Result: Sendable>(
        _ client: PostgresClient, timeouts: DatabaseSettings.Timeouts, deadline: ContinuousClock.Instant,
        watch: TransactionWatch, scope: Scope, logger: Logger,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let clock = ContinuousClock()
        // After a restart or a mass termination every idle connection of the pool may be dead: try as
        // many leases as the pool can hold dead ones, within the deadline.
        for _ in 1..<Self.closedLeaseAttempts where clock.now < deadline {
            do {
                return try await boundedTransaction(
                    client, timeouts: timeouts, watch: watch, scope: scope, logger: logger, body)
            } catch is ClosedBeforeBegin {
                logger.debug("leased connection was closed already; leasing another")
            }
        }
        do {
            return try await boundedTransaction(
                client, timeouts: timeouts, watch: watch, scope: scope, logger: logger, body)
        } catch is ClosedBeforeBegin {
            throw ServiceError.unavailable("the database connections were closed")
        }
    }

    private struct ClosedBeforeBegin: Error {}

    /// One lease and the body on it, watched by the deadlines of ``transaction(_:logger:scope:timeouts:_:)``.
    private static func boundedTransaction<Result: Sendable>(
        _ client: PostgresClient, timeouts: DatabaseSettings.Timeouts, watch: TransactionWatch, scope: Scope,
        logger: Logger, _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        watch.startLeasing()
        do {
            return try await client.withConnection { connection in
                try watch.begin(on: connection)
                defer { watch.end() }
                do {
                    return try await run(body, on: connection, scope: scope, logger: logger)
                } catch {
                    if watch.closedAtDeadline {
                        throw ServiceError.unavailable(
                            "transaction exceeded its deadline of \(timeouts.transaction): \(String(reflecting: error))"
                        )
                    }
                    throw error
                }
            }
        } catch is TransactionWatch.LeaseGivenUp {
            throw noConnection(within: timeouts)
        } catch {
            // The body had not begun: the error is the pool's (cancelled at the deadline, shut down,
            // circuit breaker open).
            if watch.leaseWasGivenUp { throw noConnection(within: timeouts) }
            if watch.isLeasing {
                throw ServiceError.unavailable("no database connection: \(String(reflecting: error))")
            }
            throw error
        }
    }

    private static func noConnection(within timeouts: DatabaseSettings.Timeouts) -> ServiceError {
        .unavailable("no database connection within \(min(timeouts.poolWait, timeouts.transaction))")
    }

    private static func run<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> Result, on connection: PostgresConnection, scope: Scope,
        logger: Logger
    ) async throws -> Result {
        guard !connection.isClosed else { throw ClosedBeforeBegin() }
        if scope == .singleStatement { return try await body(connection) }
        do {
            try await statement("BEGIN", on: connection, logger: logger)
        } catch let error as PSQLError
            where error.code == .serverClosedConnection || error.code == .clientClosedConnection || connection.isClosed
        {
            // The server had ended the session before our BEGIN, or we were closing it (a deadline, a
            // listener that went silent) when the pool handed it out: nothing happened, another lease may do.
            throw ClosedBeforeBegin()
        }
        let result: Result
        do {
            result = try await body(connection)
        } catch {
            if connection.isClosed {
                // The server rolled back when the session ended; see above why nothing is sent.
                throw error
            }
            do {
                try await connection.query("ROLLBACK", logger: logger)
            } catch let rollbackError {
                // The connection is unusable; the pool discards it. The original error matters more.
                logger.warning("rollback failed", metadata: ["error": "\(String(reflecting: rollbackError))"])
            }
            throw error
        }
        try await statement("COMMIT", on: connection, logger: logger)
        return result
    }

    /// Sends `sql` unless the connection is closed already (see ``transaction(_:logger:_:)``).
    private static func statement(_ sql: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws
    {
        guard !connection.isClosed else {
            throw ServiceError.unavailable("the database connection was closed")
        }
        try await connection.query(sql, logger: logger)
    }

    /// A transaction of the owner role (migrations, erasures) under `timeouts`, one at a time among all
    /// instances (the advisory lock `lockKey`), whose statements the server itself ends at
    /// `timeouts.statement`: the owner role's sessions carry no server-side limits (its work may take
    /// minutes), and the client's deadline alone would close the connection while the backend went on
    /// running its DDL and holding its locks.
    static func exclusiveTransaction<Result: Sendable>(
        _ client: PostgresClient, lockKey: Int64, timeouts: DatabaseSettings.Timeouts, logger: Logger,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(client, logger: logger, timeouts: timeouts) { connection in
            let statement = String(DatabaseSettings.Timeouts.milliseconds(timeouts.statement))
            let idle = String(DatabaseSettings.Timeouts.milliseconds(timeouts.idleInTransaction))
            try await connection.query(
                """
                SELECT set_config('statement_timeout', \(statement), true),
                       set_config('idle_in_transaction_session_timeout', \(idle), true)
                """, logger: logger)
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            return try await body(connection)
        }
    }

    /// The SQLSTATE of a server error, e.g. `40001`, or nil for other errors.
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The server's message of a server error.
    static func serverMessage(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.message]
    }

    /// Maps any error of a store operation to a ``ServiceError``; service errors pass through.
    static func serviceError(from error: any Error) -> ServiceError {
        if let error = error as? ServiceError { return error }
        if let error = error as? PSQLError {
            if let state = error.serverInfo?[.sqlState] {
                switch state {
                // serialization_failure, deadlock_detected: another command won
                case "40001", "40P01":
                    return .conflict("sqlstate \(state): \(error.serverInfo?[.message] ?? "")")
                // too_many_connections, cannot_connect_now, admin_shutdown, crash_shutdown,
                // query_canceled (statement_timeout), idle_in_transaction_session_timeout, and
                // lock_not_available (lock_timeout): a migration or maintenance holds a table, which is the
                // database being busy (503, retried), not somebody faster (409)
                case "53300", "57P03", "57P01", "57P02", "57014", "25P03", "55P03":
                    return .unavailable("sqlstate \(state): \(error.serverInfo?[.message] ?? "")")
                default:
                    return .internal("sqlstate \(state): \(error.serverInfo?[.message] ?? "")")
                }
            }
            // No server info: the connection could not be made or broke.
            return .unavailable(String(reflecting: error))
        }
        return .internal(String(reflecting: error))
    }
}

/// JSON as stored in `jsonb` columns: sorted keys (stable fingerprints and diffs) and dates as seconds
/// since 1970, which round-trip exactly (an ISO 8601 string would drop sub-millisecond digits, and the
/// engine compares stored instants).
enum StoredJSON {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: Data(text.utf8))
    }
}

/// The one comparison form of an LDAP DN, the directory's own (`DistinguishedName.normalized`: attribute
/// types lower-cased, values compared case-insensitively without insignificant spaces, escapes resolved):
/// `CN=Stewards, OU=Groups` and `cn=stewards,ou=groups` have the same key. Stored beside the DN in
/// `datasets.owner_group_key` and `domains.steward_group_key`, so membership tests are plain equality;
/// `freigabe migrate` re-keys stored rows (`CatalogRepository.rekeyGroups`), so the stored keys follow
/// any change of this form.
enum DNKey {
    static func key(_ dn: String) -> String {
        // The catalogue accepts only valid DNs; the fallback keeps a broken one comparable to itself.
        DistinguishedName.normalize(dn) ?? dn.lowercased()
    }
}
