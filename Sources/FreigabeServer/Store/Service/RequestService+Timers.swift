import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

extension RequestService {
    /// Fires due timers (reminders, escalations, expiries), each in its own transaction: the timer row is
    /// claimed with `FOR UPDATE SKIP LOCKED`, so several instances share the work without firing one
    /// twice. A timer made moot by a later change (the step was decided meanwhile) is marked fired with
    /// a note. The timers service of a later issue calls this periodically; tests call it with a `now`
    /// of their choice.
    ///
    /// - Returns: how many timers were handled.
    public func fireDueTimers(now: Date, limit: Int = 100, logger: Logger) async throws(ServiceError) -> Int {
        try await guarded(logger) { logger in
            var handled = 0
            while handled < limit {
                guard try await self.fireOneTimer(now: now, logger: logger) else { break }
                handled += 1
            }
            return handled
        }
    }

    private func fireOneTimer(now: Date, logger: Logger) async throws -> Bool {
        try await Database.transaction(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT id, request_id, kind, step FROM timers
                WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= \(now)
                ORDER BY due_at, id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
                """, logger: logger)
            guard
                let (timerID, requestID, kind, step) = try await rows.decode((Int64, UUID, String, String?).self).first(
                    where: { _ in true })
            else { return false }
            var logger = logger
            logger[metadataKey: "request.id"] = "\(requestID)"
            logger[metadataKey: "timer.kind"] = "\(kind)"
            let note = try await self.fire(
                kind: kind, step: step, requestID: requestID, now: now, on: connection, logger: logger)
            try await connection.query(
                "UPDATE timers SET fired_at = \(now), attempts = attempts + 1, last_error = \(note) WHERE id = \(timerID)",
                logger: logger)
            return true
        }
    }

    /// Runs the timer's engine event. Returns a note when the timer was moot.
    private func fire(
        kind: String, step: String?, requestID: UUID, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> String? {
        guard var record = try await RequestRecord.load(id: requestID, on: connection, logger: logger),
            let dataset = try await DatasetRecord.load(id: record.datasetID, on: connection, logger: logger)
        else { return "request or dataset missing" }
        var machine = try await self.machine(for: record, on: connection, logger: logger)
        // A reminder or escalation belongs to one stay in one step; if the request moved on, it is moot.
        if kind != "expiry" {
            guard case .inReview(let progress) = machine.state, progress.step == step else {
                return "moot: request is \(machine.state.name)"
            }
        }
        let effects: [Effect]
        do {
            switch kind {
            case "reminder": effects = try machine.remind(at: now)
            case "escalation": effects = try machine.escalate(at: now)
            case "expiry": effects = try machine.expire(at: now)
            default: return "unknown timer kind \(kind)"
            }
        } catch {
            // invalid_transition (e.g. already escalated, revoked before expiry) makes the timer moot.
            return "moot: \(error.code.rawValue) in \(error.state)"
        }
        try await record.update(
            machine: machine, expectedVersion: record.version, now: now, on: connection, logger: logger)
        record.snapshot = machine.snapshot
        let context = EffectContext(
            requestID: record.id, number: record.number, kind: record.kind, dataset: dataset,
            requester: record.requester, clientAddress: nil, now: now)
        try await EffectWriter.apply(effects, context: context, on: connection, logger: logger)
        logger.info("timer fired", metadata: ["request.state": "\(machine.state.name)"])
        return nil
    }
}
