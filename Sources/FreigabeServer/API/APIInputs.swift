import Foundation
import WorkflowEngine

// The request bodies of the JSON API, read strictly from JSON into the service's inputs. Unknown
// fields are refused (400 `invalid-body`): a typo such as `purpse` must not silently file a request
// without a purpose. Texts pass on untrimmed and unchecked: the service trims them, checks lengths and
// control characters and the rules of the domain, and names every field it refuses (422).

extension NewRequest {
    static let fields = Set(["kind", "dataset_id", "submit"] + RequestDetails.Field.allCases.map(\.rawValue))

    /// `POST /requests`. A missing `dataset_id` or `purpose` is left to the service, which names it.
    static func read(_ body: JSONObject) throws(APIProblem) -> NewRequest {
        var errors = BodyErrors()
        body.rejectUnknown(fields, errors: &errors)
        let kind = body.enumeration("kind", ReleaseKind.self, errors: &errors)
        if body.fields["kind"] == nil || body.fields["kind"] == .null {
            errors.missing("kind", UserText("request.kind_missing"))
        }
        let datasetID = body.string("dataset_id", errors: &errors)
        let details = RequestDetails.Patch.read(body, errors: &errors)
        let submit = body.bool("submit", errors: &errors)
        try errors.check()
        guard let kind else { throw APIProblem.validation(["kind": UserText("request.kind_missing")]) }
        return NewRequest(
            kind: kind, datasetID: datasetID ?? "", details: details.applied(to: RequestDetails()),
            submit: submit ?? false)
    }
}

extension Resubmission {
    static let fields = Set(["comment"] + RequestDetails.Field.allCases.map(\.rawValue))

    /// `POST /requests/{id}/resubmit`: the answer and any changed fields.
    static func read(_ body: JSONObject?) throws(APIProblem) -> Resubmission {
        guard let body else { return Resubmission() }
        var errors = BodyErrors()
        body.rejectUnknown(fields, errors: &errors)
        let comment = body.string("comment", errors: &errors)
        let changes = RequestDetails.Patch.read(body, errors: &errors)
        try errors.check()
        return Resubmission(comment: comment, changes: changes)
    }
}

extension RequestDetails.Patch {
    static let fields = Set(RequestDetails.Field.allCases.map(\.rawValue))

    /// `POST /requests/{id}/edit`: the changed fields of a draft.
    static func read(_ body: JSONObject?) throws(APIProblem) -> RequestDetails.Patch {
        guard let body else { return RequestDetails.Patch() }
        var errors = BodyErrors()
        body.rejectUnknown(fields, errors: &errors)
        let patch = read(body, errors: &errors)
        try errors.check()
        return patch
    }
}

/// The details a body gives; a field that is absent or `null` is not given.
extension RequestDetails.Patch {
    fileprivate static func read(_ body: JSONObject, errors: inout BodyErrors) -> RequestDetails.Patch {
        var patch = RequestDetails.Patch()
        for field in RequestDetails.Field.allCases {
            let name = field.rawValue
            guard let value = body.fields[name], value != .null else { continue }
            switch field {
            case .purpose: patch.values.purpose = body.string(name, errors: &errors) ?? ""
            case .recipient: patch.values.recipient = readRecipient(body, errors: &errors)
            case .legalBasis: patch.values.legalBasis = body.string(name, errors: &errors)
            case .accessStart: patch.values.accessStart = body.date(name, .startOfDay, errors: &errors)
            case .accessEnd: patch.values.accessEnd = body.date(name, .endOfDay, errors: &errors)
            case .licence: patch.values.licence = body.string(name, errors: &errors)
            case .format: patch.values.format = body.string(name, errors: &errors)
            case .anonymisationStatement: patch.values.anonymisationStatement = body.string(name, errors: &errors)
            case .openDataCheck:
                patch.values.openDataCheck = body.object(name, errors: &errors).flatMap {
                    readCheck($0, errors: &errors)
                }
            }
            patch.given.insert(field)
        }
        return patch
    }

    /// A recipient's name may come without its type and its type without its name (a draft keeps either;
    /// submission asks for both). A type the API does not know is refused.
    private static func readRecipient(_ body: JSONObject, errors: inout BodyErrors) -> RecipientInput? {
        guard let recipient = body.object("recipient", errors: &errors) else { return nil }
        recipient.rejectUnknown(["name", "type"], errors: &errors)
        let name = recipient.string("name", errors: &errors)
        let type = recipient.enumeration("type", Recipient.self, errors: &errors)
        return RecipientInput(name: name, type: type)
    }

    /// The answers given, each a yes/no (`applies`) and a note. A draft may leave questions out, or give
    /// a note before its answer; submission asks for all five answers (the workflow's `submit_requires`).
    /// A question the check does not have is refused.
    private static func readCheck(_ check: JSONObject, errors: inout BodyErrors) -> OpenDataCheck? {
        check.rejectUnknown(Set(OpenDataCheck.questions), errors: &errors)
        var answers: [String: CheckAnswer] = [:]
        for question in OpenDataCheck.questions {
            guard let answer = check.object(question, errors: &errors) else { continue }
            answer.rejectUnknown(["applies", "note"], errors: &errors)
            let applies = answer.bool("applies", errors: &errors)
            let note = answer.string("note", errors: &errors)
            answers[question] = CheckAnswer(applies: applies, note: note)
        }
        return OpenDataCheck(named: answers)
    }
}

/// `POST /requests/{id}/decisions`: the decision and its own fields. A field of another decision
/// (a `reason` on an approval) is refused as unknown, as the schema's `oneOf` says.
struct DecisionBody: Sendable {
    var decision: DecisionInput
    var branch: String?

    enum Kind: String, CaseIterable {
        case approve
        case reject
        case requestChanges = "request_changes"
    }

    static func read(_ body: JSONObject) throws(APIProblem) -> DecisionBody {
        var errors = BodyErrors()
        let kind = body.enumeration("decision", Kind.self, errors: &errors)
        if body.fields["decision"] == nil || body.fields["decision"] == .null {
            errors.missing("decision", UserText("decision.missing"))
        }
        let known: Set<String> =
            switch kind {
            case .approve: ["decision", "branch", "comment", "licence", "portal_url"]
            case .reject: ["decision", "branch", "reason"]
            case .requestChanges: ["decision", "branch", "question"]
            case nil: ["decision", "branch", "comment", "licence", "portal_url", "reason", "question"]
            }
        body.rejectUnknown(known, errors: &errors)
        let branch = body.string("branch", errors: &errors)
        let comment = body.string("comment", errors: &errors)
        let licence = body.string("licence", errors: &errors)
        let portalURL = body.string("portal_url", errors: &errors)
        let reason = body.string("reason", errors: &errors)
        let question = body.string("question", errors: &errors)
        try errors.check()
        let decision: DecisionInput
        switch kind {
        case .approve: decision = .approve(comment: comment, licence: licence, portalURL: portalURL)
        // A missing reason or question is the service's to name (with the same message as an empty one).
        case .reject: decision = .reject(reason: reason ?? "")
        case .requestChanges: decision = .requestChanges(question: question ?? "")
        case nil: throw APIProblem.validation(["decision": UserText("decision.missing")])
        }
        return DecisionBody(decision: decision, branch: branch)
    }
}

/// `POST /requests/{id}/withdraw` (optional `comment`), `POST /requests/{id}/revoke` and
/// `POST /requests/{id}/discontinue` (`reason`).
enum NoteBody {
    static func comment(_ body: JSONObject?) throws(APIProblem) -> String? {
        try text("comment", body)
    }

    static func reason(_ body: JSONObject?) throws(APIProblem) -> String {
        try text("reason", body) ?? ""
    }

    /// An empty object (or no body) for `submit`.
    static func empty(_ body: JSONObject?) throws(APIProblem) {
        guard let body else { return }
        var errors = BodyErrors()
        body.rejectUnknown([], errors: &errors)
        try errors.check()
    }

    private static func text(_ field: String, _ body: JSONObject?) throws(APIProblem) -> String? {
        guard let body else { return nil }
        var errors = BodyErrors()
        body.rejectUnknown([field], errors: &errors)
        let text = body.string(field, errors: &errors)
        try errors.check()
        return text
    }
}

extension NewDeputyship {
    /// `POST /deputyships`.
    static func read(_ body: JSONObject) throws(APIProblem) -> NewDeputyship {
        var errors = BodyErrors()
        body.rejectUnknown(["principal", "deputy", "valid_from", "valid_until"], errors: &errors)
        let principal = body.string("principal", errors: &errors)
        let deputy = body.string("deputy", errors: &errors)
        let validFrom = body.date("valid_from", .startOfDay, errors: &errors)
        let validUntil = body.date("valid_until", .exclusiveStartOfDay, errors: &errors)
        if body.fields["valid_from"] == nil || body.fields["valid_from"] == .null {
            errors.missing("valid_from", UserText("deputyship.valid_from_missing"))
        }
        if body.fields["valid_until"] == nil || body.fields["valid_until"] == .null {
            errors.missing("valid_until", UserText("deputyship.valid_until_missing"))
        }
        try errors.check()
        guard let validFrom, let validUntil else {
            throw APIProblem.validation(["valid_from": UserText("deputyship.valid_from_missing")])
        }
        return NewDeputyship(principal: principal, deputy: deputy ?? "", validFrom: validFrom, validUntil: validUntil)
    }
}

extension DatasetInput {
    static let fields: Set<String> = [
        "title", "description", "domain", "owner", "owner_group", "classification", "personal_data",
        "protection_need", "licence", "high_value", "formats",
    ]

    /// `PUT /datasets/{id}`: the whole dataset except its id, which is the path's.
    static func read(id: String, _ body: JSONObject) throws(APIProblem) -> DatasetInput {
        var errors = BodyErrors()
        body.rejectUnknown(fields, errors: &errors)
        let title = body.string("title", errors: &errors)
        let description = body.string("description", errors: &errors)
        let domain = body.string("domain", errors: &errors)
        let owner = body.string("owner", errors: &errors)
        let ownerGroup = body.string("owner_group", errors: &errors)
        let classification = body.enumeration("classification", Classification.self, errors: &errors)
        let personalData = body.enumeration("personal_data", PersonalDataCategory.self, errors: &errors)
        let protectionNeed = body.enumeration("protection_need", ProtectionNeed.self, errors: &errors)
        let licence = body.string("licence", errors: &errors)
        let highValue = body.bool("high_value", errors: &errors)
        let formats = body.strings("formats", errors: &errors)
        for field in ["title", "domain", "classification", "personal_data", "protection_need"]
        where body.fields[field] == nil || body.fields[field] == .null {
            errors.missing(field, UserText("field.required"))
        }
        try errors.check()
        guard let title, let domain, let classification, let personalData, let protectionNeed else {
            throw APIProblem.validation(["title": UserText("field.required")])
        }
        return DatasetInput(
            id: id, title: title, description: description ?? "", domain: domain, owner: owner, ownerGroup: ownerGroup,
            classification: classification, personalData: personalData, protectionNeed: protectionNeed,
            licence: licence, highValue: highValue ?? false, formats: formats ?? [])
    }
}
