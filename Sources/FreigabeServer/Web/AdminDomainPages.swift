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
        /// The domain as stored when the form was first shown (hidden fields): saved only if it still is.
        var shownTitle: String?
        var shownStewardGroup: String?
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
                values = Self.values(of: domain)
            }
            return try form(request, context: context, existingID: id, values: values, errors: [:])
        }
        group.post("verwaltung/domaene") { request, context in
            try await save(request, context: context)
        }
    }

    /// A stored domain as the form shows it, and as it showed it (the hidden `shown_…` fields).
    static func values(of domain: DomainView) -> [String: String] {
        [
            "title": domain.title, "steward_group": domain.stewardGroup, "shown_title": domain.title,
            "shown_steward_group": domain.stewardGroup,
        ]
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
            errors: ErrorSummary(fields: fields, errors: errors), shownTitle: values["shown_title"],
            shownStewardGroup: values["shown_steward_group"])
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
        // What the form showed goes back with it, also when it is shown again with errors.
        let sent = [
            "id": input.id, "title": input.title, "steward_group": input.stewardGroup,
            "shown_title": form["shown_title"] ?? "", "shown_steward_group": form["shown_steward_group"] ?? "",
        ]
        let shown: CatalogRepository.ShownDomain =
            if let existing {
                .stored(
                    DomainInput(
                        id: existing, title: form["shown_title"] ?? "",
                        stewardGroup: form["shown_steward_group"] ?? ""))
            } else {
                .new(id: input.id)
            }
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
            return try self.form(
                request, context: context, existingID: existing, values: sent, errors: errors,
                status: .unprocessableContent)
        }
        var document = CatalogDocument()
        document.domainEntries = [.init(line: 1, value: input)]
        let outcome: Result<CatalogImportReport, CatalogImportError>
        do {
            outcome = try await service.importCatalog(
                document, file: Self.auditFile, caller: caller, now: pages.now(), shown: shown, logger: logger)
        } catch  where error.code == .conflict {
            guard let existing else {
                // Created by someone else since the form was shown.
                return try self.form(
                    request, context: context, existingID: nil, values: sent,
                    errors: ["id": text("admin.domain.exists", ["id": input.id])], status: .conflict)
            }
            // Changed by someone else since the form was shown: the form again with what is stored now,
            // and why nothing was saved.
            guard let stored = try await service.domains(logger: logger).first(where: { $0.id == existing }) else {
                throw APIProblem(.notFound, status: .notFound, detail: UserText("catalog.domain_unknown"))
            }
            return try self.form(
                request, context: context, existingID: existing, values: Self.values(of: stored),
                errors: ["form": text(error.message)], status: .conflict)
        } catch {
            guard error.code == .unavailable else { throw error }
            // The directory (or the database) did not answer: the form again as it was sent, with why.
            error.logCause(logger)
            return try self.form(
                request, context: context, existingID: existing, values: sent,
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
            let values = sent
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
