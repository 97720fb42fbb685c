import AuditLog
import Foundation
import Hummingbird

/// Für Prüfer, read-only: the sealed decision log (`audit/events`) for the roles auditor and admin. The
/// same checked ``AuditFilter`` as the page and `freigabe audit export`; keyset pages by place in the
/// tree (`after`), never OFFSET, so a page costs the same at the millionth event. Every read is itself
/// recorded (`audit_read`, with the filters), so who looked at what stays traceable.
struct AuditController: Sendable {
    let service: RequestService
    let now: @Sendable () -> Date

    static let defaultLimit = 100

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("audit/events") { request, context in
            let caller = try context.caller()
            try await service.requireAuditor(
                caller, reading: "api:GET /api/v1/audit/events", now: now(), logger: context.logger(for: caller))
            var query = try Self.query(request.uri.queryParameters)
            let logger = context.logger(for: caller)
            query.filter = try await service.resolvingRequestNumber(query.filter, logger: logger)
            var details = query.filter.described
            details["via"] = "api"
            if let after = query.after { details["after"] = String(after) }
            if query.order != .oldest { details["order"] = query.order.rawValue }
            // The same record as the pages' (with the reader's role and the request asked about).
            try await service.recordAuditRead(
                details, requestID: query.filter.requestID, caller: caller, now: now(), logger: logger)
            let page = try await AuditQuery(client: service.client).page(
                query.filter, after: query.after, limit: query.limit, order: query.order, logger: logger)
            return try APIJSON.response(AuditEventPage(page))
        }
        routes.get("audit/export") { request, context in
            let caller = try context.caller()
            try await service.requireAuditor(
                caller, reading: "api:GET /api/v1/audit/export", now: now(), logger: context.logger(for: caller))
            let parameters = request.uri.queryParameters
            var errors: [String: UserText] = [:]
            let parsed = Self.filter(parameters, errors: &errors)
            let options = AuditExportDownload.options({ Self.value(parameters, $0) }, errors: &errors)
            for name in ["after", "limit", "order"] where Self.value(parameters, name) != nil {
                errors[name] = UserText("query.export_no_paging")
            }
            QueryNames.export.refuse(parameters, errors: &errors)
            guard errors.isEmpty else {
                throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors)
            }
            let logger = context.logger(for: caller)
            let slot = try AuditExportDownload.slot()
            let filter = try await service.resolvingRequestNumber(parsed, logger: logger)
            var details = filter.described
            details["via"] = "api"
            details["export"] = options.format.rawValue
            // Like every other read of the log: recorded before anything is read, as the pages record it.
            try await service.recordAuditRead(
                details, requestID: filter.requestID, caller: caller, now: now(), logger: logger)
            return try await AuditExportDownload(client: service.client).response(
                filter, options: options, slot: slot, logger: logger)
        }
        return routes
    }

    static func value(_ parameters: Parameters, _ name: String) -> String? {
        parameters.get(name).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The filters of the query string, checked; a problem is named by its parameter in `errors`.
    static func filter(_ parameters: Parameters, errors: inout [String: UserText]) -> AuditFilter {
        func value(_ name: String) -> String? { Self.value(parameters, name) }
        // The former `deputies=true`: ignoring it would hand an old script the unfiltered log.
        if parameters.get("deputies") != nil { errors["deputies"] = UserText("query.deputies_replaced") }
        // `request=` from a script whose variable was empty: read as no filter, it would hand over the
        // whole log as if it were that request's. (The page's own links carry only filled fields.)
        for (name, given) in parameters where given.trimmingCharacters(in: .whitespaces).isEmpty {
            errors[String(name)] = UserText("query.empty_value")
        }
        do throws(AuditFilterError) {
            return try AuditFilter.parse(
                from: value("from"), to: value("to"), dataset: value("dataset"), person: value("person"),
                request: value("request"), types: parameters.getAll("type").filter { !$0.isEmpty },
                domain: value("domain"), role: value("role"), decision: value("decision"), capacity: value("capacity"))
        } catch {
            errors[String(error.option.drop { $0 == "-" })] = error.userText
            return AuditFilter()
        }
    }

    struct Query: Sendable, Hashable {
        var filter: AuditFilter
        var after: UInt64?
        var limit: Int
        var order: AuditQuery.Order = .oldest
    }

    /// The query string, checked: every problem named by its parameter, nothing reaches SQL unchecked.
    static func query(_ parameters: Parameters) throws(APIProblem) -> Query {
        var errors: [String: UserText] = [:]
        func value(_ name: String) -> String? { Self.value(parameters, name) }
        let filter = Self.filter(parameters, errors: &errors)
        var after: UInt64?
        if let text = value("after") {
            after = AuditPage.place(text)
            if after == nil { errors["after"] = UserText("query.after_range") }
        }
        var limit = defaultLimit
        if let text = value("limit") {
            if let number = Int(digits: text, in: 1...AuditQuery.maximumPageSize) {
                limit = number
            } else {
                errors["limit"] = UserText("query.audit_limit_range")
            }
        }
        var order = AuditQuery.Order.oldest
        do throws(AuditFilterError) {
            order = try AuditQuery.Order.parse(value("order"))
        } catch {
            errors["order"] = error.userText
        }
        QueryNames.events.refuse(parameters, errors: &errors)
        guard errors.isEmpty else { throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors) }
        return Query(filter: filter, after: after, limit: limit, order: order)
    }
}

/// One page of the log as the API answers it.
struct AuditEventPage: Encodable, Sendable {
    var items: [Item]
    /// Pass as `after` for the next page; absent on the last one.
    var nextAfter: UInt64?

    init(_ page: AuditPage) {
        items = page.events.map(Item.init)
        nextAfter = page.nextAfter
    }

    /// One sealed event: its place, the leaf's fields, the texts while they are kept, and the erasure
    /// once they are not.
    struct Item: Encodable, Sendable {
        var sequence: UInt64
        var id: UUID
        /// RFC 3339 with microseconds, exactly as sealed (the API's other instants have no fractions).
        var occurredAt: String
        var type: String
        var requestId: UUID?
        var actor: String?
        var actingFor: String?
        /// `deputy` or `escalation`, as sealed (``AuditEventRow/capacity``): the `capacity` filter's values.
        var capacity: String?
        var role: String?
        var step: String?
        var decision: String?
        var datasetId: String?
        var state: String?
        var comment: String?
        /// What was asked, as a submission or resubmission logged it (``RequestDetails/logged(kind:)``).
        var request: JSONValue?
        /// The facts it was routed on (``RequestFacts/logged``).
        var routing: JSONValue?
        /// The licence and portal address of the approval that published.
        var licence: String?
        var portalUrl: String?
        /// When the step the request waited at after the event was due, as logged (RFC 3339).
        var deadline: String?
        var leafHash: String
        var redacted: Erasure?

        struct Erasure: Encodable, Sendable {
            var at: String
            var by: String
        }

        init(_ event: SealedEvent) {
            let row = event.stored.row
            sequence = event.sequence
            id = event.eventID
            occurredAt = AuditTimestamp(row.occurredAt).rfc3339 ?? ""
            type = row.event.rawValue
            requestId = row.requestID
            actor = row.actor
            actingFor = row.actingFor
            capacity = AuditEventRow.capacity(asEscalation: row.asEscalation, actingFor: row.actingFor != nil)
            role = row.role
            step = row.step
            decision = row.decision
            datasetId = row.datasetID
            state = row.state
            leafHash = event.leafHash.hex
            redacted = event.redaction.map { Erasure(at: $0.redactedAt.rfc3339 ?? "", by: $0.redactedBy) }
            // Texts written back into an erased row are not shown (`audit verify` reports them).
            let texts = event.shownTexts
            guard let detailsText = texts.details else { return }
            comment = texts.comment
            let details = (try? StoredJSON.decode([String: JSONValue].self, from: detailsText)) ?? [:]
            if case .object = details["request"] { request = details["request"] }
            if case .object = details["routing"] { routing = details["routing"] }
            if case .string(let value) = details["licence"] { licence = value }
            if case .string(let value) = details["portal_url"] { portalUrl = value }
            if case .string(let value) = details["deadline"] { deadline = value }
        }
    }
}
