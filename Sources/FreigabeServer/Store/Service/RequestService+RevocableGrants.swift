import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Granted access the caller may take back ("Widerrufen"): a Data Owner must find what runs on their
/// datasets before its end date comes near, not only from the expiry notice.
public struct RevocableGrant: Sendable, Hashable, Codable {
    public var request: RequestSummary
    /// Until when the access runs.
    public var grantedUntil: Date
    /// The role the caller revokes in.
    public var role: String
    /// `own`, or `deputy` for ``actingFor``.
    public var capacity: DecisionCapacity
    public var actingFor: String?
}

extension RequestService {
    /// The granted requests the caller may see and revoke now (``CallerContext/maySee(_:dataset:now:)``
    /// and the engine's ``RequestMachine/revokeAuthority(of:at:)``, as the request page offers it), the
    /// soonest ending first, among those on datasets the caller, or someone they stand in for now, owns
    /// (as owner or owner group) or stewards, those one of them decided on, and those decided on in a role
    /// of theirs (a DSB's step that applied, decided by another DSB; the governance office's). A request
    /// the caller filed is never theirs to revoke.
    public func revocableGrants(
        caller: Caller, now: Date, logger: Logger
    ) async throws(ServiceError)
        -> [RevocableGrant]
    {
        try await asCaller(caller, now: now, logger: logger) { context, logger in
            try await Database.read(self.client, logger: logger) { [logger] connection in
                try await self.revocableGrants(context: context, now: now, on: connection, logger: logger)
            }
        }
    }

    /// ``revocableGrants(caller:now:logger:)`` for a caller whose deputyships are known, on a connection
    /// already leased (the inbox page's own).
    func revocableGrants(
        context: CallerContext, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws -> [RevocableGrant] {
        let filter = InboxFilter(context, now: now)
        var grants: [RevocableGrant] = []
        try await eachCandidate(
            list: "revocable", on: connection, logger: logger,
            batch: { after in
                try await GrantCandidates(filter: filter, after: after).rows(on: connection, logger: logger)
            }
        ) { record, dataset, machine in
            guard case .granted(_, let until) = machine.state,
                context.maySee(machine, dataset: dataset, now: now),
                let authority = context.revokeAuthority(machine, dataset: dataset, now: now)
            else { return }
            grants.append(
                RevocableGrant(
                    request: views.summary(record, machine: machine, dataset: dataset, now: now),
                    grantedUntil: until, role: authority.role.identifier,
                    capacity: DecisionCapacity(authority.capacity), actingFor: authority.principal))
        }
        return grants.sorted { ($0.grantedUntil, $0.request.number) < ($1.grantedUntil, $1.request.number) }
    }
}

/// The SQL pre-selection of ``RequestService/revocableGrants(caller:now:logger:)``, by id: granted
/// requests not filed by the caller, on a dataset the caller or a principal owns or stewards, or decided
/// on by one of them or in a role one of them holds; the engine decides who may revoke.
struct GrantCandidates {
    var filter: InboxFilter
    var after: UUID?

    func rows(on connection: PostgresConnection, logger: Logger) async throws -> CandidateBatch {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: RequestRecord.columns), \(unescaped: DatasetRecord.columns)
            FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
            WHERE r.phase = 'granted' AND r.requester <> \(filter.caller)
              AND (d.owner = ANY (\(filter.uids)::text[]) OR d.owner_group_key = ANY (\(filter.groupKeys)::text[])
                OR d.domain_id = ANY (\(filter.domains)::text[])
                OR dm.steward_group_key = ANY (\(filter.groupKeys)::text[])
                OR EXISTS (
                    SELECT 1 FROM decisions dc
                    WHERE dc.request_id = r.id
                      AND (dc.person = ANY (\(filter.uids)::text[]) OR dc.acting_for = ANY (\(filter.uids)::text[])
                        OR dc.role = ANY (\(filter.roleNames)::text[]))))
              AND (\(after)::uuid IS NULL OR r.id > \(after)::uuid)
            ORDER BY r.id
            LIMIT \(CandidateBatch.size)
            """, logger: logger)
        return try await CandidateBatch(rows, list: "revocable", logger: logger)
    }
}
