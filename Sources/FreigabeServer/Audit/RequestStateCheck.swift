import AuditLog
import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Whether each request's mutable state (`requests.state`, `requests.snapshot`) still agrees with the
/// facts it was made from: the append-only `decisions` and the decision log.
///
/// The snapshot is what the engine works from, and an UPDATE by the tables' owner (triggers disabled or
/// not: `requests` has none, it must change) could make it show a decider who never decided, or the row a
/// recipient nobody approved. The decisions and the audit events cannot be changed unseen, so they are
/// the measure (``StoredRequestFacts/firstMismatch(snapshot:details:kind:facts:definition:)`` lists the comparisons).
struct RequestStateCheck: Sendable {
    let client: PostgresClient

    /// The engine's events: each carries the request's state after the command that wrote it.
    static let engineEvents: [String] = [
        AuditEvent.submitted, .approved, .rejected, .resubmitted, .withdrawn, .escalated, .reminded, .expired,
        .revoked, .discontinued, .changesRequested, .expiryAnnounced, .stepSkipped, .stepCompleted, .ended,
        .questionUnanswered,
    ].map(\.rawValue)

    /// The first request that disagrees, described; nil when all agree. Streams the requests.
    func firstMismatch(logger: Logger) async throws -> String? {
        if let missing = try await firstMissingRow(logger: logger) { return missing }
        let definitions = try await pinnedDefinitions(logger: logger)
        // One statement streams every request (its deadline is the command line's long one, see
        // `AuditTool.withDatabase`), each compared as it arrives.
        return try await Database.read(client, logger: logger) { connection -> String? in
            let rows = try await connection.query(
                """
                SELECT r.number, \(unescaped: RequestRecord.columns), \(unescaped: RequestFactsCheck.columns)
                FROM requests r
                ORDER BY r.created_at, r.id
                """, logger: logger)
            for try await row in rows {
                var cells = RowCursor(row)
                let number: String = try cells.next()
                let record: RequestRecord
                let facts: StoredFacts
                do {
                    record = try RequestRecord.from(&cells, rememberSnapshot: false)
                    facts = try StoredFacts.decode(&cells)
                } catch {
                    return "request \(number): its stored row cannot be read (\(error))"
                }
                let definition: WorkflowDefinition?
                switch definitions[record.snapshot.pin] {
                case .success(let read)?: definition = read
                case .failure(let error)?:
                    return "request \(number): its workflow definition \(record.snapshot.pin) cannot be read (\(error))"
                case nil:
                    // Pinned after the pins were read (a new definition while verify runs): all but the
                    // branches its step waits for is compared now, those by the next run.
                    definition = nil
                }
                if let mismatch = StoredRequestFacts.firstMismatch(
                    snapshot: record.snapshot, details: record.details, kind: record.kind, facts: facts,
                    definition: definition)
                {
                    return "request \(number) (\(record.id.uuidString.lowercased())): \(mismatch)"
                }
            }
            return nil
        }
    }

    /// A request the decision log says was filed (its `created` event, which the service writes with
    /// every new request) whose row is gone: the owner deleted it (and its decisions, their trigger
    /// disabled for the moment), which leaves the log intact and the request out of every comparison
    /// above. With the log's `request_number` while that event still has its payload. (A synthetic log,
    /// as `make bench-audit` loads, has no `created` events and no requests.)
    private func firstMissingRow(logger: Logger) async throws -> String? {
        let missing = try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                """
                SELECT e.request_id, e.occurred_at, e.event, e.details->>'request_number'
                FROM audit_events e
                WHERE e.event = \(AuditEvent.created.rawValue) AND e.request_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = e.request_id)
                ORDER BY e.occurred_at, e.id
                LIMIT 1
                """, logger: logger
            ).decode((UUID, Date, String, String?).self).first(where: { _ in true })
        }
        if let (id, at, event, number) = missing {
            let time = AuditTimestamp(at).rfc3339 ?? "\(at)"
            return "request \(number.map { "\($0) " } ?? "")(\(id.uuidString.lowercased())): the decision log "
                + "records it (\(event) at \(time)), but its stored row is missing"
        }
        return nil
    }

    /// The definition of every workflow a request is pinned to, each read (from `workflow_definitions`,
    /// as the server reads those of requests in flight) before the requests are streamed, so that no
    /// second statement waits for a connection while the stream holds one.
    private func pinnedDefinitions(logger: Logger) async throws -> [WorkflowPin: Result<WorkflowDefinition, any Error>]
    {
        let pins = try await Database.read(client, logger: logger) { connection in
            var pins: [WorkflowPin] = []
            let rows = try await connection.query(
                "SELECT DISTINCT (snapshot->'pin')::text FROM requests", logger: logger)
            for try await text in rows.decode(String.self) {
                pins.append(try StoredJSON.decode(WorkflowPin.self, from: text))
            }
            return pins
        }
        let stored = PinnedDefinitionCache(library: try WorkflowLibrary(sources: []))
        var definitions: [WorkflowPin: Result<WorkflowDefinition, any Error>] = [:]
        for pin in pins {
            do {
                definitions[pin] = .success(try await stored.definition(for: pin, client: client, logger: logger))
            } catch {
                definitions[pin] = .failure(error)
            }
        }
        return definitions
    }
}

/// The comparison of one request's stored state with its facts; pure.
enum StoredRequestFacts {
    /// Who decided what, as the snapshot, the `decisions` table and (fewer fields) the log say it.
    struct DecisionFact: Sendable, Hashable, Decodable, CustomStringConvertible {
        var person: String?
        var actingFor: String?
        var step: String?
        var outcome: String?
        /// The log's comment: nil also where `audit redact` erased it.
        var comment: String?
        /// The role the decision was taken in; the log's is nil only in events that did not record one.
        var role: String?
        /// Taken as the escalation instance; the log's is nil for events recorded before it said so
        /// (migration 13 gave them `false`, whatever they were).
        var asEscalation: Bool?
        /// The log's event had its payload (the comment) erased by `audit redact`.
        var erased: Bool?
        /// Only `decisions` and the snapshot know these.
        var branch: String?
        var covers: [String]?
        var licence: String?
        var portalURL: String?
        /// Microseconds since 1970.
        var decidedAtMicroseconds: Int64?

        enum CodingKeys: String, CodingKey {
            case person, step, outcome, comment, role, branch, covers, licence, erased
            case actingFor = "acting_for"
            case asEscalation = "as_escalation"
            case portalURL = "portal_url"
            case decidedAtMicroseconds = "decided_at_us"
        }

        /// Names no comment: it may be personal, and the description goes to the server's log.
        var description: String {
            "\(outcome ?? "?") by \(person ?? "?")" + (actingFor.map { " for \($0)" } ?? "") + " at step \(step ?? "?")"
        }

        /// Whether `other` is the same decision. The times agree within a microsecond: the snapshot's
        /// went through JSON as a `Double`, the row's through `to_timestamp`.
        func agrees(with other: DecisionFact) -> Bool {
            var (a, b) = (self, other)
            (a.decidedAtMicroseconds, b.decidedAtMicroseconds) = (nil, nil)
            guard a == b else { return false }
            switch (decidedAtMicroseconds, other.decidedAtMicroseconds) {
            case (let x?, let y?):
                return AuditTimestamp(microsecondsSinceEpoch: x).isSameStoredInstant(
                    as: AuditTimestamp(microsecondsSinceEpoch: y))
            case (nil, nil): return true
            default: return false
            }
        }

        /// Whether the log's record of a decision (`self`, from `decisionEvents`) is this row's: who, for
        /// whom, in which role and capacity, on which branch, what outcome, and the comment (also its
        /// absence) unless the log's was erased. The log names a decision by its branch (`privacy_review`
        /// of the step `legal_review`; a plain step's branch is the step); rows written before branches were
        /// recorded name only the step. The role and the escalation capacity are what separation of
        /// duties reads: rewritten in both the row and the snapshot, they would otherwise pass.
        func recordsRow(_ row: DecisionFact) -> Bool {
            person == row.person && actingFor == row.actingFor && step == (row.branch ?? row.step)
                && outcome == row.outcome && (comment == row.comment || (erased == true && comment == nil))
                && (role == nil || role == row.role) && (asEscalation == nil || asEscalation == row.asEscalation)
        }
    }

    /// The first disagreement between the stored state (`requests.state` in `facts`, the `snapshot`, the
    /// row's `details`) and the facts; nil when all agree:
    /// 1. `requests.state` is the snapshot's state;
    /// 2. the snapshot's decisions are the `decisions` rows, every field;
    /// 3. the `decisions` rows are the request's decision events in the log;
    /// 4. the state after the request's last engine event in the log is `requests.state`;
    /// 5. the snapshot's routing facts are the ones the last submission logged (where it did);
    /// 6. the row's details are the ones the last submission logged (where it did, and not erased since);
    /// 7. what the snapshot says of its state beyond the name agrees with the facts
    ///    (``stateMismatch(_:accessEnd:entry:textsErased:definition:)``).
    ///
    /// - Parameter definition: the workflow the request is pinned to; nil only for a request `audit verify`
    ///   met pinned to a definition stored after it began (then the branches a step waits for are not
    ///   compared).
    static func firstMismatch(
        snapshot: RequestSnapshot, details: RequestDetails, kind: ReleaseKind, facts: StoredFacts,
        definition: WorkflowDefinition?
    ) -> String? {
        let rows: [DecisionFact]
        let logged: [DecisionFact]
        do {
            rows = try StoredJSON.decode([DecisionFact].self, from: facts.decisions)
            logged = try StoredJSON.decode([DecisionFact].self, from: facts.decisionEvents)
        } catch {
            return "the stored decisions cannot be read (\(error))"
        }
        guard snapshot.state.name == facts.state else {
            return "requests.state is \(facts.state), the snapshot's state is \(snapshot.state.name)"
        }
        let fromSnapshot = snapshot.decisions.map {
            DecisionFact(
                person: $0.person, actingFor: $0.actingFor, step: $0.step, outcome: $0.outcome.rawValue,
                comment: $0.comment, role: $0.role.identifier, asEscalation: $0.asEscalation, branch: $0.branch,
                covers: $0.covers, licence: $0.details?.licence, portalURL: $0.details?.portalURL,
                decidedAtMicroseconds: AuditTimestamp($0.at).microsecondsSinceEpoch)
        }
        if let mismatch = compare(
            fromSnapshot, "the snapshot", rows, "the decisions table", by: { $0.agrees(with: $1) })
        {
            return mismatch
        }
        if let mismatch = compare(rows, "the decisions table", logged, "the decision log", by: { $1.recordsRow($0) }) {
            return mismatch
        }
        if let loggedState = facts.loggedState, loggedState != facts.state {
            return "requests.state is \(facts.state), the decision log's last event left it \(loggedState)"
        }
        if let mismatch = submissionMismatch(snapshot, details: details, kind: kind, facts: facts) {
            return mismatch
        }
        // After the row's details were held against the log: a rewritten access end is named there.
        return stateMismatch(
            snapshot, accessEnd: details.accessEnd, entry: facts.stepEntry, textsErased: facts.textsErased,
            definition: definition)
    }

    /// The snapshot's routing facts and the row's details against what the last submission logged.
    private static func submissionMismatch(
        _ snapshot: RequestSnapshot, details: RequestDetails, kind: ReleaseKind, facts: StoredFacts
    ) -> String? {
        guard let text = facts.loggedSubmission else { return nil }
        guard case .object(let submission)? = try? StoredJSON.decode(JSONValue.self, from: text) else {
            return "what the last submission logged cannot be read"
        }
        if let routing = submission["routing"], routing != .null, routing != snapshot.facts.logged {
            return "the snapshot's routing facts are not the ones its last submission logged"
        }
        if !facts.textsErased, let request = submission["request"], request != .null {
            return details.loggedMismatch(request, kind: kind)
        }
        return nil
    }

    /// What the snapshot's state holds beyond its name (the timeline, the inbox and the engine's next
    /// decision read it), against the facts; nil when all agree:
    /// - a step in review (or sent back with a question): it was entered when the log says, escalated
    ///   exactly when the log holds an escalation since, is due when the entering event logged (where
    ///   it did; else its deadline lies after its entry), waits for the branches the definition names for
    ///   the routing facts, and its approvals are the decisions approving it since it was entered;
    /// - a question: the one the last decision asked (unless erased);
    /// - granted access: ends at the request's access end;
    /// - the snapshot's access end is the request's, once submitted (a draft's is derived again when it is
    ///   submitted; drafts edited before 2026-12-05 kept the one of their first save).
    ///
    /// The deadline is compared with the logged one, not recomputed: it came from the public-holiday
    /// calendar of the day the step was entered, and a calendar corrected since would call an honest
    /// deadline forged.
    static func stateMismatch(
        _ snapshot: RequestSnapshot, accessEnd: Date?, entry: LoggedStepEntry?, textsErased: Bool,
        definition: WorkflowDefinition?
    ) -> String? {
        if case .draft = snapshot.state { return nil }
        guard sameInstant(snapshot.accessEnd, accessEnd) else {
            return "the snapshot's access end is not the request's"
        }
        switch snapshot.state {
        case .inReview(let progress):
            return progressMismatch(progress, snapshot: snapshot, entry: entry, definition: definition)
        case .changesRequested(let progress, let question):
            if let mismatch = progressMismatch(progress, snapshot: snapshot, entry: entry, definition: definition) {
                return mismatch
            }
            let asking = snapshot.decisions.last
            guard asking?.outcome == .changesRequested, asking?.step == progress.step else {
                return "the snapshot asks a question no decision asked"
            }
            if !textsErased, asking?.comment != question {
                return "the snapshot's question is not the one its last decision asked"
            }
            return nil
        case .granted(_, let until):
            guard sameInstant(until, accessEnd ?? snapshot.decisions.last?.at) else {
                return "the snapshot's granted access does not end at the request's access end"
            }
            return nil
        case .draft, .published, .closed:
            return nil
        }
    }

    private static func progressMismatch(
        _ progress: StepProgress, snapshot: RequestSnapshot, entry: LoggedStepEntry?, definition: WorkflowDefinition?
    ) -> String? {
        let step = progress.step
        if let entry {
            guard AuditTimestamp(progress.enteredAt).isSameStoredInstant(as: entry.enteredAt) else {
                return "the snapshot says step \(step) was entered at \(AuditTimestamp(progress.enteredAt)), "
                    + "the decision log at \(entry.enteredAt)"
            }
            guard progress.escalated == entry.escalated else {
                return progress.escalated
                    ? "the snapshot says step \(step) escalated, the decision log holds no escalation of it"
                    : "the decision log holds an escalation of step \(step), the snapshot says it did not escalate"
            }
        }
        if let logged = entry?.deadline {
            guard let deadline = progress.deadline, AuditTimestamp(deadline).isSameStoredInstant(as: logged) else {
                let said = progress.deadline.map { AuditTimestamp($0).description } ?? "never"
                return "the snapshot says step \(step) is due \(said), the decision log \(logged)"
            }
        } else if let deadline = progress.deadline, deadline <= progress.enteredAt {
            return "the snapshot's deadline of step \(step) is not after its entry"
        }
        if let definition, let expected = definition.activeBranches(ofStep: step, of: snapshot),
            expected != progress.activeBranches
        {
            return "the snapshot says step \(step) waits for \(progress.activeBranches), "
                + "the workflow for these facts names \(expected)"
        }
        let approving = snapshot.decisions.filter {
            $0.outcome == .approved && $0.step == step && $0.at >= progress.enteredAt
        }
        let approvals = Dictionary(grouping: approving, by: \.branch)
        guard approvals == progress.approvals else {
            let said = progress.approvals.values.joined().map(\.person).sorted()
            return "the snapshot says step \(step) was approved by \(said), "
                + "its decisions since the step was entered by \(approving.map(\.person).sorted())"
        }
        return nil
    }

    /// Two stored copies of one optional instant, the same within what storage rounds.
    private static func sameInstant(_ a: Date?, _ b: Date?) -> Bool {
        switch (a, b) {
        case (let a?, let b?): AuditTimestamp(a).isSameStoredInstant(as: AuditTimestamp(b))
        case (nil, nil): true
        default: false
        }
    }

    private static func compare(
        _ left: [DecisionFact], _ leftName: String, _ right: [DecisionFact], _ rightName: String,
        by agree: (DecisionFact, DecisionFact) -> Bool
    ) -> String? {
        for (position, (a, b)) in zip(left, right).enumerated() where !agree(a, b) {
            return "decision #\(position): \(leftName) says \(a), \(rightName) says \(b)"
        }
        guard left.count == right.count else {
            return "\(leftName) has \(left.count) decisions, \(rightName) \(right.count)"
        }
        return nil
    }
}
