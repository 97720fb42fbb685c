import AuditLog
import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

extension RequestService {
    private static let deputyshipColumns = """
        id, principal, deputy, valid_from, LEAST(valid_until, COALESCE(ended_at, valid_until)), created_by, created_at
        """

    private static func deputyship(from row: PostgresRow, now: Date) throws -> DeputyshipView {
        let (id, principal, deputy, from, until, createdBy, createdAt) = try row.decode(
            (UUID, String, String, Date, Date, String, Date).self)
        return DeputyshipView(
            id: id, principal: principal, deputy: deputy, validFrom: from, validUntil: until, createdBy: createdBy,
            createdAt: createdAt, active: from <= now && now < until)
    }

    func performListDeputyships(
        caller: Caller, everyone all: Bool, now: Date, logger: Logger
    ) async throws -> [DeputyshipView] {
        let result = try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.deputyshipColumns) FROM deputyships
                WHERE (\(all) OR principal = \(caller.uid) OR deputy = \(caller.uid))
                  AND LEAST(valid_until, COALESCE(ended_at, valid_until)) > \(now.addingTimeInterval(-90 * 86_400))
                ORDER BY LEAST(valid_until, COALESCE(ended_at, valid_until)) <= \(now), valid_from, id
                LIMIT 1000
                """, logger: logger)
            var result: [DeputyshipView] = []
            for try await row in rows { result.append(try Self.deputyship(from: row, now: now)) }
            return result
        }
        return result
    }

    func performReadDeputyship(id: UUID, caller: Caller, now: Date, logger: Logger) async throws -> DeputyshipView {
        let view = try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.deputyshipColumns) FROM deputyships
                WHERE id = \(id) AND (\(caller.roles.contains(.admin)) OR principal = \(caller.uid) OR deputy = \(caller.uid))
                """, logger: logger)
            return try await rows.first(where: { _ in true }).map { try Self.deputyship(from: $0, now: now) }
        }
        // Not theirs: it does not exist for them, as when ending it.
        guard let view else { throw ServiceError.notFound("general.deputyship_not_found") }
        return view
    }

    func performCreateDeputyship(
        _ input: NewDeputyship, caller: Caller, now: Date, key: String?, logger: Logger
    ) async throws -> DeputyshipView {
        var errors = FieldErrors()
        let principal =
            input.principal.map { errors.text("principal", $0, required: true, limit: InputLimits.name) } ?? caller.uid
        let deputy = errors.text(
            "deputy", input.deputy, required: true, requiredMessage: UserText("deputyship.deputy_missing"),
            limit: InputLimits.name)
        // Directories match uids case-insensitively: `OTTO` typed by otto is otto, not someone else.
        let ownPrincipal = principal.map { $0.lowercased() == caller.uid.lowercased() } ?? true
        if let principal, !ownPrincipal, !caller.roles.contains(.admin) {
            throw SecurityRefusal(
                error: ServiceError(.forbidden, message: UserText("deputyship.only_admin_for_others")),
                event: AuditRow(
                    occurredAt: now, actor: caller.uid, event: .forbidden, clientAddress: caller.clientAddress,
                    details: (try? StoredJSON.encode(["command": "create_deputyship", "principal": principal])) ?? "{}")
            )
        }
        if input.validUntil.storedMicroseconds <= input.validFrom.storedMicroseconds {
            errors.add("valid_until", UserText("deputyship.end_before_start"))
        } else if input.validUntil <= now {
            errors.add("valid_until", UserText("deputyship.end_in_past"))
        }
        try errors.check()
        guard let principal, let deputy else { throw ServiceError.internal("validated deputyship lost its people") }
        // Both people are stored as the directory spells them: `PAUL` and `paul` are one person, and a
        // deputy the directory does not know could never act.
        let deputyUID = try await knownUID(deputy, field: "deputy", errors: &errors, logger: logger)
        let principalUID =
            ownPrincipal
            ? caller.uid : try await knownUID(principal, field: "principal", errors: &errors, logger: logger)
        if let deputyUID, deputyUID == principalUID {
            errors.add("deputy", UserText("deputyship.self"))
        }
        try errors.check()
        guard let resolvedPrincipal = principalUID, let resolvedDeputy = deputyUID else {
            throw ServiceError.internal("validated deputyship lost its people")
        }
        // Administration may set up deputyships for others, never make itself someone's deputy: that would
        // let whoever keeps the catalogue decide as the DSB or the ISB.
        if resolvedPrincipal != caller.uid, resolvedDeputy == caller.uid {
            throw SecurityRefusal(
                error: ServiceError(.forbidden, message: UserText("deputyship.admin_not_own_deputy")),
                event: AuditRow(
                    occurredAt: now, actor: caller.uid, event: .forbidden, clientAddress: caller.clientAddress,
                    details: (try? StoredJSON.encode([
                        "command": "create_deputyship", "principal": resolvedPrincipal, "deputy": resolvedDeputy,
                    ])) ?? "{}"))
        }
        return try await storeDeputyship(
            input, principal: resolvedPrincipal, deputy: resolvedDeputy, caller: caller, now: now, key: key,
            logger: logger)
    }

    /// The uid as the directory spells it; nil (and a field error) when the directory does not know it.
    private func knownUID(
        _ uid: String, field: String, errors: inout FieldErrors, logger: Logger
    ) async throws -> String? {
        let entry: DirectoryEntry?
        do {
            entry = try await principals.entry(ofUID: uid)
        } catch {
            throw ServiceError.directoryUnavailable("directory lookup of \(field) \(uid) failed: \(error)")
        }
        guard let entry else {
            errors.add(field, UserText("deputyship.person_unknown"))
            return nil
        }
        return entry.uid
    }

    private func storeDeputyship(
        _ input: NewDeputyship, principal: String, deputy: String, caller: Caller, now: Date, key: String?,
        logger: Logger
    ) async throws -> DeputyshipView {
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        return try await idempotent(
            caller: caller, key: key, operation: "create_deputyship", requestID: nil, input: input, status: 201,
            now: now, logger: logger
        ) { [logger] connection in
            // One deputyship of a person for a principal at a time: a second over the same days (a form sent
            // twice) would stay in force when the first is ended. The lock orders two such requests.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtext('deputyship'), hashtext(\(principal.lowercased())))",
                logger: logger)
            let overlapping = try await connection.query(
                """
                SELECT \(unescaped: Self.deputyshipColumns) FROM deputyships
                WHERE lower(principal) = \(principal.lowercased()) AND lower(deputy) = \(deputy.lowercased())
                  AND valid_from < \(input.validUntil)
                  AND LEAST(valid_until, COALESCE(ended_at, valid_until)) > GREATEST(\(input.validFrom), \(now), valid_from)
                ORDER BY valid_from LIMIT 1
                """, logger: logger)
            if let row = try await overlapping.first(where: { _ in true }) {
                let existing = try Self.deputyship(from: row, now: now)
                // The same days again: that deputyship is the answer, nothing new is stored.
                if AuditTimestamp(existing.validFrom).isSameStoredInstant(as: AuditTimestamp(input.validFrom))
                    && AuditTimestamp(existing.validUntil).isSameStoredInstant(as: AuditTimestamp(input.validUntil))
                {
                    return existing
                }
                throw ServiceError.validation([
                    "valid_from": UserText("deputyship.overlaps", ["from": .time(existing.validFrom)])
                ])
            }
            let id = UUID()
            let rows = try await connection.query(
                """
                INSERT INTO deputyships (id, principal, deputy, valid_from, valid_until, created_by, created_at)
                VALUES (\(id), \(principal), \(deputy), \(input.validFrom), \(input.validUntil), \(caller.uid), \(now))
                RETURNING \(unescaped: Self.deputyshipColumns)
                """, logger: logger)
            guard let row = try await rows.first(where: { _ in true }) else {
                throw ServiceError.internal("deputyship not stored")
            }
            let view = try Self.deputyship(from: row, now: now)
            try await AuditWriter.insert(
                AuditRow(
                    occurredAt: now, actor: caller.uid, actingFor: principal == caller.uid ? nil : principal,
                    event: .deputyshipCreated, clientAddress: caller.clientAddress,
                    details: try StoredJSON.encode(
                        DeputyshipAudit(
                            id: id, principal: principal, deputy: deputy, validFrom: input.validFrom,
                            validUntil: input.validUntil))),
                on: connection, logger: logger)
            return view
        }
    }

    func performEndDeputyship(id: UUID, caller: Caller, now: Date, logger: Logger) async throws -> DeputyshipView {
        try await Database.transaction(client, logger: logger) { connection in
            let rows = try await connection.query(
                "SELECT principal, deputy, ended_at FROM deputyships WHERE id = \(id) FOR UPDATE", logger: logger)
            guard
                let (principal, deputy, endedAt) = try await rows.decode((String, String, Date?).self).first(where: {
                    _ in true
                })
            else { throw ServiceError.notFound("general.deputyship_not_found") }
            guard caller.uid == principal || caller.uid == deputy || caller.roles.contains(.admin) else {
                // Not theirs: it does not exist for them.
                throw ServiceError.notFound("general.deputyship_not_found")
            }
            if endedAt == nil {
                try await connection.query(
                    // One that has not begun ends at its beginning: its end never lies before its start.
                    "UPDATE deputyships SET ended_at = GREATEST(valid_from, \(now)), ended_by = \(caller.uid) WHERE id = \(id)",
                    logger: logger)
                try await AuditWriter.insert(
                    AuditRow(
                        occurredAt: now, actor: caller.uid, event: .deputyshipEnded,
                        clientAddress: caller.clientAddress,
                        details: try StoredJSON.encode(["id": id.uuidString, "principal": principal, "deputy": deputy])),
                    on: connection, logger: logger)
            }
            let view = try await connection.query(
                "SELECT \(unescaped: Self.deputyshipColumns) FROM deputyships WHERE id = \(id)", logger: logger)
            guard let row = try await view.first(where: { _ in true }) else {
                throw ServiceError.notFound("general.deputyship_not_found")
            }
            return try Self.deputyship(from: row, now: now)
        }
    }

    // MARK: Catalogue writes and security events

    func performUpsertDataset(
        _ input: DatasetInput, caller: Caller, now: Date, shown: CatalogRepository.ShownDataset? = nil, logger: Logger
    ) async throws -> DatasetSaved {
        guard caller.roles.contains(.admin) else {
            throw Self.adminOnly(caller, command: "upsert_dataset", datasetID: String(input.id.prefix(100)), now: now)
        }
        var errors = FieldErrors()
        for (field, message) in CatalogRules.problems(of: input) { errors.add(field, message) }
        try errors.check()
        var references = CatalogReferences(directory: principals)
        let (input, referenceProblems) = try await Self.askingDirectory(about: "dataset \(input.id)") {
            try await references.check(input)
        }
        for (field, message) in referenceProblems { errors.add(field, message) }
        try errors.check()
        return try await Database.transaction(client, logger: logger) { connection in
            let domain = try await connection.query("SELECT 1 FROM domains WHERE id = \(input.domain)", logger: logger)
            guard try await domain.first(where: { _ in true }) != nil else {
                throw ServiceError.validation(["domain": UserText("catalog.domain_unknown")])
            }
            // Locked before the holders are read: a request being created on the dataset (which holds it
            // `FOR KEY SHARE`) commits first and is handed over with the others, not addressed to the former
            // owner after this change.
            let stored = try await connection.query(
                "SELECT updated_at FROM datasets WHERE id = \(input.id) FOR UPDATE", logger: logger
            ).decode(Date.self).first(where: { _ in true })
            try shown?.check(stored: stored, id: input.id)
            let holdersBefore = try await WaitingHolders.read(dataset: input.id, on: connection, logger: logger)
            let (outcome, change) = try await CatalogRepository.upsert(input, on: connection, now: now, logger: logger)
            // Created by a transaction that committed while this one waited for the row (no row was
            // there to lock): the insert became an update, which "new" must not be.
            if shown == .new, outcome != .created { throw CatalogRepository.ShownDataset.taken(input.id) }
            var reassigned = 0
            if let change {
                try await CatalogRepository.record(
                    change, actor: caller.uid, clientAddress: caller.clientAddress, now: now, on: connection,
                    logger: logger)
                let holdersAfter = try await WaitingHolders.read(dataset: input.id, on: connection, logger: logger)
                reassigned = holdersAfter.reassignedRequests(since: holdersBefore)
                try await holdersAfter.handOver(since: holdersBefore, now: now, on: connection, logger: logger)
            }
            if outcome != .unchanged {
                try await AuditWriter.insert(
                    AuditRow(
                        occurredAt: now, actor: caller.uid, datasetID: input.id,
                        event: outcome == .created ? .datasetCreated : .datasetUpdated,
                        clientAddress: caller.clientAddress, details: try StoredJSON.encode(input)),
                    on: connection, logger: logger)
            }
            guard let view = try await CatalogRepository.dataset(id: input.id, on: connection, logger: logger) else {
                throw ServiceError.internal("dataset \(input.id) not stored")
            }
            return DatasetSaved(dataset: view, reassignedRequests: reassigned, created: outcome == .created)
        }
    }

    /// Runs a directory check of the catalogue: a directory that does not answer is `unavailable`
    /// (503, "the directory"), and nothing is stored.
    static func askingDirectory<Result>(
        about subject: String, _ check: () async throws -> Result
    ) async throws -> Result {
        do {
            return try await check()
        } catch {
            throw ServiceError.directoryUnavailable("directory check of \(subject) failed: \(error)")
        }
    }

    func insertSecurityEvent(_ event: SecurityEvent, now: Date, logger: Logger) async throws {
        // Cut and clean, not refuse: a security event must be recorded even when what the client sent is
        // hostile (PostgreSQL text and jsonb cannot hold NUL).
        func clean(_ text: String, _ limit: Int) -> String {
            String(String(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : Character($0) }).prefix(limit))
        }
        var details: [String: String] = [:]
        for (key, value) in event.details.sorted(by: { $0.key < $1.key }).prefix(50) {
            details[clean(key, 100)] = clean(value, 1000)
        }
        let row = AuditRow(
            occurredAt: now, actor: event.actor.map { clean($0, 200) }, requestID: event.requestID,
            datasetID: event.datasetID.map { clean($0, 100) }, event: event.event,
            clientAddress: event.clientAddress.map { clean($0, 100) }, details: try StoredJSON.encode(details))
        try await Database.transaction(client, logger: logger) { connection in
            try await AuditWriter.insert(row, on: connection, logger: logger)
        }
    }
}

private struct DeputyshipAudit: Encodable {
    var id: UUID
    var principal: String
    var deputy: String
    var validFrom: Date
    var validUntil: Date
}
