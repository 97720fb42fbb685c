import Foundation
import Mustache
import WorkflowEngine

/// Words one outbox message for one person: subject, text part and HTML part from the templates
/// `email/<topic>-text` and `email/<topic>-html` and the `mail` texts of the person's language.
///
/// Everything a person wrote (purpose, question, reason) and everything from the catalogue (dataset
/// title) is a value: the HTML templates escape it (`{{…}}`), the text templates are plain text
/// (`CONTENT_TYPE: TEXT`), and the subject is a header the SMTP client encodes; none of them can add
/// markup or a header.
struct MailComposer: Sendable {
    let renderer: PageRenderer
    /// The definitions requests are pinned to: from the files, or the stored text of a version whose file
    /// was changed or removed while its requests are in flight (as the engine reads them).
    let definitions: PinnedDefinitionCache
    /// Where people open Freigabe (``WebSettings/publicURL``): every mail links to the request's page.
    var publicURL: URL = WebSettings().publicURL

    init(renderer: PageRenderer, workflows: WorkflowLibrary, publicURL: URL = WebSettings().publicURL) {
        self.renderer = renderer
        self.definitions = PinnedDefinitionCache(library: workflows)
        self.publicURL = publicURL
    }

    struct Composed: Sendable, Hashable {
        var subject: String
        var text: String
        var html: String
    }

    struct MissingTemplate: Error, CustomStringConvertible {
        var name: String
        var description: String { "Vorlage \(name) fehlt" }
    }

    /// The templates every topic needs; checked at start.
    static func templateNames(for topic: OutboxTopic) -> [String] {
        // Webhook rows are never mailed (the mail dispatcher claims kind `mail` only).
        if topic == .webhook { return [] }
        return ["email/\(topic.rawValue)-text", "email/\(topic.rawValue)-html"]
    }

    /// - Parameters:
    ///   - details: the request's details as they stand; a task mail (and its reminder and escalation)
    ///     shows all of them, as the request's page and the link's confirm page do: whoever decides from
    ///     the mail decides on what it states. The other mails show the purpose.
    ///   - requester: whoever filed the request, as the mail names them (``MailPerson/nameWithUID``).
    ///   - links: the person's decision links (task mails only), one set per branch they decide; a set
    ///     is headed by its branch's title when there are several (an escalation of a step whose open
    ///     branches the instance may each decide).
    ///   - decidedBy: who decided in the reader's place, as the mail names them (``OutboxTopic/deputyDecided``,
    ///     ``OutboxTopic/stepTakenOver``).
    func compose(
        _ message: OutboxMessage, details: RequestDetails?, facts: RequestFacts? = nil, requester: String?,
        definition: WorkflowDefinition?, for person: MailPerson, deputyFor: String? = nil, links: [BranchLinks] = [],
        decidedBy: String? = nil, approvalNotes: [Decision] = []
    ) throws(MissingTemplate) -> Composed {
        let catalog = renderer.catalog(for: person.language)
        let words = PageText(catalog: catalog)
        let topic = message.topic.rawValue
        let subject = Placeholders.fill(
            catalog["mail.\(topic).subject"] ?? "{number}",
            ["number": message.requestNumber, "title": message.datasetTitle])
        var values: [String: Any] = [
            "subject": subject,
            "name": person.displayName,
            "number": message.requestNumber,
            "dataset": message.datasetTitle,
            "kind": catalog["mail.kinds.\(message.kind.rawValue)"] ?? message.kind.rawValue,
        ]
        values["purpose"] = details?.purpose
        values["deputy_for"] = deputyFor
        if message.topic.namesTheRequester { values["requester"] = requester }
        if message.showsTheDetails, let details {
            // What the request was routed on (classification, personal data, protection need), then what
            // the requester stated.
            let dataset = facts.map { RequestPage.datasetRows(RoutedDatasetFacts($0), text: words) } ?? []
            values["details"] = (dataset + RequestPage.detailRows(details, text: words)).map { row in
                var entry = ["label": row.label, "value": row.value]
                entry["lang"] = row.valueLanguage
                return entry
            }
        }
        values["step"] = message.step.map {
            stepTitle($0, branch: message.branch, definition: definition, text: words)
        }
        // A deadline is the midnight after its last day: the mail names that day, as the pages do (a
        // deadline ending Friday written as "Saturday, 00:00" reads as a day more). So is an access end
        // chosen as a date; one given as a moment through the API keeps its time.
        values["deadline"] = message.deadline.map { UserText.Argument.lastDay($0).resolved(in: catalog) }
        values["overdue_since"] = message.overdueSince.map { UserText.Argument.lastDay($0).resolved(in: catalog) }
        values["granted_until"] = message.grantedUntil.map { UserText.Argument.periodEnd($0).resolved(in: catalog) }
        values["granted_from"] = message.grantedFrom.map(words.periodStart)
        // By its name, as the pages show it ("Datenlizenz Deutschland – Zero – Version 2.0"), not its key.
        values["licence"] = message.licence.map(catalog.licenceName)
        values["portal_url"] = message.portalURL
        values["may_decide"] = message.mayDecide ?? false
        values["request_url"] = publicURL.absoluteString + "/antraege/" + message.requestID.uuidString
        if links.contains(where: { !$0.tokens.isEmpty }) {
            values["has_links"] = true
            values["link_sets"] = links.map { set in
                var entry: [String: Any] = [
                    "links": DecisionLinkAction.allCases.compactMap { action in
                        set.tokens[action].map { token in
                            [
                                "label": catalog["mail.links.\(action.rawValue)"] ?? action.rawValue,
                                "url": publicURL.absoluteString + "/e/" + token,
                            ]
                        }
                    }
                ]
                // Headed by its branch where the step's title does not name it already: several sets, or
                // an escalation's one set left of several (the others were decided meanwhile).
                if let step = message.step, links.count > 1 || (message.branch == nil && set.branch != step) {
                    let part = branchTitle(
                        step, branch: set.branch, definition: definition, text: words)
                    entry["part"] = Placeholders.fill(catalog["mail.links.branch"] ?? "{branch}", ["branch": part])
                }
                return entry
            }
            // No approve link where the approval needs more than a comment: the mail says where it is given.
            if let step = message.step, let needs = definition?.step(step)?.approvalRequires,
                !linkActions(step: step, definition: definition).contains(.approve)
            {
                let names = needs.map { catalog["mail.links.approval_needs.\($0.rawValue)"] ?? $0.rawValue }
                let listed =
                    names.count < 2
                    ? names.joined()
                    : names.dropLast().joined(separator: ", ") + " \(catalog["mail.links.and"] ?? "&") "
                        + names[names.count - 1]
                values["approve_on_page"] = Placeholders.fill(
                    catalog["mail.links.approve_on_page"] ?? "{needs}", ["needs": listed])
            }
        }
        if !approvalNotes.isEmpty {
            values["has_approval_notes"] = true
            values["approval_notes"] = approvalNotes.map { note in
                [
                    "step": stepTitle(note.step, branch: note.branch, definition: definition, text: words),
                    "text": note.comment ?? "",
                ]
            }
        }
        values["question"] = message.question
        values["answer"] = message.answer
        if let outcome = message.outcome {
            // "Paul Peters (paul) hat in Ihrer Vertretung im Schritt „…“ entschieden: abgelehnt." An outcome
            // may have words of its own (a discontinuation says why it happens), and a note (what a
            // revocation leaves the reader to see to).
            let escalation = message.asEscalation == true ? "_as_escalation" : ""
            let leads = [
                "lead_\(outcome.rawValue)\(escalation)", "lead_\(outcome.rawValue)", "lead\(escalation)", "lead",
            ]
            let lead = leads.lazy.compactMap { catalog["mail.\(topic).\($0)"] }.first
            values["outcome_note"] = catalog["mail.\(topic).outcome_notes.\(outcome.rawValue)"]
            values["lead"] = Placeholders.fill(
                lead ?? "{who}: {outcome}",
                [
                    "who": decidedBy ?? message.decidedBy ?? "",
                    "outcome": catalog["mail.decision.outcomes.\(outcome.rawValue)"] ?? outcome.rawValue,
                    "step": values["step"] as? String ?? "",
                ])
        }
        if let text = message.text {
            values["text"] = text
            // A decision's comment, reason or question, as the decision calls it.
            let label = message.outcome.flatMap { catalog["mail.decision.text_labels.\($0.rawValue)"] }
            values["text_label"] = label ?? catalog["mail.\(topic).text_label"] ?? catalog["mail.facts.text"] ?? ""
        }
        let names = Self.templateNames(for: message.topic)
        guard names.count == 2 else { throw MissingTemplate(name: "email/\(message.topic.rawValue)") }
        guard let text = renderer.renderMail(names[0], language: person.language, values: values) else {
            throw MissingTemplate(name: names[0])
        }
        guard let html = renderer.renderMail(names[1], language: person.language, values: values) else {
            throw MissingTemplate(name: names[1])
        }
        return Composed(subject: subject, text: Self.tidy(text), html: html)
    }

    /// The decision links a task mail for `step` carries, as the pinned workflow defines the step:
    /// approve only when the approval needs nothing besides a comment (a publication's licence and portal
    /// address are entered on the request's page, which the link page is not), reject always, a question
    /// where the step allows one.
    func linkActions(step: String, definition: WorkflowDefinition?) -> [DecisionLinkAction] {
        // Without the definition (it could not be read) only what every step accepts without details.
        guard let step = definition?.step(step) else { return [.reject] }
        return (step.approvalRequires.isEmpty ? [.approve] : []) + [.reject]
            + (step.allowsRequestChanges ? [.requestChanges] : [])
    }

    /// The step's title in the workflow the request is pinned to, else its id; in a step of parallel
    /// branches with the branch's title ("Rechtliche Prüfung – Datenschutz"), so the DSB, the ISB and the
    /// governance office each read which part is theirs.
    private func stepTitle(
        _ step: String, branch: String?, definition: WorkflowDefinition?, text: PageText
    ) -> String {
        guard let definition = definition?.step(step) else { return step }
        let part = branch == step ? nil : definition.branches.first { $0.id == branch }
        return text.stepTitle(definition.title, part: part?.title)
    }

    /// The branch's own title ("Datenschutz"), else its id: what heads its links in a mail with several.
    private func branchTitle(
        _ step: String, branch: String, definition: WorkflowDefinition?, text: PageText
    ) -> String {
        guard let part = definition?.step(step)?.branches.first(where: { $0.id == branch }) else { return branch }
        return text(part.title)
    }

    /// Sections that render nothing leave empty lines; more than one in a row reads as a gap.
    static func tidy(_ text: String) -> String {
        var lines: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingSuffix(while: \.isWhitespace)
            if trimmed.isEmpty && (lines.last?.isEmpty ?? true) { continue }
            lines.append(trimmed)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension PageRenderer {
    /// Renders a mail template with `values` (strings, and booleans for sections) besides `lang` and `t`.
    func renderMail(_ template: String, language: String, values: [String: Any]) -> String? {
        let catalog = catalog(for: language)
        var context = values
        context["lang"] = catalog.language
        context["t"] = catalog.root
        return library.render(context, withTemplate: template)
    }
}

extension Substring {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return self[..<end]
    }
}
