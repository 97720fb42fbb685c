import Foundation
import WorkflowEngine
import Yams

/// Reads a catalogue file, YAML (`scripts/demo/catalog.yaml`) or CSV, and reports every problem with
/// its line, all at once.
///
/// YAML: a mapping with `domains` (list of `id`, `title`, `steward_group`) and `datasets` (list of `id`,
/// `title`, `description`, `domain`, `owner` or `owner_group`, `classification`, `personal_data`,
/// `protection_need`, `licence` (may be null), `high_value`, `formats` (list)).
///
/// CSV (RFC 4180: fields with separators, quotes or line breaks in double quotes, `""` for a quote; the
/// separator is the header line's, `,`, `;` as German Excel's „CSV UTF-8“ writes it, or a tab; UTF-8,
/// optional BOM, LF or CRLF): datasets only, their domains must exist in the database or
/// come from an earlier YAML import. One header row naming the columns, in any order:
/// `id, title, description, domain, owner, owner_group, classification, personal_data, protection_need,
/// licence, high_value, formats`. Required: id, title, domain, classification, personal_data,
/// protection_need and one of owner / owner_group. Empty cells mean "not given"; `high_value` is
/// `true`/`false` (also `ja`/`nein`, `1`/`0`, default false); `formats` separates values with `;`.
public enum CatalogParser {
    public enum Format: String, Sendable {
        case yaml, csv

        /// By the file's extension; YAML unless it ends in `.csv`.
        public init(path: String) { self = path.lowercased().hasSuffix(".csv") ? .csv : .yaml }
    }

    public static func parse(_ text: String, file: String, format: Format) throws(CatalogImportError) -> CatalogDocument
    {
        var problems: [CatalogProblem] = []
        let document: CatalogDocument
        switch format {
        case .yaml: document = YAMLCatalogReader(file: file).read(text, problems: &problems)
        case .csv: document = CSVCatalogReader(file: file).read(text, problems: &problems)
        }
        problems += duplicates(in: document, file: file)
        guard problems.isEmpty else {
            throw CatalogImportError(
                problems: problems.enumerated().sorted {
                    ($0.element.line, $0.offset) < ($1.element.line, $1.offset)
                }.map(\.element))
        }
        return document
    }

    /// Reads a file from disk; a file that is not UTF-8 is reported at line 1.
    public static func parse(path: String) throws(CatalogImportError) -> CatalogDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CatalogImportError(problems: [
                CatalogProblem(file: path, line: 1, message: UserText("catalog_file.unreadable"))
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CatalogImportError(problems: [
                CatalogProblem(file: path, line: 1, message: UserText("catalog_file.not_utf8"))
            ])
        }
        return try parse(text, file: path, format: Format(path: path))
    }

    private static func duplicates(in document: CatalogDocument, file: String) -> [CatalogProblem] {
        var problems: [CatalogProblem] = []
        var seenDomains: [String: Int] = [:]
        for entry in document.domainEntries {
            if let first = seenDomains[entry.value.id] {
                problems.append(
                    CatalogProblem(
                        file: file, line: entry.line,
                        message: UserText(
                            "catalog_file.domain_twice", ["id": .text(entry.value.id), "line": .number(first)])))
            } else {
                seenDomains[entry.value.id] = entry.line
            }
        }
        var seenDatasets: [String: Int] = [:]
        for entry in document.datasetEntries {
            if let first = seenDatasets[entry.value.id] {
                problems.append(
                    CatalogProblem(
                        file: file, line: entry.line,
                        message: UserText(
                            "catalog_file.dataset_twice", ["id": .text(entry.value.id), "line": .number(first)])))
            } else {
                seenDatasets[entry.value.id] = entry.line
            }
        }
        return problems
    }

    /// Enum fields as the engine names them; the problem lists the allowed values.
    static func enumValue<Value: RawRepresentable & CaseIterable>(
        _ text: String, _ type: Value.Type
    ) -> Result<Value, EnumProblem> where Value.RawValue == String {
        if let value = Value(rawValue: text) { return .success(value) }
        let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
        return .failure(
            EnumProblem(
                message: UserText("catalog_file.not_one_of", ["value": .text(text), "allowed": .text(allowed)])))
    }

    /// The YAML library's own description of a syntax error (English) inside our sentence.
    static func invalidYAML(_ detail: String) -> UserText {
        UserText("catalog_file.invalid_yaml", ["detail": .text(detail)])
    }

    struct EnumProblem: Error {
        var message: UserText
    }

    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "ja", "yes", "1", "wahr": true
        case "false", "nein", "no", "0", "falsch": false
        default: nil
        }
    }
}

// MARK: - YAML

private struct YAMLCatalogReader {
    let file: String

    func read(_ text: String, problems: inout [CatalogProblem]) -> CatalogDocument {
        var document = CatalogDocument()
        // Before Yams composes it: an alias used as a mapping key is hashed whole when Yams checks for
        // duplicate keys, and nine nested levels of nine aliases make a few hundred bytes that are hashed
        // as 387 million nodes (a "billion laughs"). A catalogue has no use for aliases.
        if let alias = YAMLAliases.first(in: text) {
            problems.append(
                CatalogProblem(
                    file: file, line: alias.line,
                    message: UserText("catalog_file.yaml_alias", ["name": .text(alias.name)])))
            return document
        }
        let root: Node?
        do {
            root = try Parser(yaml: text).singleRoot()
        } catch let error as YamlError {
            problems.append(problem(for: error, source: text))
            return document
        } catch {
            problems.append(CatalogProblem(file: file, line: 1, message: CatalogParser.invalidYAML("\(error)")))
            return document
        }
        guard let root, let mapping = root.mapping else {
            problems.append(
                CatalogProblem(
                    file: file, line: root?.mark?.line ?? 1, message: UserText("catalog_file.root_not_mapping")))
            return document
        }
        for (key, value) in mapping {
            switch key.string {
            case "domains":
                for item in list(value, key: "domains", problems: &problems) {
                    if let domain = readDomain(item, problems: &problems) {
                        document.domainEntries.append(.init(line: line(item), value: domain))
                    }
                }
            case "datasets":
                for item in list(value, key: "datasets", problems: &problems) {
                    if let dataset = readDataset(item, problems: &problems) {
                        document.datasetEntries.append(.init(line: line(item), value: dataset))
                    }
                }
            default:
                problems.append(
                    CatalogProblem(
                        file: file, line: line(key),
                        message: UserText("catalog_file.unknown_top_key", ["key": .text(key.string ?? "?")])))
            }
        }
        return document
    }

    private func line(_ node: Node) -> Int { node.mark?.line ?? 1 }

    private func list(_ node: Node, key: String, problems: inout [CatalogProblem]) -> [Node] {
        if isNull(node) { return [] }
        guard let sequence = node.sequence else {
            problems.append(
                CatalogProblem(
                    file: file, line: line(node), message: UserText("catalog_file.not_a_list", ["key": .text(key)])))
            return []
        }
        return Array(sequence)
    }

    /// The entry's keys with their value nodes; unknown and missing keys reported.
    private func fields(
        _ node: Node, entry: CatalogProblem.Entry, list: String, known: [String], required: Set<String>,
        problems: inout [CatalogProblem]
    ) -> [String: Node]? {
        guard let mapping = node.mapping else {
            problems.append(
                CatalogProblem(
                    file: file, line: line(node),
                    message: UserText("catalog_file.entry_not_mapping", ["key": .text(list)])))
            return nil
        }
        // The id names the entry in every later message, once it is known to be a text.
        let entry = entryNamed(by: mapping, default: entry)
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string, known.contains(name) else {
                let arguments: [String: UserText.Argument] = [
                    "key": .text(key.string ?? "?"), "known": .text(known.joined(separator: ", ")),
                ]
                problems.append(
                    CatalogProblem(
                        file: file, line: line(key), entry: entry,
                        message: UserText("catalog_file.unknown_key", arguments)))
                continue
            }
            values[name] = value
        }
        for name in known where required.contains(name) && values[name] == nil {
            problems.append(
                CatalogProblem(
                    file: file, line: line(node), entry: entry,
                    message: UserText("catalog_file.missing_key", ["key": .text(name)])))
        }
        return values
    }

    private func entryNamed(by mapping: Node.Mapping, default entry: CatalogProblem.Entry) -> CatalogProblem.Entry {
        guard case .scalar(let id)? = mapping["id"] else { return entry }
        switch entry {
        case .domain: return .domain(id: id.string)
        case .dataset: return .dataset(id: id.string)
        }
    }

    private func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.style == .plain && ["null", "~", ""].contains(scalar.string)
    }

    /// A scalar as text; nil (reported) for lists and mappings, nil (not reported) for null.
    private func text(
        _ node: Node?, key: String, entry: CatalogProblem.Entry, problems: inout [CatalogProblem]
    ) -> String? {
        guard let node, !isNull(node) else { return nil }
        guard case .scalar(let scalar) = node else {
            problems.append(
                CatalogProblem(
                    file: file, line: line(node), entry: entry, field: key, message: UserText("catalog_file.not_text")))
            return nil
        }
        return scalar.string
    }

    private func readDomain(_ node: Node, problems: inout [CatalogProblem]) -> DomainInput? {
        guard
            let values = fields(
                node, entry: .domain(id: ""), list: "domains", known: ["id", "title", "steward_group"],
                required: ["id", "title", "steward_group"], problems: &problems)
        else { return nil }
        let before = problems.count
        let id = text(values["id"], key: "id", entry: .domain(id: ""), problems: &problems) ?? ""
        let entry = CatalogProblem.Entry.domain(id: id)
        let domain = DomainInput(
            id: id, title: text(values["title"], key: "title", entry: entry, problems: &problems) ?? "",
            stewardGroup: text(values["steward_group"], key: "steward_group", entry: entry, problems: &problems) ?? ""
        )
        for (field, message) in CatalogRules.problems(of: domain) where values[field] != nil {
            problems.append(
                CatalogProblem(file: file, line: line(values[field]!), entry: entry, field: field, message: message))
        }
        return problems.count == before ? domain : nil
    }

    private func readDataset(_ node: Node, problems: inout [CatalogProblem]) -> DatasetInput? {
        let known = [
            "id", "title", "description", "domain", "owner", "owner_group", "classification", "personal_data",
            "protection_need", "licence", "high_value", "formats",
        ]
        let required: Set<String> = ["id", "title", "domain", "classification", "personal_data", "protection_need"]
        guard
            let values = fields(
                node, entry: .dataset(id: ""), list: "datasets", known: known, required: required, problems: &problems)
        else { return nil }
        let before = problems.count
        let id = text(values["id"], key: "id", entry: .dataset(id: ""), problems: &problems) ?? ""
        let entry = CatalogProblem.Entry.dataset(id: id)
        func field(_ key: String) -> String? { text(values[key], key: key, entry: entry, problems: &problems) }
        func enumField<Value: RawRepresentable & CaseIterable>(_ key: String, _ type: Value.Type) -> Value?
        where Value.RawValue == String {
            guard let raw = field(key) else {
                // `classification: ~` or a key left empty: there, but no value. Said, else the entry
                // would be left out of the import without a word.
                if let node = values[key], isNull(node) {
                    problems.append(
                        CatalogProblem(
                            file: file, line: line(node), entry: entry, field: key, message: UserText("field.required"))
                    )
                }
                return nil
            }
            switch CatalogParser.enumValue(raw, type) {
            case .success(let value): return value
            case .failure(let problem):
                problems.append(
                    CatalogProblem(
                        file: file, line: line(values[key]!), entry: entry, field: key, message: problem.message))
                return nil
            }
        }
        let classification = enumField("classification", Classification.self)
        let personalData = enumField("personal_data", PersonalDataCategory.self)
        let protectionNeed = enumField("protection_need", ProtectionNeed.self)
        var highValue = false
        if let node = values["high_value"], !isNull(node) {
            if case .scalar(let scalar) = node, scalar.style == .plain, let value = CatalogParser.bool(scalar.string) {
                highValue = value
            } else {
                let found = node.scalar?.string ?? "…"
                problems.append(
                    CatalogProblem(
                        file: file, line: line(node), entry: entry, field: "high_value",
                        message: UserText("catalog_file.not_boolean", ["value": .text(found)])))
            }
        }
        var formats: [String] = []
        if let node = values["formats"], !isNull(node) {
            if let sequence = node.sequence {
                for item in sequence {
                    if isNull(item) {
                        problems.append(
                            CatalogProblem(
                                file: file, line: line(item), entry: entry, field: "formats",
                                message: UserText("field.required")))
                    } else if let format = text(item, key: "formats", entry: entry, problems: &problems) {
                        formats.append(format)
                    }
                }
            } else {
                problems.append(
                    CatalogProblem(
                        file: file, line: line(node), entry: entry, field: "formats",
                        message: UserText("catalog_file.not_a_list", ["key": .text("formats")])))
            }
        }
        let dataset = DatasetInput(
            id: id, title: field("title") ?? "", description: field("description") ?? "", domain: field("domain") ?? "",
            owner: field("owner"), ownerGroup: field("owner_group"), classification: classification ?? .public,
            personalData: personalData ?? .none, protectionNeed: protectionNeed ?? .normal, licence: field("licence"),
            highValue: highValue, formats: formats)
        // Missing keys were reported already; the owner rule concerns two keys and is reported anyway.
        for (key, message) in CatalogRules.problems(of: dataset) where values[key] != nil || key == "owner" {
            problems.append(
                CatalogProblem(
                    file: file, line: values[key].map(line) ?? line(node), entry: entry, field: key, message: message))
        }
        guard problems.count == before, classification != nil, personalData != nil, protectionNeed != nil else {
            return nil
        }
        return dataset
    }

    private func problem(for error: YamlError, source: String) -> CatalogProblem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return CatalogProblem(file: file, line: mark.line, message: CatalogParser.invalidYAML(problem))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "„\($0)“" }.joined(separator: ", ")
            return CatalogProblem(
                file: file, line: context.mark.line,
                message: UserText("catalog_file.duplicate_keys", ["keys": .text(keys)]))
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in source.utf8.prefix(offset).count { $0 == UInt8(ascii: "\n") } + 1 } ?? 1
            return CatalogProblem(file: file, line: line, message: CatalogParser.invalidYAML(problem))
        default:
            return CatalogProblem(file: file, line: 1, message: CatalogParser.invalidYAML("\(error)"))
        }
    }
}

// MARK: - CSV

/// RFC 4180 records with the line each starts on; the separator is the header line's (`,` by the RFC,
/// `;` as German Excel writes „CSV UTF-8“, or a tab).
struct CSVRecords {
    struct Record {
        var line: Int
        var fields: [String]
    }

    static let separators: [Unicode.Scalar] = [";", ",", "\t"]

    /// The separator the header line uses most often outside quotes (`,` when it has none: a file of one
    /// column). The header holds column names only, which contain none of the three.
    static func separator(of text: String) -> Unicode.Scalar {
        var counts: [Unicode.Scalar: Int] = [:]
        var inQuotes = false
        for scalar in text.unicodeScalars.drop(while: { $0 == "\u{FEFF}" }) {
            if scalar == "\"" { inQuotes.toggle() }
            if !inQuotes && (scalar == "\n" || scalar == "\r") { break }
            if !inQuotes && separators.contains(scalar) { counts[scalar, default: 0] += 1 }
        }
        // Ties go to the RFC's comma.
        let best = counts.max { ($0.value, $0.key == "," ? 1 : 0) < ($1.value, $1.key == "," ? 1 : 0) }
        return best?.key ?? ","
    }

    /// Splits `text` into records; a quote left open is reported at the line where its field began.
    static func parse(
        _ text: String, separator: Unicode.Scalar = ","
    ) -> (records: [Record], error: (line: Int, message: UserText)?) {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var quoteLine = 1
        /// The current field has begun (a character or an opening quote).
        var fieldStarted = false
        /// The current record has begun (a separator was seen), so an empty line is still a record.
        var recordStarted = false
        /// A quoted field just closed: only a separator or the end of the record may follow (RFC 4180).
        var quoteClosed = false
        var iterator = Array(text.unicodeScalars.drop { $0 == "\u{FEFF}" }).makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let scalar = pending {
                pending = nil
                return scalar
            }
            return iterator.next()
        }
        func endRecord() {
            fields.append(field)
            // A blank line is no record.
            if recordStarted || fieldStarted { records.append(Record(line: recordLine, fields: fields)) }
            fields = []
            field = ""
            fieldStarted = false
            recordStarted = false
        }
        while let scalar = next() {
            if inQuotes {
                if scalar == "\"" {
                    if let following = next() {
                        if following == "\"" {
                            field.unicodeScalars.append("\"")
                        } else {
                            inQuotes = false
                            quoteClosed = true
                            pending = following
                        }
                    } else {
                        inQuotes = false
                    }
                } else if scalar == "\r" {
                    // A line break inside the field, CRLF or a lone CR, counted once like outside.
                    line += 1
                    field.unicodeScalars.append(scalar)
                    if let following = next() {
                        if following == "\n" { field.unicodeScalars.append(following) } else { pending = following }
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            if quoteClosed, scalar != separator, scalar != "\r", scalar != "\n" {
                return (records, (line, UserText("catalog_file.csv_text_after_quote")))
            }
            quoteClosed = false
            switch scalar {
            case "\"" where field.isEmpty && !fieldStarted:
                inQuotes = true
                fieldStarted = true
                quoteLine = line
            case "\"":
                return (records, (line, UserText("catalog_file.csv_quote_inside")))
            case separator:
                fields.append(field)
                field = ""
                fieldStarted = false
                recordStarted = true
            case "\r":
                // CRLF or a lone CR: both end the record.
                if let following = next(), following != "\n" { pending = following }
                endRecord()
                line += 1
                recordLine = line
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            default:
                field.unicodeScalars.append(scalar)
                fieldStarted = true
            }
        }
        if inQuotes { return (records, (quoteLine, UserText("catalog_file.csv_quote_open"))) }
        if recordStarted || fieldStarted { endRecord() }
        return (records, nil)
    }
}

private struct CSVCatalogReader {
    let file: String

    static let columns = [
        "id", "title", "description", "domain", "owner", "owner_group", "classification", "personal_data",
        "protection_need", "licence", "high_value", "formats",
    ]
    static let required = ["id", "title", "domain", "classification", "personal_data", "protection_need"]

    func read(_ text: String, problems: inout [CatalogProblem]) -> CatalogDocument {
        var document = CatalogDocument()
        let (records, error) = CSVRecords.parse(text, separator: CSVRecords.separator(of: text))
        if let error { problems.append(CatalogProblem(file: file, line: error.line, message: error.message)) }
        guard let header = records.first else {
            if error == nil {
                problems.append(CatalogProblem(file: file, line: 1, message: UserText("catalog_file.csv_no_header")))
            }
            return document
        }
        var index: [String: Int] = [:]
        for (position, name) in header.fields.enumerated() {
            let column = name.trimmingCharacters(in: .whitespaces).lowercased()
            if !Self.columns.contains(column) {
                problems.append(
                    CatalogProblem(
                        file: file, line: header.line,
                        message: UserText(
                            "catalog_file.csv_unknown_column",
                            ["column": .text(name), "known": .text(Self.columns.joined(separator: ", "))])))
            } else if index[column] != nil {
                problems.append(
                    CatalogProblem(
                        file: file, line: header.line,
                        message: UserText("catalog_file.csv_column_twice", ["column": .text(column)])))
            } else {
                index[column] = position
            }
        }
        for column in Self.required where index[column] == nil {
            problems.append(
                CatalogProblem(
                    file: file, line: header.line,
                    message: UserText("catalog_file.csv_missing_column", ["column": .text(column)])))
        }
        if index["owner"] == nil && index["owner_group"] == nil {
            problems.append(
                CatalogProblem(
                    file: file, line: header.line, message: UserText("catalog_file.csv_missing_owner_column")))
        }
        guard problems.isEmpty else { return document }
        for record in records.dropFirst() {
            if record.fields.count != header.fields.count {
                problems.append(
                    CatalogProblem(
                        file: file, line: record.line,
                        message: UserText(
                            "catalog_file.csv_field_count",
                            ["expected": .number(header.fields.count), "found": .number(record.fields.count)])))
                continue
            }
            if let dataset = readDataset(record, index: index, problems: &problems) {
                document.datasetEntries.append(.init(line: record.line, value: dataset))
            }
        }
        return document
    }

    private func readDataset(
        _ record: CSVRecords.Record, index: [String: Int], problems: inout [CatalogProblem]
    ) -> DatasetInput? {
        func cell(_ column: String) -> String? {
            guard let position = index[column] else { return nil }
            let value = record.fields[position].trimmingCharacters(in: .whitespaces)
            return value.isEmpty ? nil : value
        }
        let before = problems.count
        let id = cell("id") ?? ""
        let entry = CatalogProblem.Entry.dataset(id: id)
        func report(_ column: String, _ message: UserText) {
            problems.append(
                CatalogProblem(file: file, line: record.line, entry: entry, field: column, message: message))
        }
        for column in CSVCatalogReader.required where cell(column) == nil { report(column, UserText("field.required")) }
        func enumCell<Value: RawRepresentable & CaseIterable>(_ column: String, _ type: Value.Type) -> Value?
        where Value.RawValue == String {
            guard let raw = cell(column) else { return nil }
            switch CatalogParser.enumValue(raw, type) {
            case .success(let value): return value
            case .failure(let problem):
                report(column, problem.message)
                return nil
            }
        }
        let classification = enumCell("classification", Classification.self)
        let personalData = enumCell("personal_data", PersonalDataCategory.self)
        let protectionNeed = enumCell("protection_need", ProtectionNeed.self)
        var highValue = false
        if let raw = cell("high_value") {
            if let value = CatalogParser.bool(raw) {
                highValue = value
            } else {
                report("high_value", UserText("catalog_file.not_boolean", ["value": .text(raw)]))
            }
        }
        let formats = (cell("formats") ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let dataset = DatasetInput(
            id: id, title: cell("title") ?? "", description: cell("description") ?? "", domain: cell("domain") ?? "",
            owner: cell("owner"), ownerGroup: cell("owner_group"), classification: classification ?? .public,
            personalData: personalData ?? .none, protectionNeed: protectionNeed ?? .normal, licence: cell("licence"),
            highValue: highValue, formats: formats)
        // Empty required cells were reported already.
        for (key, message) in CatalogRules.problems(of: dataset)
        where !(CSVCatalogReader.required.contains(key) && cell(key) == nil) {
            report(key, message)
        }
        guard problems.count == before else { return nil }
        return dataset
    }
}
