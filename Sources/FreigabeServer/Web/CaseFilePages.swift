import AuditLog
import Foundation
import Hummingbird
import WorkflowEngine

/// Die Verfahrensakte: everything about one request on one printable page, for auditors and
/// administrators: its facts and decisions (shown only while the stored request agrees with its facts,
/// see ``RequestFactsCheck``), every event of the request from the sealed log with whether it is proven
/// (``CaseFileCheck``), and the signed checkpoint that covers them, to compare with an outside copy. A
/// request whose row the tables' owner deleted is shown from its sealed events alone, the missing row as
/// the finding.
struct CaseFilePages: Sendable {
    let pages: WebPages
    let service: RequestService
    let query: AuditQuery
    /// Names the principals deputies decided for, as the request page does.
    let acting: ActingPeopleLookup

    /// A request's view and its proof may take a while on a large log; the page never waits longer.
    static let deadline: Duration = .seconds(15)

    struct EventRow {
        var row: AuditPages.Row
        var status: String
        var statusClass: String
    }

    struct Page {
        var id: String
        var number: String?
        var datasetTitle: String?
        var kindLabel: String?
        var facts: [RequestPage.Row]
        /// ``RequestPage/erasure(_:text:)``.
        var textsErased: String?
        var decisions: [RequestPage.DecisionRow]
        /// What the last submission logged (``stated(_:text:)``), shown even when the request is not.
        var stated: [RequestPage.Row] = []
        var statedSource: String?
        var status: String?
        /// The stored request contradicts its facts: only the log is shown.
        var inconsistent: Bool
        /// The request's row is gone while its sealed events remain: only the log is shown.
        var rowMissing = false
        /// ``inconsistent`` or ``rowMissing``: the stored request's facts and decisions are not shown.
        var logOnly = false
        var verdict: String
        var verdictClass: String
        var events: [EventRow]
        var unsealed: String?
        var truncated: String?
        /// How often the request was read (``CaseFileCheck/Result/readCount``), and where those reads are listed.
        var reads: String?
        var readsHref: String?
        var checkpointNote: String?
        var checkpointSummary: String?
        /// The newest signed checkpoint as stored, when it cannot be read or contradicts its row.
        var checkpointUnreadable: String?
    }

    /// What the stored request gives the page.
    enum StoredRequest {
        case shown(RequestView)
        /// It contradicts its facts (``RequestFactsCheck``).
        case inconsistent
        /// Its row is gone (the tables' owner deleted it) while its sealed events remain.
        case rowMissing
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("pruefung/antraege/:id") { request, context in
            let caller = try await AuditPages.requireAuditor(request, context, service: service, now: pages.now())
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
                throw ServiceError.notFound()
            }
            let text = pages.text(request)
            let logger = context.logger(for: caller)
            let now = pages.now()
            try await service.recordAuditRead(
                ["view": "case_file"], requestID: id, caller: caller, now: now, logger: logger)
            let outcome = await withTimeout(Self.deadline) { [service, query] in
                let view: Result<RequestView, ServiceError>
                do {
                    view = .success(
                        try await service.request(
                            id: id, caller: caller, now: now, recording: ReadRecording.alreadyRecorded, logger: logger))
                } catch let error as ServiceError
                    where error.message.key == "messages.general.request_inconsistent" || error.code == .notFound
                {
                    view = .failure(error)
                }
                let proof = try await CaseFileCheck(query: query).check(request: id, logger: logger)
                return (view, proof)
            }
            let (view, proof): (Result<RequestView, ServiceError>, CaseFileCheck.Result)
            switch outcome {
            case .success(let value): (view, proof) = value
            case .failure(let error as ServiceError): throw error
            case .failure(is TimeoutError): throw ServiceError.unavailable("case file of \(id) took too long")
            case .failure(let error): throw error
            }
            // A request nobody has events of does not exist for this page (the service said so already
            // for a request that exists but this person may not read).
            let stored: StoredRequest
            switch view {
            case .success(let view):
                stored = .shown(view)
            case .failure(let error) where error.code == .notFound:
                // Only the log knows it: the row is gone, its sealed events remain, and an auditor must
                // still see that record, and that the row's absence is a finding.
                guard proof.rowMissing, !proof.events.isEmpty else { throw error }
                stored = .rowMissing
            case .failure(let error):
                if proof.events.isEmpty { throw ServiceError.notFound() }
                // Shown as a finding on the page; what disagrees is for the log (a sign of tampering).
                error.logCause(logger, as: "case file: the request is not shown from its row")
                stored = .inconsistent
            }
            // One lookup for every principal a deputy decided for, in the log and in the request's view.
            var deputized = proof.events.compactMap { $0.event.stored.row.actingFor }
            if case .success(let view) = view { deputized += view.decisions.compactMap(\.actingFor) }
            let principals = await acting.names(of: deputized, logger: logger)
            return try pages.render(
                "case-file", title: text("case_file.title"),
                page: Self.page(id: id, stored: stored, proof: proof, text: text, principals: principals),
                request: request,
                context: context)
        }
    }

    static func page(
        id: UUID, stored: StoredRequest, proof: CaseFileCheck.Result, text: PageText,
        principals: [String: String] = [:]
    ) -> Page {
        var page = Page(
            id: id.uuidString, facts: [], decisions: [], inconsistent: false, verdict: "", verdictClass: "",
            events: proof.events.map { event, status in
                EventRow(
                    row: AuditPages.row(event, text: text, principals: principals),
                    status: text("case_file.event_status.\(status.key)"),
                    statusClass: status == .proven ? "ok" : status == .sealedAfterCheckpoint ? "pending" : "failed")
            })
        if let (rows, source) = stated(proof, text: text) { (page.stated, page.statedSource) = (rows, source) }
        switch stored {
        case .shown(let view):
            page.number = view.number
            page.datasetTitle = view.dataset.title
            page.kindLabel = text("kinds.\(view.kind.rawValue)")
            page.facts = RequestPage.facts(view, text: text)
            page.textsErased = RequestPage.erasure(view, text: text)
            page.decisions = view.decisions.map { RequestPage.decisionRow($0, text: text, principals: principals) }
            page.status = StatusWords.sentence(view.status, text: text)
        case .inconsistent:
            page.inconsistent = true
            page.number = loggedNumber(proof)
        case .rowMissing:
            page.rowMissing = true
            page.number = loggedNumber(proof)
        }
        page.logOnly = page.inconsistent || page.rowMissing
        let uncovered = proof.events.count(where: { $0.status == .sealedAfterCheckpoint })
        switch (proof.holds && !page.logOnly, uncovered) {
        case (false, _) where proof.checkpoint.isUnreadable:
            page.verdict = text("case_file.verdict_checkpoint_unreadable")
            page.verdictClass = "warning"
        case (false, _) where page.rowMissing:
            page.verdict = text("case_file.verdict_row_missing")
            page.verdictClass = "warning"
        case (false, _):
            page.verdict = text("case_file.verdict_broken")
            page.verdictClass = "warning"
        case (true, _) where proof.overdueCount > 0:
            // What is sealed holds, but the sealing has stopped: the events since are in no tree, and a
            // history rewritten meanwhile would look the same here.
            page.verdict = text("case_file.verdict_sealing_stalled", ["count": String(proof.overdueCount)])
            page.verdictClass = "warning"
        case (true, 0):
            page.verdict = text("case_file.verdict_holds")
            page.verdictClass = "notice"
        case (true, let count):
            page.verdict = text("case_file.verdict_uncovered", ["count": String(count)])
            page.verdictClass = "notice"
        }
        if proof.unsealedCount > proof.overdueCount {
            page.unsealed = text(
                "case_file.unsealed", ["count": String(proof.unsealedCount - proof.overdueCount)])
        }
        if proof.truncated {
            page.truncated = text("case_file.truncated", ["count": String(CaseFileCheck.maximumEvents)])
        }
        if proof.readCount > 0 {
            page.reads = text("case_file.reads", ["count": String(proof.readCount)])
            page.readsHref = "/pruefung?request=\(id.uuidString)&type=\(AuditEvent.auditRead.rawValue)"
        }
        switch proof.checkpoint {
        case .none:
            break
        case .readable(let note, let content):
            page.checkpointNote = note
            page.checkpointSummary = text(
                "case_file.checkpoint_summary",
                [
                    "size": String(content.treeSize),
                    "time": content.time.map { text.dateTime($0.date) } ?? "–",
                ])
        case .unreadable(let note):
            page.checkpointUnreadable = note
        }
        return page
    }
}

extension CaseFilePages {
    /// The details the request's last submission or resubmission logged (`details.request`), from that event
    /// (``CaseFileCheck/Result/lastSubmission``, read on its own) when it is still as sealed and not erased,
    /// with a sentence naming it; nil otherwise.
    static func stated(_ proof: CaseFileCheck.Result, text: PageText) -> ([RequestPage.Row], String)? {
        if let submission = proof.lastSubmission {
            let (event, status) = submission
            guard status.matchesItsSeal, event.redaction == nil,
                let payload = try? StoredJSON.decode([String: JSONValue].self, from: event.stored.row.details),
                let logged = payload["request"], let details = RequestDetails(logged: logged)
            else { return nil }
            var rows = [RequestPage.Row(label: text("form.purpose.label"), value: details.purpose)]
            if case .object(let fields) = logged, case .string(let kind)? = fields["kind"],
                let kind = ReleaseKind(rawValue: kind)
            {
                rows.insert(RequestPage.Row(label: text("form.kind"), value: text("kinds.\(kind.rawValue)")), at: 0)
            }
            let source = text(
                "case_file.stated_source",
                [
                    "sequence": String(event.sequence),
                    "event": text("audit.events.\(event.stored.row.event.rawValue)"),
                    "time": text.dateTime(event.stored.row.occurredAt),
                ])
            return (rows + RequestPage.detailRows(details, text: text), source)
        }
        return nil
    }

    /// The request's number as its log holds it (every event of a request carries `request_number`), for
    /// a request whose stored row is gone or contradicts its facts: only from an event that still
    /// matches its seal, and not from an erased one.
    static func loggedNumber(_ proof: CaseFileCheck.Result) -> String? {
        for (event, status) in proof.events where status.matchesItsSeal && event.redaction == nil {
            if let details = try? StoredJSON.decode([String: JSONValue].self, from: event.stored.row.details),
                case .string(let number)? = details["request_number"]
            {
                return number
            }
        }
        return nil
    }
}

extension CaseFileCheck.EventStatus {
    /// The event as stored encodes to the leaf hash it was sealed with (in the checkpoint's tree or after it).
    var matchesItsSeal: Bool { self == .proven || self == .sealedAfterCheckpoint }

    /// The catalogue key under `web.case_file.event_status`.
    var key: String {
        switch self {
        case .proven: "proven"
        case .sealedAfterCheckpoint: "after_checkpoint"
        case .changedSinceSealing: "changed"
        case .notInCheckpoint: "not_in_checkpoint"
        case .checkpointUnreadable: "checkpoint_unreadable"
        }
    }
}

extension CaseFileCheck.CheckpointState {
    var isUnreadable: Bool {
        if case .unreadable = self { return true }
        return false
    }
}
