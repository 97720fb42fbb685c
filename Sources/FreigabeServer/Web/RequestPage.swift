import Foundation
import Mustache
import WorkflowEngine

/// The request page: facts, status, timeline, decisions, and the forms of what the viewer may do now
/// (``RequestView/allowedActions`` and ``RequestView/decisionOptions``, both the engine's answers).
struct RequestPage {
    struct Row {
        var label: String
        var value: String
        /// The value's language where it is not the page's (`lang`): the legal basis's article is
        /// recorded in German whatever the page's language (``RequestFormPage/recordsGermanArticle(_:)``). Not `lang`: a nil is looked up further out,
        /// and would find the page's own.
        var valueLanguage: String? = nil
    }

    struct DecisionRow {
        var who: String
        var outcome: String
        var at: String
        var comment: String?
        var details: String?
    }

    struct StepRow {
        var title: String
        var statusLabel: String
        var statusClass: String
        var reason: String?
        /// Why the step applies or is skipped, from the engine's explanation of its condition.
        var why: String? = nil
        /// The reviews of a parallel step, each with why it applies or not; empty for a plain step.
        var branches: [BranchRow] = []
        var roles: String
        var deadline: String?
        var waitingFor: String?
        var decisions: [DecisionRow]
        var isCurrent: Bool
    }

    /// A review (branch) of a parallel step: who, and why it applies or is skipped.
    struct BranchRow {
        var title: String
        var role: String
        var why: String
    }

    /// Who must decide the current step now, named from the directory, with their deputies.
    struct Acting {
        struct RoleRow {
            var role: String
            var people: String
            var deputies: String?
        }

        /// The directory did not answer: the roles alone.
        var unknown: Bool
        var roles: [RoleRow]
        /// A warning for every approver the task mail cannot reach.
        var missingMail: [String]
    }

    /// The decision form, when the viewer may decide.
    struct DecisionForm {
        var capacity: String
        /// Why approving is not offered (the access period ran out during the review); nil when it is.
        var approvalClosed: String?
        var branch: String
        var choice: FormField
        var text: FormField
        var licence: FormField?
        var portalURL: FormField?
        var errors: ErrorSummary
    }

    var id: String
    var number: String
    var kindLabel: String
    var datasetTitle: String
    var datasetID: String
    var requester: String
    var status: String
    var deadline: String?
    var overdue: Bool
    var escalated: Bool
    var question: String?
    /// „Freitexte gelöscht am … von … (Aufbewahrungsfrist abgelaufen)“ when `audit redact` erased them.
    var textsErased: String?
    /// While in review: who must decide now (``named(_:status:text:)``).
    var acting: Acting?
    var facts: [Row]
    var steps: [StepRow]
    var workflow: String
    var version: Int
    var notice: String?
    var decision: DecisionForm?
    var canSubmit: Bool
    var canEdit: Bool
    var canWithdraw: Bool
    var canResubmit: Bool
    var canRevoke: Bool
    var revokeReason: FormField?
    /// The escalation instance may close the request as withdrawn: nobody moves it on any more.
    var canDiscontinue: Bool
    var discontinueReason: FormField?
    /// „Sie stellen ihn als Data-Governance-Stelle in Vertretung für Greta Graf ein.“, when closing.
    var discontinueCapacity: String?
    /// The withdrawal's optional comment, kept with its error when the withdrawal was refused.
    var withdrawComment: FormField?
    var isDraft: Bool
    /// Errors of a command that no form on the page shows at a field (e.g. what a draft still lacks).
    var errors: ErrorSummary

    init(
        _ view: RequestView, text: PageText, notice: String? = nil, values: [String: String] = [:],
        errors: [String: String] = [:], principals: [String: String] = [:]
    ) {
        id = view.id.uuidString
        number = view.number
        kindLabel = text("kinds.\(view.kind.rawValue)")
        datasetTitle = view.dataset.title
        datasetID = view.dataset.id
        requester = view.requester
        status = StatusWords.sentence(view.status, text: text)
        deadline = StatusWords.deadline(view.status, text: text)
        overdue = view.status.overdue
        escalated = view.status.escalated
        let erasure = Self.erasure(view, text: text)
        textsErased = erasure
        // An erased question is the erasure's dash, as the purpose is: the page says why instead.
        question = view.status.question.map { erasure ?? $0 }
        workflow =
            text(view.workflow.title) + " ("
            + text("request.workflow_version", ["version": String(view.workflow.version)]) + ")"
        version = view.version
        self.notice = notice
        isDraft = view.status.phase == .draft
        facts = Self.facts(view, text: text)
        steps = view.timeline.map { step in
            Self.step(
                step, decisions: view.decisions, answers: view.answers ?? [], withdrawal: view.withdrawal,
                principals: principals, text: text)
        }
        steps += Self.closingEntries(view, principals: principals, text: text)
        let actions = Set(view.allowedActions)
        canSubmit = actions.contains(.submit)
        canEdit = actions.contains(.edit)
        canWithdraw = actions.contains(.withdraw)
        canResubmit = actions.contains(.resubmit)
        canRevoke = actions.contains(.revoke)
        if canRevoke {
            revokeReason = FormField(
                .textarea, name: "reason", label: text("request.revoke_reason"), value: values["reason"],
                error: errors["reason"], required: true)
        }
        canDiscontinue = actions.contains(.discontinue)
        if canDiscontinue, let options = view.discontinueOptions {
            discontinueCapacity =
                if let principal = options.actingFor {
                    text(
                        "request.discontinue_capacity_deputy",
                        ["role": text.role(options.role), "principal": principals[principal] ?? principal])
                } else {
                    text("request.discontinue_capacity", ["role": text.role(options.role)])
                }
        }
        if canDiscontinue {
            // Named apart from the decision form's `reason`, which the same person may see beside it.
            discontinueReason = FormField(
                .textarea, name: "discontinue_reason", label: text("request.discontinue_reason"),
                value: values["discontinue_reason"], error: errors["discontinue_reason"], required: true)
        }
        var inDecisionForm: Set<String> = []
        if let options = view.decisionOptions {
            decision = Self.decisionForm(
                options, capacity: Self.capacity(options, timeline: view.timeline, text: text, principals: principals),
                text: text, values: values, errors: errors, principals: principals,
                proposedLicence: view.details.licence ?? view.dataset.licence)
            // Its summary shows the form's own error too (a 409: someone decided first): once, there.
            inDecisionForm = [
                "decision", "branch", "comment", "reason", "question", "text", "licence", "portal_url", "form",
            ]
        }
        // The requester withdraws; a decider's form (which has a comment of its own) is never beside it.
        if canWithdraw, decision == nil {
            withdrawComment = FormField(
                .textarea, name: "comment", label: text("request.withdraw_comment"), value: values["comment"],
                error: errors["comment"])
        }
        // The revocation's, the discontinuation's and the withdrawal's errors at the top of the page, linked
        // to their fields.
        self.errors = ErrorSummary(
            fields: [revokeReason, discontinueReason, withdrawComment].compactMap { $0 },
            errors: errors.filter { !inDecisionForm.contains($0.key) })
    }

    /// Names the people who must decide now (`people` nil: the directory did not answer in time).
    mutating func named(_ people: ActingPeople?, status: RequestStatus, text: PageText) {
        guard status.phase == .inReview, !status.waitingFor.isEmpty else { return }
        self.status = StatusWords.sentence(status, text: text, people: people)
        var missingMail: [String] = []
        let roles = status.waitingFor.map { role in
            let label = text("request.acting_role", ["role": text.role(role)])
            guard let people else { return Acting.RoleRow(role: label, people: "", deputies: nil) }
            let holders = people.byRole[role] ?? []
            for person in holders where !person.hasMail {
                missingMail.append(text("request.no_mail", ["name": person.name]))
            }
            let deputies = holders.flatMap(\.deputies)
            let nobody = people.onlyKeptOut.contains(role) ? "request.acting_nobody_allowed" : "request.acting_nobody"
            return Acting.RoleRow(
                role: label,
                people: holders.isEmpty ? text(nobody) : holders.map(\.name).joined(separator: ", "),
                deputies: holders.isEmpty
                    ? nil
                    : deputies.isEmpty
                        ? text("request.acting_no_deputy")
                        : text("request.acting_deputies", ["names": deputies.joined(separator: ", ")]))
        }
        acting = Acting(unknown: people == nil, roles: roles, missingMail: missingMail)
    }

    /// Why the free texts are missing: a reader years later sees a dash for the purpose and no comments,
    /// and must learn that they were erased on purpose, when and by whom (``TextErasure``).
    static func erasure(_ view: RequestView, text: PageText) -> String? {
        view.textsErased.map { text("request.texts_erased", ["date": text.shortDate($0.at), "actor": $0.by]) }
    }

    static func facts(_ view: RequestView, text: PageText) -> [Row] {
        var rows = [
            // An erased purpose is a dash in the row: the notice stands in its place.
            Row(label: text("form.purpose.label"), value: erasure(view, text: text) ?? view.details.purpose),
            Row(label: text("request.requester"), value: view.requester),
        ]
        rows += detailRows(view.details, text: text)
        if let submitted = view.submittedAt {
            rows.append(Row(label: text("request.submitted_at"), value: text.dateTime(submitted)))
        }
        return rows
    }

    /// What the dataset holds, in words: the facts a privacy or security review is asked for, and a
    /// high-value dataset, which the Open Data officer publishes under the EU's terms (on the confirm page
    /// of a mail's link and in the mail itself, which the request page's steps explain).
    static func datasetRows(_ facts: RoutedDatasetFacts, text: PageText) -> [Row] {
        [
            Row(label: text("dataset.classification"), value: text("classification.\(facts.classification.rawValue)")),
            Row(label: text("dataset.personal_data"), value: text("personal_data.\(facts.personalData.rawValue)")),
            Row(
                label: text("dataset.protection_need"), value: text("protection_need.\(facts.protectionNeed.rawValue)")),
        ] + (facts.highValue ? [Row(label: text("dataset.high_value"), value: text("dataset.high_value_yes"))] : [])
    }

    /// The details after the purpose, each stated one with its form label (the request's facts, and in
    /// the Verfahrensakte the details its last submission logged).
    static func detailRows(_ details: RequestDetails, text: PageText) -> [Row] {
        var rows: [Row] = []
        if let recipient = details.recipient {
            rows.append(
                Row(
                    label: text("form.recipient.name.label"),
                    value: Self.recipient(recipient, text: text)))
        }
        if let basis = details.legalBasis {
            rows.append(
                Row(
                    label: text("form.legal_basis.label"), value: basis,
                    valueLanguage: text.language != "de" && RequestFormPage.recordsGermanArticle(basis) ? "de" : nil))
        }
        if let start = details.accessStart {
            rows.append(Row(label: text("form.access_start.label"), value: text.periodStart(start)))
        }
        if let end = details.accessEnd {
            rows.append(Row(label: text("form.access_end.label"), value: text.periodEnd(end)))
        }
        if let licence = details.licence {
            // What the requester asked for: the publication decision names the licence it was given under.
            rows.append(Row(label: text("request.licence_requested"), value: text.licence(licence)))
        }
        if let format = details.format { rows.append(Row(label: text("form.format.label"), value: format)) }
        if let statement = details.anonymisationStatement {
            rows.append(Row(label: text("form.anonymisation_statement.label"), value: statement))
        }
        // A draft's check may leave questions open: those with a note say so, the others are not shown.
        for (id, answer) in details.openDataCheck?.namedAnswers ?? [] where !answer.isUnanswered {
            let verdict = text(
                answer.applies.map { $0 ? "form.check.yes" : "form.check.no" } ?? "form.check.unanswered")
            rows.append(Row(label: text("form.check.\(id)"), value: verdict + (answer.note.map { " – " + $0 } ?? "")))
        }
        return rows
    }

    /// „Umweltamt (Stelle der Stadtverwaltung)“; a draft may hold the name or the type alone.
    static func recipient(_ recipient: RecipientInput, text: PageText) -> String {
        let type = recipient.type.map { text("form.recipient.type.stated.\($0.rawValue)") }
        guard let name = recipient.name else { return type ?? "" }
        return name + (type.map { " (" + $0 + ")" } ?? "")
    }

    /// The requester's withdrawal, from its recorded event: who, when and why.
    static func withdrawalRow(_ withdrawal: WithdrawalView, text: PageText) -> DecisionRow {
        DecisionRow(
            who: withdrawal.person + " (" + text("request.requester") + ")", outcome: text("closing.withdrawn"),
            at: text.dateTime(withdrawal.at), comment: withdrawal.comment,
            details: withdrawal.step == nil ? text("closing.draft") : nil)
    }

    /// What ended the request at no step of the timeline closes it as an entry of its own: a revocation
    /// (decided at the grant, with its reason) and a draft's withdrawal.
    private static func closingEntries(
        _ view: RequestView, principals: [String: String], text: PageText
    ) -> [StepRow] {
        let steps = Set(view.timeline.map(\.id))
        var entries: [StepRow] = []
        for decision in view.decisions
        where !steps.contains(decision.step) && !decision.covers.contains(where: steps.contains) {
            entries.append(
                StepRow(
                    title: text(decision.outcome == .revoked ? "closing.revoked_title" : "closing.other_title"),
                    statusLabel: text("decision.outcome.\(decision.outcome.rawValue)"),
                    statusClass: "step-" + decision.outcome.rawValue.replacingOccurrences(of: "_", with: "-"),
                    reason: nil,
                    roles: text.role(decision.role), deadline: nil, waitingFor: nil,
                    decisions: [decisionRow(decision, text: text, principals: principals)], isCurrent: false))
        }
        if let withdrawal = view.withdrawal, !steps.contains(withdrawal.step ?? "") {
            entries.append(
                StepRow(
                    title: text("closing.withdrawn_title"), statusLabel: text("closing.withdrawn"),
                    statusClass: "step-withdrawn", reason: nil, roles: text("request.requester"), deadline: nil,
                    waitingFor: nil, decisions: [withdrawalRow(withdrawal, text: text)], isCurrent: false))
        }
        return entries
    }

    private static func step(
        _ step: TimelineStep, decisions: [DecisionView], answers: [AnswerView], withdrawal: WithdrawalView?,
        principals: [String: String], text: PageText
    ) -> StepRow {
        // Why it applies or is skipped, in words; a code's text only where the engine has no explanation
        // (a Personalunion).
        // A parallel step's branches have ids of their own; a plain step's one branch is the step.
        let isParallel = step.branches.contains { $0.id != step.id }
        var reason: String? = nil
        let why: String?
        switch step.status == .skipped ? step.skipReason : nil {
        case nil:
            why = text.appliesBecause(step.applyReason, step.appliesBecause)
        case .personalUnion?:
            // Covered by the decision on the step before: it applies, and was decided there.
            reason = text.skipReason(.personalUnion)
            why = text.appliesBecause(step.applyReason, step.appliesBecause)
        case let code?:
            why = text.skippedWhy(code, step.skippedBecause)
            if why == nil { reason = text.skipReason(code) }
        }
        let branches: [BranchRow] =
            isParallel
            ? step.branches.map { branch in
                let why: String =
                    if branch.applies {
                        text.appliesBecause(branch.applyReason, branch.appliesBecause) ?? text("timeline.why.always")
                    } else {
                        text.skippedWhy(branch.skipReason ?? .conditionNotMet, branch.skippedBecause)
                            ?? text.skipReason(branch.skipReason ?? .conditionNotMet)
                    }
                return BranchRow(title: text(branch.title), role: text.role(branch.role), why: why)
            } : []
        var rows = decisions.filter { $0.step == step.id || $0.covers.contains(step.id) }.map { decision in
            (decision.at, decisionRow(decision, text: text, principals: principals))
        }
        for answer in answers where answer.step == step.id {
            rows.append((answer.at, answerRow(answer, text: text)))
        }
        if let withdrawal, withdrawal.step == step.id {
            rows.append((withdrawal.at, withdrawalRow(withdrawal, text: text)))
        }
        rows.sort { $0.0 < $1.0 }
        // The step the requester withdrew at was reached and not decided: the engine's "not reached" (the
        // request ended before its decision), or "done" for a parallel step of which one part had approved,
        // would say otherwise. Its decisions stay listed below it.
        let status =
            withdrawal?.step == step.id && step.status != .skipped ? "withdrawn" : step.status.rawValue
        return StepRow(
            title: text(step.title), statusLabel: text("timeline.status.\(status)"),
            statusClass: "step-" + status.replacingOccurrences(of: "_", with: "-"), reason: reason,
            why: why, branches: branches, roles: step.roles.map { text.role($0) }.joined(separator: ", "),
            deadline: step.deadline.map { text("timeline.deadline", ["date": text.lastDay($0)]) },
            waitingFor: step.waitingFor.isEmpty
                ? nil
                : text("timeline.waiting_for", ["who": step.waitingFor.map { text.role($0) }.joined(separator: ", ")]),
            decisions: rows.map(\.1), isCurrent: step.status == .current)
    }

    /// `principals`: the directory's names of the principals deputies decided for (by uid); a principal
    /// it does not name is shown by uid.
    /// The requester's answer to a question, as a row beside the decisions.
    static func answerRow(_ answer: AnswerView, text: PageText) -> DecisionRow {
        DecisionRow(
            who: answer.person + " (" + text("request.requester") + ")", outcome: text("decision.outcome.answered"),
            at: text.dateTime(answer.at), comment: answer.text, details: nil)
    }

    /// Every question asked and every answer given, oldest first: what whoever decides from a mail must
    /// have read (the request page shows them in the timeline).
    static func questionsAndAnswers(
        _ view: RequestView, text: PageText, principals: [String: String] = [:]
    ) -> [DecisionRow] {
        let questions = view.decisions.filter { $0.outcome == .changesRequested }.map {
            ($0.at, decisionRow($0, text: text, principals: principals))
        }
        let answers = (view.answers ?? []).map { ($0.at, answerRow($0, text: text)) }
        return (questions + answers).sorted { $0.0 < $1.0 }.map(\.1)
    }

    static func decisionRow(
        _ decision: DecisionView, text: PageText, principals: [String: String] = [:]
    ) -> DecisionRow {
        var who = decision.person + " (" + text.role(decision.role) + ")"
        if let principal = decision.actingFor {
            who += " – " + text("decision.acting_for", ["principal": principals[principal] ?? principal])
        }
        if decision.asEscalation { who += " – " + text("decision.as_escalation") }
        var details: [String] = []
        if let licence = decision.licence {
            details.append(text("form.licence.label") + ": " + (text.licence(licence)))
        }
        if let url = decision.portalURL { details.append(text("decision.portal_url") + ": " + url) }
        return DecisionRow(
            who: who, outcome: text("decision.outcome.\(decision.outcome.rawValue)"), at: text.dateTime(decision.at),
            comment: decision.comment, details: details.isEmpty ? nil : details.joined(separator: "; "))
    }

    /// In which capacity the caller decides („Sie entscheiden als DSB in Vertretung für Dora D.“) and,
    /// when an approval covers the next step too (Personalunion), that it does: said before the button on
    /// the request page's form and on a mail link's confirm page, as the engine answered it.
    static func capacity(
        _ options: DecisionOptions, timeline: [TimelineStep], text: PageText, principals: [String: String]
    ) -> String {
        var sentence = capacity(
            options.capacity, role: options.role, actingFor: options.actingFor, text: text, principals: principals)
        if let covered = options.coversStep {
            let step = timeline.first { $0.id == covered }.map { text($0.title) } ?? covered
            sentence += " " + text("decision.covers_step", ["step": step])
        }
        return sentence
    }

    /// „Sie entscheiden als DSB in Vertretung für Dora D.“: the capacity alone, as the inbox says why an
    /// item is the caller's; the principal by `principals`' name, else the uid.
    static func capacity(
        _ capacity: DecisionCapacity, role: String, actingFor: String?, text: PageText, principals: [String: String]
    ) -> String {
        switch capacity {
        case .own: text("decision.capacity.own", ["role": text.role(role)])
        case .deputy:
            text(
                "decision.capacity.deputy",
                ["role": text.role(role), "principal": actingFor.map { principals[$0] ?? $0 } ?? ""])
        case .escalation: text("decision.capacity.escalation", ["role": text.role(role)])
        case .escalationDeputy:
            text(
                "decision.capacity.escalation_deputy",
                ["role": text.role(role), "principal": actingFor.map { principals[$0] ?? $0 } ?? ""])
        }
    }

    private static func decisionForm(
        _ options: DecisionOptions, capacity: String, text: PageText, values: [String: String],
        errors given: [String: String], principals: [String: String], proposedLicence: String?
    ) -> DecisionForm {
        // The form's one text field is what the command calls `comment`, `reason` or `question`: an error
        // under those names is the field's, listed once in the summary and linked to it.
        var errors = given
        if let textError = given["comment"] ?? given["reason"] ?? given["question"] { errors["text"] = textError }
        for name in ["comment", "reason", "question"] { errors[name] = nil }
        var choices: [(value: String, label: String)] =
            (options.mayApprove ? [("approve", text("decision.choice.approve"))] : [])
            + [("reject", text("decision.choice.reject"))]
        if options.mayRequestChanges { choices.append(("request_changes", text("decision.choice.request_changes"))) }
        let choice = FormField(
            .radios, name: "decision", label: text("decision.choice.label"), value: values["decision"],
            error: errors["decision"], required: true, options: choices)
        let textField = FormField(
            .textarea, name: "text", label: text("decision.text.label"), hint: text("decision.text.hint"),
            value: values["text"], error: errors["text"])
        // Asked for the approval only (the engine requires them then): not marked as every choice's.
        let licence =
            options.approvalRequires.contains(.licence)
            ? FormField(
                // The licence the requester asked for (else the catalogue's) is chosen until the officer
                // chooses another.
                .select, name: "licence", label: text("form.licence.label"), hint: text("decision.approval_only"),
                value: values["licence"] ?? proposedLicence, error: errors["licence"],
                options: [("", text("form.choose"))]
                    + RequestFormPage.licences.map { ($0, text.licence($0)) }) : nil
        let portal =
            options.approvalRequires.contains(.portalURL)
            ? FormField(
                .url, name: "portal_url", label: text("decision.portal_url"), hint: text("decision.approval_only"),
                value: values["portal_url"], error: errors["portal_url"]) : nil
        let fields = [choice, textField] + [licence, portal].compactMap { $0 }
        return DecisionForm(
            capacity: capacity,
            approvalClosed: options.mayApprove
                ? nil
                : text(options.mayRequestChanges ? "decision.approval_closed" : "decision.approval_closed_reject_only"),
            branch: options.branch, choice: choice, text: textField, licence: licence,
            portalURL: portal, errors: ErrorSummary(fields: fields, errors: errors))
    }
}

/// Timeline entries answer Mustache by name instead of by `Mirror` reflection (see `HomePages.InboxRow`).
extension RequestPage.DecisionRow: MustacheParent {
    // A missing value is ``MustacheAbsent``, not nil: a nil would be looked up in the enclosing contexts
    // (the step's deadline would show the page's).
    func child(named name: String) -> Any? {
        switch name {
        case "who": who
        case "outcome": outcome
        case "at": at
        case "comment": comment.mustacheValue
        case "details": details.mustacheValue
        default: nil
        }
    }
}

extension RequestPage.BranchRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "role": role
        case "why": why
        default: nil
        }
    }
}

extension RequestPage.StepRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "statusLabel": statusLabel
        case "statusClass": statusClass
        case "reason": reason.mustacheValue
        case "why": why.mustacheValue
        case "branches": branches
        case "hasBranches": !branches.isEmpty
        case "roles": roles
        case "deadline": deadline.mustacheValue
        case "waitingFor": waitingFor.mustacheValue
        case "decisions": decisions
        case "isCurrent": isCurrent
        default: nil
        }
    }
}

/// The page answers Mustache by name instead of by `Mirror` reflection: each of the template's ~35
/// `{{page.…}}` lookups reflected all 30 stored properties (`make bench-web`'s profile of this page).
extension RequestPage: MustacheParent {
    // A nil optional answers nil, as `Mirror` did: the page is only read by dotted names (`page.deadline`),
    // which do not climb the context stack after their first part.
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "number": number
        case "kindLabel": kindLabel
        case "datasetTitle": datasetTitle
        case "datasetID": datasetID
        case "requester": requester
        case "status": status
        case "deadline": deadline
        case "overdue": overdue
        case "escalated": escalated
        case "question": question
        case "textsErased": textsErased
        case "acting": acting
        case "facts": facts
        case "steps": steps
        case "workflow": workflow
        case "version": version
        case "notice": notice
        case "decision": decision
        case "canSubmit": canSubmit
        case "canEdit": canEdit
        case "canWithdraw": canWithdraw
        case "canResubmit": canResubmit
        case "canRevoke": canRevoke
        case "revokeReason": revokeReason
        case "canDiscontinue": canDiscontinue
        case "discontinueReason": discontinueReason
        case "discontinueCapacity": discontinueCapacity.mustacheValue
        case "withdrawComment": withdrawComment
        case "isDraft": isDraft
        case "errors": errors
        default: nil
        }
    }
}

// The page's other parts answer by name too, with `Mirror`'s meaning of a nil optional (not found: the
// name is looked up further out), as they did by reflection.

extension RequestPage.Row: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "label": label
        case "value": value
        case "valueLanguage": valueLanguage
        default: nil
        }
    }
}

extension RequestPage.Acting: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "unknown": unknown
        case "roles": roles
        case "missingMail": missingMail
        default: nil
        }
    }
}

extension RequestPage.Acting.RoleRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "role": role
        case "people": people
        case "deputies": deputies
        default: nil
        }
    }
}

extension RequestPage.DecisionForm: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "capacity": capacity
        case "approvalClosed": approvalClosed
        case "branch": branch
        case "choice": choice
        case "text": text
        case "licence": licence
        case "portalURL": portalURL
        case "errors": errors
        default: nil
        }
    }
}
