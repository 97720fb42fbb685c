import Foundation
import Hummingbird
import Logging
import Mustache
import WorkflowEngine

/// The start page (what Freigabe is; once logged in: my requests, my inbox, my deputyships), the inbox,
/// and the language switch.
struct HomePages: Sendable {
    let pages: WebPages
    /// nil without a database: only the public start page is served.
    let service: RequestService?
    /// Names the people a request waits for; nil without a database.
    let acting: ActingPeopleLookup?
    let workflows: WorkflowLibrary?
    /// The methods each route answers: the language switch leads back only to a page a browser can GET
    /// (a page shown after a POST names that POST's address when its `Referer` was one).
    var routes: RouteMethods? = nil

    struct RequestRow {
        var href: String
        var number: String
        var dataset: String
        var kind: String
        var status: String
        var deadline: String?
    }

    struct Dashboard {
        var name: String
        /// Own requests with a question waiting for the person's answer, wherever they are in the list.
        var questions: [RequestRow]
        var hasQuestions: Bool
        var requests: [RequestRow]
        /// Links to the next older and newer pages of own requests, or nil at an end.
        var older: String?
        var newer: String?
        var inboxCount: Int
        var inboxText: String
        /// „2 stillstehende Anträge können Sie einstellen.“, or nil when there are none.
        var stalledText: String?
        var deputyships: [DeputyshipPages.Row]
        /// What deputies decided in the person's name lately (``RequestService/decisionsTakenForCaller``).
        var decidedForYou: [DecidedRow]
        var hasDecidedForYou: Bool
    }

    /// A decision a deputy took in the person's name: „Abgelehnt von Paul Peters am 3. Dezember 2026“.
    struct DecidedRow {
        var href: String
        var number: String
        var dataset: String
        var what: String
        var step: String?
    }

    struct InboxRow {
        var href: String
        var number: String
        var dataset: String
        var requester: String
        var step: String
        var why: String
        var deadline: String
        var waited: String
        /// „überschritten“, or nil: a row's words are made here, not looked up in the catalogue by the
        /// template once per row (Mustache's lookups by reflection were 30 % of a 500-row inbox page).
        var overdue: String?
    }

    /// A request the caller may close because nobody moves on it (``StalledItem``).
    struct StalledRow {
        var href: String
        var number: String
        var dataset: String
        var requester: String
        var step: String
        var waiting: String
        var closable: String
        var why: String
    }

    /// Granted access the caller may revoke, on the inbox's first page.
    struct GrantRow {
        var href: String
        var number: String
        var dataset: String
        var requester: String
        var until: String
        var why: String
    }

    struct Inbox {
        var items: [InboxRow]
        var isEmpty: Bool
        /// „500 Anträge warten auf Ihre Entscheidung“, or nil past the last page.
        var total: String?
        /// The next page's link, or nil on the last page.
        var next: String?
        /// The first page's link, on every page after the first.
        var first: String?
        /// Stored, as Mustache reads only stored properties.
        var hasPages: Bool
        /// On the first page: what the caller may close (``InboxPage/stalled``), and whether there is any.
        var stalled: [StalledRow]
        var hasStalled: Bool
        /// On the first page: the granted access the caller may revoke (``InboxPage/grants``), the soonest
        /// ending ones, and how many there are when not all are shown.
        var grants: [GrantRow]
        var hasGrants: Bool
        var grantsShown: String?

        init(
            items: [InboxRow], isEmpty: Bool, total: String?, next: String?, first: String?, stalled: [StalledRow],
            grants: [GrantRow], grantsShown: String? = nil
        ) {
            (self.items, self.isEmpty, self.total, self.next, self.first) = (items, isEmpty, total, next, first)
            hasPages = next != nil || first != nil
            self.stalled = stalled
            hasStalled = !stalled.isEmpty
            self.grants = grants
            hasGrants = !grants.isEmpty
            self.grantsShown = grantsShown
        }
    }

    /// The start page before login: who decides, read from the workflows in force, so that a step an
    /// administrator adds to a workflow file shows here too.
    struct StartPage {
        struct RoleCard {
            var name: String
            var duty: String
        }

        var roles: [RoleCard]
        var hasRoles: Bool
        var intro: String

        init(_ workflows: WorkflowLibrary?, text: PageText) {
            let definitions = workflows?.inForce.map(\.definition) ?? []
            let roles = WorkflowDefinition.decidingRoles(of: definitions)
            self.roles = roles.map { RoleCard(name: text.role($0.identifier), duty: text.roleDuty($0.identifier)) }
            hasRoles = !roles.isEmpty
            // One request follows one workflow: at most the roles of the largest.
            let most = definitions.map(\.decidingRoles.count).max() ?? 0
            intro = text.counted("start.roles_intro", most)
        }
    }

    /// Rows per inbox page: a page costs the same with 50 or 5,000 open tasks (`make bench-web`).
    static let inboxPageSize = 50

    /// Own requests per page of the start page, newest first.
    static let ownRequestsPageSize = 50

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("/") { request, context in
            let text = pages.text(request)
            guard let service, let caller = try? context.pageCaller(request) else {
                return try pages.render(
                    "start", title: text("start.title"), page: StartPage(workflows, text: text),
                    request: request, context: context)
            }
            let now = pages.now()
            let logger = context.logger(for: caller)
            // `?seite=2` shows older requests; anything that is no page number shows the first page.
            let page =
                request.uri.queryParameters["seite"].flatMap { Int(digits: $0, in: 1...Int.max) }.map {
                    min($0, 10_000)
                } ?? 1
            let size = Self.ownRequestsPageSize
            let read = try await service.myRequests(
                caller: caller, query: RequestQuery(limit: size + 1, offset: (page - 1) * size), now: now,
                logger: logger)
            let mine = Array(read.prefix(size))
            // A question may wait on a request far down the list: it is named on top of every page.
            let questions = try await service.myRequests(
                caller: caller, query: RequestQuery(phase: .changesRequested, limit: size), now: now, logger: logger)
            // Only the count (``InboxPage/total``): read with the inbox's page size, so that the start page
            // says what the inbox page says, exact for an inbox of up to one page.
            let inbox = try await service.inboxPage(
                caller: caller, after: nil, limit: Self.inboxPageSize, now: now, logger: logger)
            let inboxCount = inbox.total ?? 0
            let deputyships = try await service.deputyships(caller: caller, now: now, logger: logger)
            let decided = try await service.decisionsTakenForCaller(caller: caller, now: now, logger: logger)
            let deputies = await acting?.names(of: decided.map(\.decidedBy), logger: logger) ?? [:]
            let people = await names(of: mine, now: now, logger: logger)
            let row = { (summary: RequestSummary) in
                RequestRow(
                    href: "/antraege/\(summary.id.uuidString)", number: summary.number,
                    dataset: summary.datasetTitle,
                    kind: text("kinds.\(summary.kind.rawValue)"),
                    status: StatusWords.sentence(
                        summary.status, text: text, people: people[summary.id], shortNames: true),
                    deadline: StatusWords.deadline(summary.status, text: text))
            }
            let dashboard = Dashboard(
                name: caller.displayName,
                questions: questions.map(row), hasQuestions: !questions.isEmpty,
                requests: mine.map(row),
                older: read.count > size ? "/?seite=\(page + 1)" : nil,
                newer: page > 1 ? (page == 2 ? "/" : "/?seite=\(page - 1)") : nil,
                inboxCount: inboxCount,
                inboxText: Self.inboxText(inboxCount, text: text),
                stalledText: inbox.stalled.isEmpty ? nil : text.counted("inbox.stalled.count", inbox.stalled.count),
                deputyships: deputyships.filter(\.active).map {
                    DeputyshipPages.Row($0, caller: caller.uid, isAdmin: false, now: now, text: text)
                },
                decidedForYou: decided.map { DecidedRow($0, text: text, deputies: deputies) },
                hasDecidedForYou: !decided.isEmpty)
            return try pages.render(
                "home", title: text("home.title"), page: dashboard, request: request, context: context)
        }
        group.get("eingang") { request, context in
            let caller = try context.pageCaller(request)
            guard let service else { throw HTTPError(.notFound) }
            let text = pages.text(request)
            // `?nach=<place>` continues after that place (``InboxCursor``); anything else starts at the first page.
            let after = request.uri.queryParameters["nach"].flatMap { InboxCursor(String($0)) }
            let page = try await service.inboxPage(
                caller: caller, after: after, limit: Self.inboxPageSize, now: pages.now(),
                logger: context.logger(for: caller))
            // The principals a deputy decides for, by the directory's name as the request page names them.
            let principals =
                await acting?.names(
                    of: page.items.compactMap(\.actingFor) + page.stalled.compactMap(\.actingFor)
                        + page.grants.compactMap(\.actingFor),
                    logger: context.logger(for: caller))
                ?? [:]
            let rows = page.items.map { item in
                InboxRow(
                    href: "/antraege/\(item.request.id.uuidString)", number: item.request.number,
                    dataset: item.request.datasetTitle, requester: text("inbox.from", ["uid": item.request.requester]),
                    step: text(item.stepTitle),
                    why: Self.why(item, text: text, principals: principals),
                    deadline: item.deadline.map { text.lastDay($0) } ?? text("inbox.no_deadline"),
                    waited: StatusWords.waited(item.request.status, key: "inbox.waited", text: text),
                    overdue: item.overdue ? text("inbox.overdue") : nil)
            }
            let inbox = Inbox(
                items: rows, isEmpty: rows.isEmpty && after == nil,
                total: page.total.map { text.counted("inbox.total", $0) },
                next: page.next.map { "/eingang?nach=\($0)" },
                first: after == nil ? nil : "/eingang",
                stalled: page.stalled.map { StalledRow($0, text: text, principals: principals) },
                grants: page.grants.prefix(Self.inboxPageSize).map { GrantRow($0, text: text, principals: principals) },
                grantsShown: page.grants.count > Self.inboxPageSize
                    ? text(
                        "inbox.grants.shown", ["shown": String(Self.inboxPageSize), "count": String(page.grants.count)])
                    : nil)
            return try pages.render(
                "inbox", title: text("inbox.title"), page: inbox, request: request, context: context)
        }
        group.get("sprache/{code}") { request, context in
            let code = context.parameters.get("code") ?? ""
            var back = WebPages.safeLocalPath(request.uri.queryParameters["zurueck"].map(String.init)) ?? "/"
            if let routes, !routes.answersGET(back) { back = "/" }
            var response = WebPages.redirect(to: back)
            // A preference of this browser, not a change of anything on the server.
            if pages.renderer.languages.contains(code) {
                response.setCookie(
                    Cookie(
                        name: WebPages.languageCookie, value: code, maxAge: 365 * 24 * 3600, path: "/",
                        secure: pages.settings.isHTTPS, httpOnly: true, sameSite: .lax))
            }
            return response
        }
    }

    /// Who the caller's requests in review wait for, by request (the first ten: a start page does not
    /// wait for dozens of directory lookups; the others name the role). One deadline for all.
    private func names(
        of requests: [RequestSummary], now: Date, logger: Logger
    ) async -> [UUID: ActingPeople] {
        guard let acting, let service else { return [:] }
        let waiting = requests.filter { $0.status.phase == .inReview && !$0.status.waitingFor.isEmpty }.prefix(10)
        guard !waiting.isEmpty else { return [:] }
        var datasets: [String: DatasetView] = [:]
        var result: [UUID: ActingPeople] = [:]
        for summary in waiting {
            if datasets[summary.datasetID] == nil {
                datasets[summary.datasetID] = try? await service.dataset(id: summary.datasetID, logger: logger)
            }
            guard let dataset = datasets[summary.datasetID],
                let people = await acting.people(for: summary.status, dataset: dataset, now: now, logger: logger)
            else { break }  // The directory did not answer: the rest name roles too, without waiting again.
            result[summary.id] = people
        }
        return result
    }

    /// „Zurzeit wartet nichts …“, „1 Antrag wartet …“, „2 Anträge warten …“ on the start page.
    static func inboxText(_ count: Int, text: PageText) -> String {
        switch count {
        case 0: text("home.inbox_empty")
        default: text.counted("home.inbox_count", count)
        }
    }

    /// Why an inbox item is the caller's: their own role, as deputy of someone (by `principals`' name),
    /// or as escalation.
    static func why(_ item: InboxItem, text: PageText, principals: [String: String]) -> String {
        RequestPage.capacity(
            item.capacity, role: item.role, actingFor: item.actingFor, text: text, principals: principals)
    }
}

extension HomePages.DecidedRow {
    init(_ item: DecisionTakenForYou, text: PageText, deputies: [String: String]) {
        href = "/antraege/\(item.request.id.uuidString)"
        number = item.request.number
        dataset = item.request.datasetTitle
        what = text(
            "home.decided_for_you.\(item.outcome.rawValue)" + (item.asEscalation ? "_as_escalation" : ""),
            ["who": deputies[item.decidedBy] ?? item.decidedBy, "date": text.date(item.decidedAt)])
        step = item.stepTitle.map { text.stepTitle($0, part: item.branchTitle) }
    }
}

/// Rows of long lists answer Mustache by name instead of by `Mirror` reflection, which was most of the
/// rendering time of a 500-row inbox (`make bench-web`).
extension HomePages.InboxRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "href": href
        case "number": number
        case "dataset": dataset
        case "requester": requester
        case "step": step
        case "why": why
        case "deadline": deadline
        case "waited": waited
        case "overdue": overdue.mustacheValue
        default: nil
        }
    }
}

/// The inbox page answers by name too (see `PageFrame`), with `Mirror`'s meaning of a nil optional.
extension HomePages.Inbox: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "items": items
        case "isEmpty": isEmpty
        case "total": total
        case "next": next
        case "first": first
        case "hasPages": hasPages
        case "stalled": stalled
        case "hasStalled": hasStalled
        case "grants": grants
        case "hasGrants": hasGrants
        case "grantsShown": grantsShown
        default: nil
        }
    }
}

extension HomePages.StalledRow {
    init(_ item: StalledItem, text: PageText, principals: [String: String]) {
        href = "/antraege/\(item.request.id.uuidString)"
        number = item.request.number
        dataset = item.request.datasetTitle
        requester = text("inbox.from", ["uid": item.request.requester])
        step = text(item.stepTitle)
        waiting = text(
            "inbox.stalled.\(item.waitingFor.rawValue)" + (item.barredBySeparationOfDuties ? "_kept_from_you" : ""),
            ["date": text.date(item.since)])
        closable = text("inbox.stalled.closable_since", ["date": text.date(item.closableFrom)])
        why = HomePages.actingAs(
            item.capacity, role: item.role, actingFor: item.actingFor, text: text, principals: principals)
    }
}

extension HomePages.GrantRow {
    init(_ grant: RevocableGrant, text: PageText, principals: [String: String]) {
        href = "/antraege/\(grant.request.id.uuidString)"
        number = grant.request.number
        dataset = grant.request.datasetTitle
        requester = text("inbox.from", ["uid": grant.request.requester])
        until = text.periodEnd(grant.grantedUntil)
        why = HomePages.actingAs(
            grant.capacity, role: grant.role, actingFor: grant.actingFor, text: text, principals: principals)
    }
}

extension HomePages {
    /// „als Governance Office“, „als DSB in Vertretung für Dora D.“: in which capacity a listed request is
    /// the caller's to close or to revoke; the principal by `principals`' name, else the uid.
    static func actingAs(
        _ capacity: DecisionCapacity, role: String, actingFor: String?, text: PageText, principals: [String: String]
    ) -> String {
        switch capacity {
        case .deputy, .escalationDeputy:
            text(
                "inbox.acting_as.deputy",
                ["role": text.role(role), "principal": actingFor.map { principals[$0] ?? $0 } ?? ""])
        case .own, .escalation: text("inbox.acting_as.own", ["role": text.role(role)])
        }
    }
}

/// Answers by name like the inbox's rows (see ``HomePages/InboxRow``).
extension HomePages.GrantRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "href": href
        case "number": number
        case "dataset": dataset
        case "requester": requester
        case "until": until
        case "why": why
        default: nil
        }
    }
}

/// Answers by name like the inbox's rows (see ``HomePages/InboxRow``).
extension HomePages.StalledRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "href": href
        case "number": number
        case "dataset": dataset
        case "requester": requester
        case "step": step
        case "waiting": waiting
        case "closable": closable
        case "why": why
        default: nil
        }
    }
}
