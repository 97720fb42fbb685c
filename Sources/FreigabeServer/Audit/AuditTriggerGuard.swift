import Logging
import PostgresNIO

/// The append-only triggers of the decision log's tables, as the migrations wrote them: `audit verify`
/// and `/api/v1/ready` read them from the catalogue and name every difference.
///
/// "Some enabled trigger" is not protection: the owner can point a trigger at a function that lets
/// everything through (`RETURN NEW`), make it fire only on INSERT or only in replication
/// (`ENABLE REPLICA TRIGGER`), give it a `WHEN (false)` or a column list, or swap the function's body.
/// So each expected trigger is checked by name: enabled (`O` or `A`), its exact `tgtype` (timing, level
/// and events), no condition, no columns, no arguments, the expected function, and that function's
/// language and body (`pg_proc.prosrc`) equal to the body the last migration that wrote it gave.
enum AuditTriggerGuard {
    /// One trigger the migrations create.
    struct Expected: Sendable, Hashable {
        var table: String
        var trigger: String
        /// `pg_trigger.tgtype`: ``rowUpdateDelete``, ``statementTruncate`` or ``rowInsert``.
        var type: Int16
        var function: String
    }

    /// `BEFORE UPDATE OR DELETE … FOR EACH ROW`: row (1) + before (2) + delete (8) + update (16).
    static let rowUpdateDelete: Int16 = 1 | 2 | 8 | 16
    /// `BEFORE TRUNCATE … FOR EACH STATEMENT`: before (2) + truncate (32).
    static let statementTruncate: Int16 = 2 | 32
    /// `BEFORE INSERT … FOR EACH ROW`: row (1) + before (2) + insert (4).
    static let rowInsert: Int16 = 1 | 2 | 4

    /// Migrations 3, 6, 10 and 18 (migration 10 replaced the row triggers of three tables by erasure-aware
    /// ones of the same names; migration 13 replaced one function's body; migration 18 stamps an erasure
    /// with the database's time and transaction, whatever its INSERT gave).
    static let expected: [Expected] = [
        Expected(
            table: "audit_events", trigger: "audit_events_no_update_delete", type: rowUpdateDelete,
            function: "audit_events_erasure_only"),
        Expected(
            table: "audit_events", trigger: "audit_events_no_truncate", type: statementTruncate,
            function: "audit_events_append_only"),
        Expected(
            table: "audit_seals", trigger: "audit_seals_no_update_delete", type: rowUpdateDelete,
            function: "audit_seals_erasure_only"),
        Expected(
            table: "audit_seals", trigger: "audit_seals_no_truncate", type: statementTruncate,
            function: "audit_history_append_only"),
        Expected(
            table: "audit_checkpoints", trigger: "audit_checkpoints_no_update_delete", type: rowUpdateDelete,
            function: "audit_history_append_only"),
        Expected(
            table: "audit_checkpoints", trigger: "audit_checkpoints_no_truncate", type: statementTruncate,
            function: "audit_history_append_only"),
        Expected(
            table: "decisions", trigger: "decisions_no_update_delete", type: rowUpdateDelete,
            function: "decisions_erasure_only"),
        Expected(
            table: "decisions", trigger: "decisions_no_truncate", type: statementTruncate,
            function: "audit_history_append_only"),
        Expected(
            table: "audit_redactions", trigger: "audit_redactions_no_update_delete", type: rowUpdateDelete,
            function: "audit_history_append_only"),
        Expected(
            table: "audit_redactions", trigger: "audit_redactions_no_truncate", type: statementTruncate,
            function: "audit_history_append_only"),
        Expected(
            table: "audit_redactions", trigger: "audit_redactions_stamp", type: rowInsert,
            function: "audit_redactions_stamp"),
    ]

    /// The body of each trigger function as the last migration that created or replaced it wrote it:
    /// the text between `AS $$` and `$$;`, which PostgreSQL keeps unchanged as `prosrc`.
    static let functionBodies: [String: String] = functionBodies(in: Migrations.all.map(\.sql))

    static func functionBodies(in scripts: [String]) -> [String: String] {
        let head = "() RETURNS trigger LANGUAGE plpgsql AS $$"
        var bodies: [String: String] = [:]
        for sql in scripts {
            var rest = sql[...]
            while let create = rest.range(of: "FUNCTION ") {
                rest = rest[create.upperBound...]
                // `CREATE [OR REPLACE] FUNCTION name() RETURNS trigger …`, not `EXECUTE FUNCTION name();`.
                let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                let after = rest[name.endIndex...]
                guard !name.isEmpty, after.hasPrefix(head),
                    let end = after[after.index(after.startIndex, offsetBy: head.count)...].range(of: "$$")
                else { continue }
                bodies[String(name)] = String(
                    after[after.index(after.startIndex, offsetBy: head.count)..<end.lowerBound])
                rest = after[end.upperBound...]
            }
        }
        return bodies
    }

    /// What differs from ``expected``; empty: the log is protected as the migrations left it.
    static func problems(_ client: PostgresClient, logger: Logger) async throws -> [String] {
        try await Database.read(client, logger: logger) { connection in
            try await problems(on: connection, logger: logger)
        }
    }

    /// ``problems(_:logger:)`` on a connection already leased (`/ready` asks all its questions on one).
    ///
    /// - Parameter bodiesKnown: false when a newer release migrated the database (a rolling update): its
    ///   migrations may have replaced a function's body as ours once did, so the body is left to the
    ///   newer instances to check; everything else about the triggers is still checked.
    static func problems(
        on connection: PostgresConnection, bodiesKnown: Bool = true, logger: Logger
    ) async throws -> [String] {
        let tables = Array(Set(expected.map(\.table))).sorted()
        let rows = try await connection.query(
            """
            SELECT c.relname, t.tgname, t.tgenabled::text, t.tgtype, p.proname, l.lanname, p.prosrc,
                t.tgqual IS NOT NULL OR t.tgnargs <> 0 OR cardinality(t.tgattr::int2[]) <> 0
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_proc p ON p.oid = t.tgfoid
            JOIN pg_language l ON l.oid = p.prolang
            WHERE c.oid IN (SELECT to_regclass(name) FROM unnest(\(tables)::text[]) AS name) AND NOT t.tgisinternal
            """, logger: logger)
        var found:
            [String: (
                table: String, enabled: String, type: Int16, function: String, language: String,
                body: String, narrowed: Bool
            )] = [:]
        for try await (table, trigger, enabled, type, function, language, body, narrowed) in rows.decode(
            (String, String, String, Int16, String, String, String, Bool).self)
        {
            found["\(table).\(trigger)"] = (table, enabled, type, function, language, body, narrowed)
        }
        var problems: [String] = []
        for want in expected {
            let name = "trigger \(want.trigger) on \(want.table)"
            guard let have = found["\(want.table).\(want.trigger)"] else {
                problems.append("table \(want.table) has no append-only trigger \(want.trigger)")
                continue
            }
            switch have.enabled {
            case "O", "A": break
            case "D": problems.append("\(name) is disabled")
            default: problems.append("\(name) fires only in replication (ENABLE REPLICA TRIGGER): it is off")
            }
            if have.type != want.type {
                let events =
                    switch want.type {
                    case rowUpdateDelete: "BEFORE UPDATE OR DELETE FOR EACH ROW"
                    case rowInsert: "BEFORE INSERT FOR EACH ROW"
                    default: "BEFORE TRUNCATE"
                    }
                problems.append("\(name) no longer fires \(events) (tgtype \(have.type), not \(want.type))")
            }
            if have.narrowed {
                problems.append("\(name) has a WHEN condition, a column list or arguments: it may not fire")
            }
            if have.function != want.function {
                problems.append("\(name) calls \(have.function), not \(want.function)")
            } else if have.language != "plpgsql" || (bodiesKnown && have.body != functionBodies[want.function]) {
                problems.append(
                    "\(name): the function \(want.function) is not the one the migrations wrote (its body was replaced)"
                )
            }
        }
        return problems
    }
}
