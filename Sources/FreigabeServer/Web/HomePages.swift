import Foundation
import Hummingbird
import Mustache

/// The start page (what Freigabe is; once logged in: my requests, my inbox, my deputyships), the inbox,
/// and the language switch.
struct HomePages: Sendable {
    let pages: WebPages
    /// nil without a database: only the public start page is served.
    let service: RequestService?

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
        var requests: [RequestRow]
        var inboxCount: Int
        var inboxText: String
        var deputyships: [DeputyshipPages.Row]
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

    struct Inbox {
        var items: [InboxRow]
        var isEmpty: Bool
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("/") { request, context in
            let text = pages.text(request)
            guard let service, let caller = try? context.pageCaller(request) else {
                return try pages.render("start", title: text("start.title"), request: request, context: context)
            }
            let now = pages.now()
            let logger = context.logger(for: caller)
            let mine = try await service.myRequests(
                caller: caller, query: RequestQuery(limit: 50), now: now, logger: logger)
            let inbox = try await service.inbox(caller: caller, now: now, logger: logger)
            let deputyships = try await service.deputyships(caller: caller, now: now, logger: logger)
            let dashboard = Dashboard(
                name: caller.displayName,
                requests: mine.map { summary in
                    RequestRow(
                        href: "/antraege/\(summary.id.uuidString)", number: summary.number,
                        dataset: summary.datasetTitle,
                        kind: text("kinds.\(summary.kind.rawValue)"),
                        status: StatusWords.sentence(summary.status, text: text),
                        deadline: StatusWords.deadline(summary.status, text: text))
                },
                inboxCount: inbox.count,
                inboxText: inbox.isEmpty
                    ? text("home.inbox_empty") : text("home.inbox_count", ["count": String(inbox.count)]),
                deputyships: deputyships.filter(\.active).map {
                    DeputyshipPages.Row($0, caller: caller.uid, now: now, text: text)
                })
            return try pages.render(
                "home", title: text("home.title"), page: dashboard, request: request, context: context)
        }
        group.get("eingang") { request, context in
            let caller = try context.pageCaller(request)
            guard let service else { throw HTTPError(.notFound) }
            let text = pages.text(request)
            let items = try await service.inbox(caller: caller, now: pages.now(), logger: context.logger(for: caller))
            // Oldest deadline first; items without a deadline last.
            let sorted = items.sorted {
                ($0.deadline ?? .distantFuture, $0.since) < ($1.deadline ?? .distantFuture, $1.since)
            }
            let rows = sorted.map { item in
                InboxRow(
                    href: "/antraege/\(item.request.id.uuidString)", number: item.request.number,
                    dataset: item.request.datasetTitle, requester: text("inbox.from", ["uid": item.request.requester]),
                    step: text(item.stepTitle),
                    why: Self.why(item, text: text),
                    deadline: item.deadline.map { text.date($0) } ?? text("inbox.no_deadline"),
                    waited: text("inbox.waited", ["days": String(item.workingDaysWaited)]),
                    overdue: item.overdue ? text("inbox.overdue") : nil)
            }
            return try pages.render(
                "inbox", title: text("inbox.title"), page: Inbox(items: rows, isEmpty: rows.isEmpty), request: request,
                context: context)
        }
        group.get("sprache/{code}") { request, context in
            let code = context.parameters.get("code") ?? ""
            let back = WebPages.safeLocalPath(request.uri.queryParameters["zurueck"].map(String.init)) ?? "/"
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

    /// Why an inbox item is the caller's: their own role, as deputy of someone, or as escalation.
    static func why(_ item: InboxItem, text: PageText) -> String {
        switch item.capacity {
        case .own: text("decision.capacity.own", ["role": text.role(item.role)])
        case .deputy:
            text("decision.capacity.deputy", ["role": text.role(item.role), "principal": item.actingFor ?? ""])
        case .escalation: text("decision.capacity.escalation", ["role": text.role(item.role)])
        }
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
        // Optionals boxed as they are: a nil that is not found would be looked up in the page instead.
        case "overdue": overdue as Any
        default: nil
        }
    }
}
