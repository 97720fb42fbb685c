import Foundation
import Mustache

/// The page templates of one language with the catalogue's texts written in when they are loaded:
/// `{{t.web.inbox.title}}` becomes the text, HTML-escaped as `{{…}}` would have escaped it.
///
/// Why: swift-mustache resolves `{{t.web.inbox.title}}` on every page view by splitting the name,
/// climbing the context stack with several dynamic casts per level and walking the string tree one
/// component at a time, then escaping the text (a page has 20–60 of them, inside loops once per row).
/// The answer is the same for every page view of a language, so it is found once.
///
/// Only what renders exactly as the lookup did is written in; everything else stays a tag that is looked
/// up as before (`PageRenderer.render` still puts `t` into the context):
/// - only templates that escape with ``HTMLEscaping`` (mail templates keep their lookups);
/// - only plain `{{t.a.b}}` tags (not sections, `{{{…}}}`, `{{&…}}` or transforms) naming a text;
/// - no template that changes the delimiters (`{{=…=}}`);
/// - no text with a brace, a line break or only white space: a brace could form a tag with the template
///   around it, a line break would change a partial's indentation, and a white-space text would make its
///   line "standalone" (Mustache then drops the line).
/// It relies on no view answering the name `t` (none does; `PageTextsWrittenInTests` renders every page
/// both ways).
enum TextsWrittenIn {
    /// The first line of every HTML template (`HTMLEscapingTests` checks that every page has it).
    static let htmlHeader = "{{% CONTENT_TYPE: \(HTMLEscaping.name)}}"

    /// `source` with every `{{t.…}}` that may be written in replaced by its escaped text in `catalog`.
    static func template(_ source: String, catalog: StringCatalog) -> String {
        guard source.hasPrefix(htmlHeader), !source.contains("{{=") else { return source }
        var result = ""
        result.reserveCapacity(source.utf8.count)
        var rest = source[...]
        while let open = rest.range(of: "{{") {
            let inside = rest[open.upperBound...]
            // An unclosed tag is the parser's error to report: left as it is.
            guard let close = inside.range(of: "}}") else { break }
            result += rest[..<open.lowerBound]
            if let text = text(named: inside[..<close.lowerBound], in: catalog) {
                result += HTMLEscaping.escape(text)
            } else {
                result += rest[open.lowerBound..<close.upperBound]
            }
            rest = inside[close.upperBound...]
        }
        result += rest
        return result
    }

    /// The text a tag's content names (` t.web.inbox.title `), or nil when the tag must stay a lookup.
    static func text(named tag: Substring, in catalog: StringCatalog) -> String? {
        let name = tag.trimmingCharacters(in: .whitespaces)
        guard name.hasPrefix("t.") else { return nil }
        let key = name.dropFirst(2)
        guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") }),
            let text = catalog[String(key)],
            text.contains(where: { !$0.isWhitespace }),
            !text.contains(where: { $0 == "{" || $0 == "}" || $0.isNewline })
        else { return nil }
        return text
    }

    /// Every `*.mustache` under `directory`, by the name swift-mustache's library gives it
    /// (`partials/field`), with its source text.
    static func sources(in directory: String) throws -> [String: String] {
        let root = directory.hasSuffix("/") ? directory : directory + "/"
        guard let paths = FileManager().enumerator(atPath: root) else { return [:] }
        var sources: [String: String] = [:]
        for case let path as String in paths where path.hasSuffix(".mustache") {
            sources[String(path.dropLast(".mustache".count))] = try String(
                contentsOfFile: root + path, encoding: .utf8)
        }
        return sources
    }

    /// One library per language: every template of `sources` with that language's texts written in.
    ///
    /// - Throws: `MustacheTemplate.ParserError` if a template does not parse (the file's own error is
    ///   reported first, by the library loaded from the files).
    static func libraries(
        sources: [String: String], catalogs: [String: StringCatalog]
    ) throws -> [String: MustacheLibrary] {
        try catalogs.mapValues { catalog in
            MustacheLibrary(
                templates: try sources.mapValues { try MustacheTemplate(string: template($0, catalog: catalog)) })
        }
    }
}
