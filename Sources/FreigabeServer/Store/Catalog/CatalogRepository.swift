import AuditLog
import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Reads and writes the catalogue (domains and datasets). Works with the application role.
public struct CatalogRepository: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) { self.client = client }

    static let datasetColumns = """
        d.id, d.title, d.description, d.domain_id, dm.title, d.owner, d.owner_group, d.classification,
        d.personal_data, d.protection_need, d.licence, d.high_value, d.formats, d.updated_at
        """

    static func dataset(from row: PostgresRow) throws -> DatasetView {
        var cells = RowCursor(row)
        return try dataset(from: &cells)
    }

    /// The cells of `datasetColumns`, in their order.
    static func dataset(from cells: inout RowCursor) throws -> DatasetView {
        let id: String = try cells.next()
        let title: String = try cells.next()
        let description: String = try cells.next()
        let domain: String = try cells.next()
        let domainTitle: String = try cells.next()
        let owner: String? = try cells.next()
        let ownerGroup: String? = try cells.next()
        guard let classification = Classification(rawValue: try cells.next()),
            let personalData = PersonalDataCategory(rawValue: try cells.next()),
            let protectionNeed = ProtectionNeed(rawValue: try cells.next())
        else { throw ServiceError.internal("dataset \(id) has values the engine does not know") }
        return DatasetView(
            id: id, title: title, description: description, domain: domain, domainTitle: domainTitle, owner: owner,
            ownerGroup: ownerGroup, classification: classification, personalData: personalData,
            protectionNeed: protectionNeed, licence: try cells.next(), highValue: try cells.next(),
            formats: try cells.next(), updatedAt: try cells.next())
    }

    /// Datasets matching the query, by title then id. `limit` is clamped to 1...500.
    public func datasets(_ query: DatasetQuery, logger: Logger) async throws -> [DatasetView] {
        let words = (query.text ?? "").split(whereSeparator: \.isWhitespace).map { String($0).lowercased() }
        let limit = min(max(query.limit, 1), 500)
        let offset = max(query.offset, 0)
        return try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.datasetColumns)
                FROM datasets d JOIN domains dm ON dm.id = d.domain_id
                WHERE (\(query.domain)::text IS NULL OR d.domain_id = \(query.domain))
                  AND (\(query.classification?.rawValue)::text IS NULL OR d.classification = \(query.classification?.rawValue))
                  AND (\(query.owner)::text IS NULL OR lower(d.owner) = lower(\(query.owner)))
                  AND NOT EXISTS (
                    SELECT 1 FROM unnest(\(words)::text[]) AS word
                    WHERE position(word IN lower(d.id || ' ' || d.title || ' ' || d.description)) = 0)
                ORDER BY d.title, d.id
                LIMIT \(limit) OFFSET \(offset)
                """, logger: logger)
            var result: [DatasetView] = []
            for try await row in rows { result.append(try Self.dataset(from: row)) }
            return result
        }
    }

    public func dataset(id: String, logger: Logger) async throws -> DatasetView? {
        try await Database.read(client, logger: logger) { try await Self.dataset(id: id, on: $0, logger: logger) }
    }

    static func dataset(id: String, on connection: PostgresConnection, logger: Logger) async throws -> DatasetView? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: datasetColumns)
            FROM datasets d JOIN domains dm ON dm.id = d.domain_id WHERE d.id = \(id)
            """, logger: logger)
        for try await row in rows { return try dataset(from: row) }
        return nil
    }

    public func domains(logger: Logger) async throws -> [DomainView] {
        try await Database.read(client, logger: logger) { connection in
            let rows = try await connection.query(
                "SELECT id, title, steward_group FROM domains ORDER BY title, id", logger: logger)
            var result: [DomainView] = []
            for try await (id, title, group) in rows.decode((String, String, String).self) {
                result.append(DomainView(id: id, title: title, stewardGroup: group))
            }
            return result
        }
    }

    /// Imports a parsed catalogue in ONE transaction: every domain and dataset is inserted or updated by
    /// id (rows that are already equal are left alone, so a second import changes nothing). Datasets not
    /// in the file stay. Unknown domains are reported with their lines and nothing is written.
    ///
    /// - Parameters:
    ///   - actor: who imports, for the audit event (`catalog_imported`).
    ///   - shown: the domain as the administration form showed it (``ShownDomain``), checked under the
    ///     import's lock: nothing is written when it changed meanwhile (`conflict`).
    public func importCatalog(
        _ document: CatalogDocument, file: String, actor: String, now: Date, shown: ShownDomain? = nil,
        logger: Logger
    ) async throws -> CatalogImportReport {
        try await Database.transaction(client, logger: logger) { connection in
            // One importer at a time, so two imports cannot interleave their upserts.
            try await connection.query("LOCK TABLE domains, datasets IN SHARE ROW EXCLUSIVE MODE", logger: logger)
            if let shown { try await shown.check(on: connection, logger: logger) }
            // The datasets whose holders the file may change, locked before the holders are read: a request
            // being created on one of them (which holds it `FOR KEY SHARE`) commits first and is handed over
            // with the others, not addressed to the former holders after the import.
            let domainIDs = document.domainEntries.map(\.value.id)
            let datasetIDs = document.datasetEntries.map(\.value.id)
            try await connection.query(
                """
                SELECT 1 FROM datasets
                WHERE id = ANY(\(datasetIDs)::text[]) OR domain_id = ANY(\(domainIDs)::text[])
                FOR UPDATE
                """, logger: logger)
            var knownDomains = Set(document.domainEntries.map(\.value.id))
            for try await id in try await connection.query("SELECT id FROM domains", logger: logger).decode(String.self)
            {
                knownDomains.insert(id)
            }
            let problems = document.datasetEntries.filter { !knownDomains.contains($0.value.domain) }.map {
                CatalogProblem(
                    file: file, line: $0.line, entry: .dataset(id: $0.value.id), field: "domain",
                    message: UserText(
                        "catalog_file.domain_unknown",
                        [
                            "domain": .text($0.value.domain),
                            "known": .text(knownDomains.sorted().joined(separator: ", ")),
                        ]))
            }
            guard problems.isEmpty else { throw CatalogImportError(problems: problems) }

            let holdersBefore = try await WaitingHolders.read(on: connection, logger: logger)
            var report = CatalogImportReport()
            var holderChanges: [HolderChange] = []
            for entry in document.domainEntries {
                let (outcome, change) = try await Self.upsert(entry.value, on: connection, now: now, logger: logger)
                switch outcome {
                case .created: report.domainsCreated.append(entry.value.id)
                case .updated: report.domainsUpdated.append(entry.value.id)
                case .unchanged: report.domainsUnchanged.append(entry.value.id)
                }
                holderChanges += change.map { [$0] } ?? []
            }
            for entry in document.datasetEntries {
                let (outcome, change) = try await Self.upsert(entry.value, on: connection, now: now, logger: logger)
                switch outcome {
                case .created: report.datasetsCreated.append(entry.value.id)
                case .updated: report.datasetsUpdated.append(entry.value.id)
                case .unchanged: report.datasetsUnchanged.append(entry.value.id)
                }
                holderChanges += change.map { [$0] } ?? []
                // Each dataset's new state under its own id, as the form and the API log it: the log
                // filtered by a dataset shows every change to it (a classification lowered just before a
                // request was routed on it), not only an import that named it among others.
                if outcome != .unchanged {
                    try await AuditWriter.insert(
                        AuditRow(
                            occurredAt: now, actor: actor, datasetID: entry.value.id,
                            event: outcome == .created ? .datasetCreated : .datasetUpdated,
                            details: try StoredJSON.encode(entry.value)),
                        on: connection, logger: logger)
                }
            }
            for change in holderChanges {
                try await Self.record(
                    change, actor: actor, clientAddress: nil, now: now, on: connection, logger: logger)
            }
            let holdersAfter = try await WaitingHolders.read(on: connection, logger: logger)
            report.reassignedRequests = holdersAfter.reassignedRequests(since: holdersBefore)
            try await holdersAfter.handOver(since: holdersBefore, now: now, on: connection, logger: logger)
            if report.changedAnything {
                let details = try StoredJSON.encode([
                    "file": [file], "domains_created": report.domainsCreated, "domains_updated": report.domainsUpdated,
                    "datasets_created": report.datasetsCreated, "datasets_updated": report.datasetsUpdated,
                ])
                try await AuditWriter.insert(
                    AuditRow(occurredAt: now, actor: actor, event: .catalogImported, details: details),
                    on: connection, logger: logger)
            }
            return report
        }
    }

    enum UpsertOutcome { case created, updated, unchanged }

    /// The one domain the administration form saves, as it showed it: two administrators editing the same
    /// domain must not overwrite each other's steward group unseen, nor "create" one that exists.
    public enum ShownDomain: Sendable, Hashable {
        /// A new domain: its id must still be free.
        case new(id: String)
        /// An existing domain with the title and steward group the form showed.
        case stored(DomainInput)

        func check(on connection: PostgresConnection, logger: Logger) async throws {
            let id =
                switch self {
                case .new(let id): id
                case .stored(let shown): shown.id
                }
            let stored = try await connection.query(
                "SELECT title, steward_group FROM domains WHERE id = \(id)", logger: logger
            ).decode((String, String).self).first(where: { _ in true })
            switch (self, stored) {
            case (.new, nil):
                return
            case (.new, _?):
                throw ServiceError(.conflict, message: UserText("catalog.domain_exists", ["id": .text(id)]))
            case (.stored(let shown), let stored?) where stored == (shown.title, shown.stewardGroup):
                return
            case (.stored, _):
                throw ServiceError(.conflict, message: UserText("catalog.domain_changed_meanwhile"))
            }
        }
    }

    /// The one dataset the administration form (or an API `If-Match`) saves, as it showed it: two
    /// administrators must not overwrite each other's change unseen, nor "create" a dataset that exists,
    /// which would replace its owner and classification. Checked under the dataset's row lock, in the
    /// writing transaction (as ``ShownDomain``).
    public enum ShownDataset: Sendable, Hashable {
        /// A new dataset: its id must still be free.
        case new
        /// An existing dataset with this `updated_at`.
        case stored(version: Date)

        /// `conflict` unless the dataset stored now (its `updated_at`; nil: none) is the one shown.
        func check(stored: Date?, id: String) throws(ServiceError) {
            switch (self, stored) {
            case (.new, nil):
                return
            case (.new, _?):
                throw Self.taken(id)
            case (.stored(let version), let stored?)
            where AuditTimestamp(stored).isSameStoredInstant(as: AuditTimestamp(version)):
                return
            case (.stored, _):
                throw ServiceError(.conflict, message: UserText("catalog.dataset_changed_meanwhile"))
            }
        }

        /// "New" for an id that a dataset has.
        static func taken(_ id: String) -> ServiceError {
            ServiceError(.conflict, message: UserText("catalog.dataset_exists", ["id": .text(id)]))
        }
    }

    /// Who holds the owner's or the stewards' step of a dataset changed (its owner, owner group or
    /// domain, or its domain's steward group): a pending step now waits for someone else.
    struct HolderChange: Sendable {
        /// The dataset changed, or nil for a domain's steward group.
        var datasetID: String?
        var domainID: String
        /// Field → (before, after).
        var fields: [String: (String?, String?)]
    }

    /// Records a holder change in the log (`holders_changed`, with the dataset, before and after, and
    /// how many open requests of the dataset or domain it touches). How many of them now wait for someone
    /// else is ``WaitingHolders/reassignedRequests(since:)``: the people who lost a pending step lose it
    /// from their inbox, the new ones find it there and are sent its task.
    static func record(
        _ change: HolderChange, actor: String, clientAddress: String?, now: Date, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let open =
            try await connection.query(
                """
                SELECT count(*) FROM requests r JOIN datasets d ON d.id = r.dataset_id
                WHERE r.phase IN ('in_review', 'changes_requested')
                  AND (d.id = \(change.datasetID) OR (\(change.datasetID)::text IS NULL AND d.domain_id = \(change.domainID)))
                """, logger: logger
            ).decode(Int.self).first(where: { _ in true }) ?? 0
        var changed: [String: JSONValue] = [:]
        for (field, (before, after)) in change.fields {
            changed[field] = .object([
                "from": before.map(JSONValue.string) ?? .null, "to": after.map(JSONValue.string) ?? .null,
            ])
        }
        let details: JSONValue = .object([
            "domain": .string(change.domainID), "changed": .object(changed), "open_requests": .number(Double(open)),
        ])
        try await AuditWriter.insert(
            AuditRow(
                occurredAt: now, actor: actor, datasetID: change.datasetID, event: .holdersChanged,
                clientAddress: clientAddress, details: try StoredJSON.encode(details)),
            on: connection, logger: logger)
    }

    static func upsert(
        _ domain: DomainInput, on connection: PostgresConnection, now: Date, logger: Logger
    ) async throws -> (UpsertOutcome, HolderChange?) {
        // RETURNING yields a row only when something was written; xmax = 0 tells an insert from an update.
        // `old` reads the row as it was: every part of one statement sees the same snapshot.
        let rows = try await connection.query(
            """
            WITH old AS (SELECT steward_group FROM domains WHERE id = \(domain.id))
            INSERT INTO domains AS d (id, title, steward_group, steward_group_key, updated_at)
            VALUES (\(domain.id), \(domain.title), \(domain.stewardGroup), \(DNKey.key(domain.stewardGroup)), \(now))
            ON CONFLICT (id) DO UPDATE SET
                title = EXCLUDED.title, steward_group = EXCLUDED.steward_group,
                steward_group_key = EXCLUDED.steward_group_key, updated_at = EXCLUDED.updated_at
            WHERE (d.title, d.steward_group) IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.steward_group)
            RETURNING (xmax = 0), (SELECT steward_group FROM old)
            """, logger: logger)
        for try await (inserted, before) in rows.decode((Bool, String?).self) {
            guard !inserted else { return (.created, nil) }
            let changed = before.map(DNKey.key) != DNKey.key(domain.stewardGroup)
            return (
                .updated,
                changed
                    ? HolderChange(
                        datasetID: nil, domainID: domain.id, fields: ["steward_group": (before, domain.stewardGroup)])
                    : nil
            )
        }
        return (.unchanged, nil)
    }

    static func upsert(
        _ dataset: DatasetInput, on connection: PostgresConnection, now: Date, logger: Logger
    ) async throws -> (UpsertOutcome, HolderChange?) {
        let rows = try await connection.query(
            """
            WITH old AS (SELECT owner, owner_group, domain_id FROM datasets WHERE id = \(dataset.id))
            INSERT INTO datasets AS d (
                id, title, description, domain_id, owner, owner_group, owner_group_key, classification,
                personal_data, protection_need, licence, high_value, formats, updated_at)
            VALUES (
                \(dataset.id), \(dataset.title), \(dataset.description), \(dataset.domain), \(dataset.owner),
                \(dataset.ownerGroup), \(dataset.ownerGroup.map(DNKey.key)), \(dataset.classification.rawValue),
                \(dataset.personalData.rawValue), \(dataset.protectionNeed.rawValue), \(dataset.licence),
                \(dataset.highValue), \(dataset.formats), \(now))
            ON CONFLICT (id) DO UPDATE SET
                title = EXCLUDED.title, description = EXCLUDED.description, domain_id = EXCLUDED.domain_id,
                owner = EXCLUDED.owner, owner_group = EXCLUDED.owner_group, owner_group_key = EXCLUDED.owner_group_key,
                classification = EXCLUDED.classification, personal_data = EXCLUDED.personal_data,
                protection_need = EXCLUDED.protection_need, licence = EXCLUDED.licence,
                high_value = EXCLUDED.high_value, formats = EXCLUDED.formats, updated_at = EXCLUDED.updated_at
            WHERE (d.title, d.description, d.domain_id, d.owner, d.owner_group, d.classification, d.personal_data,
                   d.protection_need, d.licence, d.high_value, d.formats)
                IS DISTINCT FROM
                  (EXCLUDED.title, EXCLUDED.description, EXCLUDED.domain_id, EXCLUDED.owner, EXCLUDED.owner_group,
                   EXCLUDED.classification, EXCLUDED.personal_data, EXCLUDED.protection_need, EXCLUDED.licence,
                   EXCLUDED.high_value, EXCLUDED.formats)
            RETURNING (xmax = 0), (SELECT owner FROM old), (SELECT owner_group FROM old), (SELECT domain_id FROM old)
            """, logger: logger)
        for try await (inserted, owner, ownerGroup, domain) in rows.decode((Bool, String?, String?, String?).self) {
            guard !inserted else { return (.created, nil) }
            var fields: [String: (String?, String?)] = [:]
            if owner != dataset.owner { fields["owner"] = (owner, dataset.owner) }
            if ownerGroup.map(DNKey.key) != dataset.ownerGroup.map(DNKey.key) {
                fields["owner_group"] = (ownerGroup, dataset.ownerGroup)
            }
            if domain != dataset.domain { fields["domain"] = (domain, dataset.domain) }
            return (
                .updated,
                fields.isEmpty ? nil : HolderChange(datasetID: dataset.id, domainID: dataset.domain, fields: fields)
            )
        }
        return (.unchanged, nil)
    }

    /// Recomputes the stored group keys (`DNKey`) where they differ from the DN's key today; run by
    /// `freigabe migrate`, so rows written before a change of the key's form compare correctly.
    static func rekeyGroups(on connection: PostgresConnection, logger: Logger) async throws {
        var domains: [(id: String, key: String)] = []
        for try await (id, group, key) in try await connection.query(
            "SELECT id, steward_group, steward_group_key FROM domains", logger: logger
        ).decode((String, String, String).self) where DNKey.key(group) != key {
            domains.append((id, DNKey.key(group)))
        }
        for domain in domains {
            try await connection.query(
                "UPDATE domains SET steward_group_key = \(domain.key) WHERE id = \(domain.id)", logger: logger)
        }
        var datasets: [(id: String, key: String)] = []
        for try await (id, group, key) in try await connection.query(
            "SELECT id, owner_group, owner_group_key FROM datasets WHERE owner_group IS NOT NULL", logger: logger
        ).decode((String, String, String?).self) where DNKey.key(group) != key {
            datasets.append((id, DNKey.key(group)))
        }
        for dataset in datasets {
            try await connection.query(
                "UPDATE datasets SET owner_group_key = \(dataset.key) WHERE id = \(dataset.id)", logger: logger)
        }
        if !domains.isEmpty || !datasets.isEmpty {
            logger.notice(
                "group keys recomputed", metadata: ["domains": "\(domains.count)", "datasets": "\(datasets.count)"])
        }
    }
}
