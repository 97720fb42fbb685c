import Foundation
import WorkflowEngine

/// One command on a request that exists: its own input rules and the engine event it sends.
///
/// A handler is made from the input with its rules checked (`init` throws `validation` before anything is
/// read, so bad input touches nothing), then `apply` asks the engine. Everything the commands share runs
/// once in `RequestService.performCommand`: the Idempotency-Key, the read, who may see the request, the
/// `If-Match` version, refusal auditing, the one write and the answer.
protocol RequestCommandHandler: Sendable {
    /// `submit`, `decide`, ...: the command's name in metrics, logs, idempotency keys and audit events.
    static var operation: String { get }
    /// What an Idempotency-Key fingerprints: the input as given.
    var fingerprint: AnyEncodable { get }
    /// Sends the command's event to the engine (changing `request.machine`, and `request.record` where the
    /// command changes the request's details) and returns the effects to write.
    func apply(to request: inout CommandInProgress) throws -> [Effect]
    /// A conflict that says more than "the request changed" when the caller's page is out of date: asked
    /// before the version check, so a double tap hears who decided, not only that something did.
    func conflict(in request: CommandInProgress) -> ServiceError?
}

extension RequestCommandHandler {
    func conflict(in request: CommandInProgress) -> ServiceError? { nil }
}

/// The request a command works on, as read, with what the engine needs to answer.
struct CommandInProgress {
    var record: RequestRecord
    var machine: RequestMachine
    let dataset: DatasetRecord
    let definition: WorkflowDefinition
    let context: CallerContext
    let calendar: WorkingDayCalendar
    let now: Date
    /// ``CommandSubject/textsErased``.
    let textsErased: Bool

    var caller: Caller { context.caller }

    /// The caller as the engine sees a decider: with roles, deputyships and the dataset's owner/stewards.
    var decider: Decider { context.decider(for: dataset) }

    /// Runs an engine call and turns its refusal into a `ServiceError` in the definition's words.
    func engine<Value>(_ body: () throws(WorkflowError) -> Value) throws(ServiceError) -> Value {
        do {
            return try body()
        } catch {
            throw RequestService.map(error, definition: definition)
        }
    }

    /// Routes a draft on the catalogue and its details as they are now, as its submission will: a draft's
    /// stored facts are kept current, so that its page shows the steps that will apply.
    mutating func routeDraftAsNow() throws(ServiceError) {
        let snapshot = record.routedAsDraft(machine.snapshot, dataset: dataset, definition: definition)
        let (definition, calendar) = (definition, calendar)
        machine = try engine { () throws(WorkflowError) in
            try RequestMachine(definition: definition, calendar: calendar, snapshot: snapshot)
        }
    }

    /// Refuses anyone but the requester (a `forbidden` the shared path records as a security event).
    func requireRequester(_ message: String) throws(ServiceError) {
        guard caller.uid == record.requester else {
            throw ServiceError(.forbidden, message: UserText(message), engineCode: "not_requester")
        }
    }
}

/// `submit`: a draft goes to its first step.
struct SubmitCommand: RequestCommandHandler {
    static let operation = "submit"
    var fingerprint: AnyEncodable { AnyEncodable(Self.operation) }

    func apply(to request: inout CommandInProgress) throws -> [Effect] {
        try request.requireRequester("request.only_requester_submits")
        if case .draft = request.machine.state {
            let record = request.record
            let catalogue = request.dataset.facts(kind: record.kind)
            var errors = FieldErrors()
            RequestValidation.requireStatedPurpose(record.details, textsErased: request.textsErased, errors: &errors)
            RequestValidation.completeness(
                record.details, kind: record.kind, catalogue: catalogue, definition: request.definition,
                now: request.now, errors: &errors)
            try errors.check()
            // A draft routes on the catalogue as it is when it is submitted.
            try request.routeDraftAsNow()
        }
        let (caller, now) = (request.caller.uid, request.now)
        var machine = request.machine
        let effects = try request.engine { () throws(WorkflowError) in try machine.submit(by: caller, at: now) }
        request.machine = machine
        request.record.submittedAt = now
        return effects
    }
}

/// `decide`: approve, reject or ask a question on the current step (or `branch` of a parallel step).
struct DecideCommand: RequestCommandHandler {
    static let operation = "decide"
    let decision: DecisionInput
    let branch: String?
    /// The texts as cleaned.
    private let comment: String?
    private let approval: ApprovalDetails
    private let reason: String

    init(_ decision: DecisionInput, branch: String?) throws(ServiceError) {
        var errors = FieldErrors()
        var comment: String? = nil
        var approval = ApprovalDetails()
        var reason = ""
        switch decision {
        case .approve(let text, let licence, let portalURL):
            comment = RequestValidation.comment("comment", text, required: false, errors: &errors)
            // A licence the engine knows by name is recorded by its identifier; any other text goes to the
            // engine as it is, which refuses it where the step asks for a licence.
            let named = errors.text("licence", licence, limit: InputLimits.name)
            approval = ApprovalDetails(
                licence: named.map { OpenLicence(named: $0)?.rawValue ?? $0 },
                portalURL: errors.text("portal_url", portalURL, limit: InputLimits.url))
        case .reject(let text):
            reason = RequestValidation.comment("reason", text, required: true, errors: &errors) ?? ""
        case .requestChanges(let text):
            reason = RequestValidation.comment("question", text, required: true, errors: &errors) ?? ""
        }
        if let branch { _ = errors.text("branch", branch, limit: InputLimits.name) }
        try errors.check()
        self.decision = decision
        self.branch = branch
        self.comment = comment
        self.approval = approval
        self.reason = reason
    }

    var fingerprint: AnyEncodable { AnyEncodable(Fingerprint(decision: decision, branch: branch)) }

    private struct Fingerprint: Encodable, Sendable {
        var decision: DecisionInput
        var branch: String?
    }

    /// The losers of a race (double click, a retry without a key, a colleague faster) are told who
    /// decided and when: a conflict, not a refusal to record against the rightful approver.
    func conflict(in request: CommandInProgress) -> ServiceError? {
        request.machine.decisionAlreadyTaken(by: request.decider, at: request.now).map {
            RequestService.alreadyDecided($0, asked: request.caller.uid)
        }
    }

    func apply(to request: inout CommandInProgress) throws -> [Effect] {
        let (decider, now) = (request.decider, request.now)
        if let conflict = conflict(in: request) { throw conflict }
        var machine = request.machine
        let (branch, comment, approval, reason) = (branch, comment, approval, reason)
        let effects = try request.engine { () throws(WorkflowError) in
            switch decision {
            case .approve:
                try machine.approve(by: decider, at: now, comment: comment, details: approval, branch: branch)
            case .reject:
                try machine.reject(by: decider, at: now, reason: reason, branch: branch)
            case .requestChanges:
                try machine.requestChanges(by: decider, at: now, question: reason, branch: branch)
            }
        }
        request.machine = machine
        return effects
    }
}

/// `resubmit`: the requester answers a question, with changed details, and the request goes on.
struct ResubmitCommand: RequestCommandHandler {
    static let operation = "resubmit"
    let resubmission: Resubmission
    private let comment: String?

    init(_ resubmission: Resubmission) throws(ServiceError) {
        var errors = FieldErrors()
        comment = RequestValidation.comment("comment", resubmission.comment, required: false, errors: &errors)
        try errors.check()
        self.resubmission = resubmission
    }

    var fingerprint: AnyEncodable { AnyEncodable(resubmission) }

    func apply(to request: inout CommandInProgress) throws -> [Effect] {
        try request.requireRequester("request.only_requester_resubmits")
        guard case .changesRequested = request.machine.state else {
            throw ServiceError(
                .invalidState, message: UserText("request.no_open_question"),
                engineCode: WorkflowError.Code.invalidTransition.rawValue)
        }
        let record = request.record
        // The catalogue facts stay those the request was routed on; the requester's own facts change.
        let catalogue = request.machine.snapshot.facts
        var errors = FieldErrors()
        let details = resubmission.changes.applied(to: record.details).cleaned(
            kind: record.kind, stored: record.details, errors: &errors)
        RequestValidation.requireStatedPurpose(details, textsErased: request.textsErased, errors: &errors)
        RequestValidation.completeness(
            details, kind: record.kind, catalogue: catalogue, definition: request.definition, now: request.now,
            errors: &errors)
        try errors.check()
        // Compared as cleaned, so a text stored before line breaks were made one (CR LF from a form) is
        // not a change when it comes back as it was.
        var stored = FieldErrors()
        let detailsChanged =
            details != record.details.cleaned(kind: record.kind, stored: record.details, errors: &stored)
        request.record.details = details
        let facts = request.definition.routing(details.facts(kind: record.kind, catalogue: catalogue))
        let (caller, now, comment) = (request.caller.uid, request.now, comment)
        var machine = request.machine
        let effects = try request.engine { () throws(WorkflowError) in
            try machine.resubmit(
                by: caller, at: now, facts: facts, accessEnd: .some(details.accessEnd), detailsChanged: detailsChanged,
                comment: comment)
        }
        request.machine = machine
        return effects
    }
}

/// `edit`: the requester changes a draft's details before submitting it. The workflow's completeness
/// rules apply at submission, the text rules now; the draft is routed anew on its changed details, so
/// that its page shows the steps its submission will take.
struct EditDraftCommand: RequestCommandHandler {
    static let operation = "edit"
    let changes: RequestDetails.Patch

    var fingerprint: AnyEncodable { AnyEncodable(changes) }

    func apply(to request: inout CommandInProgress) throws -> [Effect] {
        try request.requireRequester("request.only_requester_edits")
        guard case .draft = request.machine.state else {
            throw ServiceError(
                .invalidState, message: UserText("request.only_drafts_edited"),
                engineCode: WorkflowError.Code.invalidTransition.rawValue)
        }
        var errors = FieldErrors()
        let details = changes.applied(to: request.record.details).cleaned(
            kind: request.record.kind, stored: request.record.details, errors: &errors)
        try errors.check()
        request.record.details = details
        try request.routeDraftAsNow()
        return []
    }
}

/// `withdraw`: the requester ends the request (draft, in review, or while a question is open).
struct WithdrawCommand: RequestCommandHandler {
    static let operation = "withdraw"
    let comment: String?

    init(comment: String?) throws(ServiceError) {
        var errors = FieldErrors()
        self.comment = RequestValidation.comment("comment", comment, required: false, errors: &errors)
        try errors.check()
    }

    var fingerprint: AnyEncodable { AnyEncodable(["comment": comment]) }

    func apply(to request: inout CommandInProgress) throws -> [Effect] {
        let (caller, now, comment) = (request.caller.uid, request.now, comment)
        var machine = request.machine
        let effects = try request.engine { () throws(WorkflowError) in
            try machine.withdraw(by: caller, at: now, comment: comment)
        }
        request.machine = machine
        return effects
    }
}

/// A decider's command that ends the request and must say why (`revoke`, `discontinue`): the reason's
/// rule, its fingerprint and the one engine event, written once.
protocol ReasonedEndCommand: RequestCommandHandler {
    var reason: String { get }
    init(checkedReason: String)
    /// The engine event the command sends.
    static func end(
        _ machine: inout RequestMachine, by decider: Decider, at now: Date, reason: String
    ) throws(WorkflowError) -> [Effect]
}

extension ReasonedEndCommand {
    init(reason: String) throws(ServiceError) {
        var errors = FieldErrors()
        let checked = RequestValidation.comment("reason", reason, required: true, errors: &errors) ?? ""
        try errors.check()
        self.init(checkedReason: checked)
    }

    var fingerprint: AnyEncodable { AnyEncodable(["reason": reason]) }

    func apply(to request: inout CommandInProgress) throws -> [Effect] {
        if let conflict = conflict(in: request) { throw conflict }
        let (decider, now, reason) = (request.decider, request.now, reason)
        var machine = request.machine
        let effects = try request.engine { () throws(WorkflowError) in
            try Self.end(&machine, by: decider, at: now, reason: reason)
        }
        request.machine = machine
        return effects
    }
}

/// `revoke`: granted Shared Data access ends early.
struct RevokeCommand: ReasonedEndCommand {
    static let operation = "revoke"
    let reason: String

    init(checkedReason: String) { reason = checkedReason }

    static func end(
        _ machine: inout RequestMachine, by decider: Decider, at now: Date, reason: String
    ) throws(WorkflowError) -> [Effect] {
        try machine.revoke(by: decider, at: now, reason: reason)
    }
}

/// `discontinue`: the escalation instance closes a request nobody moves on any more as withdrawn.
struct DiscontinueCommand: ReasonedEndCommand {
    static let operation = "discontinue"
    let reason: String

    init(checkedReason: String) { reason = checkedReason }

    static func end(
        _ machine: inout RequestMachine, by decider: Decider, at now: Date, reason: String
    ) throws(WorkflowError) -> [Effect] {
        try machine.discontinue(by: decider, at: now, reason: reason)
    }

    /// Closed by a discontinuation already (a double tap, a second member of the office): who, and when.
    func conflict(in request: CommandInProgress) -> ServiceError? {
        guard case .closed = request.machine.state, let last = request.machine.decisions.last,
            last.outcome == .discontinued
        else { return nil }
        return RequestService.alreadyDecided(last, asked: request.caller.uid)
    }
}
