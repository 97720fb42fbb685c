import Foundation
import Hummingbird
import LDAPDirectory
import Logging
import WorkflowEngine

/// The catalogue: search and filter datasets, and a dataset's page with the ways to ask for it.
struct CatalogPages: Sendable {
    let pages: WebPages
    let service: RequestService
    /// Names the owner on a dataset's page; when the directory does not answer in time the uid shows.
    let acting: ActingPeopleLookup

    struct DatasetRow {
        var href: String
        var title: String
        var domain: String
        var classification: String
        var personalData: String
    }

    struct Search {
        var q: String
        var owner: String
        var domains: [FormField.Option]
        var classifications: [FormField.Option]
        var datasets: [DatasetRow]
        var isEmpty: Bool
        var error: String?
        /// The next page with the same filters, when there are more datasets than this page shows.
        var nextHref: String?
    }

    struct DatasetPage {
        var id: String
        var title: String
        var description: String
        var domain: String
        /// The directory's display name of the owner, or an owner group's name.
        var owner: String
        /// The uid or the group's DN, small beside the name.
        var ownerID: String
        var stewardGroup: String
        /// „Data Stewards der Domäne Umwelt“: the group in plain words; its DN beside it, small.
        var stewards: String
        var classification: String
        var personalData: String
        var protectionNeed: String
        var formats: String?
        var licence: String?
        var highValue: Bool
        var requestHref: String
        var openDataHref: String?
        /// For administrators: the dataset's form (the overview lists only the first datasets).
        var editHref: String?
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("katalog") { request, context in
            let caller = try context.pageCaller(request)
            let text = pages.text(request)
            let logger = context.logger(for: caller)
            let parameters = request.formQuery
            var error: String? = nil
            let query: DatasetQuery
            do {
                query = try CatalogController.datasetQuery(parameters)
            } catch let problem as APIProblem {
                // A hand-made address with a bad filter: show everything and say what was wrong.
                query = DatasetQuery()
                error = text(problem.errors.values.first ?? problem.detail)
            }
            let domains = try await service.domains(logger: logger)
            // One more than the page shows: whether a next page exists, without counting them all.
            var fetch = query
            fetch.limit = query.limit + 1
            var datasets = try await service.datasets(fetch, logger: logger)
            let hasMore = datasets.count > query.limit
            datasets = Array(datasets.prefix(query.limit))
            let search = Search(
                q: query.text ?? "", owner: query.owner ?? "",
                domains: [
                    FormField.Option(
                        value: "", label: text("catalog.all_domains"), selected: query.domain == nil, id: "d-all")
                ]
                    + domains.map {
                        FormField.Option(
                            value: $0.id, label: $0.title, selected: $0.id == query.domain, id: "d-" + $0.id)
                    },
                classifications: [
                    FormField.Option(
                        value: "", label: text("catalog.all_classifications"), selected: query.classification == nil,
                        id: "c-all")
                ]
                    + Classification.allCases.map {
                        FormField.Option(
                            value: $0.rawValue, label: text("classification.\($0.rawValue)"),
                            selected: $0 == query.classification, id: "c-" + $0.rawValue)
                    },
                datasets: datasets.map { dataset in
                    DatasetRow(
                        href: "/katalog/"
                            + (dataset.id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? ""),
                        title: dataset.title, domain: dataset.domainTitle,
                        classification: text("classification.\(dataset.classification.rawValue)"),
                        personalData: text("personal_data.\(dataset.personalData.rawValue)"))
                },
                isEmpty: datasets.isEmpty, error: error, nextHref: hasMore ? Self.nextHref(query) : nil)
            return try pages.render(
                "catalog", title: text("catalog.title"), page: search, request: request, context: context)
        }
        group.get("katalog/{id}") { request, context in
            let caller = try context.pageCaller(request)
            let text = pages.text(request)
            let id = context.parameters.get("id") ?? ""
            let dataset = try await service.dataset(id: id, logger: context.logger(for: caller))
            let domains = try await service.domains(logger: context.logger(for: caller))
            let encoded = WebPages.queryValue(dataset.id)
            let owner = await ownerName(of: dataset, logger: context.logger(for: caller))
            let page = DatasetPage(
                id: dataset.id, title: dataset.title, description: dataset.description, domain: dataset.domainTitle,
                owner: owner, ownerID: dataset.owner ?? dataset.ownerGroup ?? "",
                stewardGroup: domains.first { $0.id == dataset.domain }?.stewardGroup ?? "",
                stewards: text("dataset.stewards_of", ["domain": dataset.domainTitle]),
                classification: text("classification.\(dataset.classification.rawValue)"),
                personalData: text("personal_data.\(dataset.personalData.rawValue)"),
                protectionNeed: text("protection_need.\(dataset.protectionNeed.rawValue)"),
                formats: dataset.formats.isEmpty ? nil : dataset.formats.joined(separator: ", "),
                licence: dataset.licence.map { text.licence($0) }, highValue: dataset.highValue,
                requestHref: "/antraege/neu?kind=shared_data&dataset=\(encoded)",
                // Offered where a workflow publishes Open Data; whether this dataset may be published the
                // workflow decides on submission.
                openDataHref: service.workflows.current(for: .openData) == nil
                    ? nil : "/antraege/neu?kind=open_data&dataset=\(encoded)",
                editHref: caller.roles.contains(.admin) ? "/verwaltung/datensatz?id=\(encoded)" : nil)
            return try pages.render("dataset", title: dataset.title, page: page, request: request, context: context)
        }
    }

    /// The catalogue's next page: the same filters, `offset` moved on by one page.
    static func nextHref(_ query: DatasetQuery) -> String {
        let pairs: [(String, String?)] = [
            ("q", query.text), ("domain", query.domain), ("classification", query.classification?.rawValue),
            ("owner", query.owner), ("limit", query.limit == DatasetQuery().limit ? nil : String(query.limit)),
            ("offset", String(query.offset + query.limit)),
        ]
        return "/katalog?"
            + pairs.compactMap { name, value in
                value.map { name + "=" + WebPages.queryValue($0) }
            }.joined(separator: "&")
    }

    /// The owner as people know them: a person by the directory's display name (the uid when the directory
    /// does not know them, is not configured or does not answer in time: the page never fails for it), a
    /// group by its name (the value of its DN's first part, „cn=datenteam-umwelt,…“ → „datenteam-umwelt“).
    func ownerName(of dataset: DatasetView, logger: Logger) async -> String {
        if let group = dataset.ownerGroup {
            return (try? DistinguishedName(parsing: group))?.rdns.first?.first?.value ?? group
        }
        guard let uid = dataset.owner else { return "" }
        return await acting.names(of: [uid], logger: logger)[uid] ?? uid
    }
}
