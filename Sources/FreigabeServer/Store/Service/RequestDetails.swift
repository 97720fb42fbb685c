import AuditLog
import Foundation
import WorkflowEngine

/// What a requester states about a request: one value from the API body through validation to the
/// stored row and the view. A resubmission is a ``Patch`` of it.
///
/// Adding a field means: the property here, its ``Field`` case (the compiler then asks for it in
/// ``Patch/applied(to:)`` and in the API reader), its rule in `cleaned(kind:now:errors:)`, its column in
/// ``RequestDetails/columns`` with `bind`/`decode` beside it, its migration, its OpenAPI entry, its test.
public struct RequestDetails: Sendable, Hashable, Codable {
    /// [`purpose`] Required, at most 4000 characters.
    public var purpose: String
    /// [`recipient`, `recipient.name`, `recipient.type`] Required for Shared Data (with its type, to
    /// submit; a draft may keep the name alone), not allowed for Open Data.
    public var recipient: RecipientInput?
    /// [`legal_basis`] Required to submit when the dataset holds personal data (pseudonymised or more).
    public var legalBasis: String?
    /// [`access_start`] Start of the Shared Data period (default: when access is granted).
    public var accessStart: Date?
    /// [`access_end`] End of the Shared Data period, required to submit Shared Data; after the start and
    /// in the future. The API turns a calendar date into the end of that day in Europe/Berlin.
    public var accessEnd: Date?
    /// [`licence`] Open Data: the open licence proposed (the Open Data officer records the final one).
    public var licence: String?
    /// [`format`] The format wanted or to publish (CSV, JSON, GeoJSON, ...).
    public var format: String?
    /// [`anonymisation_statement`] Required to submit Open Data of data that was ever personal.
    public var anonymisationStatement: String?
    /// [`open_data_check`] Required to submit Open Data, complete; a draft may hold part of it.
    public var openDataCheck: OpenDataCheck?

    public init(
        purpose: String = "", recipient: RecipientInput? = nil, legalBasis: String? = nil, accessStart: Date? = nil,
        accessEnd: Date? = nil, licence: String? = nil, format: String? = nil, anonymisationStatement: String? = nil,
        openDataCheck: OpenDataCheck? = nil
    ) {
        self.purpose = purpose
        self.recipient = recipient
        self.legalBasis = legalBasis
        self.accessStart = accessStart
        self.accessEnd = accessEnd
        self.licence = licence
        self.format = format
        self.anonymisationStatement = anonymisationStatement
        self.openDataCheck = openDataCheck
    }

    /// The fields by their JSON names (also the keys of field errors).
    public enum Field: String, Sendable, Hashable, CaseIterable, Codable {
        case purpose
        case recipient
        case legalBasis = "legal_basis"
        case accessStart = "access_start"
        case accessEnd = "access_end"
        case licence
        case format
        case anonymisationStatement = "anonymisation_statement"
        case openDataCheck = "open_data_check"
    }

    /// Changed fields: the values of the fields in `given` replace the stored ones, all others stay.
    public struct Patch: Sendable, Hashable, Codable {
        public var values: RequestDetails
        public var given: Set<Field>

        public init(values: RequestDetails = RequestDetails(), given: Set<Field> = []) {
            self.values = values
            self.given = given
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(values, forKey: .values)
            // In declaration order: a Set's order differs between processes, and idempotency keys compare
            // the encoding of their input.
            try container.encode(Field.allCases.filter(given.contains), forKey: .given)
        }

        public func applied(to base: RequestDetails) -> RequestDetails {
            var result = base
            for field in given {
                switch field {
                case .purpose: result.purpose = values.purpose
                case .recipient: result.recipient = values.recipient
                case .legalBasis: result.legalBasis = values.legalBasis
                case .accessStart: result.accessStart = values.accessStart
                case .accessEnd: result.accessEnd = values.accessEnd
                case .licence: result.licence = values.licence
                case .format: result.format = values.format
                case .anonymisationStatement: result.anonymisationStatement = values.anonymisationStatement
                case .openDataCheck: result.openDataCheck = values.openDataCheck
                }
            }
            return result
        }
    }

    /// The facts the engine routes on: the catalogue's, with the request's own recipient and statements.
    func facts(kind: ReleaseKind, catalogue: RequestFacts) -> RequestFacts {
        var facts = catalogue
        facts.recipient = kind == .sharedData ? recipient?.type : nil
        facts.hasLegalBasis = legalBasis != nil
        facts.hasAnonymisationStatement = anonymisationStatement != nil
        // A check with a question unanswered (a draft's) is no check: `submit_requires` asks for it again,
        // and routing never sees the exclusions of half a check.
        let check = openDataCheck?.complete
        facts.hasOpenDataCheck = check != nil
        facts.checkExclusions = kind == .openData ? check?.applying ?? [] : []
        return facts
    }
}

// MARK: Stored columns

extension RequestDetails {
    /// The `requests` columns that hold the details, in the order of `bindColumns` and `decode`.
    static let columnNames = [
        "purpose", "recipient_name", "recipient_type", "legal_basis", "access_start", "access_end", "licence",
        "format", "anonymisation_statement", "open_data_check",
    ]

    /// The columns as a SELECT names them, for a table aliased `alias`.
    static func selectList(_ alias: String) -> String {
        columnNames.map { $0 == "open_data_check" ? "\(alias).\($0)::text" : "\(alias).\($0)" }
            .joined(separator: ", ")
    }

    /// Binds every column's value and returns their SQL expressions, in `columnNames` order.
    func bindColumns(_ sql: inout StatementBuilder) throws -> [String] {
        [
            try sql.bind(purpose), try sql.bind(recipient?.name), try sql.bind(recipient?.type?.rawValue),
            try sql.bind(legalBasis), try sql.bind(accessStart), try sql.bind(accessEnd), try sql.bind(licence),
            try sql.bind(format), try sql.bind(anonymisationStatement),
            try sql.bind(openDataCheck.map { try StoredJSON.encode($0) }) + "::text::jsonb",
        ]
    }

    /// The cells of `selectList`, in their order.
    static func decode(_ cells: inout RowCursor) throws -> RequestDetails {
        let purpose: String = try cells.next()
        let recipientName: String? = try cells.next()
        let recipientType: String? = try cells.next()
        var recipient: RecipientInput? = nil
        if recipientName != nil || recipientType != nil {
            // A draft may keep the name without the type (migration 19) and the type without the name
            // (migration 22).
            let type = try recipientType.map { stored in
                guard let type = Recipient(rawValue: stored) else {
                    throw ServiceError.internal("a request has the unknown recipient type \(stored)")
                }
                return type
            }
            recipient = RecipientInput(name: recipientName, type: type)
        }
        return RequestDetails(
            purpose: purpose, recipient: recipient, legalBasis: try cells.next(), accessStart: try cells.next(),
            accessEnd: try cells.next(), licence: try cells.next(), format: try cells.next(),
            anonymisationStatement: try cells.next(),
            openDataCheck: try (try cells.next(String?.self)).map {
                try StoredJSON.decode(OpenDataCheck.self, from: $0)
            })
    }
}

// MARK: In the decision log

extension RequestDetails {
    /// The details as the submission's and each resubmission's audit event records them (`details.request`),
    /// keyed by the API's field names: what was asked, for whom and on what grounds is then part of the
    /// sealed log, not only of the `requests` row its owner could rewrite. Dates in the log's own text form
    /// (``AuditTimestamp/rfc3339``); an absent value is `null`, so every field is named.
    func logged(kind: ReleaseKind) -> JSONValue {
        var object: [String: JSONValue] = ["kind": .string(kind.rawValue)]
        for field in Field.allCases { object[field.rawValue] = loggedValue(field) }
        return .object(object)
    }

    private func loggedValue(_ field: Field) -> JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func instant(_ value: Date?) -> JSONValue {
            value.flatMap { AuditTimestamp($0).rfc3339 }.map(JSONValue.string) ?? .null
        }
        switch field {
        case .purpose: return .string(purpose)
        case .recipient:
            return recipient.map { .object(["name": text($0.name), "type": text($0.type?.rawValue)]) } ?? .null
        case .legalBasis: return text(legalBasis)
        case .accessStart: return instant(accessStart)
        case .accessEnd: return instant(accessEnd)
        case .licence: return text(licence)
        case .format: return text(format)
        case .anonymisationStatement: return text(anonymisationStatement)
        case .openDataCheck:
            guard let check = openDataCheck else { return .null }
            var answers: [String: JSONValue] = [:]
            // Every question named, as every field is; one not answered (a draft's) has `applies: null`.
            for (name, answer) in check.namedAnswers {
                answers[name] = .object([
                    "applies": answer.applies.map(JSONValue.bool) ?? .null, "note": text(answer.note),
                ])
            }
            return .object(answers)
        }
    }

    /// Details as ``logged(kind:)`` wrote them, and the kind; nil for anything else (a field of the wrong
    /// type, an unknown recipient type or kind, a date in another form, a release check without all five
    /// questions). Fields a later version adds and this one does not know are ignored.
    init?(logged value: JSONValue) {
        guard case .object(let object) = value, case .string(let purpose)? = object["purpose"] else { return nil }
        func text(_ field: Field) -> String?? {
            switch object[field.rawValue] {
            case .string(let text)?: .some(text)
            case .null?, nil: .some(nil)
            default: nil
            }
        }
        func instant(_ field: Field) -> Date?? {
            switch object[field.rawValue] {
            case .string(let text)?: AuditTimestamp(rfc3339: text).map { .some($0.date) }
            case .null?, nil: .some(nil)
            default: nil
            }
        }
        var recipient: RecipientInput?
        switch object[Field.recipient.rawValue] {
        case .object(let fields)?:
            let name: String?
            switch fields["name"] {
            case .string(let text)?: name = text
            case .null?: name = nil
            default: return nil
            }
            switch fields["type"] {
            case .string(let type)?:
                guard let type = Recipient(rawValue: type) else { return nil }
                recipient = RecipientInput(name: name, type: type)
            case .null?: recipient = RecipientInput(name: name, type: nil)
            default: return nil
            }
        case .null?, nil: recipient = nil
        default: return nil
        }
        var check: OpenDataCheck?
        switch object[Field.openDataCheck.rawValue] {
        case .object(let fields)?:
            func answer(_ name: String) -> CheckAnswer? {
                guard case .object(let answer)? = fields[name] else { return nil }
                let applies: Bool?
                switch answer["applies"] {
                case .bool(let value)?: applies = value
                case .null?: applies = nil
                default: return nil
                }
                switch answer["note"] {
                case .string(let note)?: return CheckAnswer(applies: applies, note: note)
                case .null?, nil: return CheckAnswer(applies: applies)
                default: return nil
                }
            }
            var answers: [String: CheckAnswer] = [:]
            for name in fields.keys { answers[name] = answer(name) }
            guard answers.count == 5, let logged = OpenDataCheck(named: answers) else { return nil }
            check = logged
        case .null?, nil: check = nil
        default: return nil
        }
        guard let legalBasis = text(.legalBasis), let accessStart = instant(.accessStart),
            let accessEnd = instant(.accessEnd), let licence = text(.licence), let format = text(.format),
            let statement = text(.anonymisationStatement)
        else { return nil }
        self.init(
            purpose: purpose, recipient: recipient, legalBasis: legalBasis, accessStart: accessStart,
            accessEnd: accessEnd, licence: licence, format: format, anonymisationStatement: statement,
            openDataCheck: check)
    }

    /// The first field in which these details (the `requests` row) differ from `recorded`, the details
    /// the request's last submission logged; nil when they agree. Names the field only: its text may be
    /// personal and the answer goes to the server's log.
    ///
    /// A date agrees within one microsecond: the row's date went to PostgreSQL through another rounding
    /// than the log's text.
    func loggedMismatch(_ recorded: JSONValue, kind: ReleaseKind) -> String? {
        guard case .object(let logged) = recorded, case .object(let stated) = self.logged(kind: kind) else {
            return "the logged details of the submission are not an object"
        }
        for key in Set(logged.keys).union(stated.keys).sorted() {
            let (row, log) = (stated[key] ?? .null, logged[key] ?? .null)
            if row == log { continue }
            if case .string(let a) = row, case .string(let b) = log, let a = AuditTimestamp(rfc3339: a),
                let b = AuditTimestamp(rfc3339: b), a.isSameStoredInstant(as: b)
            {
                continue
            }
            return "the request's \(key) is not the one its last submission logged"
        }
        return nil
    }
}

extension RequestFacts {
    /// The facts the engine routed on, as the submission's and each resubmission's audit event records them
    /// (`details.routing`): which steps apply and why follows from them, so the log keeps what the
    /// snapshot could otherwise be rewritten to say (say, that the dataset held no personal data).
    /// Under the workflow files' attribute names and values (`personal_data: personal`).
    var logged: JSONValue {
        var object: [String: JSONValue] = [:]
        for attribute in Attribute.allCases {
            let value = value(of: attribute)
            // An exclusion is logged only when it applies: routing logged before exclusions were facts
            // still reads the same.
            if attribute.exclusion != nil && value == "false" { continue }
            object[attribute.rawValue] = .string(value)
        }
        // No condition attributes, but `submit_requires` asks for them.
        object["legal_basis"] = .bool(hasLegalBasis)
        object["open_data_check"] = .bool(hasOpenDataCheck)
        return .object(object)
    }
}
