import Foundation
import Hummingbird

/// The outbox for administrators (`/verwaltung/ausgang`): mail and webhook rows that failed or still
/// wait, with their reason and attempts, and „erneut senden“, which runs what `freigabe outbox retry ID`
/// runs (``OutboxStore/retry(id:now:client:logger:)``, ``WebhookStore/retry(id:now:client:logger:)``).
struct AdminOutboxPages: Sendable {
    let pages: WebPages
    let service: RequestService

    /// Rows per list: the page shows the most recent trouble, the CLI lists more.
    static let limit = 100

    struct Row {
        /// `m12` (mail) or `w7` (webhook), as the form sends it back and the CLI lists it.
        var key: String
        var kind: String
        var what: String
        var requestHref: String?
        var created: String
        var attempts: String
        var state: String
        var reason: String?
        var canRetry: Bool
    }

    struct Section {
        var id: String
        var heading: String
        var empty: String
        var rows: [Row]
        var hasRows: Bool
    }

    struct Overview {
        var sections: [Section]
        /// Webhook receivers that get nothing now (switched off, paused), in words; empty when all do.
        var receivers: [String]
        var hasReceivers: Bool
        var notice: String?
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("verwaltung/ausgang") { request, context in
            let caller = try await AdminPages.requireAdmin(request, context, pages: pages, service: service)
            let text = pages.text(request)
            let notice = request.uri.queryParameters["hinweis"].flatMap { key -> String? in
                ["retried", "not_retried"].contains(String(key)) ? text("admin.outbox.\(key)") : nil
            }
            return try await overview(request, context: context, caller: caller, notice: notice)
        }
        group.post("verwaltung/ausgang/erneut") { request, context in
            let caller = try await AdminPages.requireAdmin(request, context, pages: pages, service: service)
            let logger = context.logger(for: caller)
            guard let key = context.form?.text("row"), let target = Self.target(key) else {
                throw APIProblem(.badRequest, status: .badRequest, detail: UserText("web.form_malformed"))
            }
            let client = service.client
            let retry = OutboxRetry(actor: caller.uid, clientAddress: caller.clientAddress, via: .web)
            let retried: Bool
            do {
                switch target {
                case .mail(let id):
                    retried = try await OutboxStore.retry(
                        id: id, by: retry, now: pages.now(), client: client, logger: logger)
                case .webhook(let id):
                    retried = try await WebhookStore.retry(
                        id: id, by: retry, now: pages.now(), client: client, logger: logger)
                }
            } catch {
                throw ServiceError.unavailable("outbox retry failed: \(error)")
            }
            logger.info(
                "Outbox row due again from the admin page", metadata: ["outbox.row": "\(key)", "retried": "\(retried)"])
            return WebPages.redirect(to: "/verwaltung/ausgang?hinweis=" + (retried ? "retried" : "not_retried"))
        }
    }

    /// A mail's topic in words („Aufgabe: Entscheidung erbeten“); one a newer release wrote keeps its id.
    /// A webhook's event keeps its name (`request.submitted`): it is what its receiver knows it by.
    static func topic(_ topic: String, text: PageText) -> String {
        text.catalog["web.admin.outbox.topics.\(topic)"] ?? topic
    }

    enum Target: Equatable {
        case mail(Int64)
        case webhook(Int64)
    }

    /// `m12` → mail row 12, `w7` → webhook delivery 7; anything else nil.
    static func target(_ key: String) -> Target? {
        guard key.count <= 20, let first = key.first, let id = Int64(key.dropFirst()), id > 0,
            key.dropFirst().allSatisfy(\.isASCII)
        else { return nil }
        switch first {
        case "m": return .mail(id)
        case "w": return .webhook(id)
        default: return nil
        }
    }

    private func overview(
        _ request: Request, context: AppRequestContext, caller: Caller, notice: String?
    ) async throws -> Response {
        let text = pages.text(request)
        let logger = context.logger(for: caller)
        let client = service.client
        func rows(failed: Bool) async throws -> [Row] {
            let mails = try await OutboxStore.list(failed: failed, limit: Self.limit, client: client, logger: logger)
            let hooks = try await WebhookStore.list(failed: failed, limit: Self.limit, client: client, logger: logger)
            return mails.map { entry in
                Row(
                    key: "m\(entry.id)", kind: text("admin.outbox.mail"), what: Self.topic(entry.topic, text: text),
                    requestHref: entry.requestID.map { "/antraege/\($0.uuidString)" },
                    created: text.dateTime(entry.createdAt), attempts: String(entry.attempts),
                    state: entry.failedAt.map { text("admin.outbox.failed_at", ["time": text.dateTime($0)]) }
                        ?? text("admin.outbox.next_at", ["time": text.dateTime(entry.availableAt)]),
                    reason: entry.lastError, canRetry: true)
            }
                + hooks.map { entry in
                    Row(
                        key: "w\(entry.id)",
                        kind: text("admin.outbox.webhook", ["name": entry.subscription]), what: entry.event,
                        requestHref: entry.requestID.map { "/antraege/\($0.uuidString)" },
                        created: text.dateTime(entry.createdAt), attempts: String(entry.attempts),
                        state: entry.failedAt.map { text("admin.outbox.failed_at", ["time": text.dateTime($0)]) }
                            ?? text("admin.outbox.next_at", ["time": text.dateTime(entry.availableAt)]),
                        reason: Optional(
                            [entry.status.map { "HTTP \($0)" }, entry.lastError].compactMap { $0 }.joined(
                                separator: ": ")
                        ).flatMap { $0.isEmpty ? nil : $0 },
                        canRetry: true)
                }
        }
        let page: Overview
        do {
            let failed = try await rows(failed: true)
            let pending = try await rows(failed: false)
            let receivers = try await WebhookStore.outOfService(now: pages.now(), client: client, logger: logger)
                .map { receiver in
                    if let since = receiver.disabledAt {
                        text("admin.outbox.receiver_disabled", ["name": receiver.name, "time": text.dateTime(since)])
                    } else {
                        text(
                            "admin.outbox.receiver_paused",
                            ["name": receiver.name, "time": text.dateTime(receiver.pausedUntil ?? pages.now())])
                    }
                }
            page = Overview(
                sections: [
                    Section(
                        id: "failed", heading: text("admin.outbox.failed"), empty: text("admin.outbox.none_failed"),
                        rows: failed, hasRows: !failed.isEmpty),
                    Section(
                        id: "pending", heading: text("admin.outbox.pending"), empty: text("admin.outbox.none_pending"),
                        rows: pending, hasRows: !pending.isEmpty),
                ], receivers: receivers, hasReceivers: !receivers.isEmpty, notice: notice)
        } catch let error as ServiceError {
            throw error
        } catch {
            throw ServiceError.unavailable("outbox list failed: \(error)")
        }
        return try pages.render(
            "admin-outbox", title: text("admin.outbox.title"), page: page, request: request, context: context)
    }
}
