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

    /// - Parameter holdersFixed: the dataset's row is locked `FOR KEY SHARE` until the transaction ends
    ///   (the lock the new request's foreign key takes anyway, taken before the holders are read): a new
    ///   request's task is addressed to holders no catalogue change replaces before it commits (a change
    ///   locks the datasets it may change `FOR UPDATE` first, waits, and then hands the request over with
    ///   the others, ``WaitingHolders``).
    static func load(
        id: String, holdersFixed: Bool = false, on connection: PostgresConnection, logger: Logger
    ) async throws -> DatasetRecord? {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: columns)
            FROM datasets d JOIN domains dm ON dm.id = d.domain_id WHERE d.id = \(id)
            \(unescaped: holdersFixed ? "FOR KEY SHARE OF d" : "")
            """, logger: logger)
        for try await row in rows {
            var cells = RowCursor(row)
            return try from(&cells)
        }
        return nil
    }

    /// The routing facts the catalogue gives; the request adds recipient and statements.
    func facts(kind: ReleaseKind) -> RequestFacts { view.facts(kind: kind) }
}

extension DatasetView {
    /// The routing facts the catalogue gives; the request adds recipient and statements.
    func facts(kind: ReleaseKind) -> RequestFacts {
        RequestFacts(
            kind: kind, classification: classification, personalData: personalData, protectionNeed: protectionNeed,
            highValue: highValue)
    }
}

/// A `requests` row with its engine snapshot.
struct RequestRecord: Sendable {
    var id: UUID
    var number: String
    var kind: ReleaseKind
    var datasetID: String
    var requester: String
    var details: RequestDetails
    var snapshot: RequestSnapshot
    var version: Int
    var createdAt: Date
    var updatedAt: Date
    var submittedAt: Date?

    static let columns = """
        r.id, r.number, r.kind, r.dataset_id, r.requester, \(RequestDetails.selectList("r")), r.snapshot::text,
        r.version, r.created_at, r.updated_at, r.submitted_at
        """

    /// The cells of `columns`, in their order.
    /// - Parameter rememberSnapshot: whether the decoded snapshot is kept for the next reader of the same
    ///   text (``SnapshotDecoding``: pages, where many people read the same requests). A command's read
    ///   passes false: its write stores a new text, so its own would never be met again and would only
    ///   fill the memory.
    static func from(_ cells: inout RowCursor, rememberSnapshot: Bool = true) throws -> RequestRecord {
        let id: UUID = try cells.next()
        let number: String = try cells.next()
        guard let kind = ReleaseKind(rawValue: try cells.next()) else {
            throw ServiceError.internal("request \(id) has an unknown kind")
        }
        return RequestRecord(
            id: id, number: number, kind: kind, datasetID: try cells.next(), requester: try cells.next(),
            details: try RequestDetails.decode(&cells),
            snapshot: try SnapshotDecoding.decode(try cells.next(), remember: rememberSnapshot),
            version: try cells.next(),
            createdAt: try cells.next(), updatedAt: try cells.next(), submittedAt: try cells.next())
    }

    /// The request for a timer, which writes it anew (its snapshot is not kept, see ``from(_:rememberSnapshot:)``).
    static func load(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> RequestRecord? {
        let rows = try await connection.query(
            "SELECT \(unescaped: columns) FROM requests r WHERE r.id = \(id)", logger: logger)
        for try await row in rows {
            var cells = RowCursor(row)
            return try from(&cells, rememberSnapshot: false)
        }
        return nil
    }

    /// The facts the engine routes on: the catalogue's, as copied into the snapshot, with the request's
    /// own recipient and statements.
    func facts(catalogue: RequestFacts) -> RequestFacts { details.facts(kind: kind, catalogue: catalogue) }

    /// `snapshot` routed as this request's submission will route it: on `dataset`'s catalogue facts as
    /// they are now with the request's own, and with its access end. A draft is created, edited, shown
    /// and submitted so, so that its page names the steps its submission will take.
    func routedAsDraft(
        _ snapshot: RequestSnapshot, dataset: DatasetRecord, definition: WorkflowDefinition
    ) -> RequestSnapshot {
        var routed = snapshot
        routed.facts = definition.routing(facts(catalogue: dataset.facts(kind: kind)))
        routed.accessEnd = details.accessEnd
        return routed
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
        var sql = StatementBuilder()
        let values = [
            try sql.bind(id), try sql.bind(number), try sql.bind(kind.rawValue), try sql.bind(datasetID),
            try sql.bind(requester), try sql.bind(1), try sql.bind(createdAt),
        ]
        let names = ["id", "number", "kind", "dataset_id", "requester", "version", "created_at"]
        let changing = try columns.assignments(&sql, updatedAt: updatedAt)
        sql.text = """
            INSERT INTO requests (\((names + changing.map(\.column)).joined(separator: ", ")))
            VALUES (\((values + changing.map(\.value)).joined(separator: ", ")))
            """
        try await connection.query(sql.query, logger: logger)
    }
}
