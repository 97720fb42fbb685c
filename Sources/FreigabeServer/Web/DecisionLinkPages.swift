import Foundation
import Hummingbird
import LDAPDirectory
import Logging

/// The confirm page of a decision link in a task mail (`/e/{token}`).
///
/// GET and HEAD never change anything (mail scanners open every link): they show the request's summary
/// and one button. The POST needs the bound person: their session, or their password on this page when
/// they are not logged in (`web.decision_link_password`); another person's session is refused. The
/// decision goes through the same ``RequestService/decide`` as the API and the pages, with the channel
/// `email_link`, which the audit event records. A link for a step already decided, a request that
/// moved on, an expired or used link: a page saying what happened (and who decided), nothing changed.
struct DecisionLinkPages: Sendable {
    let pages: WebPages
    let service: RequestService
    let links: DecisionLinkStore
    let directory: LDAPDirectory?
    let authenticator: DirectoryAuthenticator
    /// Names the principals deputies decided for, as the request page does.
    let acting: ActingPeopleLookup

    /// What the page shows.
    struct Page {
        var token: String
        /// The request as the mail named it; nil on the page of a used or expired link, which must not
        /// stay a key to read the request (mails are forwarded, archived, opened by scanners).
        var summary: Summary?
        var actionLabel: String
        var buttonLabel: String
        var needsText: Bool
        var text: FormField?
        var askPassword: Bool
        /// No session and no password on link pages (`web.decision_link_password: false`): no form, only
        /// the way to log in and come back.
        var mustLogIn = false
        var boundUID: String
        var password: FormField?
        var otherSession: String?
        var errors: ErrorSummary
        var requestHref: String
        /// Set instead of the form when nothing can be decided with this link.
        var outcome: String?
        /// The step is no longer the person's: the page leads to their inbox, not to the request, which
        /// they may no longer see (following it would log a refused read in their name).
        var toInbox = false
        var decisions: [RequestPage.DecisionRow]
        var done: Bool
        /// The request's version this page shows: the decision counts only for the request as shown.
        var version: Int
        /// Above the form: the request changed between showing the page and the confirmation.
        var notice: String?
        /// In which capacity the person decides with this link, as the request page's form says it.
        var capacity: String?
    }

    struct Summary {
        var number: String
        var datasetTitle: String
        var purpose: String
        var requester: String
        var step: String
        /// Every detail the request states (recipient, period, legal basis, the Open Data check's answers
        /// and notes, ...), as its page shows them: whoever decides from the mail decides on all of it.
        var details: [RequestPage.Row]
        /// The questions asked and the requester's answers, oldest first; nil when there were none.
        var exchange: Exchange?
    }

    struct Exchange {
        var rows: [RequestPage.DecisionRow]
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("e/{token}") { request, context in
            try await show(request, context: context)
        }
        group.post("e/{token}") { request, context in
            try await confirm(request, context: context)
        }
    }

    private func token(_ context: AppRequestContext) -> String { context.parameters.get("token") ?? "" }

    /// The link, the bound person and the request as they see it, or the page that says why not.
    private enum Lookup {
        case ready(DecisionLink, Caller, RequestView)
        case stop(Page, HTTPResponse.Status)
    }

    private func lookup(_ request: Request, context: AppRequestContext) async throws -> Lookup {
        let text = pages.text(request)
        let token = token(context)
        guard let link = try await links.find(token: token, now: pages.now()) else {
            throw APIProblem(.notFound, status: .notFound, detail: UserText("web.link_unknown"))
        }
        // A used or expired link says only that: neither the directory nor the request is read for it.
        if link.usedAt != nil {
            logClosed(link, because: "used", logger: context.logger)
            return .stop(closedPage(token: token, link: link, outcome: text("link.used"), text: text), .conflict)
        }
        if link.expiresAt <= pages.now() {
            logClosed(link, because: "expired", logger: context.logger)
            return .stop(closedPage(token: token, link: link, outcome: text("link.expired"), text: text), .gone)
        }
        guard let directory else {
            throw APIProblem(.unavailable, status: .serviceUnavailable, detail: UserText("login.no_directory"))
        }
        let person: Person
        do {
            person = try await directory.person(username: link.uid)
        } catch let error as LDAPDirectoryError where error.code == .userNotFound {
            logClosed(link, because: "person_unknown", logger: context.logger)
            throw APIProblem(.notFound, status: .notFound, detail: UserText("web.link_unknown"))
        }
        var caller = Caller(person: person, clientAddress: context.clientAddress)
        caller.channel = .emailLink
        guard let view = try await concernedView(link, caller: caller, logger: context.logger(for: caller)) else {
            // The step moved to other people (a new owner, a deputyship that ended): the link says only that.
            logClosed(link, because: "not_theirs", logger: context.logger)
            var page = closedPage(token: token, link: link, outcome: text("link.not_yours"), text: text)
            page.toInbox = true
            return .stop(page, .conflict)
        }
        var page = basePage(
            token: token, link: link, view: view, text: text,
            principals: await principalNames(view, logger: context.logger))
        guard let options = view.decisionOptions, options.step == link.step, options.branch == link.branch,
            link.isFor(stayFrom: view.status.since)
        else {
            page.outcome = text("link.moved_on", ["status": StatusWords.sentence(view.status, text: text)])
            logClosed(link, because: "moved_on", logger: context.logger)
            return .stop(page, .conflict)
        }
        if link.action == .approve, !options.mayApprove {
            // The engine would refuse it: the access period ran out during the review.
            page.outcome = text(
                options.mayRequestChanges ? "link.approval_closed" : "link.approval_closed_reject_only")
            logClosed(link, because: "approval_closed", logger: context.logger)
            return .stop(page, .conflict)
        }
        return .ready(link, caller, view)
    }

    /// Why a link was not offered, for support asked "my link does not work" (the access log leaves the
    /// token out of the path): the request, whose link, which step and action, and the reason.
    private func logClosed(_ link: DecisionLink, because reason: String, logger: Logger) {
        logger.notice(
            "decision link closed",
            metadata: [
                "link.outcome": .string(reason), "request.id": .string(link.requestID.uuidString),
                "link.uid": .string(link.uid), "link.step": .string(link.step),
                "link.action": .string(link.action.rawValue),
            ])
    }

    /// The request as the link's person may see it now, recording nothing (a mail scanner's GET must
    /// not write in their name); nil when it no longer concerns them.
    private func concernedView(_ link: DecisionLink, caller: Caller, logger: Logger) async throws -> RequestView? {
        do {
            return try await service.request(
                id: link.requestID, caller: caller, now: pages.now(), recording: .decisionLink, branch: link.branch,
                logger: logger)
        } catch {
            guard error.code == .notFound else { throw error }
            return nil
        }
    }

    /// The directory's names of the principals deputies decided for (the page lists the link's step's
    /// decisions and every question) and of the one the person would decide for (one lookup).
    private func principalNames(_ view: RequestView, logger: Logger) async -> [String: String] {
        await acting.names(
            of: view.decisions.compactMap(\.actingFor) + [view.decisionOptions?.actingFor].compactMap { $0 },
            logger: logger)
    }

    private func basePage(
        token: String, link: DecisionLink, view: RequestView, text: PageText, principals: [String: String]
    ) -> Page {
        let step = view.timeline.first { $0.id == link.step }
        // In a step of parallel branches the part the link decides, as its mail names it ("Rechtliche
        // Prüfung – Datenschutz"): an escalation's mail has links for several.
        let part = step?.branches.first { $0.id == link.branch && link.branch != link.step }
        let stepTitle = step.map { text.stepTitle($0.title, part: part?.title) } ?? link.step
        var summary = Summary(
            number: view.number, datasetTitle: view.dataset.title, purpose: view.details.purpose,
            requester: view.requester, step: stepTitle,
            // What the request was routed on, as its mail says: the catalogue may say otherwise since.
            details: RequestPage.datasetRows(view.routedOn ?? RoutedDatasetFacts(view.dataset), text: text)
                + RequestPage.detailRows(view.details, text: text))
        let exchange = RequestPage.questionsAndAnswers(view, text: text, principals: principals)
        if !exchange.isEmpty { summary.exchange = Exchange(rows: exchange) }
        let options = view.decisionOptions.flatMap { $0.step == link.step && $0.branch == link.branch ? $0 : nil }
        return Page(
            token: token, summary: summary, actionLabel: text("link.asks.\(link.action.rawValue)"),
            buttonLabel: text("link.button.\(link.action.rawValue)"),
            needsText: true, text: nil, askPassword: false, boundUID: link.uid, password: nil,
            otherSession: nil, errors: ErrorSummary(fields: [], errors: [:]),
            requestHref: "/antraege/\(view.id.uuidString)", outcome: nil,
            decisions: view.decisions.filter { $0.step == link.step || $0.covers.contains(link.step) }.map {
                RequestPage.decisionRow($0, text: text, principals: principals)
            }, done: false, version: view.version,
            capacity: options.map {
                RequestPage.capacity($0, timeline: view.timeline, text: text, principals: principals)
            })
    }

    /// The page of a link that can no longer be used: what happened, and the way to the request for
    /// whoever may see it there (after logging in).
    private func closedPage(token: String, link: DecisionLink, outcome: String, text: PageText) -> Page {
        Page(
            token: token, summary: nil, actionLabel: text("link.asks.\(link.action.rawValue)"),
            buttonLabel: text("link.button.\(link.action.rawValue)"), needsText: false, text: nil, askPassword: false,
            boundUID: link.uid, password: nil, otherSession: nil, errors: ErrorSummary(fields: [], errors: [:]),
            requestHref: "/antraege/\(link.requestID.uuidString)", outcome: outcome, decisions: [], done: false,
            version: 0)
    }

    private func render(
        _ page: Page, request: Request, context: AppRequestContext, status: HTTPResponse.Status = .ok
    ) throws -> Response {
        try pages.renderForm(
            "decision-link", title: pages.text(request)("link.title"), page: page, request: request, context: context,
            status: status)
    }

    /// Fills in the form: the text field, and who confirms (session, password, or someone else).
    private func formPage(
        _ link: DecisionLink, view: RequestView, request: Request, context: AppRequestContext,
        principals: [String: String], values: [String: String] = [:], errors: [String: String] = [:]
    ) -> Page {
        let text = pages.text(request)
        var page = basePage(token: token(context), link: link, view: view, text: text, principals: principals)
        if page.needsText {
            // An approval's comment is free (a condition of use, a note for the requester); a rejection
            // needs its reason, a question its words.
            page.text = FormField(
                .textarea, name: "text", label: text("link.text.\(link.action.rawValue)"), value: values["text"],
                error: errors["text"], required: link.action != .approve)
        }
        let sessionUID = context.identity?.person.uid
        if let sessionUID, sessionUID.lowercased() != link.uid.lowercased() {
            page.otherSession = sessionUID
        } else if sessionUID == nil {
            page.askPassword = pages.settings.decisionLinkPassword
            page.mustLogIn = !page.askPassword
            if page.askPassword {
                page.password = FormField(
                    .password, name: "password", label: text("link.password", ["uid": link.uid]),
                    hint: text("link.password_hint"), value: nil, error: errors["password"], required: true)
            }
        }
        page.errors = ErrorSummary(fields: [page.text, page.password].compactMap { $0 }, errors: errors)
        return page
    }

    /// - Parameter changed: the request changed after the page was shown: say so above the form (409).
    private func show(_ request: Request, context: AppRequestContext, changed: Bool = false) async throws -> Response {
        switch try await lookup(request, context: context) {
        case .stop(let page, let status):
            return try render(page, request: request, context: context, status: status)
        case .ready(let link, _, let view):
            let principals = await principalNames(view, logger: context.logger)
            var page = formPage(link, view: view, request: request, context: context, principals: principals)
            if changed { page.notice = pages.text(request)("link.changed_meanwhile") }
            return try render(page, request: request, context: context, status: changed ? .conflict : .ok)
        }
    }

    private func confirm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let text = pages.text(request)
        let form = context.form ?? WebForm(fields: [])
        guard case .ready(let link, var caller, let view) = try await lookup(request, context: context) else {
            return try await show(request, context: context)
        }
        let values = RequestPages.values(of: form)
        let principals = await principalNames(view, logger: context.logger)
        func again(
            _ errors: [String: String], _ status: HTTPResponse.Status, headers: HTTPFields = [:]
        ) throws -> Response {
            var response = try render(
                formPage(
                    link, view: view, request: request, context: context, principals: principals, values: values,
                    errors: errors),
                request: request, context: context, status: status)
            for field in headers { response.headers[field.name] = field.value }
            return response
        }
        // Who confirms: the bound person's session, or their password; never someone else.
        if let session = context.identity?.person {
            guard session.uid.lowercased() == link.uid.lowercased() else {
                return try again([:], .forbidden)
            }
            caller.clientAddress = context.clientAddress
        } else {
            guard pages.settings.decisionLinkPassword, let password = form["password"], !password.isEmpty else {
                return try again(["password": text("link.password_missing")], .unprocessableContent)
            }
            switch await authenticator.verify(
                username: link.uid, password: password, address: context.clientAddress, logger: context.logger)
            {
            case .authenticated: break
            case .refused: return try again(["password": text("login.wrong_credentials")], .unauthorized)
            case .throttled(let seconds):
                return try again(
                    ["password": text("login.throttled", ["seconds": String(seconds)])], .tooManyRequests,
                    headers: [.retryAfter: String(seconds)])
            case .unavailable: return try again(["password": text("login.unavailable")], .serviceUnavailable)
            }
        }
        let words = form.text("text")
        if link.action != .approve, words == nil {
            return try again(["text": text("link.text_missing.\(link.action.rawValue)")], .unprocessableContent)
        }
        guard try await links.claim(token: token(context), now: pages.now()) else {
            return try await show(request, context: context)
        }
        let decision: DecisionInput =
            switch link.action {
            case .approve: .approve(comment: words, licence: nil, portalURL: nil)
            case .reject: .reject(reason: words ?? "")
            case .requestChanges: .requestChanges(question: words ?? "")
            }
        do {
            let decided = try await service.decide(
                requestID: link.requestID, decision: decision, branch: link.branch, caller: caller, now: pages.now(),
                expectedVersion: RequestPages.version(form), logger: context.logger(for: caller))
            var page = basePage(
                token: token(context), link: link, view: decided, text: text,
                principals: await principalNames(decided, logger: context.logger))
            page.done = true
            page.outcome = text("link.done", ["status": StatusWords.sentence(decided.status, text: text)])
            return try render(page, request: request, context: context)
        } catch let failure {
            // Nothing was decided, so the link is not used up, whatever the reason: what the person can fix,
            // a database that was briefly away, a request that changed since the page was shown, a fault.
            // Opened again, it says what is true then (the form, „moved on“, „no longer yours“).
            try? await links.release(token: token(context))
            if let error = failure as? ServiceError, error.code == .conflict {
                return try await show(request, context: context, changed: true)
            }
            guard let errors = RequestPages.fieldErrors(failure, text: text) else { throw failure }
            var mapped = errors
            for key in ["reason", "question", "comment"] {
                if let message = mapped.removeValue(forKey: key) { mapped["text"] = message }
            }
            return try again(mapped, .unprocessableContent)
        }
    }
}
