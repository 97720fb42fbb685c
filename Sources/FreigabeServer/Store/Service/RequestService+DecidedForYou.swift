import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// A decision a deputy took in the caller's name: what a principal back from holiday wants to see first.
public struct DecisionTakenForYou: Sendable, Hashable, Codable {
    public var request: RequestSummary
    /// The step decided and its title in the request's workflow; nil for a revocation (its step is the
    /// granted end).
    public var step: String?
    public var stepTitle: LocalizedText?
    /// The part of a step of parallel branches decided (the DSB's, the ISB's), with its title; nil for a
    /// step of one role.
    public var branch: String?
    public var branchTitle: LocalizedText?
    public var outcome: Decision.Outcome
    /// The deputy.
    public var decidedBy: String
    public var decidedAt: Date
    /// Taken as the escalation instance of an overdue step (the caller holds the escalation role).
    public var asEscalation: Bool
}

extension RequestService {
    /// How far back the decisions taken in the caller's name are listed: a long holiday.
    public static let decisionsTakenForYouDays = 60

    /// The decisions deputies took in the caller's name (`decisions.acting_for`, the append-only facts)
    /// in the ``decisionsTakenForYouDays`` before `now`, the newest first, at most `limit`. Each request is
    /// one the caller may read (a decision in their name makes it theirs to see).
    public func decisionsTakenForCaller(
        caller: Caller, limit: Int = 20, now: Date, logger: Logger
    ) async throws(ServiceError) -> [DecisionTakenForYou] {
        let since = now.addingTimeInterval(-Double(Self.decisionsTakenForYouDays) * 86_400)
        return try await guarded(logger) { logger in
            try await Database.read(self.client, logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT \(unescaped: RequestRecord.columns), \(unescaped: DatasetRecord.columns),
                        dc.person, dc.step, dc.branch, dc.outcome, dc.as_escalation, dc.decided_at
                    FROM decisions dc
                        JOIN requests r ON r.id = dc.request_id
                        JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
                    WHERE dc.acting_for = \(caller.uid) AND dc.decided_at >= \(since)
                    ORDER BY dc.decided_at DESC, dc.id DESC
                    LIMIT \(max(1, min(limit, 100)))
                    """, logger: logger)
                var found: [(RequestRecord, DatasetRecord, String, String, String, String, Bool, Date)] = []
                for try await row in rows {
                    var cells = RowCursor(row)
                    guard
                        let (record, dataset) = try RequestService.readableRow(
                            &cells, list: "decided_for_you", logger: logger
                        ).readable
                    else { continue }
                    found.append(
                        (
                            record, dataset, try cells.next(), try cells.next(), try cells.next(), try cells.next(),
                            try cells.next(), try cells.next()
                        ))
                }
                var items: [DecisionTakenForYou] = []
                for (record, dataset, person, step, branch, outcome, asEscalation, decidedAt) in found {
                    // A stored outcome this release does not know (a newer one wrote it) is left out.
                    guard let outcome = Decision.Outcome(rawValue: outcome) else { continue }
                    guard
                        let machine = try await self.readableMachine(
                            for: record, list: "decided_for_you", on: connection, logger: logger)
                    else { continue }
                    let decided = outcome == .revoked ? nil : machine.definition.step(step)
                    let part = decided?.branches.count ?? 0 > 1 ? decided?.branches.first { $0.id == branch } : nil
                    items.append(
                        DecisionTakenForYou(
                            request: self.views.summary(record, machine: machine, dataset: dataset, now: now),
                            step: decided?.id, stepTitle: decided?.title, branch: part?.id, branchTitle: part?.title,
                            outcome: outcome, decidedBy: person, decidedAt: decidedAt, asEscalation: asEscalation))
                }
                return items
            }
        }
    }
}
