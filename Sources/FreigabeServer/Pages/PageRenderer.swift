import Foundation
import Mustache

/// Renders the HTML pages: Mustache templates from the templates directory, filled with the texts
/// of the request's language.
///
/// Loaded once at start, so a broken template or strings file stops the server instead of failing
/// on the first request. Every page template inherits `layout` (`{{<layout}}...{{/layout}}`).
public struct PageRenderer: Sendable {
    /// Templates every start needs.
    static let requiredTemplates = [
        "layout", "start", "error", "login", "home", "catalog", "dataset", "request-form", "request-review", "request",
        "inbox", "deputyships", "admin", "admin-dataset", "admin-domain", "admin-outbox", "decision-link", "audit",
        "case-file",
    ]

    let library: MustacheLibrary
    /// The texts of every language, shared with the API's problem answers.
    public let texts: StringCatalogs
    /// Chooses the language of a request from its `Accept-Language` header.
    public var negotiation: LanguageNegotiation { texts.negotiation }

    init(library: MustacheLibrary, catalogs: [String: StringCatalog]) {
        self.library = library
        self.texts = StringCatalogs(catalogs)
    }

    /// Loads `*.mustache` from `directory` and `strings/*.yaml` from its `strings` folder.
    ///
    /// - Throws: ``ConfigurationError`` (`invalidTemplates` or `invalidStrings`) naming the file.
    public static func load(templatesDirectory directory: String) async throws -> PageRenderer {
        // Foundation's directory enumerator on Linux does not descend into a symlinked root, and
        // deployments often link the templates of the current release.
        let resolved = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        let library: MustacheLibrary
        // The templates name it in their `CONTENT_TYPE` tag, which is resolved while they are parsed.
        HTMLEscaping.register()
        do {
            library = try await MustacheLibrary(directory: resolved)
        } catch let error as MustacheLibrary.ParserError {
            throw ConfigurationError(
                code: .invalidTemplates,
                key: AppConfiguration.Key.templatesDirectory,
                description: "Die Vorlage „\(error.filename)“ in „\(directory)“ ist fehlerhaft "
                    + "(Zeile \(error.context.lineNumber), Spalte \(error.context.columnNumber)).",
                details: "\(error.error)"
            )
        }
        for name in requiredTemplates where library.getTemplate(named: name) == nil {
            throw ConfigurationError(
                code: .invalidTemplates,
                key: AppConfiguration.Key.templatesDirectory,
                description: "Im Vorlagenverzeichnis „\(directory)“ fehlt „\(name).mustache“. "
                    + "Stimmt „templates.dir“ (FREIGABE_TEMPLATES_DIR)?"
            )
        }
        let catalogs = try loadCatalogs(from: URL(fileURLWithPath: resolved).appendingPathComponent("strings"))
        return PageRenderer(library: library, catalogs: catalogs)
    }

    fileprivate static func loadCatalogs(from folder: URL) throws -> [String: StringCatalog] {
        let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        var catalogs: [String: StringCatalog] = [:]
        for file in files where file.pathExtension == "yaml" {
            let language = file.deletingPathExtension().lastPathComponent
            let yaml: String
            do {
                yaml = try String(contentsOf: file, encoding: .utf8)
            } catch {
                throw ConfigurationError(
                    code: .invalidStrings,
                    description: "Die Textdatei „\(file.path)“ kann nicht gelesen werden.",
                    details: String(describing: error)
                )
            }
            catalogs[language] = try StringCatalog(language: language, yaml: yaml, fileName: file.path)
        }
        guard catalogs["de"] != nil else {
            throw ConfigurationError(
                code: .invalidStrings,
                description: "Die deutschen Texte „\(folder.appendingPathComponent("de.yaml").path)“ fehlen."
            )
        }
        return catalogs
    }

    /// The texts of `language`, falling back to German.
    public func catalog(for language: String) -> StringCatalog { texts.catalog(for: language) }

    /// Languages with a strings file.
    public var languages: [String] { negotiation.supported }

    /// Renders `template` in `language`.
    ///
    /// The template sees `lang`, the texts under `t` and the given `values`. Values are HTML-escaped
    /// by `{{name}}`; templates must never use the unescaped forms for anything a user can influence.
    ///
    /// - Returns: The HTML, or nil if there is no such template.
    public func render(_ template: String, language: String, values: [String: Any] = [:]) -> String? {
        let catalog = catalog(for: language)
        var context: [String: Any] = values
        context["lang"] = catalog.language
        context["t"] = catalog.root
        return library.render(context, withTemplate: template)
    }
}

/// The strings catalogue of every language, with the choice of language by `Accept-Language`.
public struct StringCatalogs: Sendable {
    private let catalogs: [String: StringCatalog]
    public let negotiation: LanguageNegotiation

    /// - Precondition: `catalogs` has German (`de`), the language every text falls back to.
    init(_ catalogs: [String: StringCatalog]) {
        precondition(catalogs["de"] != nil, "the German strings are required")
        self.catalogs = catalogs
        // German first, then the others in a stable order.
        let others = catalogs.keys.filter { $0 != "de" }.sorted()
        negotiation = LanguageNegotiation(supported: ["de"] + others, defaultLanguage: "de")
    }

    /// Only the texts of `directory/strings`, for tools that print but render no page.
    ///
    /// - Throws: ``ConfigurationError`` (`invalidStrings`) naming the file.
    public static func load(templatesDirectory directory: String) throws -> StringCatalogs {
        StringCatalogs(
            try PageRenderer.loadCatalogs(from: URL(fileURLWithPath: directory).appendingPathComponent("strings")))
    }

    /// The texts of `language`, falling back to German.
    public func catalog(for language: String) -> StringCatalog { catalogs[language] ?? catalogs["de"]! }

    /// The texts in the language the `Accept-Language` header asks for.
    public func catalog(forAcceptLanguage header: String?) -> StringCatalog {
        catalog(for: negotiation.language(forAcceptLanguage: header))
    }
}
