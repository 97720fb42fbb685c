import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// A dataset with what authorisation needs (owner group and steward group keys).
struct DatasetRecord: Sendable, Hashable {
    var view: DatasetView
    var ownerGroupKey: String?
    var stewardGroup: String
    var stewardGroupKey: String

    var id: String { view.id }
    var title: String { view.title }
    var owner: String? { view.owner }
    var ownerGroup: String? { view.ownerGroup }
    var domain: String { view.domain }

    static let columns =
        CatalogRepository.datasetColumns + ", d.owner_group_key, dm.steward_group, dm.steward_group_key"

    /// The cells of `columns`, in their order.
    static func from(_ cells: inout RowCursor) throws -> DatasetRecord {
        DatasetRecord(
            view: try CatalogRepository.dataset(from: &cells), ownerGroupKey: try cells.next(),
            stewardGroup: try cells.next(), stewardGroupKey: try cells.next())
    }

    static func load(id: String, on connection: PostgresConnection, logger: Logger) async throws -> DatasetRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: columns)
            FROM datasets d JOIN domains dm ON dm.id = d.domain_id WHERE d.id = \(id)
            """, logger: logger)
        for try await row in rows {
            var cells = RowCursor(row)
            return try from(&cells)
        }
        return nil
    }

    /// The routing facts the catalogue gives; the request adds recipient and statements.
    func facts(kind: ReleaseKind) -> RequestFacts {
        RequestFacts(
            kind: kind, classification: view.classification, personalData: view.personalData,
            protectionNeed: view.protectionNeed, highValue: view.highValue)
    }
}

/// A `requests` row with its engine snapshot.
struct RequestRecord: Sendable {
    var id: UUID
    var number: String
    var kind: ReleaseKind
    var datasetID: String
    var requester: String
    var purpose: String
    var recipient: RecipientInput?
    var legalBasis: String?
    var accessStart: Date?
    var accessEnd: Date?
    var licence: String?
    var format: String?
    var anonymisationStatement: String?
    var openDataCheck: OpenDataCheck?
    var snapshot: RequestSnapshot
    var version: Int
    var createdAt: Date
    var updatedAt: Date
    var submittedAt: Date?

    static let columns = """
        r.id, r.number, r.kind, r.dataset_id, r.requester, r.purpose, r.recipient_name, r.recipient_type,
        r.legal_basis, r.access_start, r.access_end, r.licence, r.format, r.anonymisation_statement,
        r.open_data_check::text, r.snapshot::text, r.version, r.created_at, r.updated_at, r.submitted_at
        """

    /// The cells of `columns`, in their order.
    static func from(_ cells: inout RowCursor) throws -> RequestRecord {
        let id: UUID = try cells.next()
        let number: String = try cells.next()
        guard let kind = ReleaseKind(rawValue: try cells.next()) else {
            throw ServiceError.internal("request \(id) has an unknown kind")
        }
        let datasetID: String = try cells.next()
        let requester: String = try cells.next()
        let purpose: String = try cells.next()
        let recipientName: String? = try cells.next()
        let recipientType: String? = try cells.next()
        var recipient: RecipientInput? = nil
        if let recipientName, let recipientType {
            guard let type = Recipient(rawValue: recipientType) else {
                throw ServiceError.internal("request \(id) has an unknown recipient type")
            }
            recipient = RecipientInput(name: recipientName, type: type)
        }
        let legalBasis: String? = try cells.next()
        let accessStart: Date? = try cells.next()
        let accessEnd: Date? = try cells.next()
        let licence: String? = try cells.next()
        let format: String? = try cells.next()
        let anonymisationStatement: String? = try cells.next()
        let openDataCheck: String? = try cells.next()
        let snapshot: String = try cells.next()
        return RequestRecord(
            id: id, number: number, kind: kind, datasetID: datasetID, requester: requester, purpose: purpose,
            recipient: recipient, legalBasis: legalBasis, accessStart: accessStart, accessEnd: accessEnd,
            licence: licence, format: format, anonymisationStatement: anonymisationStatement,
            openDataCheck: try openDataCheck.map { try StoredJSON.decode(OpenDataCheck.self, from: $0) },
            snapshot: try StoredJSON.decode(RequestSnapshot.self, from: snapshot), version: try cells.next(),
            createdAt: try cells.next(), updatedAt: try cells.next(), submittedAt: try cells.next())
    }

    static func load(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> RequestRecord? {
        let rows = try await connection.query(
            "SELECT \(unescaped: columns) FROM requests r WHERE r.id = \(id)", logger: logger)
        for try await row in rows {
            var cells = RowCursor(row)
            return try from(&cells)
        }
        return nil
    }

    /// The facts the engine routes on: the catalogue's, as copied into the snapshot, with the request's
    /// own recipient and statements.
    func facts(catalogue: RequestFacts) -> RequestFacts { fields.facts(kind: kind, catalogue: catalogue) }

    /// The request's own fields.
    var fields: CleanRequestFields {
        CleanRequestFields(
            purpose: purpose, recipient: recipient, legalBasis: legalBasis, accessStart: accessStart,
            accessEnd: accessEnd, licence: licence, format: format, anonymisationStatement: anonymisationStatement,
            openDataCheck: openDataCheck)
    }

    /// Columns derived from the snapshot for queries (phase, pending roles, ...).
    struct Derived {
        var state: String
        var phase: RequestPhase
        var currentStep: String? = nil
        var pendingRoles: [String] = []
        var escalationRole: String? = nil
        var stepEnteredAt: Date? = nil
        var deadline: Date? = nil
    }

    static func derived(from machine: RequestMachine) -> Derived {
        switch machine.state {
        case .draft:
            return Derived(state: machine.state.name, phase: .draft)
        case .inReview(let progress):
            return Derived(
                state: machine.state.name, phase: .inReview, currentStep: progress.step,
                pendingRoles: Array(Set(machine.pendingRoles.map(\.identifier))).sorted(),
                escalationRole: machine.decidingEscalationRole?.identifier, stepEnteredAt: progress.enteredAt,
                deadline: progress.deadline)
        case .changesRequested(let progress, _):
            return Derived(
                state: machine.state.name, phase: .changesRequested, currentStep: progress.step,
                stepEnteredAt: progress.enteredAt)
        case .granted:
            return Derived(state: machine.state.name, phase: .granted)
        case .published:
            return Derived(state: machine.state.name, phase: .published)
        case .closed:
            return Derived(state: machine.state.name, phase: .closed)
        }
    }

    /// Inserts a new request (version 1).
    func insert(machine: RequestMachine, on connection: PostgresConnection, logger: Logger) async throws {
        // The same derived columns a command's write stores (`CommandWrite`).
        let columns = try RequestColumns(record: self, machine: machine)
        let pin = machine.snapshot.pin
        try await connection.query(
            """
            INSERT INTO requests (
                id, number, kind, dataset_id, requester, purpose, recipient_name, recipient_type, legal_basis,
                access_start, access_end, licence, format, anonymisation_statement, open_data_check,
                workflow_id, workflow_version, workflow_hash, state, phase, current_step, pending_roles,
                escalation_role, step_entered_at, deadline, snapshot, version, created_at, updated_at, submitted_at)
            VALUES (
                \(id), \(number), \(kind.rawValue), \(datasetID), \(requester), \(columns.purpose),
                \(columns.recipientName), \(columns.recipientType), \(columns.legalBasis), \(columns.accessStart),
                \(columns.accessEnd), \(columns.licence), \(columns.format), \(columns.anonymisationStatement),
                \(columns.openDataCheck)::jsonb, \(pin.id), \(pin.version), \(pin.contentHash), \(columns.state),
                \(columns.phase), \(columns.currentStep), \(columns.pendingRoles), \(columns.escalationRole),
                \(columns.stepEnteredAt), \(columns.deadline), \(columns.snapshot)::jsonb, 1, \(createdAt),
                \(updatedAt), \(columns.submittedAt))
            """, logger: logger)
    }
}
