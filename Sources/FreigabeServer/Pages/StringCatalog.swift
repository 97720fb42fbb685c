import Foundation
import Mustache
import Yams

/// The user-visible texts of one language, loaded from `Templates/strings/<language>.yaml`.
///
/// The YAML file is a tree of mappings whose leaves are strings; templates address a text by its
/// dotted path under `t`, e.g. `{{t.start.title}}`. Keeping texts out of the templates lets a
/// translator work on one file per language and lets tests check that both languages have the same keys.
public struct StringCatalog: Sendable, Equatable {
    /// The language code (`de`, `en`), taken from the file name.
    public let language: String
    /// The texts by dotted key (`start.title`).
    public let texts: [String: String]
    /// The same texts as a tree, for Mustache's dotted-name lookup.
    let root: StringTree

    public init(language: String, texts: [String: String]) {
        self.language = language
        self.texts = texts
        self.root = StringTree(texts: texts)
    }

    /// The text for a dotted key, if present.
    public subscript(key: String) -> String? { texts[key] }

    /// A licence's name (`dl-de-by-2.0` → „Datenlizenz Deutschland – Namensnennung – Version 2.0“), for pages
    /// and mails alike; an unknown one keeps its text. Catalogue keys have no dots, so `.` becomes `_`.
    func licenceName(_ id: String) -> String {
        texts["web.licences." + id.replacingOccurrences(of: ".", with: "_")] ?? id
    }

    /// The catalogue's ways of writing a moment in Berlin (`messages.*_format`), one for pages, mails and
    /// API messages alike, so that a moment reads the same wherever a person meets it.
    enum DatePattern: String {
        /// 2. März 2026 um 09:30 Uhr / 2 March 2026 at 09:30.
        case time = "time_format"
        /// 2. März 2026 / 2 March 2026.
        case day = "day_format"
        /// 12.03.2036 / 12 March 2036: a date in running text where the day matters more than the month.
        case shortDay = "short_day_format"

        /// For a strings file that lacks the pattern (one copied into `templates.dir` before it existed):
        /// a day stays a day, not a day at 00:00.
        var fallback: String { self == .time ? "yyyy-MM-dd HH:mm" : "yyyy-MM-dd" }
    }

    /// `date` in Berlin, written as the catalogue's `pattern` says, in its language.
    func format(_ date: Date, _ pattern: DatePattern) -> String {
        BerlinDates.format(
            date, pattern: texts["messages." + pattern.rawValue] ?? pattern.fallback,
            locale: language == "de" ? "de_DE" : "en_GB")
    }

    /// Parses a strings file.
    ///
    /// - Throws: ``ConfigurationError`` with code `invalidStrings`, naming the file and line.
    public init(language: String, yaml: String, fileName: String) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw Self.error(fileName, "ist kein gültiges YAML", details: String(describing: error))
        }
        guard let mapping = root?.mapping else {
            throw Self.error(fileName, "muss eine Zuordnung (Schlüssel: Text) enthalten")
        }
        var texts: [String: String] = [:]
        try Self.flatten(mapping, prefix: "", into: &texts, fileName: fileName)
        self.init(language: language, texts: texts)
    }

    private static func flatten(
        _ mapping: Node.Mapping, prefix: String, into texts: inout [String: String], fileName: String
    ) throws {
        for (keyNode, valueNode) in mapping {
            let line = keyNode.mark.map { " (Zeile \($0.line))" } ?? ""
            guard let key = keyNode.scalar?.string, !key.isEmpty, !key.contains(".") else {
                throw error(fileName, "hat einen ungültigen Schlüssel\(line); erlaubt sind Namen ohne Punkt")
            }
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch valueNode {
            case .scalar(let scalar):
                texts[path] = scalar.string
            case .mapping(let nested):
                try flatten(nested, prefix: path, into: &texts, fileName: fileName)
            case .sequence, .alias:
                throw error(fileName, "hat bei „\(path)“\(line) keinen Text und keine Zuordnung")
            }
        }
    }

    private static func error(_ fileName: String, _ problem: String, details: String? = nil) -> ConfigurationError {
        ConfigurationError(
            code: .invalidStrings,
            description: "Die Textdatei „\(fileName)“ \(problem).",
            details: details
        )
    }
}

/// Dotted keys as a tree, so that Mustache resolves `t.start.title` one component at a time.
enum StringTree: Sendable, Equatable, MustacheParent {
    case text(String)
    case group([String: StringTree])

    init(texts: [String: String]) {
        var root: [String: StringTree] = [:]
        for (key, text) in texts {
            Self.insert(text, at: key.split(separator: ".").map(String.init)[...], into: &root)
        }
        self = .group(root)
    }

    private static func insert(_ text: String, at path: ArraySlice<String>, into group: inout [String: StringTree]) {
        guard let head = path.first else { return }
        let rest = path.dropFirst()
        if rest.isEmpty {
            group[head] = .text(text)
            return
        }
        var children: [String: StringTree]
        if case .group(let existing) = group[head] {
            children = existing
        } else {
            children = [:]
        }
        insert(text, at: rest, into: &children)
        group[head] = .group(children)
    }

    func child(named name: String) -> Any? {
        guard case .group(let children) = self, let child = children[name] else { return nil }
        switch child {
        case .text(let text): return text
        case .group: return child
        }
    }
}
