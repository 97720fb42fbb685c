import Foundation
import Logging

extension RequestService {
    /// Puts an auditor's reading of the decision log on the record: who looked at which selection (or
    /// which request's Verfahrensakte), when, and from where. Auditors read what everyone did; what
    /// they read is logged as well, in the same append-only, sealed log. A reading that cannot be
    /// logged is not served (the caller answers 503).
    ///
    /// - Parameter selection: the filters or view, as `AuditFilter.described` names them.
    public func recordAuditRead(
        _ selection: [String: String], requestID: UUID? = nil, caller: Caller, now: Date, logger: Logger
    ) async throws(ServiceError) {
        try await guarded(logger) { logger in
            try await performRecordAuditRead(selection, requestID: requestID, caller: caller, now: now, logger: logger)
        }
    }

    /// `filter` with a request number (`FG-2026-000042`) replaced by the request's id, so that the
    /// reading is recorded against the request (its Verfahrensakte counts it) and the pages' links carry
    /// the id. A number of no request stays: it selects nothing.
    func resolvingRequestNumber(_ filter: AuditFilter, logger: Logger) async throws(ServiceError) -> AuditFilter {
        guard let number = filter.requestNumber else { return filter }
        return try await guarded(logger) { logger in
            var resolved = filter
            if let id = try await self.requestID(.number(number), logger: logger) {
                resolved.requestID = id
                resolved.requestNumber = nil
            }
            return resolved
        }
    }

    /// Auditors and administrators read the decision log; anyone else is refused (403), and the refusal is
    /// recorded as a security event (`forbidden`) naming what they tried to read, as a refused change of
    /// the catalogue is: who probes the log is as traceable as who reads it.
    /// - Parameter what: the door and path asked for, e.g. `api:GET /api/v1/audit/events`.
    public func requireAuditor(
        _ caller: Caller, reading what: String, now: Date, logger: Logger
    ) async throws(ServiceError) {
        try await guarded(logger) { _ in
            guard caller.roles.contains(.auditor) || caller.roles.contains(.admin) else {
                throw Self.refusal(caller, command: what, message: UserText("web.auditors_only"), now: now)
            }
        }
    }

    func performRecordAuditRead(
        _ selection: [String: String], requestID: UUID?, datasetID: String? = nil, caller: Caller, now: Date,
        logger: Logger
    ) async throws {
        let office: AuditFilter.RecordedRole = caller.roles.contains(.auditor) ? .auditor : .admin
        let row = AuditRow(
            occurredAt: now, actor: caller.uid, role: office.rawValue,
            requestID: requestID, datasetID: datasetID, event: .auditRead, clientAddress: caller.clientAddress,
            details: try StoredJSON.encode(selection))
        try await Database.transaction(client, logger: logger) { connection in
            try await AuditWriter.insert(row, on: connection, logger: logger)
        }
    }
}
