import AuditLog
import Foundation
import Logging
import PostgresNIO

/// `freigabe audit redact --before DATE`: the right to erasure after the retention period.
///
/// Erases the personal payload (comment, details, client address) **and its salt** of every sealed event
/// that happened before DATE, and the free texts of the requests closed before it or abandoned before it
/// (a draft or an unanswered question, migration 17; their own copies); the events, their leaf hashes and
/// the tree stay, so `audit verify` and an offline check of an export still hold and report the erasure.
/// The database side is the one narrow path of migrations 10 and 17 (`audit_redact`, see their comments
/// and FORMAT.md §3): owner role only, the erasure recorded in `audit_redactions` and as a
/// `payloads_redacted` event of the log itself.
///
/// The payload hash is computed here, from the row as sealed (the encoding lives in `AuditLog`, once),
/// and handed to the database, which keeps it beside the leaf hash. Each event is first checked against
/// its recorded leaf hash: an event changed after sealing is evidence, and is never erased (nothing is).
struct AuditRedaction: Sendable {
    /// The owner (admin) role's client: only it may call `audit_redact`.
    let client: PostgresClient

    /// `pg_advisory_xact_lock` key of erasures ("FGREDACT"); `audit_redact` takes the same.
    static let lockKey: Int64 = 0x4647_5245_4441_4354

    /// A checked order to erase.
    struct Order: Sendable, Hashable {
        /// Payloads of events that happened before this instant are erased.
        var before: Date
        /// uid of who runs it (`--actor`, else the OS account).
        var actor: String
        /// The OS account that ran the command, recorded beside the actor.
        var osUser: String?
        var retentionYears: Int
        /// Only read, check and count what would be erased (`--dry-run`); nothing is written.
        var dryRun = false
    }

    /// What one erasure did.
    struct Outcome: Sendable, Hashable {
        var erasedCount: Int
        /// Requests closed or abandoned before the cut-off whose own copies of the texts were erased with them.
        var requestCount = 0
        /// Of ``requestCount``, those still waiting for their requester (a draft, an unanswered question)
        /// with no activity since the cut-off: they keep their state.
        var abandonedCount = 0
        /// `audit_redactions.id`; nil when nothing was due.
        var redactionID: Int64?
        /// The database role that erased (`session_user`), as recorded.
        var databaseRole: String?
        var copies = Copies()
    }

    /// Copies of personal data outside the log that go with an erasure: the notifications of the erased
    /// requests and those of no request before the cut-off (a mail names its recipients and carries the
    /// question or reason; `audit_redact` deletes them), the answers stored for an `Idempotency-Key`
    /// before it (a whole request; `audit_redact` too), and decision links (see ``run(_:logger:)``).
    struct Copies: Sendable, Hashable {
        var messages = 0
        var storedAnswers = 0
        var links = 0

        var isEmpty: Bool { messages + storedAnswers + links == 0 }
    }

    /// Checks the command line before anything is opened: DATE well-formed (`YYYY-MM-DD`, the start of
    /// that day in Europe/Berlin, or an RFC 3339 instant), not in the future, not within the retention
    /// period; the actor a uid.
    static func order(
        before text: String, actor: String?, osUser: String?, retentionYears: Int, now: Date
    ) throws(RedactionRefusal) -> Order {
        guard AuditSettings.retentionYearsRange.contains(retentionYears) else {
            throw .invalidRetention(retentionYears)
        }
        let before: Date
        do throws(AuditFilterError) {
            before = try AuditFilter.instant(text, option: "--before", endOfDay: false)
        } catch {
            throw .malformedDate(error)
        }
        guard before <= now else { throw .inFuture(text) }
        let earliest = AuditFilter.berlin.date(byAdding: .year, value: -retentionYears, to: now) ?? .distantPast
        guard before <= earliest else {
            throw .withinRetention(text, years: retentionYears, latestAllowed: earliest)
        }
        guard let uid = actor ?? osUser else { throw .noActor }
        guard Self.isUID(uid) else { throw .invalidActor(uid) }
        return Order(
            before: before, actor: uid, osUser: osUser.flatMap { Self.isUID($0) ? $0 : nil },
            retentionYears: retentionYears)
    }

    /// Letters, digits and `. _ - @`, 1 to 200 characters: what a directory uid can be (as the audit
    /// filter's `--person`).
    static func isUID(_ text: String) -> Bool {
        (1...200).contains(text.count)
            && text.unicodeScalars.allSatisfy {
                $0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_@".unicodeScalars.contains($0)
            }
    }

    /// Erases, in one transaction: every due event is read, checked against its leaf hash and hashed; then
    /// `audit_redact` erases exactly those, or (another set being due by then) nothing.
    func run(_ order: Order, logger: Logger) async throws -> Outcome {
        try await Database.exclusiveTransaction(client, lockKey: Self.lockKey, timeouts: .migration, logger: logger) {
            connection in
            var sequences: [Int64] = []
            var hashes = ByteBuffer()
            var encoder = AuditEventEncoder()
            let rows = try await connection.query(
                """
                SELECT \(unescaped: SealedEvent.columns) FROM \(unescaped: SealedEvent.tables)
                WHERE e.occurred_at < \(order.before) AND s.redaction_id IS NULL
                  AND e.event <> \(AuditEvent.payloadsRedacted.rawValue)
                ORDER BY s.sequence
                """, logger: logger)
            for try await row in rows {
                let sealed = try SealedEvent(row)
                guard encoder.leafHash(of: sealed.leaf) == sealed.leafHash else {
                    throw RedactionRefusal.eventChanged(sequence: sealed.sequence)
                }
                sequences.append(Int64(sealed.sequence))
                hashes.writeBytes(sealed.payloadHash.bytes)
            }
            guard !sequences.isEmpty else { return Outcome(erasedCount: 0) }
            // A dry run does all of it under a savepoint that is rolled back: its counts are exactly
            // what would go, from the one place that decides it (`audit_redact`).
            if order.dryRun { try await connection.query("SAVEPOINT dry_run", logger: logger) }
            let before = try await Copies.count(on: connection, logger: logger)
            let id = try await connection.query(
                """
                SELECT audit_redact(\(order.before), \(order.actor), \(order.osUser), \(Int32(order.retentionYears)),
                                    \(sequences), \(hashes))
                """, logger: logger
            ).decode(Int64.self).first(where: { _ in true })
            guard let id else { throw ServiceError.internal("audit_redact returned no erasure") }
            // The decision links of the erased requests, and every link expired before the cut-off: who
            // was asked to decide what (migration 10's function leaves them).
            try await connection.query(
                """
                DELETE FROM decision_links
                WHERE request_id IN (SELECT id FROM requests WHERE redaction_id = \(id))
                   OR expires_at < \(order.before)
                """, logger: logger)
            let after = try await Copies.count(on: connection, logger: logger)
            let recorded = try await connection.query(
                """
                SELECT database_role, (SELECT count(*) FROM requests WHERE redaction_id = \(id)),
                       (SELECT count(*) FROM requests
                        WHERE redaction_id = \(id) AND phase IN ('draft', 'changes_requested'))
                FROM audit_redactions WHERE id = \(id)
                """, logger: logger
            ).decode((String, Int, Int).self).first(where: { _ in true })
            var outcome = Outcome(
                erasedCount: sequences.count, requestCount: recorded?.1 ?? 0, abandonedCount: recorded?.2 ?? 0,
                redactionID: id, databaseRole: recorded?.0, copies: before - after)
            if order.dryRun {
                try await connection.query("ROLLBACK TO SAVEPOINT dry_run", logger: logger)
                outcome.redactionID = nil
                outcome.databaseRole = nil
            }
            return outcome
        }
    }
}

extension AuditRedaction.Copies {
    /// How many of each kind there are now.
    static func count(on connection: PostgresConnection, logger: Logger) async throws -> Self {
        let rows = try await connection.query(
            """
            SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM idempotency_keys),
                   (SELECT count(*) FROM decision_links)
            """, logger: logger)
        for try await (messages, answers, links) in rows.decode((Int, Int, Int).self) {
            return Self(messages: messages, storedAnswers: answers, links: links)
        }
        return Self()
    }

    static func - (before: Self, after: Self) -> Self {
        Self(
            messages: before.messages - after.messages, storedAnswers: before.storedAnswers - after.storedAnswers,
            links: before.links - after.links)
    }
}

/// Why `audit redact` erased nothing: German first, then English, for the operator's terminal.
enum RedactionRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    case malformedDate(AuditFilterError)
    case inFuture(String)
    case withinRetention(String, years: Int, latestAllowed: Date)
    case invalidRetention(Int)
    case noActor
    case invalidActor(String)
    /// An event no longer matches its recorded leaf hash: evidence of tampering is not erased.
    case eventChanged(sequence: UInt64)
    /// `db.admin_user` is not set: only the owner role may erase.
    case noOwnerRole

    var description: String {
        switch self {
        case .malformedDate(let error):
            return "Nichts gelöscht: \(error) (Nothing erased: --before is not a date, YYYY-MM-DD or RFC 3339.)"
        case .inFuture(let text):
            return "Nichts gelöscht: --before „\(Self.shown(text))“ liegt in der Zukunft. "
                + "(Nothing erased: the date lies in the future.)"
        case .withinRetention(let text, let years, let latest):
            let day = Self.day(latest)
            return "Nichts gelöscht: --before „\(Self.shown(text))“ liegt innerhalb der Aufbewahrungsfrist von "
                + "\(years) Jahren (audit.retention_years); spätestens --before \(day). "
                + "(Nothing erased: the date lies within the retention period of \(years) years; at most \(day).)"
        case .invalidRetention(let years):
            return "Nichts gelöscht: eine Aufbewahrungsfrist von \(years) Jahren ist nicht erlaubt (1 bis 100). "
                + "(Nothing erased: audit.retention_years must be 1 to 100.)"
        case .noActor:
            return "Nichts gelöscht: Wer löscht, ist unbekannt; bitte --actor BENUTZERKENNUNG angeben. "
                + "(Nothing erased: give --actor UID.)"
        case .invalidActor(let uid):
            return "Nichts gelöscht: --actor „\(Self.shown(uid))“ ist keine Benutzerkennung (Buchstaben, Ziffern, "
                + ". _ - @; höchstens 200 Zeichen). (Nothing erased: --actor is not a user id.)"
        case .eventChanged(let sequence):
            return "Nichts gelöscht: Das Ereignis an Position \(sequence) stimmt nicht mehr mit seinem versiegelten "
                + "Blatt-Hash überein; es wurde verändert und wird als Beweis nicht gelöscht. Erst freigabe audit "
                + "verify. (Nothing erased: event \(sequence) was changed after sealing.)"
        case .noOwnerRole:
            return "Nichts gelöscht: Löschen darf nur die Eigentümerrolle (db.admin_user, FREIGABE_DB_ADMIN_USER), "
                + "nicht die Anwendungsrolle. (Nothing erased: set the owner role db.admin_user.)"
        }
    }

    /// The text as given, shortened and without control characters (``ToolOutput/oneLine(_:)``).
    private static func shown(_ text: String) -> String {
        ToolOutput.oneLine(String(String.UnicodeScalarView(text.unicodeScalars.prefix(60))))
    }

    private static func day(_ date: Date) -> String {
        let parts = AuditFilter.berlin.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }
}
