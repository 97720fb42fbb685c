import Crypto
import Foundation
import Logging
import PostgresNIO

/// What a link in a task mail does: approve, reject or ask a question.
enum DecisionLinkAction: String, Sendable, Hashable, CaseIterable, Codable {
    case approve
    case reject
    case requestChanges = "request_changes"
}

/// The decision links of one branch in one mail, as tokens by action.
struct BranchLinks: Sendable, Hashable {
    var branch: String
    var tokens: [DecisionLinkAction: String]
}

/// One stored decision link (`decision_links`), as the confirm page needs it.
struct DecisionLink: Sendable, Hashable {
    var requestID: UUID
    var step: String
    var branch: String
    var uid: String
    var action: DecisionLinkAction
    /// The stay of the step the task mail was for (nil for links minted before migration 24).
    var stepEnteredAt: Date?
    var expiresAt: Date
    var usedAt: Date?
}

extension DecisionLink {
    /// Whether the link was sent for the step's stay that began at `entered` (the request's step in
    /// review since then): a step asked again after an answer, or restarted, is a new stay with a mail
    /// of its own. A link minted before stays were recorded is taken by its step and branch alone.
    func isFor(stayFrom entered: Date?) -> Bool {
        guard let stepEnteredAt else { return true }
        guard let entered else { return false }
        return StepStay.same(stepEnteredAt, entered)
    }
}

/// The decision links of task mails: 256-bit random tokens, only their SHA-256 stored, each bound to one
/// request, step, branch, person and action, valid until it expires and once.
///
/// Minted when a task mail is composed (a resend mints new ones; the old stay valid until they expire,
/// and whichever is used first decides, as the step then has moved on). A link is bound to the stay of
/// the step its mail was for: a step entered anew voids the links of its earlier stays. Used links are claimed with
/// `UPDATE … WHERE used_at IS NULL`, so of two clicks one wins; a claim whose decision never came is
/// abandoned after ``abandonedClaim``.
struct DecisionLinkStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    /// How long a link is valid (`web.decision_link_days`, default 14).
    static let defaultDays = 14

    /// When a link minted at `now` expires: `days` calendar days later in Berlin, at the hour it was sent
    /// (a day across a clock change has 23 or 25 hours; whole 24-hour blocks ended a link an hour early
    /// or late), and not before the end of the step's `deadline`, so that a step over the holidays (ten
    /// working days from 17 December end on 4 January) keeps the first mail's links; yet never more than
    /// the longest lifetime there may be (``WebSettings/maximumLinkDays``).
    static func expiry(minted now: Date, days: Int, deadline: Date?) -> Date {
        func daysLater(_ count: Int) -> Date {
            BerlinDates.calendar.date(byAdding: .day, value: count, to: now)
                ?? now.addingTimeInterval(Double(count) * 86_400)
        }
        let later = daysLater(days)
        guard let deadline, deadline > later else { return later }
        return min(deadline, daysLater(WebSettings.maximumLinkDays))
    }

    /// Mints one link per action for `uid` and returns the tokens by action.
    func mint(
        requestID: UUID, step: String, stepEnteredAt: Date?, branch: String, uid: String,
        actions: [DecisionLinkAction], now: Date, days: Int, deadline: Date? = nil
    ) async throws -> [DecisionLinkAction: String] {
        var tokens: [DecisionLinkAction: String] = [:]
        for action in actions { tokens[action] = WebSession.newToken() }
        let rows = tokens.map { (Self.hash($0.value), $0.key.rawValue) }
        let hashes = rows.map(\.0)
        let names = rows.map(\.1)
        let expires = Self.expiry(minted: now, days: days, deadline: deadline)
        _ = try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO decision_links
                    (token_hash, request_id, step, step_entered_at, branch, uid, action, created_at, expires_at)
                SELECT hash, \(requestID), \(step), \(stepEnteredAt), \(branch), \(uid), action, \(now), \(expires)
                FROM unnest(\(hashes)::bytea[], \(names)::text[]) AS link (hash, action)
                """, logger: logger)
        }
        return tokens
    }

    /// Mints one mail's links for `uid`: one set per branch of `branches`, each bound to its branch, so
    /// that a link decides its branch (and no other) through the confirm page. An escalation of a step
    /// whose open branches the instance may each take over has several; a task has one.
    func mint(
        requestID: UUID, step: String, stepEnteredAt: Date?, branches: [String], uid: String,
        actions: [DecisionLinkAction], now: Date, days: Int, deadline: Date?
    ) async throws -> [BranchLinks] {
        var sets: [BranchLinks] = []
        for branch in branches {
            let tokens = try await mint(
                requestID: requestID, step: step, stepEnteredAt: stepEnteredAt, branch: branch, uid: uid,
                actions: actions, now: now, days: days, deadline: deadline)
            sets.append(BranchLinks(branch: branch, tokens: tokens))
        }
        return sets
    }

    /// How long a claimed link waits for its decision. A claim this old with no decision by the link's
    /// person since is one whose decision never happened, and whose link was not given back either: the
    /// instance died between the two, or the database was away for the decision and for the release.
    /// The link then counts as unused again. Longer than a decision may take under the deadlines (a
    /// transaction 5 s, a directory call 2 s, by default); the engine refuses a second decision anyway.
    static let abandonedClaim: TimeInterval = 60

    /// SQL: the link's person (of link row `l`) has decided nothing on its request since it was claimed
    /// (a second of slack: the claim and the decision are stamped by one clock, through different
    /// roundings). One rule for reading a link and for claiming it.
    private static let noDecisionSinceClaim = """
        NOT EXISTS (
            SELECT 1 FROM decisions d
            WHERE d.request_id = l.request_id AND lower(d.person) = lower(l.uid)
              AND d.decided_at >= l.used_at - interval '1 second')
        """

    /// The link of `token`, or nil for a token that never was (or is malformed); an abandoned claim
    /// (``abandonedClaim``) reads as unused at `now`.
    func find(token: String, now: Date) async throws -> DecisionLink? {
        guard Self.isWellFormed(token) else { return nil }
        let hash = Self.hash(token)
        let abandonedBefore = now.addingTimeInterval(-Self.abandonedClaim)
        return try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT l.request_id, l.step, l.step_entered_at, l.branch, l.uid, l.action, l.expires_at,
                    CASE WHEN l.used_at < \(abandonedBefore) AND \(unescaped: Self.noDecisionSinceClaim)
                        THEN NULL ELSE l.used_at END
                FROM decision_links l WHERE l.token_hash = \(hash)
                """, logger: logger)
            for try await (request, step, entered, branch, uid, action, expires, used) in rows.decode(
                (UUID, String, Date?, String, String, String, Date, Date?).self)
            {
                guard let action = DecisionLinkAction(rawValue: action) else { return nil }
                return DecisionLink(
                    requestID: request, step: step, branch: branch, uid: uid, action: action, stepEnteredAt: entered,
                    expiresAt: expires, usedAt: used)
            }
            return nil
        }
    }

    /// Marks the link used; false when it was used already (another click won). An abandoned claim
    /// (``abandonedClaim``) may be taken again.
    func claim(token: String, now: Date) async throws -> Bool {
        let hash = Self.hash(token)
        let abandonedBefore = now.addingTimeInterval(-Self.abandonedClaim)
        return try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE decision_links l SET used_at = \(now)
                WHERE l.token_hash = \(hash)
                    AND (l.used_at IS NULL
                        OR (l.used_at < \(abandonedBefore) AND \(unescaped: Self.noDecisionSinceClaim)))
                RETURNING 1
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    /// Gives a claimed link back when the decision did not happen for a reason the person can fix (a
    /// missing reason, the database briefly away).
    func release(token: String) async throws {
        let hash = Self.hash(token)
        _ = try await Database.read(client, logger: logger) { connection in
            try await connection.query(
                "UPDATE decision_links SET used_at = NULL WHERE token_hash = \(hash)", logger: logger)
        }
    }

    /// 43 characters of URL-safe base64 (256 bits), as ``WebSession/newToken()`` makes them.
    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 43
            && token.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                    || $0 == "_"
            }
    }

    static func hash(_ token: String) -> ByteBuffer { ByteBuffer(bytes: SHA256.hash(data: Data(token.utf8))) }
}
