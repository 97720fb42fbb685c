import Foundation
import WorkflowEngine

/// A dataset as it was published: the catalogue entry and the publication decision that opened it.
public struct PublishedDataset: Sendable, Hashable {
    public var id: String
    public var title: String
    public var description: String
    /// The title of the dataset's domain: the office responsible for it.
    public var office: String
    /// The licence the publication decision recorded (else the one requested), as typed.
    public var licence: String?
    /// Where the portal publishes it, from the publication decision.
    public var portalURL: String
    /// When the dataset was first published (its first publication decision).
    public var issued: Date
    /// When its latest publication decision was taken (`issued` if there was one).
    public var modified: Date
    /// The format requested (CSV, GeoJSON, …), if any.
    public var format: String?
    /// A high-value dataset of the EU's implementing regulation 2023/138, as the catalogue marks it now.
    public var highValue: Bool
}

/// The Open Data catalogue in DCAT-AP.de 2.0 (what GovData and CKAN portals harvest): one
/// `dcat:Dataset` per published dataset with title, description, publisher, licence, the portal's
/// address (`dcat:landingPage` and the distribution's `dcat:accessURL`), the issue date, the
/// responsible office (`dcatde:maintainer`, `dcat:contactPoint`), the city's `dcatde:contributorID`, and
/// for a high-value dataset the regulation as `dcatap:applicableLegislation` (as GovData asks it marked).
struct DCATCatalog: Sendable {
    var settings: DCATSettings
    var datasets: [PublishedDataset]

    /// Only datasets whose portal address passes the engine's rule for a publication's portal URL
    /// (`https` on a public host name) are listed: the address becomes `dcat:landingPage` and
    /// `dcat:accessURL`, which portals link to. A decision stored under an older, laxer rule (a workflow
    /// without the check, `javascript:`, an internal host) never reaches the city's public catalogue.
    init(settings: DCATSettings, datasets: [PublishedDataset]) {
        self.settings = settings
        self.datasets = datasets.filter { ApprovalDetails.isPublicPortalAddress($0.portalURL) }
    }

    static let language = "de"

    var catalogURI: String { settings.publicURL.absoluteString + "/api/v1/dcat/catalog" }

    func datasetURI(_ id: String) -> String { settings.publicURL.absoluteString + "/katalog/" + id }

    var graph: RDFGraph {
        var graph = RDFGraph()
        let catalog = RDFGraph.iri(catalogURI)
        let publisher = RDFGraph.Term.blank("publisher")
        graph.add(catalog, RDFGraph.type, RDFGraph.term("dcat:Catalog"))
        graph.add(catalog, "dct:title", .text(settings.catalogTitle, language: Self.language))
        graph.add(
            catalog, "dct:description",
            .text(settings.describedAs, language: Self.language))
        graph.add(catalog, "dct:publisher", publisher)
        graph.add(catalog, "foaf:homepage", RDFGraph.iri(settings.publicURL.absoluteString))
        for dataset in datasets {
            graph.add(catalog, "dcat:dataset", RDFGraph.iri(datasetURI(dataset.id)))
        }

        graph.add(publisher, RDFGraph.type, RDFGraph.term("foaf:Organization"))
        graph.add(publisher, "foaf:name", .text(settings.publisherName, language: nil))
        if let homepage = settings.publisherURL {
            graph.add(publisher, "foaf:homepage", RDFGraph.iri(homepage.absoluteString))
        }

        for (index, dataset) in datasets.enumerated() {
            add(dataset, number: index + 1, publisher: publisher, to: &graph)
        }
        return graph
    }

    private func add(_ dataset: PublishedDataset, number: Int, publisher: RDFGraph.Term, to graph: inout RDFGraph) {
        let subject = RDFGraph.iri(datasetURI(dataset.id))
        let maintainer = RDFGraph.Term.blank("maintainer\(number)")
        let contact = RDFGraph.Term.blank("contact\(number)")
        let distribution = RDFGraph.Term.blank("distribution\(number)")
        let licence = dataset.licence.flatMap(DCATLicence.init(recorded:))
        let portal = RDFGraph.iri(dataset.portalURL)

        graph.add(subject, RDFGraph.type, RDFGraph.term("dcat:Dataset"))
        graph.add(subject, "dct:identifier", .text(dataset.id, language: nil))
        graph.add(subject, "dct:title", .text(dataset.title, language: Self.language))
        // dct:description is mandatory; a catalogue entry without one is described by its title.
        let description = dataset.description.trimmingCharacters(in: .whitespacesAndNewlines)
        graph.add(
            subject, "dct:description",
            .text(description.isEmpty ? dataset.title : description, language: Self.language))
        graph.add(subject, "dct:publisher", publisher)
        graph.add(subject, "dct:issued", .typed(Self.timestamp(dataset.issued), datatype: "xsd:dateTime"))
        if dataset.modified > dataset.issued {
            graph.add(subject, "dct:modified", .typed(Self.timestamp(dataset.modified), datatype: "xsd:dateTime"))
        }
        graph.add(subject, "dcat:landingPage", portal)
        if let contributorID = settings.contributorID {
            graph.add(subject, "dcatde:contributorID", RDFGraph.iri(contributorID.absoluteString))
        }
        graph.add(subject, "dcatde:maintainer", maintainer)
        graph.add(subject, "dcat:contactPoint", contact)
        if let licence { graph.add(subject, "dct:license", .iri(licence.uri)) }
        if dataset.highValue { graph.add(subject, "dcatap:applicableLegislation", .iri(Self.highValueRegulation)) }
        graph.add(subject, "dcat:distribution", distribution)

        graph.add(maintainer, RDFGraph.type, RDFGraph.term("foaf:Organization"))
        graph.add(maintainer, "foaf:name", .text(dataset.office, language: nil))

        graph.add(contact, RDFGraph.type, RDFGraph.term("vcard:Organization"))
        graph.add(contact, "vcard:fn", .text(dataset.office, language: nil))
        if let email = settings.contactEmail { graph.add(contact, "vcard:hasEmail", .iri("mailto:" + email)) }

        graph.add(distribution, RDFGraph.type, RDFGraph.term("dcat:Distribution"))
        graph.add(distribution, "dcat:accessURL", portal)
        graph.add(distribution, "dct:title", .text(dataset.title, language: Self.language))
        if let licence { graph.add(distribution, "dct:license", .iri(licence.uri)) }
        if dataset.highValue {
            graph.add(distribution, "dcatap:applicableLegislation", .iri(Self.highValueRegulation))
        }
        if let format = dataset.format.flatMap(Self.fileType) { graph.add(distribution, "dct:format", .iri(format)) }
    }

    /// The European Legislation Identifier of implementing regulation (EU) 2023/138 (high-value datasets).
    static let highValueRegulation = "http://data.europa.eu/eli/reg_impl/2023/138/oj"

    /// The EU file-type authority's URI for a format name as people write it ("CSV", "GeoJSON", "Excel",
    /// "JSON-LD", "Shapefile"); nil for a name the table does not know: the catalogue states no format
    /// rather than an identifier the vocabulary does not have ("EXCEL", "SHAPEFILE").
    static func fileType(_ format: String) -> String? {
        let key = String(
            format.uppercased().unicodeScalars.filter {
                $0.properties.isAlphabetic || ("0"..."9").contains(Character($0))
            }.map(Character.init))
        return fileTypes[key].map { "http://publications.europa.eu/resource/authority/file-type/" + $0 }
    }

    /// Format names (upper case, letters and digits only) and their codes in the EU file-type authority.
    static let fileTypes: [String: String] = [
        "CSV": "CSV", "TSV": "TSV", "JSON": "JSON", "GEOJSON": "GEOJSON", "XML": "XML", "XLSX": "XLSX",
        "EXCEL": "XLSX", "XLS": "XLS", "ODS": "ODS", "SHP": "SHP", "SHAPEFILE": "SHP", "ESRISHAPEFILE": "SHP",
        "GML": "GML", "KML": "KML", "KMZ": "KMZ", "PDF": "PDF", "RDF": "RDF_XML", "RDFXML": "RDF_XML",
        "TURTLE": "RDF_TURTLE", "TTL": "RDF_TURTLE", "JSONLD": "JSON_LD", "ZIP": "ZIP", "TXT": "TXT",
        "HTML": "HTML", "WMS": "WMS_SRVC", "WFS": "WFS_SRVC", "GPKG": "GPKG", "GEOPACKAGE": "GPKG",
    ]

    /// `xsd:dateTime` in UTC with seconds.
    static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }
}
