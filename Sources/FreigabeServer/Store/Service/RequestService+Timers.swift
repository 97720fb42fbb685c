import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// What one round of ``RequestService/fireDueTimers(now:limit:logger:)`` did.
public struct TimerRoundReport: Sendable, Hashable {
    /// Timers whose event ran, or that were moot and marked fired with a note.
    public var fired = 0
    /// Timers whose attempt failed; they are retried after a back-off.
    public var failed = 0
    /// Of `failed`: lost a race for the request (lock timeout, serialisation failure, version
    /// conflict); retried after a short pause.
    public var conflicts = 0
    /// Timers the engine's calendar puts later than they were scheduled (a corrected holiday rule):
    /// moved to that moment, not fired.
    public var postponed = 0

    public var handled: Int { fired + failed + postponed }
}

/// A due timer that keeps failing, for `freigabe timers list --failing`.
public struct FailingTimer: Sendable, Hashable {
    public var id: Int64
    public var requestID: UUID
    public var kind: String
    public var step: String?
    public var dueAt: Date
    public var attempts: Int
    public var lastError: String?
    public var nextAttemptAt: Date?
}

extension RequestService {
    /// After this many failed attempts a timer is logged as an error (before: a warning) and listed by
    /// `freigabe timers list --failing`.
    static let timerFailureAlarm = 3

    /// Fires due timers (reminders, escalations, expiry notices, expiries), each in its own transaction: the timer row is
    /// claimed with `FOR UPDATE SKIP LOCKED`, so several instances share the work without firing one
    /// twice, and the request row is then locked with `SELECT … FOR UPDATE`, so that a reminder and an
    /// escalation of one request fired by two instances run one after the other instead of failing
    /// each other's version check. A timer made moot by a later change (the step was decided meanwhile)
    /// is marked fired with a note.
    ///
    /// Each timer is handled on its own: its event runs under a savepoint, and when it fails (the request
    /// cannot be loaded, a lock times out, a bug) only that savepoint is rolled back; the timer's
    /// `attempts`, `last_error` and `next_attempt_at` (exponential back-off, see
    /// ``timerBackOff(afterAttempts:conflict:)``) are written in the same transaction, and the round
    /// goes on with the next timer. Only a database that fails the transaction itself ends the round.
    ///
    /// The ``TimerService`` calls this periodically; tests call it with a `now` of their choice.
    ///
    /// - Returns: how many timers fired (moot ones included).
    public func fireDueTimers(now: Date, limit: Int = 100, logger: Logger) async throws(ServiceError) -> Int {
        try await fireDueTimerRound(now: now, limit: limit, logger: logger).fired
    }

    /// ``fireDueTimers(now:limit:logger:)`` with the failures counted too.
    public func fireDueTimerRound(
        now: Date, limit: Int = 100, logger: Logger
    ) async throws(ServiceError)
        -> TimerRoundReport
    {
        try await guarded(logger) { logger in
            var report = TimerRoundReport()
            while report.handled < limit {
                guard let outcome = try await self.fireOneTimer(now: now, logger: logger) else { break }
                switch outcome {
                case .fired: report.fired += 1
                case .postponed: report.postponed += 1
                case .failed(let conflict):
                    report.failed += 1
                    if conflict { report.conflicts += 1 }
                }
            }
            return report
        }
    }

    /// The pause before the next attempt: 1 s after a conflict (another instance was busy with the
    /// request), otherwise 30 s doubled per failed attempt, at most one hour.
    static func timerBackOff(afterAttempts attempts: Int, conflict: Bool) -> TimeInterval {
        if conflict { return 1 }
        let exponent = min(max(attempts - 1, 0), 7)
        return min(30 * Double(1 << exponent), 3600)
    }

    /// Due timers that failed at least once and have not fired yet, most attempts first.
    public func failingTimers(limit: Int = 100, logger: Logger) async throws(ServiceError) -> [FailingTimer] {
        try await guarded(logger) { logger in
            try await Self.failingTimers(client: self.client, limit: limit, logger: logger)
        }
    }

    static func failingTimers(client: PostgresClient, limit: Int, logger: Logger) async throws -> [FailingTimer] {
        try await Database.transaction(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT id, request_id, kind, step, due_at, attempts, last_error, next_attempt_at FROM timers
                WHERE fired_at IS NULL AND cancelled_at IS NULL AND last_error IS NOT NULL
                ORDER BY attempts DESC, due_at, id
                LIMIT \(limit)
                """, logger: logger)
            var timers: [FailingTimer] = []
            for try await (id, requestID, kind, step, dueAt, attempts, lastError, nextAttemptAt) in rows.decode(
                (Int64, UUID, String, String?, Date, Int, String?, Date?).self)
            {
                timers.append(
                    FailingTimer(
                        id: id, requestID: requestID, kind: kind, step: step, dueAt: dueAt, attempts: attempts,
                        lastError: lastError, nextAttemptAt: nextAttemptAt))
            }
            return timers
        }
    }

    private enum TimerOutcome {
        case fired
        case failed(conflict: Bool)
        case postponed
    }

    /// The engine's calendar says the timer's event is not due yet.
    private struct TimerNotYetDue: Error {
        var due: Date
    }

    /// Claims and fires the next due timer; nil when none is due.
    private func fireOneTimer(now: Date, logger: Logger) async throws -> TimerOutcome? {
        try await Database.transaction(client, logger: logger) { connection in
            // The timer and its request are claimed together, and a request a command holds is skipped
            // (its timer comes again next round): a decision locks the request, then cancels the step's
            // timers, so a timer holding its row while it waited for the request would deadlock with it.
            // Only kinds this release fires: during a rolling update a kind a newer release added is left
            // to its instances, untouched (no attempt counted, no back-off that would delay it).
            let rows = try await connection.query(
                """
                SELECT t.id, t.request_id, t.kind, t.step, t.attempts
                FROM timers t JOIN requests r ON r.id = t.request_id
                WHERE t.fired_at IS NULL AND t.cancelled_at IS NULL AND coalesce(t.next_attempt_at, t.due_at) <= \(now)
                    AND t.kind = ANY(\(TimerKind.known)::text[])
                ORDER BY coalesce(t.next_attempt_at, t.due_at), t.id
                LIMIT 1
                FOR UPDATE OF t, r SKIP LOCKED
                """, logger: logger)
            guard
                let (timerID, requestID, kind, step, attempts) = try await rows.decode(
                    (Int64, UUID, String, String?, Int).self
                ).first(where: { _ in true })
            else { return nil }
            var logger = logger
            logger[metadataKey: "timer.id"] = "\(timerID)"
            logger[metadataKey: "request.id"] = "\(requestID)"
            logger[metadataKey: "timer.kind"] = "\(kind)"
            try await connection.query("SAVEPOINT fire_timer", logger: logger)
            do {
                let note = try await self.fire(
                    kind: kind, step: step, requestID: requestID, now: now, on: connection, logger: logger)
                try await connection.query("RELEASE SAVEPOINT fire_timer", logger: logger)
                try await connection.query(
                    """
                    UPDATE timers SET fired_at = \(now), attempts = attempts + 1, last_error = \(note),
                        next_attempt_at = NULL
                    WHERE id = \(timerID)
                    """, logger: logger)
                return .fired
            } catch {
                // Only this timer's work is undone; if even that fails, the connection is gone and the
                // round ends (the error propagates). Nothing may be written to a closed connection (see
                // Database.transaction).
                if connection.isClosed { throw error }
                try await connection.query("ROLLBACK TO SAVEPOINT fire_timer", logger: logger)
                if let notYet = error as? TimerNotYetDue {
                    try await connection.query(
                        """
                        UPDATE timers SET due_at = \(notYet.due), next_attempt_at = NULL, last_error = NULL
                        WHERE id = \(timerID)
                        """, logger: logger)
                    logger.notice(
                        "timer not due by the current calendar; moved", metadata: ["timer.due_at": "\(notYet.due)"])
                    return .postponed
                }
                let mapped = Database.serviceError(from: error)
                let conflict = mapped.code == .conflict
                let failures = attempts + 1
                let retryAt = now.addingTimeInterval(Self.timerBackOff(afterAttempts: failures, conflict: conflict))
                let text = String((mapped.details ?? mapped.message.description).prefix(2000))
                try await connection.query(
                    """
                    UPDATE timers SET attempts = attempts + 1, last_error = \(mapped.code.rawValue + ": " + text),
                        next_attempt_at = \(retryAt)
                    WHERE id = \(timerID)
                    """, logger: logger)
                let metadata: Logger.Metadata = [
                    "timer.attempts": "\(failures)", "timer.next_attempt_at": "\(retryAt)", "error": "\(mapped)",
                ]
                if conflict {
                    logger.info("timer conflicted with other work on its request; retried shortly", metadata: metadata)
                } else if failures >= Self.timerFailureAlarm {
                    logger.error("timer keeps failing (freigabe timers list --failing)", metadata: metadata)
                } else {
                    logger.warning("timer failed; retried after a back-off", metadata: metadata)
                }
                return .failed(conflict: conflict)
            }
        }
    }

    /// Runs the timer's engine event. Returns a note when the timer was moot.
    private func fire(
        kind: String, step: String?, requestID: UUID, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> String? {
        guard let kind = TimerKind(rawValue: kind) else {
            // Not claimed (``TimerKind/known``); should one get here, it fails the attempt instead of
            // being marked moot, so that an instance of the release that wrote it still fires it.
            throw ServiceError.internal("unknown timer kind \(kind): fired by an instance of a newer release")
        }
        // The request row is locked (claimed with the timer): one request's timers one after the other,
        // also across instances (see fireDueTimers), and no command in between.
        guard let record = try await RequestRecord.load(id: requestID, on: connection, logger: logger),
            let dataset = try await DatasetRecord.load(id: record.datasetID, on: connection, logger: logger)
        else { return "request or dataset missing" }
        var machine = try await self.machine(for: record, on: connection, logger: logger)
        let before = machine.snapshot
        // A reminder, an escalation or a handover belongs to one stay in one step; if the request moved on,
        // it is moot (entering the next step asked its holders as they are now).
        switch kind {
        case .reminder, .escalation, .newOwner, .newStewards:
            guard case .inReview(let progress) = machine.state, progress.step == step else {
                return "moot: request is \(machine.state.name)"
            }
        case .questionEscalation:
            // Answered (or the request ended) meanwhile: moot.
            guard case .changesRequested(let progress, _) = machine.state, progress.step == step else {
                return "moot: request is \(machine.state.name)"
            }
        case .expiry, .expiryNotice:
            // The engine refuses both once the access ended otherwise (revoked): moot below.
            break
        }
        let effects: [Effect]
        do {
            switch kind {
            case .reminder: effects = try machine.remind(at: now)
            case .escalation, .questionEscalation: effects = try machine.escalate(at: now)
            case .expiry: effects = try machine.expire(at: now)
            case .expiryNotice: effects = try machine.announceExpiry(at: now)
            case .newOwner, .newStewards: effects = kind.handedOverRole.map(machine.tasks(heldBy:)) ?? []
            }
        } catch {
            if error.code == .tooEarly, let due = error.notBefore {
                // Scheduled by a calendar that has changed since (the state's holidays corrected, a
                // rule of a new release): not moot, but later.
                throw TimerNotYetDue(due: due)
            }
            // invalid_transition (e.g. already escalated, revoked before expiry) makes the timer moot.
            return "moot: \(error.code.rawValue) in \(error.state)"
        }
        if let role = kind.handedOverRole, effects.isEmpty {
            // The step's branch of that role was decided meanwhile (or never applied).
            return "moot: no open branch of \(role.identifier) in \(machine.state.name)"
        }
        // The same one statement a command writes: row (version checked), audit, outbox, timers. A
        // reminder, an expiry notice or a handover changes nothing of the request: its version stays, so a decision
        // made on the page someone has open is not refused because a mail went out meanwhile.
        var write = CommandWrite(
            requestID: record.id, expectedVersion: record.version,
            request: machine.snapshot == before ? nil : try RequestColumns(record: record, machine: machine),
            holders: StepHolders(dataset), now: now)
        EffectWriter.collect(
            effects,
            context: EffectContext(
                requestID: record.id, number: record.number, kind: record.kind, dataset: dataset,
                requester: record.requester, details: record.details, clientAddress: nil, now: now,
                stepEnteredAt: machine.state.stepProgress?.enteredAt,
                webhookEvents: kind.handedOverRole == nil ? webhookEvents : .none, definition: machine.definition),
            into: &write)
        try await write.execute(on: connection, logger: logger)
        logger.info("timer fired", metadata: ["request.state": "\(machine.state.name)"])
        return nil
    }
}
