import Foundation
import Hummingbird
import LDAPDirectory
import Logging

/// Vertretungen: the caller's deputyships, setting one up and ending one early. The deputy is chosen
/// from a search of the directory by name (`?suche=`), or typed as a user name when the directory is
/// not there. Administrators (support, a department's office) see every deputyship, may end any, and
/// set one up for someone else (the form's „Für wen“): what the API lets them do.
struct DeputyshipPages: Sendable {
    let pages: WebPages
    let service: RequestService
    let directory: LDAPDirectory?
    /// How long the page waits for the directory's search.
    var searchDeadline: Duration = .seconds(2)

    struct Row {
        var id: String
        var text: String
        var period: String
        var active: Bool
        var canEnd: Bool

        init(_ deputyship: DeputyshipView, caller: String, isAdmin: Bool, now: Date, text: PageText) {
            id = deputyship.id.uuidString
            self.text =
                if deputyship.principal == caller {
                    text("deputyships.deputy_for_me", ["deputy": deputyship.deputy])
                } else if deputyship.deputy == caller {
                    text("deputyships.me_for", ["principal": deputyship.principal])
                } else {
                    text("deputyships.other", ["principal": deputyship.principal, "deputy": deputyship.deputy])
                }
            // `validUntil` is exclusive: the last day shown is the day before; a period the API set to the
            // hour shows its hours.
            period = text(
                "deputyships.period",
                ["from": text.periodStart(deputyship.validFrom), "until": text.periodEnd(deputyship.validUntil)])
            active = deputyship.active
            // The deputy may end it too (the API lets them): someone who cannot stand in should say so.
            canEnd =
                (deputyship.principal == caller || deputyship.deputy == caller || isAdmin)
                && deputyship.validUntil > now
        }
    }

    struct Page {
        var rows: [Row]
        var isEmpty: Bool
        var fields: [FormField]
        var errors: ErrorSummary
        var notice: String?
        /// What was searched for, shown again in the search field.
        var search: String
        /// The search's outcome in words („3 Personen gefunden“), nil before a search.
        var searchResult: String?
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("vertretungen") { request, context in
            let text = pages.text(request)
            let notice = request.uri.queryParameters["hinweis"].flatMap { key in
                ["created", "ended"].contains(String(key)) ? text("notices.deputyship_\(key)") : nil
            }
            let search = request.formQuery["suche"].map(String.init) ?? ""
            return try await show(request, context: context, values: [:], errors: [:], notice: notice, search: search)
        }
        group.post("vertretungen") { request, context in
            let caller = try context.pageCaller(request)
            let form = context.form ?? WebForm(fields: [])
            var body = form.jsonBody().fields
            // For oneself when left empty; administrators may name someone else. The field is offered to them
            // only; anyone else who sends it is refused as the API refuses them (403, a `forbidden` event).
            if form.text("principal") == nil { body["principal"] = nil }
            // The search the choice was made from: the page's, not the deputyship's.
            body["suche"] = nil
            let text = pages.text(request)
            do {
                let input = try NewDeputyship.read(JSONObject(fields: body, path: ""))
                _ = try await service.createDeputyship(
                    input, caller: caller, now: pages.now(), logger: context.logger(for: caller))
                return WebPages.redirect(to: "/vertretungen?hinweis=created")
            } catch let failure as ServiceError where failure.code == .unavailable {
                // The directory (or the database) did not answer: the form again as it was sent, with why.
                failure.logCause(context.logger)
                return try await show(
                    request, context: context, values: RequestPages.values(of: form),
                    errors: ["form": text(failure.message)], search: form["suche"] ?? "", status: .serviceUnavailable)
            } catch let failure {
                guard let errors = RequestPages.fieldErrors(failure, text: text) else { throw failure }
                // With the search the person chose from, so the choice comes back as they made it.
                return try await show(
                    request, context: context, values: RequestPages.values(of: form), errors: errors,
                    search: form["suche"] ?? "", status: .unprocessableContent)
            }
        }
        group.post("vertretungen/{id}/beenden") { request, context in
            let caller = try context.pageCaller(request)
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw APIProblem.notFound(UserText("general.deputyship_not_found"))
            }
            _ = try await service.endDeputyship(
                id: id, caller: caller, now: pages.now(), logger: context.logger(for: caller))
            return WebPages.redirect(to: "/vertretungen?hinweis=ended")
        }
    }

    private func show(
        _ request: Request, context: AppRequestContext, values: [String: String], errors: [String: String],
        notice: String? = nil, search: String = "", status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let caller = try context.pageCaller(request)
        let text = pages.text(request)
        let isAdmin = caller.roles.contains(.admin)
        let deputyships = try await service.deputyships(
            caller: caller, everyone: isAdmin, now: pages.now(), logger: context.logger(for: caller))
        let search = String(search.prefix(200)).trimmingCharacters(in: .whitespacesAndNewlines)
        var matches: [LDAPDirectory.PersonMatch] = []
        var searchResult: String?
        if !search.isEmpty {
            switch await find(search, logger: context.logger(for: caller)) {
            case .tooShort: searchResult = text("deputyships.search.too_short")
            case .unavailable: searchResult = text("deputyships.search.unavailable")
            case .found(let found):
                matches = found.filter { $0.uid.lowercased() != caller.uid.lowercased() }
                searchResult =
                    matches.isEmpty
                    ? text("deputyships.search.none", ["text": search])
                    : text.counted("deputyships.search.found", matches.count)
            }
        }
        let deputy =
            matches.isEmpty
            ? FormField(
                .text, name: "deputy", label: text("deputyships.form.deputy"),
                hint: text("deputyships.form.deputy_hint"),
                value: values["deputy"], error: errors["deputy"], required: true)
            : FormField(
                .radios, name: "deputy", label: text("deputyships.form.deputy_choice"), value: values["deputy"],
                error: errors["deputy"], required: true,
                options: matches.map { match in
                    (
                        match.uid,
                        text(
                            "deputyships.search.option",
                            ["name": match.displayName, "uid": match.uid, "unit": match.organizationalUnit ?? "–"])
                    )
                })
        let principal = FormField(
            .text, name: "principal", label: text("deputyships.form.principal"),
            hint: text("deputyships.form.principal_hint"), value: values["principal"], error: errors["principal"])
        let fields =
            (isAdmin ? [principal] : []) + [
                deputy,
                FormField(
                    .date, name: "valid_from", label: text("deputyships.form.valid_from"), value: values["valid_from"],
                    error: errors["valid_from"], required: true),
                FormField(
                    .date, name: "valid_until", label: text("deputyships.form.valid_until"),
                    hint: text("deputyships.form.valid_until_hint"), value: values["valid_until"],
                    error: errors["valid_until"],
                    required: true),
            ]
        // Listed while still to come or in force; one ended before it began (its end is its start) is over.
        let rows = deputyships.filter { $0.validUntil > pages.now() && $0.validUntil > $0.validFrom }.map {
            Row($0, caller: caller.uid, isAdmin: isAdmin, now: pages.now(), text: text)
        }
        return try pages.render(
            "deputyships", title: text("deputyships.title"),
            page: Page(
                rows: rows, isEmpty: rows.isEmpty, fields: fields, errors: ErrorSummary(fields: fields, errors: errors),
                notice: notice, search: search, searchResult: searchResult),
            request: request, context: context, status: status)
    }

    enum SearchOutcome {
        case tooShort
        case unavailable
        case found([LDAPDirectory.PersonMatch])
    }

    /// The directory's people matching `search`, within ``searchDeadline``.
    private func find(_ search: String, logger: Logger) async -> SearchOutcome {
        guard LDAPDirectory.searchLength.contains(search.count) else { return .tooShort }
        guard let directory else { return .unavailable }
        let deadline = searchDeadline
        do {
            return try await withThrowingTaskGroup(of: SearchOutcome.self) { group in
                group.addTask { .found(try await directory.searchPeople(matching: search, limit: 20)) }
                group.addTask {
                    try await Task.sleep(for: deadline)
                    return .unavailable
                }
                let first = try await group.next() ?? .unavailable
                group.cancelAll()
                return first
            }
        } catch {
            logger.notice("Directory search for a deputy failed", metadata: ["error": "\(error)"])
            return .unavailable
        }
    }
}
