import Foundation
import Testing

@testable import FreigabeServer

/// The Open Data catalogue (`/api/v1/dcat/…`) through the production router: what is in it, and that
/// hostile titles stay one literal. scripts/dcat-check parses the same documents with rdflib.
@Suite("DCAT-AP.de catalogue")
struct DCATCatalogTests {
    /// Quotes, a backslash, a Turtle statement end, a JSON-LD key and umlauts; the description adds
    /// line breaks, a tab and a triple quote.
    static let hostileTitle = #"Bäume "gefällt" \ """ }@de . <x> {"@id": "_:b"} Straßen"#
    static let hostileDescription = "Zeile 1\nZeile 2\r\n\t\"\"\" ^^xsd:string ; a dcat:Catalog .\\u0022 ü"

    @Test("A published dataset: title, licence URI, portal URL, issue date, office; drafts and reviews are not listed")
    func publishedDatasetIsListed() async throws {
        try await APIFixture.with { fixture, api in
            let put = try await api.send(
                .put, "/api/v1/datasets/strassenbaeume-feindlich", as: "adam",
                json: jsonText([
                    "title": Self.hostileTitle, "description": Self.hostileDescription, "domain": "umwelt",
                    "owner": "otto", "classification": "public", "personal_data": "none",
                    "protection_need": "normal", "formats": ["CSV"],
                ]))
            #expect(put.status == 201)
            // The engine accepts an IRI only (a space, `>` or `"` as typed is refused: APILifecycleTests);
            // umlauts stay as they are, escapes stay escaped.
            let typed = "https://opendata.stadt.example/dataset/straßenbäume%20a%3Eb%22c?x=1&y=%22"
            let portal = typed
            _ = try await Self.publish(
                "strassenbaeume-feindlich", licence: "Datenlizenz Deutschland – Namensnennung – Version 2.0",
                portal: typed, api: api)
            // In review only: must not appear.
            let pending = try await api.create(
                [
                    "kind": "open_data", "dataset_id": "radverkehrsnetz", "purpose": "Radnetz",
                    "licence": "cc-by-4.0", "format": "CSV", "open_data_check": APILifecycleTests.cleanCheck,
                    "submit": true,
                ])
            #expect(pending.status == 201)

            let turtle = try await api.send(.get, "/api/v1/dcat/catalog.ttl")
            #expect(turtle.status == 200)
            #expect(turtle.contentType == "text/turtle; charset=utf-8")
            let subject = "<http://127.0.0.1:8080/katalog/strassenbaeume-feindlich>"
            #expect(turtle.body.contains(subject))
            #expect(turtle.body.contains(TurtleWriter.literal(Self.hostileTitle) + "@de"))
            #expect(
                turtle.body.contains(
                    #""Bäume \"gefällt\" \\ \"\"\" }@de . <x> {\"@id\": \"_:b\"} Straßen"@de"#))
            // Stored with one line break (CR LF as LF), as every catalogue text.
            #expect(
                turtle.body.contains(#""Zeile 1\nZeile 2\n\t\"\"\" ^^xsd:string ; a dcat:Catalog .\\u0022 ü"@de"#))
            #expect(turtle.body.contains("dct:license <http://dcat-ap.de/def/licenses/dl-by-de/2.0>"))
            #expect(turtle.body.contains("dcat:accessURL <\(portal)>"))
            #expect(turtle.body.contains("dcat:landingPage <\(portal)>"))
            #expect(turtle.body.contains("^^xsd:dateTime"))
            #expect(turtle.body.contains("dct:format <http://publications.europa.eu/resource/authority/file-type/CSV>"))
            #expect(!turtle.body.contains("radverkehrsnetz"))
            #expect(!turtle.body.contains("baumkataster"))

            let jsonld = try await api.send(.get, "/api/v1/dcat/catalog.jsonld")
            #expect(jsonld.status == 200)
            #expect(jsonld.contentType == "application/ld+json; charset=utf-8")
            let nodes = jsonld.json?["@graph"]?.array ?? []
            let dataset = try #require(
                nodes.first { $0["@id"]?.string == "http://127.0.0.1:8080/katalog/strassenbaeume-feindlich" })
            #expect(dataset["dct:title"]?[0]?["@value"]?.string == Self.hostileTitle)
            #expect(dataset["dct:title"]?[0]?["@language"]?.string == "de")
            #expect(
                dataset["dct:description"]?[0]?["@value"]?.string == UnicodeText.oneLineBreak(Self.hostileDescription))
            #expect(dataset["dct:license"]?[0]?["@id"]?.string == "http://dcat-ap.de/def/licenses/dl-by-de/2.0")
            #expect(dataset["dcat:landingPage"]?[0]?["@id"]?.string == portal)
            #expect(nodes.filter { $0["@type"]?[0]?.string == "dcat:Dataset" }.count == 1)
        }
    }

    @Test("A dataset published twice is listed once: issued at its first publication, modified at the latest")
    func republishedDataset() async throws {
        try await APIFixture.with { fixture, api in
            let put = try await api.send(
                .put, "/api/v1/datasets/radverkehrsnetz-offen", as: "adam",
                json: jsonText([
                    "title": "Radverkehrsnetz", "description": "Radwege", "domain": "umwelt", "owner": "otto",
                    "classification": "public", "personal_data": "none", "protection_need": "normal",
                    "formats": ["CSV"],
                ]))
            #expect(put.status == 201)
            _ = try await Self.publish(
                "radverkehrsnetz-offen", licence: "cc-by-4.0", portal: "https://opendata.stadt.example/d/rad", api: api)
            fixture.clock.advance(days: 30)
            _ = try await Self.publish(
                "radverkehrsnetz-offen", licence: "cc-by-4.0", portal: "https://opendata.stadt.example/d/rad-2",
                api: api)
            let jsonld = try await api.send(.get, "/api/v1/dcat/catalog.jsonld")
            let datasets = (jsonld.json?["@graph"]?.array ?? []).filter { $0["@type"]?[0]?.string == "dcat:Dataset" }
            #expect(datasets.count == 1)
            let dataset = try #require(datasets.first)
            #expect(dataset["dcat:landingPage"]?[0]?["@id"]?.string == "https://opendata.stadt.example/d/rad-2")
            let issued = try #require(dataset["dct:issued"]?[0]?["@value"]?.string)
            let modified = try #require(dataset["dct:modified"]?[0]?["@value"]?.string)
            #expect(issued < modified, "issued \(issued), modified \(modified)")
        }
    }

    @Test("An empty catalogue is still a catalogue, served without a login")
    func emptyCatalogue() async throws {
        try await APIFixture.with { _, api in
            let turtle = try await api.send(.get, "/api/v1/dcat/catalog.ttl")
            #expect(turtle.status == 200)
            #expect(turtle.body.contains("a dcat:Catalog"))
            #expect(!turtle.body.contains("dcat:Dataset"))
            let jsonld = try await api.send(.get, "/api/v1/dcat/catalog.jsonld")
            #expect(jsonld.status == 200)
            #expect(jsonld.json?["@graph"]?.array.count == 2)
        }
    }

    @Test(
        "Recorded licence texts map to the DCAT-AP.de vocabulary; anything else gives no licence",
        arguments: [
            ("dl-de-by-2.0", "http://dcat-ap.de/def/licenses/dl-by-de/2.0"),
            ("dl-de/by-2-0", "http://dcat-ap.de/def/licenses/dl-by-de/2.0"),
            ("Datenlizenz Deutschland – Zero – Version 2.0", "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"),
            ("dl-de-zero-2.0", "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"),
            ("CC BY 4.0", "http://dcat-ap.de/def/licenses/cc-by/4.0"),
            ("cc-by-4.0", "http://dcat-ap.de/def/licenses/cc-by/4.0"),
            ("cc0-1.0", "http://dcat-ap.de/def/licenses/cc-zero"),
            ("CC0", "http://dcat-ap.de/def/licenses/cc-zero"),
            ("http://dcat-ap.de/def/licenses/cc-zero", "http://dcat-ap.de/def/licenses/cc-zero"),
            ("CC BY-SA 4.0", nil), ("dl-de-by-1.0", nil), ("", nil), ("\"><script>", nil),
        ] as [(String, String?)])
    func licences(recorded: String, uri: String?) {
        #expect(DCATLicence(recorded: recorded)?.uri == uri)
    }

    @Test("Turtle escapes: every control character, quotes and backslashes in literals; IRIs percent-encoded")
    func turtleEscaping() {
        #expect(
            TurtleWriter.literal("a\"b\\c\nd\re\tf\u{0}g\u{7F}h\u{1B}ä😀")
                == #""a\"b\\c\nd\re\tf\u0000g\u007Fh\u001Bä😀""#)
        #expect(
            TurtleWriter.iri("https://x.example/a b<c>\"d{e}|f^g`h\\i")
                == "<https://x.example/a%20b%3Cc%3E%22d%7Be%7D%7Cf%5Eg%60h%5Ci>")
        #expect(TurtleWriter.iri("https://x.example/ö") == "<https://x.example/ö>")
    }

    @Test(
        "format names map to the EU file-type authority; unknown ones give no format",
        arguments: [
            ("CSV", "CSV"), ("csv ", "CSV"), ("GeoJSON", "GEOJSON"), ("Excel", "XLSX"), ("JSON-LD", "JSON_LD"),
            ("Esri Shapefile", "SHP"), ("RDF/XML", "RDF_XML"), ("Turtle", "RDF_TURTLE"), ("WMS", "WMS_SRVC"),
            ("Foo", nil), ("CSV (UTF-8, Semikolon)", nil), ("<x>", nil), ("", nil),
        ] as [(String, String?)])
    func fileTypes(format: String, code: String?) {
        #expect(
            DCATCatalog.fileType(format)
                == code.map { "http://publications.europa.eu/resource/authority/file-type/" + $0 })
    }

    @Test("dcat.* settings: the values portals see, and hostile ones refused with the key named")
    func settings() async throws {
        func configuration(_ environment: [String: String]) async throws -> AppConfiguration {
            try AppConfiguration(reader: try await ConfigurationSources.reader(environment: environment))
        }
        let defaults = try await configuration([:]).dcat
        #expect(defaults.publisherName == "Stadtverwaltung" && defaults.contributorID == nil)
        #expect(defaults.describedAs == "Als Open Data freigegebene Datensätze: Stadtverwaltung")
        let set = try await configuration([
            "FREIGABE_DCAT_PUBLISHER_NAME": "Stadt Beispielstadt – Amt für Digitales",
            "FREIGABE_DCAT_PUBLISHER_URL": "https://www.stadt.example/",
            "FREIGABE_DCAT_CONTRIBUTOR_ID": "http://dcat-ap.de/def/contributors/beispielstadt",
            "FREIGABE_DCAT_CONTACT_EMAIL": "opendata@stadt.example",
            "FREIGABE_DCAT_CATALOG_DESCRIPTION": "Offene Daten der Stadt Beispielstadt \"für alle\"",
            "FREIGABE_WEB_PUBLIC_URL": "https://freigabe.stadt.example",
        ]).dcat
        #expect(set.describedAs == "Offene Daten der Stadt Beispielstadt \"für alle\"")
        let turtle = TurtleWriter.document(DCATCatalog(settings: set, datasets: []).graph)
        #expect(turtle.contains(#""Offene Daten der Stadt Beispielstadt \"für alle\""@de"#), "\(turtle)")
        #expect(set.publisherName == "Stadt Beispielstadt – Amt für Digitales")
        #expect(set.contributorID?.absoluteString == "http://dcat-ap.de/def/contributors/beispielstadt")
        #expect(set.contactEmail == "opendata@stadt.example")
        #expect(
            DCATCatalog(settings: set, datasets: []).catalogURI == "https://freigabe.stadt.example/api/v1/dcat/catalog")
        // A portal address the engine would not accept at publication today (a decision stored under an
        // older rule) never becomes a landing page: that dataset is left out.
        let portals = [
            "https://opendata.stadt.example/d/1", "HTTPS://Opendata.Stadt.Example/d/2", "javascript:alert(1)",
            "data:text/html,<script>", "ftp://opendata.stadt.example/d", "https:///nohost", "/relativ", "",
            "http://opendata.stadt.example/d/3", "https://10.0.0.5/d", "https://0x7f.0.0.1/d",
            "https://ckan.internal/d",
        ]
        let datasets = portals.enumerated().map { index, portal in
            PublishedDataset(
                id: "d\(index)", title: "T", description: "", office: "Umwelt", licence: nil, portalURL: portal,
                issued: Date(timeIntervalSince1970: 0), modified: Date(timeIntervalSince1970: 0), format: nil,
                highValue: index == 1)
        }
        let listed = DCATCatalog(settings: set, datasets: datasets)
        #expect(listed.datasets.map(\.id) == ["d0", "d1"])
        // A high-value dataset names the regulation, on the dataset and its distribution; the other does not.
        let marked = TurtleWriter.document(listed.graph)
        let regulation = "dcatap:applicableLegislation <http://data.europa.eu/eli/reg_impl/2023/138/oj>"
        #expect(marked.components(separatedBy: regulation).count == 3, "\(marked)")
        #expect(marked.contains("@prefix dcatap: <http://data.europa.eu/r5r/> ."))
        #expect(
            Set(listed.graph.triples.filter { $0.predicate == "dcatap:applicableLegislation" }.map(\.subject))
                == [.iri("https://freigabe.stadt.example/katalog/d1"), .blank("distribution2")])
        let cases: [(String, String, String)] = [
            ("FREIGABE_DCAT_PUBLISHER_NAME", "Stadt\nX-Evil: 1", "dcat.publisher_name"),
            ("FREIGABE_DCAT_CATALOG_DESCRIPTION", "Zeile\nZwei", "dcat.catalog_description"),
            ("FREIGABE_DCAT_CATALOG_DESCRIPTION", String(repeating: "a", count: 1001), "dcat.catalog_description"),
            ("FREIGABE_DCAT_PUBLISHER_NAME", String(repeating: "a", count: 201), "dcat.publisher_name"),
            ("FREIGABE_DCAT_PUBLISHER_URL", "javascript:alert(1)", "dcat.publisher_url"),
            ("FREIGABE_DCAT_PUBLISHER_URL", "https://", "dcat.publisher_url"),
            ("FREIGABE_DCAT_CONTRIBUTOR_ID", "http://dcat-ap.de/def/contributors/a> <b", "dcat.contributor_id"),
            ("FREIGABE_DCAT_CONTRIBUTOR_ID", "beispielstadt", "dcat.contributor_id"),
            ("FREIGABE_DCAT_CONTACT_EMAIL", "opendata@stadt.example> ; a <x", "dcat.contact_email"),
            ("FREIGABE_DCAT_CONTACT_EMAIL", "opendata", "dcat.contact_email"),
            ("FREIGABE_DCAT_CONTACT_EMAIL", "a@b@stadt.example", "dcat.contact_email"),
            ("FREIGABE_DCAT_CATALOG_TITLE", "Zeile\rZwei", "dcat.catalog_title"),
        ]
        for (variable, value, key) in cases {
            do {
                _ = try await configuration([variable: value])
                Issue.record("\(variable)=\(value) was accepted")
            } catch let error as ConfigurationError {
                #expect(error.key == key, "\(variable)=\(value): \(error)")
            }
        }
    }

    /// Files an Open Data request for `dataset` as anna, approves it as Owner (otto) and Steward
    /// (stefan) and publishes it as the Open Data officer (olga).
    static func publish(_ dataset: String, licence: String, portal: String, api: APIClient) async throws -> String {
        let created = try await api.create(
            [
                "kind": "open_data", "dataset_id": dataset, "purpose": "Open-Data-Portal", "licence": "cc-by-4.0",
                "format": "CSV", "open_data_check": APILifecycleTests.cleanCheck, "submit": true,
            ])
        #expect(created.status == 201)
        let id = try #require(created.json?["id"]?.string)
        #expect(try await api.decide(id, as: "otto", ["decision": "approve"]).status == 200)
        #expect(try await api.decide(id, as: "stefan", ["decision": "approve"]).status == 200)
        let published = try await api.decide(
            id, as: "olga", ["decision": "approve", "licence": licence, "portal_url": portal])
        #expect(published.json?["status"]?["phase"]?.string == "published")
        return id
    }
}
