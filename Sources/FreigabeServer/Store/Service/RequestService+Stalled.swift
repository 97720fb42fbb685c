import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// A request nobody moves on that the caller may close ("Antrag einstellen"): it has waited longer than
/// its step's deadline gives, for the step's deciders or for the requester's answer to a question.
public struct StalledItem: Sendable, Hashable, Codable {
    /// Whom the request waits for.
    public enum Waiting: String, Sendable, Hashable, Codable {
        /// The roles of the step in review (among them, possibly, a DSB or ISB part nobody else may decide).
        case decision
        /// The requester's answer to a question.
        case answer
    }

    public var request: RequestSummary
    public var step: String
    public var stepTitle: LocalizedText
    public var waitingFor: Waiting
    /// Since when: the step's start, or when the open question was asked.
    public var since: Date
    /// From when the escalation instance may close it (the step's deadline, or the question's).
    public var closableFrom: Date
    /// The escalation role the caller closes in.
    public var role: String
    /// `escalation` in the caller's own right, `escalation_deputy` for ``actingFor``.
    public var capacity: DecisionCapacity
    public var actingFor: String?
    /// The step is escalated and the escalation instance may decide it, but not the caller: separation of
    /// duties keeps them (they, or the person they stand in for, decided on the request). Listed all the
    /// same, as the only member of the office may be the one kept from it, and then nobody's inbox shows
    /// the step.
    public var barredBySeparationOfDuties: Bool = false
}

extension RequestService {
    /// The requests the caller may close now because nobody moves on them (the engine's
    /// ``RequestMachine/discontinueAuthority(of:at:)``), the longest closable first: questions left
    /// unanswered, and overdue parts the caller may not decide (a DSB's or ISB's, any while its escalation
    /// is not recorded yet, and an escalated step separation of duties keeps the caller from:
    /// ``StalledItem/barredBySeparationOfDuties``). An escalated step the caller may decide is in their inbox, not
    /// here.
    public func stalledRequests(caller: Caller, now: Date, logger: Logger) async throws(ServiceError) -> [StalledItem] {
        try await asCaller(caller, now: now, logger: logger) { context, logger in
            try await Database.read(self.client, logger: logger) { [logger] connection in
                try await self.stalled(context: context, now: now, on: connection, logger: logger)
            }
        }
    }

    /// ``guarded(_:_:)`` for a list of the caller's: the log names them, and their context (roles,
    /// deputyships in force, the principals' facts) is read first.
    func asCaller<Result: Sendable>(
        _ caller: Caller, now: Date, logger: Logger, _ body: (CallerContext, Logger) async throws -> Result
    ) async throws(ServiceError) -> Result {
        try await guarded(logger) {
            var logger = $0
            logger[metadataKey: "actor"] = "\(caller.uid)"
            let context = try await CallerContext.load(
                caller: caller, now: now, client: self.client, principals: self.principals, logger: logger)
            return try await body(context, logger)
        }
    }

    /// ``stalledRequests(caller:now:logger:)`` for a caller whose deputyships are known, on a connection
    /// already leased (the inbox page's own).
    func stalled(
        context: CallerContext, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> [StalledItem] {
        guard mayEscalate(context, now: now) else { return [] }
        let principals = context.activePrincipals(at: now).map(\.deputyship.principal)
        var items: [StalledItem] = []
        try await eachCandidate(
            list: "stalled", on: connection, logger: logger,
            batch: { after in
                try await StalledCandidates(caller: context.caller.uid, principals: principals, now: now, after: after)
                    .rows(on: connection, logger: logger)
            }
        ) { record, dataset, machine in
            if let item = stalledItem(record, dataset: dataset, machine: machine, context: context, now: now) {
                items.append(item)
            }
        }
        return items.sorted { ($0.closableFrom, $0.request.number) < ($1.closableFrom, $1.request.number) }
    }

    /// Every candidate of an id-paged list with the engine's state, batch by batch (`batch` reads the
    /// one after an id, nil for the first); a candidate whose stored request this release cannot read is
    /// left out and logged (``readableMachine(for:list:on:logger:)``).
    func eachCandidate(
        list: String, on connection: PostgresConnection, logger: Logger,
        batch: (UUID?) async throws -> CandidateBatch,
        _ body: (RequestRecord, DatasetRecord, RequestMachine) throws -> Void
    ) async throws {
        var after: UUID?
        while true {
            let read = try await batch(after)
            for (record, dataset) in read.rows {
                guard let machine = try await readableMachine(for: record, list: list, on: connection, logger: logger)
                else { continue }
                try body(record, dataset, machine)
            }
            guard read.read == CandidateBatch.size, let last = read.lastID else { return }
            after = last
        }
    }

    /// Whether the caller, or someone they stand in for now, holds a role some workflow escalates to: only
    /// then are the stalled requests read (everyone else's inbox pays nothing for them). A workflow that
    /// escalates to the dataset's owner or steward makes everyone a candidate.
    private func mayEscalate(_ context: CallerContext, now: Date) -> Bool {
        let escalating = workflows.escalationRoles
        if escalating.contains(.dataOwner) || escalating.contains(.dataSteward) { return true }
        var held = CallerContext.directoryRoles(context.callerFacts)
        for deputy in context.activePrincipals(at: now) {
            held.formUnion(CallerContext.directoryRoles(deputy.principalFacts))
        }
        return !held.isDisjoint(with: escalating)
    }

    /// The engine's answer for one candidate (nil: the caller may not close it now, or may decide it).
    func stalledItem(
        _ record: RequestRecord, dataset: DatasetRecord, machine: RequestMachine, context: CallerContext, now: Date
    ) -> StalledItem? {
        guard let progress = machine.state.stepProgress,
            let authority = context.discontinueAuthority(machine, dataset: dataset, now: now),
            let step = machine.definition.step(progress.step), let closableFrom = machine.escalationDue
        else { return nil }
        let waiting: StalledItem.Waiting
        let since: Date
        switch machine.state {
        case .inReview:
            // Only what the caller may not decide now: a DSB's or ISB's part, a step whose escalation has
            // not been recorded yet (its timer late or failing), or an escalated step separation of duties
            // keeps this member from. An escalated step the caller may decide waits in their inbox, with
            // the decision form.
            if machine.decidingEscalationRole != nil,
                context.authority(machine, dataset: dataset, now: now) != nil
            {
                return nil
            }
            (waiting, since) = (.decision, progress.enteredAt)
        case .changesRequested:
            (waiting, since) = (.answer, machine.questionAskedAt(progress))
        case .draft, .granted, .published, .closed:
            return nil
        }
        return StalledItem(
            request: views.summary(record, machine: machine, dataset: dataset, now: now), step: step.id,
            stepTitle: step.title, waitingFor: waiting, since: since, closableFrom: closableFrom,
            role: authority.role.identifier, capacity: DecisionCapacity(authority.capacity),
            actingFor: authority.principal,
            barredBySeparationOfDuties: waiting == .decision && machine.decidingEscalationRole != nil)
    }
}

/// The SQL pre-selection of ``RequestService/stalledRequests(caller:now:logger:)``, by id; the engine
/// decides: the overdue requests in review the escalation instance may not decide (`escalation_role` is
/// the engine's `decidingEscalationRole`) or that the caller or a principal of theirs decided a step of
/// (separation of duties may keep the caller from an escalated one), and the requests with a question
/// open whose escalation timer of the step is due (a question of the same step asked before may have
/// left one that fired; the engine tells them apart), but not the caller's own.
struct StalledCandidates {
    var caller: String
    /// Whom the caller deputises for now.
    var principals: [String]
    var now: Date
    var after: UUID?

    func rows(on connection: PostgresConnection, logger: Logger) async throws -> CandidateBatch {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: RequestRecord.columns), \(unescaped: DatasetRecord.columns)
            FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
            WHERE r.requester <> \(caller)
              AND ((r.phase = 'in_review' AND r.deadline <= \(now) AND (r.escalation_role IS NULL OR EXISTS (
                        SELECT 1 FROM decisions dc
                        WHERE dc.request_id = r.id
                          AND (dc.person = ANY(\([caller] + principals)) OR dc.acting_for = ANY(\([caller] + principals))))))
                OR (r.phase = 'changes_requested' AND EXISTS (
                    SELECT 1 FROM timers t
                    WHERE t.request_id = r.id AND t.kind = 'question_escalation' AND t.step = r.current_step
                      AND t.due_at <= \(now) AND t.cancelled_at IS NULL)))
              AND (\(after)::uuid IS NULL OR r.id > \(after)::uuid)
            ORDER BY r.id
            LIMIT \(CandidateBatch.size)
            """, logger: logger)
        return try await CandidateBatch(rows, list: "stalled", logger: logger)
    }
}

/// A batch of a list's candidates read by id (`RequestRecord.columns`, `DatasetRecord.columns`): those
/// that could be read; how many rows were read and the last one's id, to page on past one that could not.
struct CandidateBatch {
    /// Candidates per statement.
    static let size = 500

    var rows: [(record: RequestRecord, dataset: DatasetRecord)] = []
    var read = 0
    var lastID: UUID?

    init(_ rows: PostgresRowSequence, list: String, logger: Logger) async throws {
        for try await row in rows {
            var cells = RowCursor(row)
            let (id, readable) = try RequestService.readableRow(&cells, list: list, logger: logger)
            read += 1
            lastID = id
            if let readable { self.rows.append(readable) }
        }
    }
}
