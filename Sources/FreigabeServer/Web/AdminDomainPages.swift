import Foundation
import Hummingbird
import LDAPDirectory

/// Administration of the data domains and their steward groups (role admin): create and edit one domain.
///
/// A domain is saved through the catalogue import (``RequestService/importCatalog(_:file:caller:now:logger:)``),
/// the command `freigabe catalog import` and the import page use: the same role check, the same upsert,
/// the same `catalog_imported` audit event (its `file` is `verwaltung/domaene`). The fields are checked
/// with the catalogue file's rules (``CatalogRules/problems(of:)-(DomainInput)``) before.
struct AdminDomainPages: Sendable {
    let pages: WebPages
    let service: RequestService
    /// The groups `ldap.stewards` maps each domain to: their members are stewards of it too (the engine
    /// lets them decide), whatever group the catalogue names; the form says so, as changing the field
    /// does not take the step from them.
    var mappedStewardGroups: [String: [String]] = [:]

    /// Where a domain saved from the page is said to come from, in the audit event.
    static let auditFile = "verwaltung/domaene"

    struct DomainForm {
        var isNew: Bool
        var domainID: String?
        var fields: [FormField]
        var errors: ErrorSummary
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("verwaltung/domaene") { request, context in
            let caller = try await AdminPages.requireAdmin(request, context, pages: pages, service: service)
            let id = request.uri.queryParameters["id"].map(String.init)
            var values: [String: String] = [:]
            if let id {
                guard
                    let domain = try await service.domains(logger: context.logger(for: caller)).first(where: {
                        $0.id == id
                    })
                else { throw APIProblem(.notFound, status: .notFound, detail: UserText("catalog.domain_unknown")) }
                values = ["title": domain.title, "steward_group": domain.stewardGroup]
            }
            return try form(request, context: context, existingID: id, values: values, errors: [:])
        }
        group.post("verwaltung/domaene") { request, context in
            try await save(request, context: context)
        }
    }

    private func form(
        _ request: Request, context: AppRequestContext, existingID: String?, values: [String: String],
        errors: [String: String], status: HTTPResponse.Status = .ok
    ) throws -> Response {
        let text = pages.text(request)
        func field(_ name: String, hint: String? = nil) -> FormField {
            FormField(
                .text, name: name, label: text("admin.domain.\(name)"), hint: hint, value: values[name],
                error: errors[name], required: true)
        }
        var stewardHint = text("admin.domain.steward_group_hint")
        if let existingID, let mapped = mappedStewardGroups[existingID], !mapped.isEmpty {
            stewardHint += " " + text("admin.domain.mapped_stewards", ["groups": mapped.joined(separator: "; ")])
        }
        var fields = [field("title"), field("steward_group", hint: stewardHint)]
        if existingID == nil { fields.insert(field("id", hint: text("admin.domain.id_hint")), at: 0) }
        let page = DomainForm(
            isNew: existingID == nil, domainID: existingID, fields: fields,
            errors: ErrorSummary(fields: fields, errors: errors))
        let title = existingID.map { text("admin.domain.edit_title", ["id": $0]) } ?? text("admin.domain.new_title")
        return try pages.render(
            "admin-domain", title: title, page: page, request: request, context: context, status: status)
    }

    private func save(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try await AdminPages.requireAdmin(request, context, pages: pages, service: service)
        let form = context.form ?? WebForm(fields: [])
        let text = pages.text(request)
        let logger = context.logger(for: caller)
        let existing = form.text("existing_id")
        let input = DomainInput(
            id: existing ?? form.text("id") ?? "", title: form.text("title") ?? "",
            stewardGroup: form.text("steward_group") ?? "")
        var errors: [String: String] = [:]
        for (field, _) in CatalogRules.problems(of: input) where errors[field] == nil {
            errors[field] = text("admin.domain.invalid.\(field)")
        }
        let known = try await service.domains(logger: logger).map(\.id)
        if let existing, !known.contains(existing) {
            throw APIProblem(.notFound, status: .notFound, detail: UserText("catalog.domain_unknown"))
        }
        if existing == nil, known.contains(input.id) {
            errors["id"] = text("admin.domain.exists", ["id": input.id])
        }
        guard errors.isEmpty else {
            let values = ["id": input.id, "title": input.title, "steward_group": input.stewardGroup]
            return try self.form(
                request, context: context, existingID: existing, values: values, errors: errors,
                status: .unprocessableContent)
        }
        var document = CatalogDocument()
        document.domainEntries = [.init(line: 1, value: input)]
        let outcome: Result<CatalogImportReport, CatalogImportError>
        do {
            outcome = try await service.importCatalog(
                document, file: Self.auditFile, caller: caller, now: pages.now(), logger: logger)
        } catch {
            guard error.code == .unavailable else { throw error }
            // The directory (or the database) did not answer: the form again as it was sent, with why.
            error.logCause(logger)
            let values = ["id": input.id, "title": input.title, "steward_group": input.stewardGroup]
            return try self.form(
                request, context: context, existingID: existing, values: values,
                errors: ["form": text(error.message)], status: .serviceUnavailable)
        }
        switch outcome {
        case .success(let report):
            let handedOver = report.reassignedRequests > 0 ? "&umgehaengt=\(report.reassignedRequests)" : ""
            return WebPages.redirect(to: "/verwaltung?hinweis=domain_saved" + handedOver)
        case .failure(let problems):
            // A steward group the directory does not hold is shown at its field. Only a domain is
            // imported, so the file's cross-checks (a dataset's domain) cannot fail; should one ever, it is
            // shown at the title, not swallowed.
            let values = ["id": input.id, "title": input.title, "steward_group": input.stewardGroup]
            let errors = Dictionary(
                problems.problems.map { problem in
                    problem.field.flatMap { values[$0] == nil ? nil : ($0, problem.message.resolved(in: text.catalog)) }
                        ?? ("title", problem.text(in: text.catalog))
                },
                uniquingKeysWith: { "\($0); \($1)" })
            return try self.form(
                request, context: context, existingID: existing, values: values, errors: errors,
                status: .unprocessableContent)
        }
    }
}
