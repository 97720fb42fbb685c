import Foundation
import WorkflowEngine

/// The form for a new request (and, with the answer field, for a resubmission): which fields appear
/// and which are required follows the kind, the dataset and the workflow's `submit_requires`
/// (``RequestForm``), never a rule of the page's own.
struct RequestFormPage {
    var kind: String
    var kindLabel: String
    var datasetID: String
    var datasetTitle: String
    var workflowTitle: String
    var fields: [FormField]
    var checkQuestions: [CheckQuestion]
    var hasCheck: Bool
    var errors: ErrorSummary
    /// Against a double click filing two requests: the same key replays the first answer.
    var idempotencyKey: String
    /// The resubmission's answer to the open question; nil otherwise.
    var answer: FormField?
    var question: String?
    var formAction: String
    var isNew: Bool
    var isDraft: Bool
    var isResubmission: Bool
    /// The request's version, when it exists already.
    var version: Int?

    /// What the form is for.
    enum Mode {
        case new
        /// Changing a saved draft.
        case draft(id: UUID, version: Int)
        /// Answering a question: the details as stored, plus the answer.
        case resubmission(id: UUID, question: String?, version: Int)

        static func draft(of view: RequestView) -> Mode { .draft(id: view.id, version: view.version) }

        /// The command a stored request's form leads to (`edit` for a new one too: it saves a draft).
        var action: RequestAction {
            switch self {
            case .new, .draft: .edit
            case .resubmission: .resubmit
            }
        }

        static func resubmission(of view: RequestView) -> Mode {
            .resubmission(id: view.id, question: view.status.question, version: view.version)
        }
    }

    /// One question of the Open Data check (§ 12a EGovG): does the exclusion apply, and if so why may
    /// it still be published.
    struct CheckQuestion {
        var applies: FormField
        var note: FormField
    }

    static let licences = CatalogRules.licences
    /// GDPR Art. 6 (1) a–f, as offered for the legal basis; free text follows in the detail field.
    static let legalBases = ["art6_1_a", "art6_1_b", "art6_1_c", "art6_1_d", "art6_1_e", "art6_1_f", "other"]

    /// Whether a stored legal basis begins with an article as the form records it: in German, from the
    /// German catalogue's `form.legal_basis.options` ("Art. 6 Abs. 1 lit. e DSGVO (öffentliche Aufgabe)"),
    /// whatever the page's language. A basis in the person's own words ("other") is in no known language.
    static func recordsGermanArticle(_ basis: String) -> Bool { basis.hasPrefix(germanArticlePrefix) }

    static let germanArticlePrefix = "Art. 6 Abs. 1 lit. "

    /// - Parameters:
    ///   - values: what the person entered (or the stored details, for a resubmission), by field name.
    ///   - errors: field errors by field name, already in the page's language.
    init(
        form: RequestForm, values: [String: String], errors: [String: String], text: PageText,
        idempotencyKey: String, mode: Mode = .new
    ) {
        let kind = form.kind
        var errors = errors
        if kind == .openData, let message = errors.removeValue(forKey: "open_data_check") {
            // The workflow's "answer the check" message belongs to the check's first question left open
            // (a draft may have answered some).
            let open =
                OpenDataCheck.questions.first { values["open_data_check.\($0).applies"] == nil } ?? "personal_reference"
            errors["open_data_check.\(open).applies"] = errors["open_data_check.\(open).applies"] ?? message
        }
        if kind == .sharedData, let message = errors.removeValue(forKey: "recipient") {
            // The workflow names the recipient as one field; the form asks for it as name and type.
            errors["recipient.name"] = errors["recipient.name"] ?? message
        }
        if kind == .sharedData, errors["recipient.type"] != nil {
            // In the form's words: the API's name the values (`internal`, `external`) the form shows as
            // its two choices.
            errors["recipient.type"] = text("form.recipient.type.missing")
        }
        self.kind = kind.rawValue
        kindLabel = text("kinds.\(kind.rawValue)")
        datasetID = form.dataset.id
        datasetTitle = form.dataset.title
        workflowTitle = text(form.workflowTitle)
        self.idempotencyKey = idempotencyKey
        switch mode {
        case .new:
            (isNew, isDraft, isResubmission) = (true, false, false)
            formAction = "/antraege"
        case .draft(let id, let version):
            (isNew, isDraft, isResubmission) = (false, true, false)
            formAction = "/antraege/\(id.uuidString)/bearbeiten"
            self.version = version
        case .resubmission(let id, let question, let version):
            (isNew, isDraft, isResubmission) = (false, false, true)
            formAction = "/antraege/\(id.uuidString)/ueberarbeiten"
            self.question = question
            self.version = version
        }

        func required(_ field: RequirementField) -> Bool { form.required[field] != nil }
        /// The workflow's own message as the hint of a field it requires.
        func hint(_ field: RequirementField, _ fallback: String? = nil) -> String? {
            form.required[field].map { text($0) } ?? fallback
        }
        func field(
            _ control: FormField.Control, _ name: String, required: Bool = false, hint: String? = nil,
            options: [(value: String, label: String)] = []
        ) -> FormField {
            FormField(
                control, name: name, label: text("form.\(name).label"), hint: hint, value: values[name],
                error: errors[name], required: required, options: options)
        }

        var fields = [field(.textarea, "purpose", required: true, hint: text("form.purpose.hint"))]
        if kind == .sharedData {
            // Open Data has no recipient: it is published for everyone (the service refuses one).
            fields.append(
                field(.text, "recipient.name", required: required(.recipient), hint: text("form.recipient.name.hint")))
            fields.append(
                field(
                    .radios, "recipient.type", required: required(.recipient),
                    options: Recipient.allCases.map { ($0.rawValue, text("form.recipient.type.\($0.rawValue)")) }))
        }
        // Only where the workflow asks for it (for either kind: an administrator may ask it of Open Data
        // too), or where it was given before.
        if required(.legalBasis) || values["legal_basis"] != nil {
            fields.append(
                field(
                    .select, "legal_basis", required: required(.legalBasis), hint: hint(.legalBasis),
                    options: [("", text("form.choose"))]
                        + Self.legalBases.map { ($0, text("form.legal_basis.options.\($0)")) }))
            fields.append(field(.textarea, "legal_basis_detail", hint: text("form.legal_basis_detail.hint")))
        }
        switch kind {
        case .sharedData:
            fields.append(field(.date, "access_start", hint: text("form.access_start.hint")))
            fields.append(field(.date, "access_end", required: required(.accessEnd), hint: hint(.accessEnd)))
        case .openData:
            fields.append(
                field(
                    .select, "licence", hint: text("form.licence.hint"),
                    options: [("", text("form.choose"))] + Self.licences.map { ($0, text.licence($0)) }
                        // A licence an earlier release stored as free text stays choosable, so that saving
                        // the form unchanged keeps it.
                        + (values["licence"].flatMap { Self.licences.contains($0) ? nil : [($0, $0)] } ?? [])))
        }
        fields.append(field(.text, "format", hint: text("form.format.hint")))
        if required(.anonymisationStatement) || values["anonymisation_statement"] != nil {
            fields.append(
                field(
                    .textarea, "anonymisation_statement", required: required(.anonymisationStatement),
                    hint: hint(.anonymisationStatement)))
        }
        hasCheck =
            kind == .openData && (required(.openDataCheck) || values.keys.contains { $0.hasPrefix("open_data_check.") })
        checkQuestions =
            hasCheck
            ? OpenDataCheck.questions.map { id in
                let base = "open_data_check.\(id)"
                return CheckQuestion(
                    applies: FormField(
                        .radios, name: base + ".applies", label: text("form.check.\(id)"),
                        value: values[base + ".applies"],
                        error: errors[base + ".applies"], required: true,
                        options: [("false", text("form.check.no")), ("true", text("form.check.yes"))]),
                    note: FormField(
                        .textarea, name: base + ".note",
                        label: text("form.check.note", ["question": text("form.check.\(id)")]),
                        hint: text("form.check.note_hint"), value: values[base + ".note"], error: errors[base + ".note"]
                    ))
            } : []
        if isResubmission {
            answer = FormField(
                .textarea, name: "comment", label: text("form.answer.label"), hint: text("form.answer.hint"),
                value: values["comment"], error: errors["comment"])
        }
        self.fields = fields
        var all = fields + checkQuestions.flatMap { [$0.applies, $0.note] }
        if let answer { all.insert(answer, at: 0) }
        self.errors = ErrorSummary(fields: all, errors: errors)
    }
}
