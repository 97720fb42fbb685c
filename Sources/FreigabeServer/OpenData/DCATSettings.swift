import Foundation

/// What the Open Data catalogue (`/api/v1/dcat/catalog.ttl`, `.jsonld`) says about the city itself
/// (`dcat.*`): DCAT-AP.de asks every dataset for a publisher, and GovData tells its direct data
/// providers apart by their contributor id.
public struct DCATSettings: Sendable, Hashable {
    /// `dcterms:publisher` of the catalogue and of every dataset (`dcat.publisher_name`).
    public var publisherName = "Stadtverwaltung"
    /// The publisher's web site (`dcat.publisher_url`), `foaf:homepage`; none by default.
    public var publisherURL: URL?
    /// `dcatde:contributorID` (`dcat.contributor_id`): the URI GovData assigned to the city, from
    /// `http://dcat-ap.de/def/contributors/`; none by default.
    public var contributorID: URL?
    /// `vcard:hasEmail` of each dataset's contact point (`dcat.contact_email`); none by default.
    public var contactEmail: String?
    /// `dcterms:title` of the catalogue (`dcat.catalog_title`).
    public var catalogTitle = "Open Data"
    /// `dcterms:description` of the catalogue (`dcat.catalog_description`), which portals such as GovData
    /// show; by default a sentence naming the publisher.
    public var catalogDescription: String?
    /// The address the dataset and catalogue URIs are built from: `web.public_url`.
    public var publicURL: URL = WebSettings().publicURL

    public init() {}

    public enum Key {
        public static let publisherName = "dcat.publisher_name"
        public static let publisherURL = "dcat.publisher_url"
        public static let contributorID = "dcat.contributor_id"
        public static let contactEmail = "dcat.contact_email"
        public static let catalogTitle = "dcat.catalog_title"
        public static let catalogDescription = "dcat.catalog_description"
    }

    static func read(_ values: SettingValues, publicURL: URL) throws -> DCATSettings {
        var settings = DCATSettings()
        settings.publicURL = publicURL
        if let name = try values.parsed(Key.publisherName, expected: "1 bis 200 Zeichen", parse: Self.name) {
            settings.publisherName = name
        }
        if let title = try values.parsed(Key.catalogTitle, expected: "1 bis 200 Zeichen", parse: Self.name) {
            settings.catalogTitle = title
        }
        settings.catalogDescription = try values.parsed(
            Key.catalogDescription, expected: "1 bis 1000 Zeichen in einer Zeile", parse: Self.description)
        settings.publisherURL = try values.parsed(Key.publisherURL, expected: "https://…", parse: Self.webURL)
        settings.contributorID = try values.parsed(
            Key.contributorID, expected: "http://dcat-ap.de/def/contributors/…", parse: Self.webURL)
        settings.contactEmail = try values.parsed(
            Key.contactEmail, expected: "eine E-Mail-Adresse (name@stadt.example)", parse: Self.email)
        return settings
    }

    static func name(_ text: String) -> String? {
        (1...200).contains(text.count) && !text.contains(where: \.isNewline) ? text : nil
    }

    static func description(_ text: String) -> String? {
        (1...1000).contains(text.count) && !text.contains(where: \.isNewline) ? text : nil
    }

    /// The catalogue's description as portals show it.
    var describedAs: String { catalogDescription ?? "Als Open Data freigegebene Datensätze: \(publisherName)" }

    /// An absolute http(s) URL with a host, written only with the characters a URI may hold as they are
    /// (Foundation would quietly percent-encode a space or `<`).
    static func webURL(_ text: String) -> URL? {
        guard
            text.unicodeScalars.allSatisfy({
                $0.isASCII && $0.value > 0x20 && $0.value != 0x7F && !"<>\"{}|\\^`".unicodeScalars.contains($0)
            }),
            let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty
        else { return nil }
        return components.url
    }

    /// One address, as `local@domain`, without anything a `mailto:` IRI would have to escape.
    static func email(_ text: String) -> String? {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), text.count <= 254,
            text.unicodeScalars.allSatisfy({
                $0.isASCII && $0.value > 0x20 && !"<>\"{}|\\^`?#%".unicodeScalars.contains($0)
            })
        else { return nil }
        return text
    }
}
