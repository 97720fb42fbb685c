import Foundation
import Hummingbird
import WorkflowEngine

/// The catalogue: search and filter datasets, and a dataset's page with the ways to ask for it.
struct CatalogPages: Sendable {
    let pages: WebPages
    let service: RequestService

    struct DatasetRow {
        var href: String
        var title: String
        var domain: String
        var classification: String
        var personalData: String
    }

    struct Search {
        var q: String
        var domains: [FormField.Option]
        var classifications: [FormField.Option]
        var datasets: [DatasetRow]
        var isEmpty: Bool
        var error: String?
    }

    struct DatasetPage {
        var id: String
        var title: String
        var description: String
        var domain: String
        var owner: String
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
            let parameters = request.uri.queryParameters
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
            let datasets = try await service.datasets(query, logger: logger)
            let search = Search(
                q: query.text ?? "",
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
                isEmpty: datasets.isEmpty, error: error)
            return try pages.render(
                "catalog", title: text("catalog.title"), page: search, request: request, context: context)
        }
        group.get("katalog/{id}") { request, context in
            let caller = try context.pageCaller(request)
            let text = pages.text(request)
            let id = context.parameters.get("id") ?? ""
            let dataset = try await service.dataset(id: id, logger: context.logger(for: caller))
            let domains = try await service.domains(logger: context.logger(for: caller))
            let encoded = dataset.id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let page = DatasetPage(
                id: dataset.id, title: dataset.title, description: dataset.description, domain: dataset.domainTitle,
                owner: dataset.owner ?? dataset.ownerGroup ?? "",
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
}
