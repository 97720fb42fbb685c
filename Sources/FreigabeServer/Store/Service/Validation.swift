import Foundation
import WorkflowEngine

/// Collects the messages per field while inputs are cleaned; every problem is reported at once.
///
/// Text rules for every field: surrounding white space is trimmed, an empty text counts as not given,
/// control characters are refused (multi-line fields allow line breaks and tabs), and the limit is in
/// characters. SQL meta characters and HTML are ordinary text: stored verbatim through bind parameters
/// and escaped on output by the pages.
struct FieldErrors {
    private(set) var errors: [String: UserText] = [:]

    var isEmpty: Bool { errors.isEmpty }

    mutating func add(_ field: String, _ message: UserText) {
        // The first problem of a field is the one to fix first.
        if errors[field] == nil { errors[field] = message }
    }

    func check() throws(ServiceError) {
        guard errors.isEmpty else { throw ServiceError.validation(errors) }
    }

    /// The cleaned text, or nil when it is missing, empty or invalid (then the problem is recorded).
    mutating func text(
        _ field: String, _ value: String?, required: Bool = false, requiredMessage: UserText? = nil, limit: Int,
        multiline: Bool = false
    ) -> String? {
        let trimmed = value?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !trimmed.isEmpty else {
            if required { add(field, requiredMessage ?? UserText("field.required")) }
            return nil
        }
        let forbidden = trimmed.unicodeScalars.contains { scalar in
            let isControl =
                scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}"
            let allowedBreak = multiline && (scalar == "\n" || scalar == "\r" || scalar == "\t")
            return isControl && !allowedBreak
        }
        if forbidden {
            add(
                field,
                UserText(multiline ? "field.control_characters" : "field.line_breaks"))
            return nil
        }
        // Bidirectional embeddings, overrides and isolates make a text display in another order than it
        // is stored: an approver would read a purpose that is not the one the log records.
        if trimmed.unicodeScalars.contains(where: { UnicodeText.reordersDisplay($0) }) {
            add(field, UserText("field.bidi_override"))
            return nil
        }
        // One line break, whichever door the text came through (only a multi-line text may hold one).
        let text = UnicodeText.oneLineBreak(trimmed)
        if UnicodeText.storedLength(text) > limit {
            add(field, UserText("field.too_long", ["limit": .number(limit)]))
            return nil
        }
        return text
    }
}

/// Unicode facts the checks of user-written text share.
enum UnicodeText {
    /// `text` with each CR LF and lone CR made one LF: a browser sends a textarea's lines with CR LF, a
    /// JSON client or a catalogue file usually with LF, and the same text must not count as a change.
    static func oneLineBreak(_ text: String) -> String {
        guard text.unicodeScalars.contains("\r") else { return text }
        return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    /// A text's length as the tables' `CHECK (length(…) <= n)` counts it: in code points. An accent typed
    /// as a combining mark, or an emoji, is one character to the eye and two or more to PostgreSQL; a
    /// check that counted what the eye sees let such a text through to a refused INSERT (500).
    static func storedLength(_ text: String) -> Int { text.unicodeScalars.count }

    /// Bidirectional embeddings and overrides (U+202A…U+202E) and isolates (U+2066…U+2069), the
    /// "Trojan Source" characters (CVE-2021-42574): a text containing them displays in another order than
    /// it is stored. The marks LRM, RLM and ALM, which right-to-left names may need, reorder nothing.
    static func reordersDisplay(_ scalar: Unicode.Scalar) -> Bool {
        ("\u{202A}"..."\u{202E}").contains(scalar) || ("\u{2066}"..."\u{2069}").contains(scalar)
    }
}

extension RequestDetails {
    /// The details trimmed and checked for shape and consistency with `kind` (not for completeness: that
    /// is the workflow's `submit_requires`, asked through `RequestValidation.completeness`).
    ///
    /// - Parameter stored: the details before this change (a draft edit, a resubmission): a licence that
    ///   stays as it was is neither refused nor rewritten (an earlier release stored free text, and
    ///   rewriting "CC BY 4.0" to its identifier would count as a change of the request).
    func cleaned(kind: ReleaseKind, stored: RequestDetails? = nil, errors: inout FieldErrors) -> RequestDetails {
        var clean = RequestDetails(
            purpose: errors.text(
                "purpose", purpose, required: true, requiredMessage: RequestValidation.purposeMissing,
                limit: InputLimits.longText, multiline: true) ?? "")
        if let recipient {
            if kind == .openData {
                errors.add("recipient", UserText("request.no_recipient_for_open_data"))
            } else {
                // A draft may keep the name or the type alone (`completeness` asks for both); a blank name
                // is no name, and a recipient with neither is none.
                let name = errors.text("recipient.name", recipient.name, limit: InputLimits.name)
                if name != nil || recipient.type != nil {
                    clean.recipient = RecipientInput(name: name, type: recipient.type)
                }
            }
        }
        clean.legalBasis = errors.text("legal_basis", legalBasis, limit: InputLimits.longText, multiline: true)
        clean.licence = errors.text("licence", licence, limit: InputLimits.name)
        if let given = clean.licence, given != stored?.licence {
            // Stored by its identifier: a licence is published as a URI of the DCAT vocabulary, and free
            // text would publish none.
            clean.licence = OpenLicence(named: given)?.rawValue
            if clean.licence == nil {
                errors.add(
                    "licence",
                    UserText("request.licence_unknown", ["allowed": .licences(CatalogRules.licences)]))
            }
        }
        clean.format = errors.text("format", format, limit: InputLimits.name)
        clean.anonymisationStatement = errors.text(
            "anonymisation_statement", anonymisationStatement, limit: InputLimits.longText, multiline: true)
        clean.accessStart = accessStart
        clean.accessEnd = accessEnd
        if kind == .openData {
            if accessStart != nil { errors.add("access_start", UserText("request.access_period_only_shared")) }
            if accessEnd != nil { errors.add("access_end", UserText("request.access_period_only_shared")) }
        } else if let accessStart, let accessEnd, accessEnd.storedMicroseconds <= accessStart.storedMicroseconds {
            errors.add("access_end", UserText("request.access_end_before_start"))
        }
        if let openDataCheck {
            if kind == .sharedData {
                errors.add("open_data_check", UserText("request.check_only_open_data"))
            } else {
                clean.openDataCheck = RequestValidation.cleanCheck(openDataCheck, errors: &errors)
                // Nothing answered and nothing noted: no check at all.
                if clean.openDataCheck?.isEmpty == true { clean.openDataCheck = nil }
            }
        }
        return clean
    }
}

enum RequestValidation {
    static let purposeMissing = UserText("request.purpose_missing")

    /// The purpose `audit redact` leaves in a request whose texts it erased (migrations 10 and 17).
    static let erasedPurpose = "-"

    /// A request left waiting for its requester (a draft, an unanswered question) whose texts `audit
    /// redact` erased may still be sent on, but not on the erasure's dash: its approvers would decide on a
    /// purpose nobody stated. The requester is asked for it anew, beside what the workflow demands.
    static func requireStatedPurpose(_ details: RequestDetails, textsErased: Bool, errors: inout FieldErrors) {
        if textsErased, details.purpose == erasedPurpose {
            errors.add("purpose", UserText("request.purpose_erased"))
        }
    }

    /// The notes trimmed and checked. A draft keeps what is given: a question not answered yet, a note
    /// written before its answer, a "ja" still without its note (``requireCheckNotes`` asks for that at
    /// submission).
    static func cleanCheck(_ check: OpenDataCheck, errors: inout FieldErrors) -> OpenDataCheck {
        func answer(_ key: String, _ answer: CheckAnswer) -> CheckAnswer {
            let note = errors.text(
                "open_data_check.\(key).note", answer.note, limit: InputLimits.longText, multiline: true)
            return CheckAnswer(applies: answer.applies, note: note)
        }
        return OpenDataCheck(
            personalReference: answer("personal_reference", check.personalReference),
            tradeSecrets: answer("trade_secrets", check.tradeSecrets),
            thirdPartyRights: answer("third_party_rights", check.thirdPartyRights),
            security: answer("security", check.security),
            confidentiality: answer("confidentiality", check.confidentiality))
    }

    /// What the workflow still demands before submission (its `submit_requires` and the engine's own
    /// checks, with the definition's messages), added to `errors` by field.
    static func completeness(
        _ details: RequestDetails, kind: ReleaseKind, catalogue: RequestFacts, definition: WorkflowDefinition,
        now: Date, errors: inout FieldErrors
    ) {
        let facts = details.facts(kind: kind, catalogue: catalogue)
        for missing in definition.missingRequirements(facts: facts, accessEnd: details.accessEnd, at: now) {
            if missing.field == .recipient, let recipient = details.recipient, recipient.type == nil {
                // The name is there (a draft kept it): what is missing is whether the recipient belongs
                // to the administration, asked in the words the form uses for it.
                errors.add("recipient.type", UserText("request.recipient_type_missing"))
            } else {
                errors.add(missing.field.rawValue, UserText(given: missing.message))
            }
        }
        if let recipient = details.recipient, recipient.type != nil, recipient.name == nil {
            // The type is there (a draft kept it), so the workflow sees a recipient; nobody is named yet.
            errors.add("recipient.name", UserText("request.recipient_name_missing"))
        }
        if let recipient = details.recipient, recipient.name != nil, recipient.type == nil {
            // A name without its type (a draft kept it), where the workflow does not ask for a recipient:
            // a submitted request names both or neither, whatever the workflow demands.
            errors.add("recipient.type", UserText("request.recipient_type_missing"))
        }
        requireCheckNotes(details, errors: &errors)
    }

    /// A "ja" in the release check needs its reason by submission: why publication is still possible.
    static func requireCheckNotes(_ details: RequestDetails, errors: inout FieldErrors) {
        for (key, answer) in details.openDataCheck?.namedAnswers ?? []
        where answer.applies == true && answer.note == nil {
            errors.add("open_data_check.\(key).note", UserText("request.check_note_missing"))
        }
    }

    /// Comments, reasons and questions.
    static func comment(_ field: String, _ text: String?, required: Bool, errors: inout FieldErrors) -> String? {
        errors.text(
            field, text, required: required,
            requiredMessage: UserText(field == "reason" ? "decision.reason_missing" : "decision.question_missing"),
            limit: InputLimits.comment, multiline: true)
    }

    /// An Idempotency-Key: 1 to 255 visible ASCII characters.
    static func checkIdempotencyKey(_ key: String) throws(ServiceError) {
        let valid =
            !key.isEmpty && key.utf8.count <= 255
            && key.unicodeScalars.allSatisfy { $0.value >= 0x21 && $0.value <= 0x7e }
        guard valid else {
            throw ServiceError.validation(["idempotency_key": UserText("idempotency.key_invalid")])
        }
    }
}
