import AuditLog
import Foundation
import Hummingbird
import WorkflowEngine

/// The catalogue: `datasets`, `datasets/{id}` (administrators replace one with PUT), `domains`.
struct CatalogController: Sendable {
    let service: RequestService
    let now: @Sendable () -> Date

    var routes: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("datasets") { request, context in
            _ = try context.caller()
            let query = try Self.datasetQuery(request.uri.queryParameters)
            let items = try await service.datasets(query, logger: context.logger)
            return try APIJSON.response(PagedList(items: items, limit: query.limit, offset: query.offset))
        }
        routes.get("datasets/{id}") { _, context in
            _ = try context.caller()
            let id = context.parameters.get("id") ?? ""
            let dataset = try await service.dataset(id: id, logger: context.logger)
            return try APIJSON.response(dataset, headers: [.eTag: Self.etag(dataset)])
        }
        routes.put("datasets/{id}") { request, context in
            let caller = try context.caller()
            let id = context.parameters.get("id") ?? ""
            // Read for administrators only: anyone else gets the service's 403, recorded, whatever they send.
            let shown = caller.roles.contains(.admin) ? try Self.shownVersion(request.headers[.ifMatch]) : nil
            guard let body = try await APIBody.object(request) else { throw APIProblem.validation([:]) }
            let input = try DatasetInput.read(id: id, body)
            let saved = try await service.upsertDataset(
                input, caller: caller, now: now(), shown: shown.map { .stored(version: $0) },
                logger: context.logger(for: caller))
            return try APIJSON.response(
                saved.dataset, status: saved.created ? .created : .ok, headers: [.eTag: Self.etag(saved.dataset)])
        }
        routes.get("domains") { request, context in
            _ = try context.caller()
            try QueryNames.none.check(request.uri.queryParameters)
            return try APIJSON.response(ItemList(items: try await service.domains(logger: context.logger)))
        }
        return routes
    }

    /// A dataset's `ETag`: its `updated_at` in microseconds, which every change of it moves. Sent back as
    /// `If-Match` with a PUT, a dataset changed by someone else since gives 409 and is not overwritten.
    static func etag(_ dataset: DatasetView) -> String {
        "\"\(AuditTimestamp(dataset.updatedAt).microsecondsSinceEpoch)\""
    }

    /// The version `If-Match` names (`"1764720000123456"`, also `W/"…"` or bare digits); nil for no
    /// header or `*`.
    static func shownVersion(_ field: String?) throws(APIProblem) -> Date? {
        guard let text = CommandHeaders.ifMatchDigits(field) else { return nil }
        // Up to the end of the year 9999: a larger number cannot be a change's time, and one near
        // Int64.max would overflow when compared as microseconds again.
        guard let micros = Int64(digits: text, in: 0...253_402_300_799_999_999) else {
            throw APIProblem.badRequest(
                UserText("catalog.if_match_invalid"), errors: ["if_match": UserText("catalog.if_match_field")])
        }
        return AuditTimestamp(microsecondsSinceEpoch: micros).date
    }

    static func datasetQuery(_ parameters: Parameters) throws(APIProblem) -> DatasetQuery {
        var errors: [String: UserText] = [:]
        QueryNames.datasets.refuse(parameters, errors: &errors)
        let text = filterText(parameters, "q", atMost: 200, refusal: "catalog.search_invalid", errors: &errors)
        let domain = filterText(
            parameters, "domain", atMost: 100, refusal: "catalog.domain_filter_invalid", errors: &errors)
        var classification: Classification? = nil
        if let value = parameters.get("classification"), !value.isEmpty {
            classification = Classification(rawValue: value)
            if classification == nil {
                errors["classification"] = UserText(
                    "catalog.classification_unknown",
                    ["allowed": .text(Classification.allCases.map(\.rawValue).joined(separator: ", "))])
            }
        }
        // A uid; an owner nobody has simply finds nothing.
        let owner = filterText(
            parameters, "owner", atMost: 100, refusal: "catalog.owner_filter_invalid", errors: &errors)
        let (limit, offset) = ListQuery.paging(parameters, errors: &errors)
        guard errors.isEmpty else { throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors) }
        return DatasetQuery(
            text: text, domain: domain, classification: classification, owner: owner, limit: limit, offset: offset)
    }

    /// A text filter of the catalogue (empty: none), refused with `refusal` when longer than `limit`
    /// characters or when it holds a control character: a NUL would reach PostgreSQL, which refuses it
    /// as an internal error (a 500 for a typing slip).
    private static func filterText(
        _ parameters: Parameters, _ name: String, atMost limit: Int, refusal: String,
        errors: inout [String: UserText]
    ) -> String? {
        guard let value = parameters.get(name), !value.isEmpty else { return nil }
        if value.count > limit || value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            errors[name] = UserText(refusal)
        }
        return value
    }

}
