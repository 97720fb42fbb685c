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

    /// The templates as written, with their `{{t.…}}` lookups: mails, and the reference the pages' own
    /// libraries are tested against.
    let library: MustacheLibrary
    /// The templates of each language (by catalogue language) with its texts written in (``TextsWrittenIn``):
    /// what pages render with.
    let pageLibraries: [String: MustacheLibrary]
    /// The texts of every language, shared with the API's problem answers.
    public let texts: StringCatalogs
    /// Chooses the language of a request from its `Accept-Language` header.
    public var negotiation: LanguageNegotiation { texts.negotiation }

    init(library: MustacheLibrary, pageLibraries: [String: MustacheLibrary], catalogs: [String: StringCatalog]) {
        self.library = library
        self.pageLibraries = pageLibraries
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
        let pageLibraries: [String: MustacheLibrary]
        do {
            pageLibraries = try TextsWrittenIn.libraries(
                sources: try TextsWrittenIn.sources(in: resolved), catalogs: catalogs)
        } catch {
            // Every file parsed above; only a text written in could break one, which the rules of
            // `TextsWrittenIn` rule out.
            throw ConfigurationError(
                code: .invalidTemplates,
                key: AppConfiguration.Key.templatesDirectory,
                description: "Die Vorlagen in „\(directory)“ lassen sich mit den Texten nicht vorbereiten.",
                details: String(describing: error)
            )
        }
        return PageRenderer(library: library, pageLibraries: pageLibraries, catalogs: catalogs)
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
        render(template, language: language, values: values, textsWrittenIn: true)
    }

    /// `textsWrittenIn: false` renders with the templates as written, every `{{t.…}}` looked up: the
    /// reference a test holds the pages' libraries to.
    func render(_ template: String, language: String, values: [String: Any], textsWrittenIn: Bool) -> String? {
        let catalog = catalog(for: language)
        let library = textsWrittenIn ? pageLibraries[catalog.language] ?? library : library
        return library.render(PageContext(values: values, catalog: catalog), withTemplate: template)
    }
}

/// The outermost context of a page: `lang`, the texts under `t` (for the lookups that are not written in,
/// see ``TextsWrittenIn``) and the page's values, as the dictionary `["lang": …, "t": …] + values` answered.
///
/// A struct because every name a page's sections do not answer ends here, and swift-mustache finds a
/// `MustacheParent` by a dynamic cast: the dictionary's conformance is conditional (`Key == String`),
/// which the runtime checks on every cast.
struct PageContext: MustacheParent {
    var values: [String: Any]
    var catalog: StringCatalog

    func child(named name: String) -> Any? {
        switch name {
        case "lang": catalog.language
        case "t": catalog.root
        default: values[name]
        }
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

    /// The German texts for the command line, which speaks German like the pages, from
    /// `FREIGABE_TEMPLATES_DIR` (default `Templates`). Without them (an unusual working directory) an
    /// empty catalogue: each text then shows its catalogue key.
    public static func console(environment: [String: String]) -> StringCatalog {
        let directory = environment["FREIGABE_TEMPLATES_DIR"] ?? "Templates"
        return (try? load(templatesDirectory: directory).catalog(for: "de"))
            ?? StringCatalog(language: "de", texts: [:])
    }

    /// ``console(environment:)`` of this process, read once.
    static let console = console(environment: ProcessInfo.processInfo.environment)

    /// The texts in the language the `Accept-Language` header asks for.
    public func catalog(forAcceptLanguage header: String?) -> StringCatalog {
        catalog(for: negotiation.language(forAcceptLanguage: header))
    }
}
