import AuditLog
import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// A `mail` row of `outbox` claimed for one sending attempt, with what the mail needs of its request.
struct ClaimedMail: Sendable {
    var id: Int64
    /// The topic column, also for a payload this release cannot read.
    var topic: String
    var payload: String
    /// Attempts including this one.
    var attempts: Int
    /// uids the server already accepted it for (an earlier attempt): not sent to again.
    var deliveredTo: [String]
    /// uids refused for good by an earlier attempt: not sent to again.
    var undeliverableTo: [String]
    var createdAt: Date
    /// Part of the row's `Message-ID` (migration 25); nil for rows written before.
    var deliveryKey: UUID?
    /// The request's details as they stand now, shown in the mail (the payload does not carry them).
    var details: RequestDetails?
    var workflow: WorkflowPin?
    /// Where the request stands now; nil for a row of no request.
    var standing: RequestStanding?
}

/// Where a request stands when one of its mails is sent: the columns the engine's state is copied to
/// (`RequestColumns`). A task mail that waited (a temporary failure, a retry schedule, a slow
/// directory) may meanwhile be no task any more.
/// A request's stay at a step, named by the moment it entered the step (`step_entered_at`): a step left
/// and entered anew (an answered question, a restart) is another stay, with task mails and decision
/// links of its own.
enum StepStay {
    /// Whether two moments name the same stay, compared as PostgreSQL stores them (in microseconds).
    static func same(_ entered: Date, _ other: Date) -> Bool {
        AuditTimestamp(entered).isSameStoredInstant(as: AuditTimestamp(other))
    }
}

struct RequestStanding: Sendable, Hashable {
    var requester: String
    var phase: RequestPhase
    var step: String?
    var stepEnteredAt: Date?
    /// Roles the step still waits for.
    var pendingRoles: [String]
    /// The request as the engine holds it (nil when unreadable, e.g. written by a newer version): its
    /// state and decisions, for which branches are still open and whom separation of duties keeps out.
    var snapshot: RequestSnapshot?
    /// The requester's resubmissions and withdrawal, oldest first (``RequestService/answerRows``), read for
    /// task mails only (empty for other topics): the answers live only in their `resubmitted` events.
    var requesterEvents: [LoggedRequesterEvent] = []
    /// Who holds the dataset's owner and steward steps now, as the catalogue says.
    var holders: StepHolders? = nil

    /// The recipients of a task or reminder who still hold its step. An administrator who replaced a
    /// dataset's owner, moved it to another domain or changed the domain's steward group handed the
    /// step over: the new holders get a task of their own (`new_owner`, `new_stewards`), and the old
    /// ones, whose links and inbox no longer offer it, are not sent one that waited (an SMTP outage, a
    /// retry pause) and would show them the whole request.
    func addressees(of message: OutboxMessage) -> [OutboxRecipient] {
        guard message.topic.asksToDecide, message.topic != .escalated, let holders else { return message.recipients }
        return message.recipients.filter(holders.stillHold)
    }

    /// The engine's state of the step in review (nil in any other phase): which branches are still open.
    var progress: StepProgress? {
        switch snapshot?.state {
        case .inReview(let progress): progress
        case .draft, .changesRequested, .granted, .published, .closed, nil: nil
        }
    }

    /// The branches of the message's step still open, by the engine's rule
    /// (``WorkflowDefinition/openBranches(of:)``); nil when that cannot be told here (another phase, or
    /// the request's workflow version is not loaded in this instance).
    func openBranches(in definition: WorkflowDefinition?) -> Set<String>? {
        guard let definition, let progress else { return nil }
        return Set(definition.openBranches(of: progress).map(\.id))
    }

    /// The approvals with a comment that a grant or publication stands on (a condition of use, a note for
    /// the requester), oldest first: the engine's ``RequestSnapshot/standingApprovals``. Empty when the
    /// snapshot is unreadable.
    func standingApprovalComments() -> [Decision] {
        (snapshot?.standingApprovals ?? []).filter { $0.comment?.isEmpty == false }
    }

    /// The question a stay of `step` that began at `enteredAt` follows, with the requester's answer:
    /// the step's last decision before the stay asked it (the stay before ended with that question, and
    /// this one is the step taken up again after the answer, directly or after a restart at the start),
    /// and the answer is the first resubmission after it (nil: sent back without a comment). Nil for a
    /// stay that follows no question, and when the snapshot is unreadable.
    func answeredQuestion(step: String, enteredAt: Date) -> (question: String, answer: String?)? {
        let entered = AuditTimestamp(enteredAt)
        guard
            // A decision counts for every step it covers (an owner's approval that also covered the
            // steward step, Personalunion): after it, the steward's earlier question is answered history.
            let last = snapshot?.decisions.last(where: {
                ($0.step == step || $0.covers.contains(step))
                    && AuditTimestamp($0.at).microsecondsSinceEpoch <= entered.microsecondsSinceEpoch + 1
            }),
            last.outcome == .changesRequested, let question = last.comment
        else { return nil }
        let asked = AuditTimestamp(last.at).microsecondsSinceEpoch
        let answer = requesterEvents.first { $0.isResubmission && $0.at >= asked - 1 }
        return (question, answer?.text)
    }

    /// Why `message` is no longer worth sending, or nil while it still is: a task or reminder for a
    /// step that was left, entered anew (its new stay has a mail of its own), or whose role or branch
    /// has decided (a colleague in the steward group, on the page); an escalation of a step that was
    /// left or entered anew. An escalation whose own branches were decided meanwhile still goes while
    /// the step is overdue (other branches wait): the instance is told, without links for what is done.
    func moot(_ message: OutboxMessage, definition: WorkflowDefinition?) -> String? {
        // "The question went unanswered" is no longer true once it was answered (or the request ended).
        if message.topic == .questionUnanswered, let step = message.step {
            guard phase == .changesRequested, self.step == step else {
                return "die Rückfrage im Schritt \(step) ist nicht mehr offen"
            }
            return nil
        }
        let role = message.recipients.first?.role
        guard message.topic.asksToDecide, let step = message.step else { return nil }
        guard phase == .inReview, self.step == step else {
            return "der Antrag steht nicht mehr im Schritt \(step)"
        }
        if let then = message.stepEnteredAt, let now = stepEnteredAt, !StepStay.same(then, now) {
            return "der Schritt \(step) wurde seitdem neu begonnen"
        }
        if message.topic != .escalated, let role, !pendingRoles.contains(role) {
            return "im Schritt \(step) hat die Rolle \(role) bereits entschieden"
        }
        if !message.recipients.isEmpty, addressees(of: message).isEmpty {
            return "die Zuständigkeit im Schritt \(step) ist seitdem an andere übergegangen"
        }
        let branches = message.linkBranches
        if message.topic != .escalated, let open = openBranches(in: definition), !branches.isEmpty,
            open.isDisjoint(with: branches)
        {
            return "im Schritt \(step) ist \(branches.joined(separator: ", ")) bereits entschieden"
        }
        return nil
    }
}

/// What one attempt achieved for one row; written only while the row's claim is still ours.
struct MailOutcome: Sendable, Hashable {
    var id: Int64
    var deliveredTo: [String]
    var undeliverableTo: [String]
    /// Nothing is left to try.
    var sentAt: Date?
    /// Someone will never get it (refused for good, no address, schedule ran out).
    var failedAt: Date?
    var lastError: String?
    /// The next attempt, when something is left to try.
    var retryAt: Date?
    /// Not tried (the round ran out of time before it, or its payload is unreadable here): the claim's
    /// attempt is given back, and the last error kept unless ``lastError`` says something.
    var released = false
}

/// A row as `freigabe outbox list` shows it.
public struct OutboxEntry: Sendable, Hashable {
    public var id: Int64
    public var topic: String
    public var requestID: UUID?
    public var createdAt: Date
    public var availableAt: Date
    public var attempts: Int
    public var sentAt: Date?
    public var failedAt: Date?
    public var lastError: String?
    public var deliveredTo: [String]
}

/// The SQL of the mail dispatcher and of `freigabe outbox`, each call one short transaction.
enum OutboxStore {
    /// Channel of the `outbox_notify` trigger (migration 5).
    static let channel = "freigabe_outbox"

    /// Claims up to `limit` due mail rows: `FOR UPDATE SKIP LOCKED`, so instances claiming at once get
    /// different rows, and the claim is a lease (`available_at` moved to `now + lease`, a fresh
    /// `claim_token`), so the SMTP session runs outside any transaction and nobody else takes the rows
    /// meanwhile. A dispatcher that dies leaves its rows to whoever claims after the lease. Only rows of
    /// the topics this release words (``OutboxTopic/mailTopics``): during a rolling update a newer
    /// release's topic is left to its instances, neither attempted nor failed here.
    static func claim(
        client: PostgresClient, now: Date, limit: Int, lease: Duration, token: UUID, logger: Logger
    ) async throws -> [ClaimedMail] {
        let until = now.addingTimeInterval(TimeInterval(lease.components.seconds))
        return try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                WITH due AS (
                    SELECT id, request_id FROM outbox
                    WHERE kind = 'mail' AND sent_at IS NULL AND failed_at IS NULL AND available_at <= \(now)
                        AND topic = ANY(\(OutboxTopic.mailTopics)::text[])
                    ORDER BY available_at, id
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE outbox o SET available_at = \(until), claim_token = \(token), attempts = o.attempts + 1
                FROM due LEFT JOIN requests r ON r.id = due.request_id
                    LEFT JOIN datasets d ON d.id = r.dataset_id LEFT JOIN domains dm ON dm.id = d.domain_id
                WHERE o.id = due.id
                RETURNING o.id, o.topic, o.payload::text, o.attempts, o.delivered_to, o.undeliverable_to, o.created_at,
                    o.delivery_key, r.workflow_id, r.workflow_version, r.workflow_hash,
                    r.requester, r.phase, r.current_step, r.step_entered_at, r.pending_roles,
                    r.snapshot::text, d.owner, d.owner_group_key, dm.steward_group_key,
                    CASE WHEN o.topic = \(OutboxTopic.requestDecision.rawValue)
                        THEN \(unescaped: RequestService.answerRows) END,
                    \(unescaped: RequestDetails.selectList("r"))
                """, logger: logger)
            var claimed: [ClaimedMail] = []
            for try await row in rows {
                var cells = RowCursor(row)
                let id = try cells.next(Int64.self)
                let topic = try cells.next(String.self)
                let payload = try cells.next(String.self)
                let attempts = try cells.next(Int.self)
                let delivered = try cells.next([String].self)
                let undeliverable = try cells.next([String].self)
                let created = try cells.next(Date.self)
                let deliveryKey = try cells.next(UUID?.self)
                let workflowID = try cells.next(String?.self)
                let version = try cells.next(Int?.self)
                let hash = try cells.next(String?.self)
                let requester = try cells.next(String?.self)
                let phase = try cells.next(String?.self).flatMap(RequestPhase.init(rawValue:))
                let step = try cells.next(String?.self)
                let entered = try cells.next(Date?.self)
                let pending = try cells.next([String]?.self)
                let snapshot = try cells.next(String?.self)
                let owner = try cells.next(String?.self)
                let ownerGroupKey = try cells.next(String?.self)
                let stewardGroupKey = try cells.next(String?.self)
                let requesterEvents = try cells.next(String?.self)
                var pin: WorkflowPin?
                if let workflowID, let version, let hash {
                    pin = WorkflowPin(id: workflowID, version: version, contentHash: hash)
                }
                var standing: RequestStanding?
                var details: RequestDetails?
                if let requester, let phase {
                    standing = RequestStanding(
                        requester: requester, phase: phase, step: step, stepEnteredAt: entered,
                        pendingRoles: pending ?? [],
                        // Unreadable (written by a newer version): the mail is judged by its step and role
                        // alone, as before branches were checked, rather than not claimed at all.
                        snapshot: snapshot.flatMap { try? StoredJSON.decode(RequestSnapshot.self, from: $0) },
                        // Unreadable: the task goes without the exchange rather than no claim at all.
                        requesterEvents: requesterEvents.flatMap {
                            try? StoredJSON.decode([LoggedRequesterEvent].self, from: $0)
                        } ?? [],
                        holders: stewardGroupKey.map {
                            StepHolders(owner: owner, ownerGroupKey: ownerGroupKey, stewardGroupKey: $0)
                        })
                    // Unreadable (a newer version's shape, a hand-made change): the mail goes without the
                    // request's details. Throwing here would hold the whole claimed batch until its lease ends,
                    // round after round, as the claim has already been committed.
                    details = try? RequestDetails.decode(&cells)
                }
                claimed.append(
                    ClaimedMail(
                        id: id, topic: topic, payload: payload, attempts: attempts, deliveredTo: delivered,
                        undeliverableTo: undeliverable, createdAt: created, deliveryKey: deliveryKey,
                        details: details, workflow: pin, standing: standing))
            }
            return claimed.sorted { $0.id < $1.id }
        }
    }

    /// Records the outcomes of one session, all in one transaction. A row whose claim is no longer ours
    /// (the lease passed and another dispatcher took it) is left alone. Returns how many rows were written.
    static func record(
        _ outcomes: [MailOutcome], token: UUID, client: PostgresClient, logger: Logger
    ) async throws -> Int {
        guard !outcomes.isEmpty else { return 0 }
        return try await Database.transaction(client, logger: logger) { connection in
            var written = 0
            for outcome in outcomes {
                let rows = try await connection.query(
                    """
                    UPDATE outbox SET delivered_to = \(outcome.deliveredTo),
                        undeliverable_to = \(outcome.undeliverableTo), sent_at = \(outcome.sentAt),
                        failed_at = \(outcome.failedAt),
                        last_error = CASE WHEN \(outcome.released) THEN coalesce(\(outcome.lastError), last_error)
                            ELSE \(outcome.lastError) END,
                        attempts = attempts - CASE WHEN \(outcome.released) THEN 1 ELSE 0 END,
                        available_at = coalesce(\(outcome.retryAt), available_at), claim_token = NULL
                    WHERE id = \(outcome.id) AND claim_token = \(token)
                    RETURNING id
                    """, logger: logger)
                for try await _ in rows.decode(Int64.self) { written += 1 }
            }
            return written
        }
    }

    /// Who deputised for whom among `principals` at `instant` (Vertretung) and still does at `now`:
    /// `(deputy, principal)`, the principal as given. Compared without regard to case, as the directory
    /// matches uids. A deputyship that ended before a delayed mail goes out (the principal is back) gets
    /// no copy: the request is none of the former deputy's business any more.
    static func deputies(
        of principals: [String], at instant: Date, stillAt now: Date, client: PostgresClient, logger: Logger
    ) async throws -> [(deputy: String, principal: String)] {
        guard !principals.isEmpty else { return [] }
        let lowered = principals.map { $0.lowercased() }
        return try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                SELECT deputy, lower(principal) FROM deputyships
                WHERE lower(principal) = ANY(\(lowered)) AND valid_from <= \(instant)
                    AND valid_until > greatest(\(instant), \(now))
                    AND (ended_at IS NULL OR ended_at > greatest(\(instant), \(now)))
                ORDER BY valid_from, id
                """, logger: logger)
            var found: [(deputy: String, principal: String)] = []
            for try await (deputy, principal) in rows.decode((String, String).self) {
                if let given = principals.first(where: { $0.lowercased() == principal }) {
                    found.append((deputy, given))
                }
            }
            return found
        }
    }

    /// When the next pending mail row this release can send is due (nil: none is pending); a newer
    /// release's row must not wake the dispatcher every moment for a claim that leaves it alone.
    static func nextDue(client: PostgresClient, logger: Logger) async throws -> Date? {
        try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                SELECT min(available_at) FROM outbox
                WHERE kind = 'mail' AND sent_at IS NULL AND failed_at IS NULL
                    AND topic = ANY(\(OutboxTopic.mailTopics)::text[])
                """, logger: logger)
            return try await rows.decode(Date?.self).first(where: { _ in true }) ?? nil
        }
    }

    /// Pending rows (oldest first), or with `failed` the rows someone will never get (newest first).
    static func list(failed: Bool, limit: Int, client: PostgresClient, logger: Logger) async throws -> [OutboxEntry] {
        try await entries(
            """
            SELECT id, topic, request_id, created_at, available_at, attempts, sent_at, failed_at, last_error,
                delivered_to
            FROM outbox
            WHERE kind = 'mail' AND CASE WHEN \(failed) THEN failed_at IS NOT NULL
                ELSE sent_at IS NULL AND failed_at IS NULL END
            ORDER BY CASE WHEN \(failed) THEN -extract(epoch FROM failed_at) ELSE 0 END, available_at, id
            LIMIT \(limit)
            """, client: client, logger: logger)
    }

    /// Every mail row of one request, sent ones too, oldest first: "did otto get the task mail?" (an
    /// operator's question, asked seldom: no index of its own).
    static func list(request: UUID, limit: Int, client: PostgresClient, logger: Logger) async throws -> [OutboxEntry] {
        try await entries(
            """
            SELECT id, topic, request_id, created_at, available_at, attempts, sent_at, failed_at, last_error,
                delivered_to
            FROM outbox
            WHERE kind = 'mail' AND request_id = \(request)
            ORDER BY created_at, id
            LIMIT \(limit)
            """, client: client, logger: logger)
    }

    private static func entries(
        _ query: PostgresQuery, client: PostgresClient, logger: Logger
    ) async throws -> [OutboxEntry] {
        try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(query, logger: logger)
            var entries: [OutboxEntry] = []
            for try await (id, topic, request, created, available, attempts, sent, failedAt, error, delivered)
                in rows.decode((Int64, String, UUID?, Date, Date, Int, Date?, Date?, String?, [String]).self)
            {
                entries.append(
                    OutboxEntry(
                        id: id, topic: topic, requestID: request, createdAt: created, availableAt: available,
                        attempts: attempts, sentAt: sent, failedAt: failedAt, lastError: error, deliveredTo: delivered))
            }
            return entries
        }
    }

    /// Makes a failed (or pending) mail row due now with a fresh schedule; those it reached already are
    /// not mailed again. Wakes the dispatchers. False when there is no such mail row, it went out to
    /// everybody, or a dispatcher is sending it right now (its lease runs: taking it away would send it
    /// twice and lose what that session delivered). Who asked is logged in the same transaction.
    static func retry(
        id: Int64, by retry: OutboxRetry, now: Date, client: PostgresClient, logger: Logger
    ) async throws -> Bool {
        try await Database.transaction(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE outbox SET failed_at = NULL, sent_at = NULL, attempts = 0, available_at = \(now),
                    claim_token = NULL, undeliverable_to = '{}'
                WHERE id = \(id) AND kind = 'mail' AND (failed_at IS NOT NULL OR sent_at IS NULL)
                  AND (claim_token IS NULL OR available_at <= \(now))
                RETURNING request_id
                """, logger: logger)
            guard let requestID = try await rows.decode(UUID?.self).first(where: { _ in true }) else { return false }
            try await AuditWriter.insert(
                retry.auditRow(row: "m\(id)", requestID: requestID, now: now), on: connection, logger: logger)
            try await connection.query("SELECT pg_notify(\(channel), '')", logger: logger)
            return true
        }
    }
}

/// Who sent an outbox row again, for the audit log: an administrator on the page, or the operator's
/// account on the command line.
struct OutboxRetry: Sendable {
    var actor: String
    var clientAddress: String? = nil
    /// The page or the command line.
    var via: Caller.Channel

    func auditRow(row key: String, requestID: UUID?, now: Date) throws -> AuditRow {
        AuditRow(
            occurredAt: now, actor: actor, requestID: requestID, event: .outboxRetried, clientAddress: clientAddress,
            details: try StoredJSON.encode(["row": key, "via": via.rawValue]))
    }
}
