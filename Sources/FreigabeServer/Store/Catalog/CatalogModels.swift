import Foundation
import LDAPDirectory
import WorkflowEngine

/// A domain as the catalogue file or the admin API gives it.
public struct DomainInput: Sendable, Hashable, Codable {
    public var id: String
    public var title: String
    /// DN of the LDAP group of the domain's Data Stewards.
    public var stewardGroup: String

    public init(id: String, title: String, stewardGroup: String) {
        self.id = id
        self.title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        self.stewardGroup = stewardGroup
    }
}

/// A dataset as the catalogue file or the admin API gives it. Exactly one of `owner` and `ownerGroup`.
public struct DatasetInput: Sendable, Hashable, Codable {
    /// Lower-case slug: a-z, 0-9, `.`, `_`, `-`; starts with a letter or digit; at most 100 characters.
    public var id: String
    public var title: String
    public var description: String
    public var domain: String
    public var owner: String?
    public var ownerGroup: String?
    public var classification: Classification
    public var personalData: PersonalDataCategory
    public var protectionNeed: ProtectionNeed
    public var licence: String?
    public var highValue: Bool
    public var formats: [String]

    public init(
        id: String, title: String, description: String = "", domain: String, owner: String? = nil,
        ownerGroup: String? = nil, classification: Classification, personalData: PersonalDataCategory,
        protectionNeed: ProtectionNeed, licence: String? = nil, highValue: Bool = false, formats: [String] = []
    ) {
        self.id = id
        // As a request's texts: trimmed, and one line break whichever door they came through (the edit
        // form sends CR LF, a catalogue file LF), so saving a form unchanged changes nothing.
        self.title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        self.description = UnicodeText.oneLineBreak(description.trimmingCharacters(in: .whitespacesAndNewlines))
        self.domain = domain
        // Compared exactly with the directory's uid and DN: a blank pasted with them would make nobody
        // the owner (the domain form and the CSV import trim their cells; the JSON body and YAML do not).
        self.owner = owner?.trimmingCharacters(in: .whitespacesAndNewlines)
        self.ownerGroup = ownerGroup?.trimmingCharacters(in: .whitespacesAndNewlines)
        self.classification = classification
        self.personalData = personalData
        self.protectionNeed = protectionNeed
        self.licence = licence
        self.highValue = highValue
        self.formats = formats.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}

/// The content of a catalogue file, each entry with the line it starts on.
public struct CatalogDocument: Sendable, Hashable {
    public var domains: [(line: Int, domain: DomainInput)] { domainEntries.map { ($0.line, $0.value) } }
    public var datasets: [(line: Int, dataset: DatasetInput)] { datasetEntries.map { ($0.line, $0.value) } }

    struct Lined<Value: Sendable & Hashable>: Sendable, Hashable {
        var line: Int
        var value: Value
    }

    var domainEntries: [Lined<DomainInput>] = []
    var datasetEntries: [Lined<DatasetInput>] = []
}

/// One problem in a catalogue file, shown as `file:line: Datensatz „baum“, Feld „title“: text` in the
/// reader's language (the administration page) or in German (the command line).
public struct CatalogProblem: Sendable, Hashable, CustomStringConvertible {
    /// The domain or dataset a problem belongs to; the id is empty while it is not known yet.
    public enum Entry: Sendable, Hashable {
        case domain(id: String)
        case dataset(id: String)
    }

    public var file: String
    public var line: Int
    public var entry: Entry?
    /// The key or column the problem concerns.
    public var field: String?
    public var message: UserText

    public init(file: String, line: Int, entry: Entry? = nil, field: String? = nil, message: UserText) {
        self.file = file
        self.line = line
        self.entry = entry
        self.field = field
        self.message = message
    }

    /// The whole line in `catalog`'s language.
    public func text(in catalog: StringCatalog) -> String {
        let context = [entry.map(\.name), field.map { UserText("catalog_file.field", ["field": .text($0)]) }]
            .compactMap { $0?.resolved(in: catalog) }
        let prefix = context.isEmpty ? "" : context.joined(separator: ", ") + ": "
        return "\(file):\(line): " + prefix + message.resolved(in: catalog)
    }

    /// For logs: the message's key and arguments.
    public var description: String {
        let context = [entry.map { "\($0)" }, field].compactMap { $0 }.joined(separator: " ")
        return "\(file):\(line): " + (context.isEmpty ? "" : context + ": ") + message.description
    }
}

extension CatalogProblem.Entry {
    var name: UserText {
        switch self {
        case .domain(let id) where id.isEmpty: UserText("catalog_file.domain_unnamed")
        case .domain(let id): UserText("catalog_file.domain", ["id": .text(id)])
        case .dataset(let id) where id.isEmpty: UserText("catalog_file.dataset_unnamed")
        case .dataset(let id): UserText("catalog_file.dataset", ["id": .text(id)])
        }
    }
}

/// Every problem of a catalogue import; nothing was written.
public struct CatalogImportError: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [CatalogProblem]

    public init(problems: [CatalogProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// What an import changed, by id.
public struct CatalogImportReport: Sendable, Hashable, Codable {
    public var domainsCreated: [String] = []
    public var domainsUpdated: [String] = []
    public var domainsUnchanged: [String] = []
    public var datasetsCreated: [String] = []
    public var datasetsUpdated: [String] = []
    public var datasetsUnchanged: [String] = []
    /// Open requests whose owner's or stewards' step now waits for someone else (`holders_changed`).
    public var reassignedRequests = 0

    public init() {}

    public var changedAnything: Bool {
        !(domainsCreated.isEmpty && domainsUpdated.isEmpty && datasetsCreated.isEmpty && datasetsUpdated.isEmpty)
    }

    /// Lines for the console, e.g. `created dataset baumkataster`.
    public var lines: [String] {
        domainsCreated.map { "created domain \($0)" } + domainsUpdated.map { "updated domain \($0)" }
            + datasetsCreated.map { "created dataset \($0)" } + datasetsUpdated.map { "updated dataset \($0)" }
            + [
                "\(domainsCreated.count) domains created, \(domainsUpdated.count) updated, "
                    + "\(domainsUnchanged.count) unchanged; \(datasetsCreated.count) datasets created, "
                    + "\(datasetsUpdated.count) updated, \(datasetsUnchanged.count) unchanged"
            ]
            + (reassignedRequests > 0
                ? [
                    "\(reassignedRequests) open \(reassignedRequests == 1 ? "request now waits" : "requests now wait") "
                        + "for a new owner or new stewards (holders_changed)"
                ]
                : [])
    }
}

/// The rules every domain and dataset must follow, wherever it comes from (file, page or API): each
/// problem is a field and a catalogue text, the same words the API and the pages use for a field.
enum CatalogRules {
    typealias Problem = (field: String, message: UserText)

    /// The licences a dataset (and an Open Data request) may name: the four of the data strategy, by
    /// the keys the forms offer and DCAT maps (``DCATLicence``).
    static let licences = OpenLicence.allCases.map(\.rawValue)

    /// Whether the directory can read `text` as a group's DN: a text with an `=` somewhere is not
    /// enough (`cn=umwelt,ou` would match nobody, and the step it names could only escalate).
    static func isGroupDN(_ text: String) -> Bool { (try? DistinguishedName(parsing: text)) != nil }

    static func isSlug(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.unicodeScalars.count <= 100 else { return false }
        let allowed: (Unicode.Scalar) -> Bool = {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-"
        }
        return (("a"..."z").contains(first) || ("0"..."9").contains(first)) && text.unicodeScalars.allSatisfy(allowed)
    }

    /// Problems of one domain.
    static func problems(of domain: DomainInput) -> [Problem] {
        var problems: [Problem] = []
        if !isSlug(domain.id) { problems.append(("id", UserText("catalog.id_not_slug"))) }
        problems += textProblems("title", domain.title, required: true, limit: 200)
        problems += textProblems("steward_group", domain.stewardGroup, required: true, limit: 1000)
        if !isGroupDN(domain.stewardGroup) { problems.append(("steward_group", UserText("catalog.group_not_dn"))) }
        return problems
    }

    /// Problems of one dataset (without the domain's existence, which needs the database).
    static func problems(of dataset: DatasetInput) -> [Problem] {
        var problems: [Problem] = []
        if !isSlug(dataset.id) { problems.append(("id", UserText("catalog.id_not_slug"))) }
        problems += textProblems("title", dataset.title, required: true, limit: 200)
        problems += textProblems("description", dataset.description, required: false, limit: 4000, multiline: true)
        switch (dataset.owner, dataset.ownerGroup) {
        case (nil, nil), (.some, .some):
            problems.append(("owner", UserText("catalog.owner_exactly_one")))
        case (let owner?, nil):
            problems += textProblems("owner", owner, required: true, limit: 200)
        case (nil, let group?):
            problems += textProblems("owner_group", group, required: true, limit: 1000)
            if !isGroupDN(group) { problems.append(("owner_group", UserText("catalog.group_not_dn"))) }
        }
        if let licence = dataset.licence, !licences.contains(licence) {
            problems.append(
                ("licence", UserText("catalog.licence_unknown", ["allowed": .text(licences.joined(separator: ", "))])))
        }
        for format in dataset.formats { problems += textProblems("formats", format, required: true, limit: 50) }
        return problems
    }

    static func textProblems(
        _ field: String, _ text: String, required: Bool, limit: Int, multiline: Bool = false
    ) -> [Problem] {
        if required && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return [(field, UserText("field.required"))]
        }
        if UnicodeText.storedLength(text) > limit {
            return [(field, UserText("field.too_long", ["limit": .number(limit)]))]
        }
        let forbidden = text.unicodeScalars.contains { scalar in
            scalar.properties.generalCategory == .control
                && !(multiline && (scalar == "\n" || scalar == "\r" || scalar == "\t"))
        }
        if forbidden { return [(field, UserText("field.control_characters"))] }
        // As in a request's texts: a title displayed in another order than stored.
        if text.unicodeScalars.contains(where: { UnicodeText.reordersDisplay($0) }) {
            return [(field, UserText("field.bidi_override"))]
        }
        return []
    }
}
