import AuditLog
import Foundation
import Hummingbird
import Logging
import WorkflowEngine

/// Administration (role admin): the catalogue's datasets (create, edit), its domains and their steward
/// groups, and the import of a catalogue file with its problems shown by line and nothing stored.
/// The service checks the role again on every change; the pages only hide what would be refused.
struct AdminPages: Sendable {
    let pages: WebPages
    let service: RequestService

    /// Datasets the overview lists; beyond them it points to the catalogue's search.
    static let listedDatasets = 500

    struct Overview {
        /// Said above the list when the catalogue holds more than it shows.
        var moreDatasets: String?

        struct DatasetRow {
            var id: String
            var title: String
            var domain: String
            var href: String
        }

        struct DomainRow {
            var id: String
            var title: String
            var stewardGroup: String
            var href: String
        }

        var datasets: [DatasetRow]
        var domains: [DomainRow]
        var problems: [String]
        var hasProblems: Bool
        var report: String?
        var fileError: String?
        /// After a redirect (`?hinweis=domain_saved`): what was just done.
        var notice: String?
    }

    struct DatasetForm {
        var isNew: Bool
        var id: FormField?
        var datasetID: String?
        /// When the dataset shown was last changed: saving checks it, so that one administrator's save
        /// never silently undoes another's change made meanwhile.
        var shownVersion: String?
        var fields: [FormField]
        var errors: ErrorSummary
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("verwaltung") { request, context in
            _ = try await Self.requireAdmin(request, context, pages: pages, service: service)
            return try await overview(request, context: context)
        }
        group.post("verwaltung/import") { request, context in
            try await importCatalog(request, context: context)
        }
        group.get("verwaltung/datensatz") { request, context in
            let caller = try await Self.requireAdmin(request, context, pages: pages, service: service)
            let id = request.uri.queryParameters["id"].map(String.init)
            var values: [String: String] = [:]
            if let id {
                let dataset = try await service.dataset(id: id, logger: context.logger(for: caller))
                values = Self.values(of: dataset)
            }
            return try await datasetForm(request, context: context, existingID: id, values: values, errors: [:])
        }
        group.post("verwaltung/datensatz") { request, context in
            try await saveDataset(request, context: context)
        }
    }

    /// The caller when they are an administrator; else 403 (the service checks the role again). A refused
    /// change (a POST, before its form is read) is a security event the service records where it records
    /// every refusal, as for the API; a refused page view is not.
    static func requireAdmin(
        _ request: Request, _ context: AppRequestContext, pages: WebPages, service: RequestService
    ) async throws -> Caller {
        let caller = try context.pageCaller(request)
        guard caller.roles.contains(.admin) else {
            if !request.method.isSafe {
                try await service.requireAdmin(
                    caller, command: "web:\(request.method) \(request.uri.path)", now: pages.now(),
                    logger: context.logger(for: caller))
            }
            throw APIProblem(.forbidden, status: .forbidden, detail: UserText("catalog.admin_only"))
        }
        return caller
    }

    private func overview(
        _ request: Request, context: AppRequestContext, problems: [String] = [], report: String? = nil,
        fileError: String? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let caller = try await Self.requireAdmin(request, context, pages: pages, service: service)
        let text = pages.text(request)
        let logger = context.logger(for: caller)
        // Whether there are more than the page lists (the catalogue's search finds them, each with its
        // edit link): one row after the last, as the catalogue's pages are at most 500 long.
        let datasets = try await service.datasets(DatasetQuery(limit: Self.listedDatasets), logger: logger)
        var more = false
        if datasets.count == Self.listedDatasets {
            let next = try await service.datasets(DatasetQuery(limit: 1, offset: Self.listedDatasets), logger: logger)
            more = !next.isEmpty
        }
        let domains = try await service.domains(logger: logger)
        let page = Overview(
            moreDatasets: more ? text("admin.more_datasets", ["count": String(Self.listedDatasets)]) : nil,
            datasets: datasets.map {
                Overview.DatasetRow(
                    id: $0.id, title: $0.title, domain: $0.domainTitle,
                    href: "/verwaltung/datensatz?id="
                        + WebPages.queryValue($0.id))
            },
            domains: domains.map {
                Overview.DomainRow(
                    id: $0.id, title: $0.title, stewardGroup: $0.stewardGroup,
                    href: "/verwaltung/domaene?id="
                        + WebPages.queryValue($0.id))
            },
            problems: problems, hasProblems: !problems.isEmpty, report: report, fileError: fileError,
            notice: Self.notice(request, text: text))
        return try pages.render(
            "admin", title: text("admin.title"), page: page, request: request, context: context, status: status)
    }

    private func importCatalog(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try await Self.requireAdmin(request, context, pages: pages, service: service)
        let text = pages.text(request)
        // No file chosen (a browser sends an empty part without a name); an empty file that was chosen is
        // read like any other and reported at its line 1, as `freigabe catalog import` does.
        guard let file = context.form?.files["file"], !(file.content.isEmpty && file.filename.isEmpty) else {
            return try await overview(
                request, context: context, fileError: text("admin.import.no_file"), status: .unprocessableContent)
        }
        let name = file.filename.isEmpty ? "katalog.yaml" : file.filename
        guard let contents = String(validating: file.content, as: UTF8.self) else {
            return try await overview(
                request, context: context, problems: ["\(name):1: " + text("admin.import.not_utf8")],
                status: .unprocessableContent)
        }
        let outcome: Result<CatalogImportReport, CatalogImportError>
        do {
            let document = try CatalogParser.parse(contents, file: name, format: CatalogParser.Format(path: name))
            outcome = try await service.importCatalog(
                document, file: name, caller: caller, now: pages.now(), logger: context.logger(for: caller))
        } catch let problems as CatalogImportError {
            outcome = .failure(problems)
        }
        switch outcome {
        case .success(let report):
            var summary = text(
                "admin.import.done",
                [
                    "created": String(report.datasetsCreated.count), "updated": String(report.datasetsUpdated.count),
                    "unchanged": String(report.datasetsUnchanged.count),
                    "domains": String(report.domainsCreated.count + report.domainsUpdated.count),
                ])
            if report.reassignedRequests > 0 {
                summary += " " + text.counted("admin.import.reassigned", report.reassignedRequests)
            }
            return try await overview(request, context: context, report: summary)
        case .failure(let error):
            return try await overview(
                request, context: context, problems: error.problems.map { $0.text(in: text.catalog) },
                status: .unprocessableContent)
        }
    }

    private func datasetForm(
        _ request: Request, context: AppRequestContext, existingID: String?, values: [String: String],
        errors: [String: String], status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let caller = try await Self.requireAdmin(request, context, pages: pages, service: service)
        let text = pages.text(request)
        let domains = try await service.domains(logger: context.logger(for: caller))
        func field(
            _ control: FormField.Control, _ name: String, required: Bool = false, hint: String? = nil,
            options: [(value: String, label: String)] = []
        ) -> FormField {
            FormField(
                control, name: name, label: text("admin.dataset.\(name)"), hint: hint, value: values[name],
                error: errors[name], required: required, options: options)
        }
        let choose = [(value: "", label: text("form.choose"))]
        let fields = [
            field(.text, "title", required: true),
            field(.textarea, "description"),
            field(.select, "domain", required: true, options: choose + domains.map { ($0.id, $0.title) }),
            field(.text, "owner", hint: text("admin.dataset.owner_hint")),
            field(.text, "owner_group", hint: text("admin.dataset.owner_group_hint")),
            field(
                .select, "classification", required: true,
                options: choose + Classification.allCases.map { ($0.rawValue, text("classification.\($0.rawValue)")) }),
            field(
                .select, "personal_data", required: true,
                options: choose
                    + PersonalDataCategory.allCases.map { ($0.rawValue, text("personal_data.\($0.rawValue)")) }),
            field(
                .select, "protection_need", required: true,
                options: choose + ProtectionNeed.allCases.map { ($0.rawValue, text("protection_need.\($0.rawValue)")) }),
            field(.select, "licence", options: choose + RequestFormPage.licences.map { ($0, text.licence($0)) }),
            field(
                .radios, "high_value", options: [("false", text("form.check.no")), ("true", text("admin.dataset.yes"))]),
            // One a line: a format's own name may hold a comma ("CSV (UTF-8, Semikolon)").
            field(.textarea, "formats", hint: text("admin.dataset.formats_hint")),
        ]
        let idField =
            existingID == nil
            ? FormField(
                .text, name: "id", label: text("admin.dataset.id"), hint: text("admin.dataset.id_hint"),
                value: values["id"], error: errors["id"], required: true) : nil
        let all = [idField].compactMap { $0 } + fields
        let page = DatasetForm(
            isNew: existingID == nil, id: idField, datasetID: existingID, shownVersion: values["shown_version"],
            fields: fields,
            errors: ErrorSummary(fields: all, errors: errors))
        let title = existingID.map { text("admin.dataset.edit_title", ["id": $0]) } ?? text("admin.dataset.new_title")
        return try pages.render(
            "admin-dataset", title: title, page: page, request: request, context: context, status: status)
    }

    private func saveDataset(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try await Self.requireAdmin(request, context, pages: pages, service: service)
        let form = context.form ?? WebForm(fields: [])
        let text = pages.text(request)
        let existing = form.text("existing_id")
        let id = existing ?? form.text("id") ?? ""
        var body = form.jsonBody(booleans: ["high_value"]).fields
        body["shown_version"] = nil
        body["id"] = nil
        body["existing_id"] = nil
        if let formats = form.text("formats") {
            body["formats"] = .array(
                formats.split(whereSeparator: \.isNewline).map { .string($0.trimmingCharacters(in: .whitespaces)) }
                    .filter { $0 != .string("") })
        }
        do {
            let input = try DatasetInput.read(id: id, JSONObject(fields: body, path: ""))
            // "New dataset" with the id of one that exists would silently replace its owner and
            // classification; the service checks it under the dataset's lock.
            let shown: CatalogRepository.ShownDataset? =
                if existing == nil {
                    .new
                } else {
                    form.text("shown_version").flatMap(AuditTimestamp.init(rfc3339:)).map { .stored(version: $0.date) }
                }
            let saved = try await service.upsertDataset(
                input, caller: caller, now: pages.now(), shown: shown, logger: context.logger(for: caller))
            // Requests handed to other people are worth a word: the overview says how many.
            guard saved.reassignedRequests == 0 else {
                return WebPages.redirect(to: "/verwaltung?hinweis=dataset_saved&umgehaengt=\(saved.reassignedRequests)")
            }
            return WebPages.redirect(
                to: "/katalog/" + WebPages.queryValue(id))
        } catch let failure as ServiceError where failure.code == .conflict && existing == nil {
            // Created by someone else, also since the form was shown.
            return try await datasetForm(
                request, context: context, existingID: nil, values: RequestPages.values(of: form),
                errors: ["id": text("admin.dataset.exists", ["id": id])], status: .conflict)
        } catch let failure as ServiceError where failure.code == .conflict {
            // Changed by someone else since this form was shown: the form again with what is stored now,
            // and why nothing was saved.
            let stored = try await service.dataset(id: id, logger: context.logger(for: caller))
            return try await datasetForm(
                request, context: context, existingID: existing, values: Self.values(of: stored),
                errors: ["form": text(failure.message)], status: .conflict)
        } catch let failure as ServiceError where failure.code == .unavailable {
            // The directory (or the database) did not answer: the form again as it was sent, with why.
            failure.logCause(context.logger)
            return try await datasetForm(
                request, context: context, existingID: existing, values: RequestPages.values(of: form),
                errors: ["form": text(failure.message)], status: .serviceUnavailable)
        } catch let failure {
            guard var errors = RequestPages.fieldErrors(failure, text: text) else { throw failure }
            // The service names the id as the path parameter it is in the API.
            if let message = errors.removeValue(forKey: "dataset_id") { errors["id"] = message }
            return try await datasetForm(
                request, context: context, existingID: existing, values: RequestPages.values(of: form), errors: errors,
                status: .unprocessableContent)
        }
    }

    /// After a redirect (`?hinweis=domain_saved&umgehaengt=3`): what was saved, and how many open requests
    /// it handed to other people.
    static func notice(_ request: Request, text: PageText) -> String? {
        let saved: String
        switch request.uri.queryParameters["hinweis"] {
        case "domain_saved": saved = text("admin.domain.saved")
        case "dataset_saved": saved = text("admin.dataset.saved")
        default: return nil
        }
        guard let count = request.uri.queryParameters["umgehaengt"].flatMap({ Int(String($0)) }), count > 0 else {
            return saved
        }
        return saved + " " + text.counted("admin.import.reassigned", count)
    }

    static func values(of dataset: DatasetView) -> [String: String] {
        [
            "title": dataset.title, "description": dataset.description, "domain": dataset.domain,
            "owner": dataset.owner ?? "", "owner_group": dataset.ownerGroup ?? "",
            "classification": dataset.classification.rawValue, "personal_data": dataset.personalData.rawValue,
            "protection_need": dataset.protectionNeed.rawValue, "licence": dataset.licence ?? "",
            "high_value": dataset.highValue ? "true" : "false", "formats": dataset.formats.joined(separator: "\n"),
            "shown_version": AuditTimestamp(dataset.updatedAt).description,
        ]
    }
}
