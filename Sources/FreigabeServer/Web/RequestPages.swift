import Foundation
import Hummingbird
import Logging
import WorkflowEngine

/// The pages of a request: the form for a new one (with its summary before submitting), the request's
/// page, and the forms of the five commands. Every form is read by the JSON API's own readers
/// (``NewRequest/read(_:)``, ``DecisionBody/read(_:)``, ``Resubmission/read(_:)``) and goes to the same
/// ``RequestService`` command as the API: a page is another door, not another implementation.
struct RequestPages: Sendable {
    let pages: WebPages
    let service: RequestService
    /// Names the people a request waits for (with a deadline; roles alone when the directory is down).
    let acting: ActingPeopleLookup

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("antraege/neu") { request, context in
            let caller = try context.pageCaller(request)
            let query = request.uri.queryParameters
            let kind = query["kind"].flatMap { ReleaseKind(rawValue: String($0)) } ?? .sharedData
            let form = try await service.requestForm(
                kind: kind, datasetID: query["dataset"].map(String.init) ?? "", now: pages.now(),
                logger: context.logger(for: caller))
            // Open Data is proposed under the licence the catalogue gives the dataset, if it gives one.
            let proposed = form.kind == .openData ? form.dataset.licence.map { ["licence": $0] } : nil
            return try showForm(form, values: proposed ?? [:], errors: [:], request: request, context: context)
        }
        group.post("antraege") { request, context in
            try await create(request, context: context)
        }
        group.get("antraege/{id}") { request, context in
            let caller = try context.pageCaller(request)
            // By its number (`/antraege/FG-2026-000042`, as the mails and the requester show it): the same
            // page and the same refusal (404, `read_denied`) as by its id, so a number tells nobody more
            // than the page would; a number of no request is the same 404.
            let id: UUID
            if let number = context.parameters.get("id").flatMap(RequestReference.init)?.number {
                guard let found = try await service.requestID(.number(number), logger: context.logger(for: caller))
                else { throw APIProblem.notFound(UserText("general.request_not_found")) }
                id = found
            } else {
                id = try requestID(context)
            }
            let text = pages.text(request)
            let notice = request.uri.queryParameters["hinweis"].flatMap { key in
                Self.notices.contains(String(key)) ? text("notices.\(key)") : nil
            }
            return try show(
                try await page(id, caller: caller, text: text, notice: notice, logger: context.logger(for: caller)),
                request: request, context: context)
        }
        group.post("antraege/{id}/entscheidung") { request, context in
            try await decide(request, context: context)
        }
        group.post("antraege/{id}/einreichen") { request, context in
            try await submitDraft(request, context: context)
        }
        group.post("antraege/{id}/zurueckziehen") { request, context in
            try await command(request, context, notice: "withdrawn") { id, caller, version, logger in
                try await service.withdraw(
                    requestID: id, comment: context.form?.text("comment"), caller: caller, now: pages.now(),
                    expectedVersion: version, logger: logger)
            }
        }
        group.post("antraege/{id}/widerrufen") { request, context in
            try await command(request, context, notice: "revoked") { id, caller, version, logger in
                try await service.revoke(
                    requestID: id, reason: context.form?["reason"] ?? "", caller: caller, now: pages.now(),
                    expectedVersion: version, logger: logger)
            }
        }
        group.post("antraege/{id}/einstellen") { request, context in
            try await command(request, context, notice: "discontinued", formFields: ["reason": "discontinue_reason"]) {
                id, caller, version, logger in
                try await service.discontinue(
                    requestID: id, reason: context.form?["discontinue_reason"] ?? "", caller: caller,
                    now: pages.now(), expectedVersion: version, logger: logger)
            }
        }
        group.get("antraege/{id}/ueberarbeiten") { request, context in
            try await storedForm(request, context: context, mode: RequestFormPage.Mode.resubmission(of:))
        }
        group.post("antraege/{id}/ueberarbeiten") { request, context in
            try await resubmit(request, context: context)
        }
        group.get("antraege/{id}/bearbeiten") { request, context in
            try await storedForm(request, context: context, mode: RequestFormPage.Mode.draft(of:))
        }
        group.post("antraege/{id}/bearbeiten") { request, context in
            try await editDraft(request, context: context)
        }
    }

    /// Notices a redirect may name (`?hinweis=`); any other value shows nothing.
    static let notices: Set<String> = [
        "saved", "submitted", "decided", "withdrawn", "resubmitted", "revoked", "discontinued", "already_filed",
    ]

    private func requestID(_ context: AppRequestContext) throws -> UUID {
        try RequestsController.requestID(context)
    }

    // MARK: New request

    private func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.pageCaller(request)
        let form = context.form ?? WebForm(fields: [])
        let action = form["action"] ?? "review"
        let kind = form["kind"].flatMap(ReleaseKind.init(rawValue:)) ?? .sharedData
        let logger = context.logger(for: caller)
        let requestForm = try await service.requestForm(
            kind: kind, datasetID: form["dataset_id"] ?? "", now: pages.now(), logger: logger)
        let values = Self.values(of: form)
        if action == "edit" {
            return try showForm(requestForm, values: values, errors: [:], request: request, context: context)
        }
        let text = pages.text(request)
        let (fields, formErrors) = detailsBody(form)
        do {
            var body = fields
            body["kind"] = .string(kind.rawValue)
            body["dataset_id"] = .string(requestForm.dataset.id)
            body["submit"] = .bool(action == "submit")
            let input = try NewRequest.read(JSONObject(fields: body, path: ""))
            // The summary before submitting, and a submission the form found wrong already, ask what the
            // submission would take (the same checks, the workflow's demands through the engine), so that
            // every error shows at once; nothing is stored.
            let checked =
                action == "review" || (action == "submit" && !formErrors.isEmpty)
                ? try await service.checkSubmission(input, now: pages.now(), logger: logger) : nil
            try formErrors.check()
            if action == "review", let details = checked {
                return try pages.render(
                    "request-review", title: text("review.title"),
                    page: ReviewPage(
                        form: RequestFormPage(
                            form: requestForm, values: values, errors: [:], text: text,
                            idempotencyKey: form["idempotency_key"] ?? WebSession.newToken()),
                        values: values, details: details, text: text),
                    request: request, context: context)
            }
            let view = try await service.createRequest(
                input, caller: caller, now: pages.now(), idempotencyKey: form["idempotency_key"], logger: logger)
            return WebPages.redirect(
                to: "/antraege/\(view.id.uuidString)?hinweis=" + (view.status.phase == .draft ? "saved" : "submitted"))
        } catch let failure as ServiceError where failure.code == .idempotencyMismatch {
            // The summary was sent before with the other button (saved, then "back" and submitted): the
            // request it made is shown, to be sent on from there, instead of an error about keys.
            guard let key = form["idempotency_key"],
                let made = try await service.requestCreated(
                    byKey: key, caller: caller, now: pages.now(), logger: logger)
            else { throw failure }
            return WebPages.redirect(to: "/antraege/\(made.uuidString)?hinweis=already_filed")
        } catch let failure as ServiceError where failure.code == .unavailable {
            // The database or the directory did not answer: the form again as it was sent, with why.
            failure.logCause(logger)
            return try showForm(
                requestForm, values: values, errors: ["form": text(failure.message)], request: request,
                context: context, status: .serviceUnavailable, idempotencyKey: form["idempotency_key"])
        } catch let failure {
            guard let errors = Self.fieldErrors(failure, text: text, adding: formErrors) else { throw failure }
            return try showForm(
                requestForm, values: values, errors: errors, request: request, context: context,
                status: .unprocessableContent, idempotencyKey: form["idempotency_key"])
        }
    }

    private func showForm(
        _ form: RequestForm, values: [String: String], errors: [String: String], request: Request,
        context: AppRequestContext, status: HTTPResponse.Status = .ok, idempotencyKey: String? = nil,
        mode: RequestFormPage.Mode = .new
    ) throws -> Response {
        let text = pages.text(request)
        let page = RequestFormPage(
            form: form, values: values, errors: errors, text: text,
            idempotencyKey: idempotencyKey ?? WebSession.newToken(), mode: mode)
        let title =
            switch mode {
            case .new: text("form.title", ["kind": page.kindLabel])
            case .draft: text("form.draft_title")
            case .resubmission: text("form.resubmit_title")
            }
        return try pages.render(
            "request-form", title: title, page: page, request: request, context: context, status: status)
    }

    /// The form of a stored request (a draft, or one with an open question): filled with the stored
    /// details, or with what was sent and its errors, over the request as it is now. A request that no
    /// longer takes the form (answered or submitted in another tab, closed meanwhile; or the page of
    /// someone who may only read it) leads to its page instead, whether the form was asked for or sent.
    private func storedForm(
        _ request: Request, context: AppRequestContext, values: [String: String]? = nil,
        errors: [String: String] = [:], status: HTTPResponse.Status? = nil,
        mode: (RequestView) -> RequestFormPage.Mode
    ) async throws -> Response {
        let caller = try context.pageCaller(request)
        let logger = context.logger(for: caller)
        let view = try await service.request(
            id: try requestID(context), caller: caller, now: pages.now(), logger: logger)
        guard view.allowedActions.contains(mode(view).action) else {
            return WebPages.redirect(to: "/antraege/\(view.id.uuidString)")
        }
        let form = try await service.requestForm(of: view, now: pages.now(), logger: logger)
        guard let values else {
            let (values, notes) = Self.storedForm(view, values: storedValues(view.details), text: pages.text(request))
            return try showForm(
                form, values: values, errors: notes, request: request, context: context, status: .ok, mode: mode(view))
        }
        return try showForm(
            form, values: values, errors: errors, request: request, context: context,
            status: status ?? (errors.isEmpty ? .ok : .unprocessableContent), mode: mode(view))
    }

    /// A stored request's form sent when it was no use: changed meanwhile (another tab, a timer: 409) or
    /// the database did not answer (503). While the request still takes that form (a draft, a question
    /// open), the form comes again with what was typed, over the request as it is now (its new version, so
    /// that sending again is a decision of its own), and why; otherwise its page (``storedForm``).
    private func formAgain(
        _ request: Request, context: AppRequestContext, values: [String: String], failure: ServiceError,
        mode: (RequestView) -> RequestFormPage.Mode
    ) async throws -> Response {
        try await storedForm(
            request, context: context, values: values,
            errors: ["form": Self.sendAgainMessage(failure, text: pages.text(request))],
            status: Self.sendAgainStatus(failure), mode: mode)
    }

    /// The status of a stored form sent again (``formAgain(_:context:values:failure:mode:)``); nil for
    /// failures that are no reason to send it again.
    static func sendAgainStatus(_ failure: ServiceError) -> HTTPResponse.Status? {
        switch failure.code {
        // The request no longer takes the form (answered, submitted or closed meanwhile): its page.
        case .conflict, .invalidState: .conflict
        case .unavailable: .serviceUnavailable
        default: nil
        }
    }

    /// Why nothing was saved, in the form's words for a change meanwhile.
    static func sendAgainMessage(_ failure: ServiceError, text: PageText) -> String {
        failure.code == .conflict ? text("form.changed_meanwhile") : text(failure.message)
    }

    /// A stored request's form as first shown. After `audit redact` erased its texts the purpose is the
    /// erasure's dash: the field starts empty and says why, instead of offering the dash to send on (which
    /// the command would refuse with the same words).
    static func storedForm(
        _ view: RequestView, values: [String: String], text: PageText
    ) -> (values: [String: String], notes: [String: String]) {
        guard view.textsErased != nil, view.details.purpose == RequestValidation.erasedPurpose else {
            return (values, [:])
        }
        var values = values
        values["purpose"] = nil
        return (values, ["purpose": text(UserText("request.purpose_erased"))])
    }

    // MARK: Request page and commands

    private func show(
        _ page: RequestPage, request: Request, context: AppRequestContext, status: HTTPResponse.Status = .ok
    ) throws -> Response {
        try pages.render(
            "request", title: page.number + " · " + page.datasetTitle, page: page, request: request, context: context,
            status: status)
    }

    private func decide(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.pageCaller(request)
        let id = try requestID(context)
        let form = context.form ?? WebForm(fields: [])
        let logger = context.logger(for: caller)
        // The one text field of the page is what the chosen decision calls it.
        var body: [String: JSONValue] = [:]
        if let decision = form.text("decision") { body["decision"] = .string(decision) }
        if let branch = form.text("branch") { body["branch"] = .string(branch) }
        if let text = form.text("text") {
            switch form["decision"] {
            case "reject": body["reason"] = .string(text)
            case "request_changes": body["question"] = .string(text)
            default: body["comment"] = .string(text)
            }
        }
        if form["decision"] == "approve" {
            if let licence = form.text("licence") { body["licence"] = .string(licence) }
            if let url = form.text("portal_url") { body["portal_url"] = .string(url) }
        }
        do {
            // The API's words for this name its values (`approve`, ...); the page's name its choices.
            guard body["decision"] != nil else {
                throw APIProblem.validation(["decision": UserText("decision.missing_on_page")])
            }
            let decision = try DecisionBody.read(JSONObject(fields: body, path: ""))
            let view = try await service.decide(
                requestID: id, decision: decision.decision, branch: decision.branch, caller: caller, now: pages.now(),
                expectedVersion: Self.version(form), logger: logger)
            return WebPages.redirect(to: "/antraege/\(view.id.uuidString)?hinweis=decided")
        } catch let failure {
            return try await showRefused(failure, id: id, form: form, caller: caller, request, context)
        }
    }

    private func resubmit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.pageCaller(request)
        let id = try requestID(context)
        let form = context.form ?? WebForm(fields: [])
        let logger = context.logger(for: caller)
        let text = pages.text(request)
        let values = Self.values(of: form)
        let (fields, formErrors) = detailsBody(form)
        do {
            var body = fields
            if let comment = form.text("comment") { body["comment"] = .string(comment) }
            var changes = try Resubmission.read(JSONObject(fields: body, path: ""))
            try formErrors.check()
            let stored = try await service.request(id: id, caller: caller, now: pages.now(), logger: logger)
            changes.changes = Self.keepingShownDates(
                Self.clearingBlankFields(changes.changes, of: form), of: form, stored: stored.details)
            let view = try await service.resubmit(
                requestID: id, changes: changes, caller: caller, now: pages.now(), expectedVersion: Self.version(form),
                logger: logger)
            return WebPages.redirect(to: "/antraege/\(view.id.uuidString)?hinweis=resubmitted")
        } catch let failure as ServiceError where Self.sendAgainStatus(failure) != nil {
            failure.logCause(logger)
            return try await formAgain(
                request, context: context, values: values, failure: failure,
                mode: RequestFormPage.Mode.resubmission(of:))
        } catch let failure {
            guard let errors = Self.fieldErrors(failure, text: text, adding: formErrors) else { throw failure }
            return try await storedForm(
                request, context: context, values: values, errors: errors, mode: RequestFormPage.Mode.resubmission(of:))
        }
    }

    /// Saves a draft's changes; with `action=submit` submits it right after, on the version just saved.
    private func editDraft(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.pageCaller(request)
        let id = try requestID(context)
        let form = context.form ?? WebForm(fields: [])
        let logger = context.logger(for: caller)
        let text = pages.text(request)
        let (fields, formErrors) = detailsBody(form)
        do {
            let patch = try RequestDetails.Patch.read(JSONObject(fields: fields, path: ""))
            let stored = try await service.request(id: id, caller: caller, now: pages.now(), logger: logger)
            let changes = Self.keepingShownDates(
                Self.clearingBlankFields(patch, of: form), of: form, stored: stored.details)
            if form["action"] == "submit", !formErrors.isEmpty {
                // Sent to be submitted with an error only the form sees: what the submission would take is
                // asked too (a draft follows the workflow in force, whose demands the engine knows), so
                // that every error shows at once; nothing is stored.
                _ = try await service.checkSubmission(
                    NewRequest(
                        kind: stored.kind, datasetID: stored.dataset.id, details: changes.applied(to: stored.details),
                        submit: true),
                    now: pages.now(), logger: logger)
            }
            try formErrors.check()
            var view = try await service.editDraft(
                requestID: id, changes: changes, caller: caller, now: pages.now(), expectedVersion: Self.version(form),
                logger: logger)
            guard form["action"] == "submit" else {
                return WebPages.redirect(to: "/antraege/\(view.id.uuidString)?hinweis=saved")
            }
            view = try await service.submit(
                requestID: id, caller: caller, now: pages.now(), expectedVersion: view.version, logger: logger)
            return WebPages.redirect(to: "/antraege/\(view.id.uuidString)?hinweis=submitted")
        } catch let failure as ServiceError where Self.sendAgainStatus(failure) != nil {
            failure.logCause(logger)
            return try await formAgain(
                request, context: context, values: Self.values(of: form), failure: failure,
                mode: RequestFormPage.Mode.draft(of:))
        } catch let failure {
            guard let errors = Self.fieldErrors(failure, text: text, adding: formErrors) else { throw failure }
            return try await storedForm(
                request, context: context, values: Self.values(of: form), errors: errors,
                mode: RequestFormPage.Mode.draft(of:))
        }
    }

    /// "Jetzt einreichen" on a draft's page. What the workflow finds missing is shown on the draft's form,
    /// each error at its field, to be filled in there (the request page has none of those fields).
    private func submitDraft(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.pageCaller(request)
        let id = try requestID(context)
        let form = context.form ?? WebForm(fields: [])
        let logger = context.logger(for: caller)
        do {
            let view = try await service.submit(
                requestID: id, caller: caller, now: pages.now(), expectedVersion: Self.version(form), logger: logger)
            return WebPages.redirect(to: "/antraege/\(view.id.uuidString)?hinweis=submitted")
        } catch let failure {
            if let errors = Self.fieldErrors(failure, text: pages.text(request)) {
                let view = try await service.request(id: id, caller: caller, now: pages.now(), logger: logger)
                if view.status.phase == .draft {
                    return try await storedForm(
                        request, context: context, values: storedValues(view.details), errors: errors,
                        mode: RequestFormPage.Mode.draft(of:))
                }
            }
            return try await showRefused(failure, id: id, form: form, caller: caller, request, context)
        }
    }

    /// A command without a form of its own: the request page shows its refusal (``showRefused``).
    /// - Parameter formFields: the form's name of a field the command names otherwise (its error goes
    ///   there).
    private func command(
        _ request: Request, _ context: AppRequestContext, notice: String, formFields: [String: String] = [:],
        _ run: (UUID, Caller, Int?, Logger) async throws -> RequestView
    ) async throws -> Response {
        let caller = try context.pageCaller(request)
        let id = try requestID(context)
        let form = context.form ?? WebForm(fields: [])
        let logger = context.logger(for: caller)
        do {
            let view = try await run(id, caller, Self.version(form), logger)
            return WebPages.redirect(to: "/antraege/\(view.id.uuidString)?hinweis=\(notice)")
        } catch let failure {
            return try await showRefused(
                failure, id: id, form: form, caller: caller, formFields: formFields, request, context)
        }
    }

    /// A command of the request page that was refused with field errors (422) or because the request
    /// moved on (409: someone decided first, or the page was out of date): the request page as it is now,
    /// with the message above it and what was typed kept, so the person sees who decided or decides
    /// again on what is there. Any other failure is the error page's.
    private func showRefused(
        _ failure: any Error, id: UUID, form: WebForm, caller: Caller, formFields: [String: String] = [:],
        _ request: Request, _ context: AppRequestContext
    ) async throws -> Response {
        let text = pages.text(request)
        let errors: [String: String]
        let status: HTTPResponse.Status
        if let conflict = failure as? ServiceError, conflict.code == .conflict {
            (errors, status) = (["form": text(conflict.message)], .conflict)
        } else if let fieldErrors = Self.fieldErrors(failure, text: text) {
            let named = Dictionary(fieldErrors.map { (formFields[$0.key] ?? $0.key, $0.value) }) { first, _ in first }
            (errors, status) = (named, .unprocessableContent)
        } else {
            throw failure
        }
        // The page as it is now, as its GET shows it (who must act, principals by name), with what was typed.
        return try show(
            try await page(
                id, caller: caller, text: text, values: Self.values(of: form), errors: errors,
                logger: context.logger(for: caller)),
            request: request, context: context, status: status)
    }

    /// A request's page as `caller` sees it now: who must act is named from what the same statement read
    /// (one transaction per page view besides the session's) and the directory, the principals deputies
    /// act for by the directory's name.
    private func page(
        _ id: UUID, caller: Caller, text: PageText, notice: String? = nil, values: [String: String] = [:],
        errors: [String: String] = [:], logger: Logger
    ) async throws -> RequestPage {
        let now = pages.now()
        let (view, facts) = try await service.requestForPage(id: id, caller: caller, now: now, logger: logger)
        let principals = await acting.names(
            of: view.decisions.compactMap(\.actingFor)
                + [view.decisionOptions?.actingFor, view.discontinueOptions?.actingFor].compactMap { $0 },
            logger: logger)
        var page = RequestPage(
            view, text: text, notice: notice, values: values, errors: errors, principals: principals)
        page.named(
            await acting.people(for: view.status, dataset: view.dataset, facts: facts, now: now, logger: logger),
            status: view.status, text: text)
        return page
    }

    // MARK: Reading forms

    /// The version the page showed: a command on a page that is out of date answers 409, never acts on
    /// what the person did not see.
    static func version(_ form: WebForm) -> Int? { form["version"].flatMap { Int(digits: $0, in: 0...Int.max) } }

    /// Field errors of a validation failure in the page's language, or nil for any other failure.
    static func fieldErrors(
        _ error: any Error, text: PageText, adding formErrors: FormOnlyErrors = FormOnlyErrors()
    ) -> [String: String]? {
        let errors: [String: UserText]
        switch error {
        case let error as ServiceError where error.code == .validation:
            errors = error.fieldErrors.isEmpty ? ["form": error.message] : error.fieldErrors
        case let problem as APIProblem where problem.status == .unprocessableContent || problem.status == .badRequest:
            errors = problem.errors.isEmpty ? ["form": problem.detail] : problem.errors
        default:
            return nil
        }
        return formErrors.adding(to: errors).mapValues { text($0) }
    }

    /// The form shows every field, so one it sent blank means "none", not "unchanged" (the JSON API's
    /// reading of an absent field): such fields are given, empty. Fields the form did not show stay.
    static func clearingBlankFields(_ patch: RequestDetails.Patch, of form: WebForm) -> RequestDetails.Patch {
        // The recipient's name and the Open Data check's notes are text fields, sent blank when emptied;
        // their radios are sent only when chosen. All blank: the draft keeps no recipient, no check.
        let checkFields = OpenDataCheck.questions.flatMap {
            ["open_data_check.\($0).applies", "open_data_check.\($0).note"]
        }
        let names: [(RequestDetails.Field, [String])] = [
            (.purpose, ["purpose"]), (.legalBasis, ["legal_basis", "legal_basis_detail"]),
            (.recipient, ["recipient.name", "recipient.type"]),
            (.accessStart, ["access_start"]), (.accessEnd, ["access_end"]), (.licence, ["licence"]),
            (.format, ["format"]), (.anonymisationStatement, ["anonymisation_statement"]),
            (.openDataCheck, checkFields),
        ]
        var patch = patch
        for (field, fieldNames) in names where !patch.given.contains(field) {
            let shown = fieldNames.contains { form[$0] != nil }
            if shown && fieldNames.allSatisfy({ form.text($0) == nil }) {
                // `values` starts empty: no purpose, and nil for every other field.
                patch.given.insert(field)
            }
        }
        return patch
    }

    /// The form shows a stored moment as its day in Berlin and reads a day back as that day's first or
    /// last moment, so a date sent back as it was shown means "unchanged": an access period filed through
    /// the API as `…T14:30:00Z` keeps its time instead of moving to midnight, which would count as a
    /// change and send a resubmitted request through all its steps again.
    static func keepingShownDates(
        _ patch: RequestDetails.Patch, of form: WebForm, stored: RequestDetails
    ) -> RequestDetails.Patch {
        let shown = values(of: stored)
        var patch = patch
        for (field, name) in [(RequestDetails.Field.accessStart, "access_start"), (.accessEnd, "access_end")]
        where patch.given.contains(field) {
            if let sent = form.text(name), sent == shown[name] { patch.given.remove(field) }
        }
        return patch
    }

    /// The request's details as the API body names them, and the errors only the form can make (the body,
    /// lacking the field, cannot show them), to be reported with the body's own errors, all at once. The
    /// legal basis is put together from the choice of GDPR article (in German, as stored) and the free text.
    func detailsBody(_ form: WebForm) -> (fields: [String: JSONValue], formErrors: FormOnlyErrors) {
        var formErrors = FormOnlyErrors()
        // "Andere Rechtsgrundlage" names no article: without its words there is nothing to record, and
        // leaving the field out would keep (in a draft or an answer) the legal basis stored before.
        if form.text("legal_basis") == "other", form.text("legal_basis_detail") == nil {
            formErrors.fields["legal_basis_detail"] = UserText("request.legal_basis_other_missing")
            // The body has no legal basis now: "Rechtsgrundlage fehlt" would say the same again.
            formErrors.replaced.insert("legal_basis")
        }
        var fields = form.jsonBody(booleans: ["applies"]).fields
        fields["legal_basis"] = legalBasis(form).map { .string($0) }
        fields["legal_basis_detail"] = nil
        fields["comment"] = nil
        fields["kind"] = nil
        fields["dataset_id"] = nil
        fields["idempotency_key"] = nil
        return (fields, formErrors)
    }

    /// „Art. 6 Abs. 1 lit. e DSGVO – <free text>“: the chosen article in German (the record's language,
    /// whatever the page's), then the person's own words; only the words for „other“ or no choice.
    func legalBasis(_ form: WebForm) -> String? {
        let detail = form.text("legal_basis_detail")
        guard let choice = form.text("legal_basis"), choice != "other",
            RequestFormPage.legalBases.contains(choice),
            let article = pages.renderer.catalog(for: "de")["web.form.legal_basis.options.\(choice)"]
        else { return detail }
        return detail.map { article + " – " + $0 } ?? article
    }

    /// The entered values, to show the form again as it was sent.
    static func values(of form: WebForm) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in form.fields where values[name] == nil { values[name] = value }
        return values
    }

    /// The stored details as form values, for the draft and resubmission forms: the legal basis is
    /// split back into the article chosen and the person's own words (``legalBasis(_:)`` joined them), so
    /// that saving the form again neither repeats nor contradicts the article; words that name no article
    /// are "other" with those words.
    func storedValues(_ details: RequestDetails) -> [String: String] {
        var values = Self.values(of: details)
        guard let stored = details.legalBasis else { return values }
        let articles = pages.renderer.catalog(for: "de")
        for choice in RequestFormPage.legalBases where choice != "other" {
            guard let article = articles["web.form.legal_basis.options.\(choice)"] else { continue }
            if stored == article {
                (values["legal_basis"], values["legal_basis_detail"]) = (choice, nil)
            } else if stored.hasPrefix(article + " – ") {
                (values["legal_basis"], values["legal_basis_detail"]) = (
                    choice, String(stored.dropFirst(article.count + 3))
                )
            } else {
                continue
            }
            return values
        }
        // Words of the person's own (an earlier release's, or "other" chosen): "other" with them.
        values["legal_basis"] = "other"
        return values
    }

    /// The stored details as form values, the legal basis as one text.
    private static func values(of details: RequestDetails) -> [String: String] {
        var values = ["purpose": details.purpose]
        values["recipient.name"] = details.recipient?.name
        values["recipient.type"] = details.recipient?.type?.rawValue
        values["legal_basis_detail"] = details.legalBasis
        values["access_start"] = details.accessStart.map(PageText.inputDate)
        values["access_end"] = details.accessEnd.map { PageText.inputDate($0.addingTimeInterval(-1)) }
        values["licence"] = details.licence
        values["format"] = details.format
        values["anonymisation_statement"] = details.anonymisationStatement
        // A question a draft left open stays unchecked.
        for (id, answer) in details.openDataCheck?.namedAnswers ?? [] {
            values["open_data_check.\(id).applies"] = answer.applies.map { $0 ? "true" : "false" }
            values["open_data_check.\(id).note"] = answer.note
        }
        return values
    }
}

/// The summary before submitting: what will be filed, with the values carried along as hidden fields.
struct ReviewPage {
    struct Hidden {
        var name: String
        var value: String
    }

    var form: RequestFormPage
    var rows: [RequestPage.Row]
    var hidden: [Hidden]

    init(form: RequestFormPage, values: [String: String], details: RequestDetails, text: PageText) {
        self.form = form
        let shown = form.fields + form.checkQuestions.flatMap { [$0.applies, $0.note] }
        rows = shown.compactMap { field in
            // In words, as the request's page shows them: a day ("31. Dezember 2026"), or a moment an
            // answer keeps from the API ("30. Juni 2026 um 14:00 Uhr").
            if field.name == "access_start", let start = details.accessStart {
                return RequestPage.Row(label: field.label, value: text.periodStart(start))
            }
            if field.name == "access_end", let end = details.accessEnd {
                return RequestPage.Row(label: field.label, value: text.periodEnd(end))
            }
            let value = values[field.name]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard !value.isEmpty else { return nil }
            let label = field.options.first { $0.value == value }?.label ?? value
            return RequestPage.Row(label: field.label, value: label)
        }
        hidden = values.filter { !WebForm.controlFields.contains($0.key) && $0.key != "idempotency_key" }
            .sorted { $0.key < $1.key }.map { Hidden(name: $0.key, value: $0.value) }
    }
}

/// Errors of a form's fields that the API's body cannot carry (it has no such field), found before the
/// body is checked and shown together with the body's own errors.
struct FormOnlyErrors: Sendable {
    var fields: [String: UserText] = [:]
    /// Fields of the body whose errors these say again in other words.
    var replaced: Set<String> = []

    var isEmpty: Bool { fields.isEmpty }

    /// Throws these as a validation error; nothing is stored past this point while there are any.
    func check() throws(ServiceError) {
        guard fields.isEmpty else { throw ServiceError.validation(fields) }
    }

    /// The body's `errors` with these added in place of the ones they replace.
    func adding(to errors: [String: UserText]) -> [String: UserText] {
        guard !fields.isEmpty else { return errors }
        var errors = errors.filter { !replaced.contains($0.key) }
        errors.merge(fields) { body, _ in body }
        // A body without field errors said only "the input is invalid": the fields say it now.
        if errors.count > 1 { errors["form"] = nil }
        return errors
    }
}
