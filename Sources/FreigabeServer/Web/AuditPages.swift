import Foundation
import Hummingbird
import WorkflowEngine

/// Für Prüfer: the sealed decision log, filtered (time, dataset, person, request, event, decision, capacity) and
/// paged by its sequence numbers, for the roles auditor and admin. Only sealed events are listed: what
/// has a place in the tree can be proven; `freigabe audit export` writes the same selection with its
/// proofs, `freigabe audit verify` checks it (README "Für Prüfer").
struct AuditPages: Sendable {
    let pages: WebPages
    let service: RequestService
    let query: AuditQuery
    /// Names the principals deputies decided for, as the request page does.
    let acting: ActingPeopleLookup

    struct Row {
        var sequence: String
        var at: String
        var event: String
        var who: String
        var request: String?
        var requestHref: String?
        var caseFileHref: String?
        var dataset: String?
        var step: String?
        var comment: String?
        var via: String?
        /// "Inhalt gelöscht am … von …" once the payload was erased after the retention period.
        var redacted: String?
    }

    struct Page {
        var fields: [FormField]
        var errors: ErrorSummary
        var rows: [Row]
        var isEmpty: Bool
        var nextHref: String?
        /// The command line of the same export, for a selection without errors (someone may copy it
        /// into a shell: every value quoted).
        var exportCommand: String?
        /// The same selection as downloads, for a selection without errors (a link to a refused one would
        /// only fetch its 400).
        var downloads: Downloads?
    }

    /// The selection as a download (``AuditExportDownload``): a GET, which records the read like the page
    /// does and changes nothing else. Plain links, without `download`: `Content-Disposition: attachment`
    /// makes a 200 a file, while a refusal (400, 409 without a signed checkpoint, 503) or the login page
    /// is shown as a page instead of being saved as one.
    struct Downloads {
        var jsonl: String
        var csv: String
    }

    static let pageSize = 100
    static let filterFields = ["from", "to", "dataset", "person", "request", "type", "decision", "capacity"]
    /// Fields of the form that choose how the selection is shown, not what it is (the export keeps the
    /// log's order, which its verification needs).
    static let viewFields = ["order"]
    /// What the page's query string may hold: its form's fields (one event type, as the form chooses it)
    /// and the next page's place `nach`. Anything else is refused (``QueryNames``).
    static let queryNames = QueryNames(single: Set(filterFields + viewFields + ["nach"]))

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("pruefung") { request, context in
            let caller = try await Self.requireAuditor(request, context, service: service, now: pages.now())
            let text = pages.text(request)
            let parameters = request.formQuery
            var values: [String: String] = [:]
            for name in Self.filterFields + Self.viewFields {
                if let value = parameters.get(name)?.trimmingCharacters(in: .whitespaces), !value.isEmpty {
                    values[name] = value
                }
            }
            var errors: [String: String] = [:]
            // Unknown and repeated parameters first: shown in the error summary, nothing read or recorded.
            for (name, reason) in Self.queryNames.refusals(parameters.map { $0.key }) { errors[name] = text(reason) }
            var rows: [Row] = []
            var next: String? = nil
            // The next page's place, from the page's own link: anything else is refused before the
            // reading is recorded.
            let nach: String? = parameters.get("nach")
            let after = nach.flatMap { AuditPage.place($0) }
            if nach != nil, after == nil, errors["nach"] == nil { errors["nach"] = text(UserText("query.after_range")) }
            if errors.isEmpty {
                do {
                    let order = try AuditQuery.Order.parse(values["order"])
                    let filter = try await service.resolvingRequestNumber(
                        try AuditFilter.parse(
                            from: values["from"], to: values["to"], dataset: values["dataset"],
                            person: values["person"], request: values["request"],
                            types: values["type"].map { [$0] } ?? [], decision: values["decision"],
                            capacity: values["capacity"]), logger: context.logger(for: caller))
                    var selection = filter.described
                    if let after { selection["after"] = String(after) }
                    if order != .oldest { selection["order"] = order.rawValue }
                    try await service.recordAuditRead(
                        selection, requestID: filter.requestID, caller: caller, now: pages.now(),
                        logger: context.logger(for: caller))
                    let page = try await query.page(
                        filter, after: after, limit: Self.pageSize, order: order, logger: context.logger)
                    let principals = await acting.names(
                        of: page.events.compactMap(\.stored.row.actingFor), logger: context.logger)
                    rows = page.events.map { Self.row($0, text: text, principals: principals) }
                    if let nextAfter = page.nextAfter {
                        var items = values.sorted { $0.key < $1.key }.map {
                            URLQueryItem(name: $0.key, value: $0.value)
                        }
                        items.append(URLQueryItem(name: "nach", value: String(nextAfter)))
                        next = Self.href("/pruefung", items)
                    }
                } catch let error as AuditFilterError {
                    // The option the command line names is the field's name here.
                    errors[String(error.option.drop { $0 == "-" })] = text(
                        "audit.invalid", ["reason": text(error.reason)])
                }
            }
            let fields = Self.form(values: values, errors: errors, text: text)
            let filters = values.filter { !Self.viewFields.contains($0.key) }.sorted { $0.key < $1.key }
            let filterItems = filters.map { URLQueryItem(name: $0.key, value: $0.value) }
            let command =
                errors.isEmpty
                ? "freigabe audit export --format jsonl --output pruefung.jsonl"
                    + filters.map { " --\($0.key) \(Self.shellQuoted($0.value))" }.joined() : nil
            return try pages.render(
                "audit", title: text("audit.title"),
                page: Page(
                    fields: fields, errors: ErrorSummary(fields: fields, errors: errors), rows: rows,
                    isEmpty: rows.isEmpty, nextHref: next, exportCommand: command,
                    downloads: errors.isEmpty
                        ? Downloads(
                            jsonl: Self.href(
                                "/pruefung/export", [URLQueryItem(name: "format", value: "jsonl")] + filterItems),
                            csv: Self.href(
                                "/pruefung/export",
                                [
                                    URLQueryItem(name: "format", value: "csv"),
                                    // For the spreadsheets of the page's language: German ones split
                                    // at semicolons (the comma is their decimal mark), English ones at commas.
                                    URLQueryItem(
                                        name: "separator", value: text.language == "de" ? "semicolon" : "comma"),
                                    URLQueryItem(name: "bom", value: "true"),
                                ] + filterItems)) : nil),
                request: request, context: context, status: errors.isEmpty ? .ok : .badRequest)
        }
        addExport(to: group)
    }

    /// `value` as one word for a POSIX shell: as it is when it holds only characters no shell treats
    /// specially, else in single quotes (a `'` inside as `'\''`).
    static func shellQuoted(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                        || "-_.,:/@+=%".unicodeScalars.contains(scalar))
            }
        return plain ? value : "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The selection of the page as a download: the same filters, the same handler as the API's
    /// `GET /api/v1/audit/export`.
    func addExport(to group: RouterGroup<AppRequestContext>) {
        group.get("pruefung/export") { request, context in
            let caller = try await Self.requireAuditor(request, context, service: service, now: pages.now())
            let parameters = request.formQuery
            // The API export's checks: the same filters and names.
            var errors: [String: UserText] = [:]
            let parsed = AuditController.filter(parameters, errors: &errors)
            let options = AuditExportDownload.options({ AuditController.value(parameters, $0) }, errors: &errors)
            QueryNames.export.refuse(parameters, errors: &errors)
            guard errors.isEmpty else {
                throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors)
            }
            let logger = context.logger(for: caller)
            let slot = try AuditExportDownload.slot()
            let filter = try await service.resolvingRequestNumber(parsed, logger: logger)
            var selection = filter.described
            selection["export"] = options.format.rawValue
            try await service.recordAuditRead(
                selection, requestID: filter.requestID, caller: caller, now: pages.now(), logger: logger)
            return try await AuditExportDownload(client: service.client).response(
                filter, options: options, slot: slot, logger: logger)
        }
    }

    /// `path` with `items` as its query, every name and value percent-encoded, a `+` too (the page reads its
    /// query as its form writes it, ``Request/formQuery``).
    static func href(_ path: String, _ items: [URLQueryItem]) -> String {
        guard !items.isEmpty else { return path }
        return path + "?"
            + items.map { WebPages.queryValue($0.name) + "=" + WebPages.queryValue($0.value ?? "") }.joined(
                separator: "&")
    }

    /// The logged-in auditor or administrator; others get 403, recorded (``RequestService/requireAuditor``).
    static func requireAuditor(
        _ request: Request, _ context: AppRequestContext, service: RequestService, now: Date
    ) async throws -> Caller {
        let caller = try context.pageCaller(request)
        try await service.requireAuditor(
            caller, reading: "web:GET " + String(request.uri.path.prefix(200)), now: now,
            logger: context.logger(for: caller))
        return caller
    }

    static func form(values: [String: String], errors: [String: String], text: PageText) -> [FormField] {
        func field(
            _ control: FormField.Control, _ name: String, options: [(value: String, label: String)] = []
        )
            -> FormField
        {
            FormField(
                control, name: name, label: text("audit.filter.\(name)"), value: values[name], error: errors[name],
                options: options)
        }
        let all = [(value: "", label: text("audit.filter.all"))]
        return [
            field(.date, "from"), field(.date, "to"), field(.text, "dataset"), field(.text, "person"),
            field(.text, "request"),
            field(
                .select, "type",
                options: all + AuditEvent.allCases.map { ($0.rawValue, text("audit.events.\($0.rawValue)")) }),
            field(
                .select, "decision",
                options: all
                    + AuditFilter.DecisionOutcome.allCases.map {
                        ($0.rawValue, text("decision.outcome.\($0.rawValue)"))
                    }),
            field(
                .select, "capacity",
                options: all
                    + AuditFilter.Capacity.allCases.map { ($0.rawValue, text("audit.capacity.\($0.rawValue)")) }),
            field(
                .select, "order",
                options: AuditQuery.Order.allCases.map { ($0.rawValue, text("audit.order.\($0.rawValue)")) }),
        ]
    }

    /// `principals`: the directory's names of the principals deputies decided for (by uid); a principal
    /// it does not name is shown by uid.
    static func row(_ event: SealedEvent, text: PageText, principals: [String: String] = [:]) -> Row {
        let stored = event.stored.row
        var who = stored.actor ?? text("audit.system")
        if let role = stored.role { who += " (" + text.role(role) + ")" }
        if let principal = stored.actingFor {
            who += " – " + text("decision.acting_for", ["principal": principals[principal] ?? principal])
        }
        if stored.asEscalation { who += " – " + text("decision.as_escalation") }
        let details = (try? StoredJSON.decode([String: JSONValue].self, from: stored.details)) ?? [:]
        func detail(_ key: String) -> String? {
            guard case .string(let value)? = details[key] else { return nil }
            return value
        }
        let number = detail("request_number")
        // An erased event shows no text even if someone wrote some back (`audit verify` reports that).
        let redacted = event.redaction.map {
            text("audit.redacted", ["at": text.dateTime($0.redactedAt.date), "by": $0.redactedBy])
        }
        return Row(
            sequence: String(event.sequence), at: text.dateTime(stored.occurredAt),
            event: text("audit.events.\(stored.event.rawValue)"), who: who,
            request: number ?? stored.requestID?.uuidString,
            requestHref: stored.requestID.map { "/antraege/\($0.uuidString)" },
            caseFileHref: stored.requestID.map { "/pruefung/antraege/\($0.uuidString)" }, dataset: stored.datasetID,
            step: stored.step, comment: redacted == nil ? comment(of: stored, text: text) : nil,
            via: redacted == nil ? detail("via").map { text("audit.via.\($0)") } : nil, redacted: redacted)
    }

    /// The event's comment as a reader should see it: a skipped step's comment is the engine's code for
    /// why (``PageText/skipReason(_:)``), every other comment is someone's text. A code this version does
    /// not know is shown as it is rather than as a wrong reason.
    static func comment(of stored: AuditRow, text: PageText) -> String? {
        guard stored.event == .stepSkipped, let code = stored.comment else { return stored.comment }
        return SkipReason(rawValue: code).map(text.skipReason) ?? code
    }
}
