import Foundation
import Testing

@testable import FreigabeServer

/// The catalogue's pages: paging with the filters kept, the owner filter, the owner named from the
/// directory.
@Suite("Web catalogue: paging, owner filter, owner's name", .serialized)
struct WebCatalogTests {
    /// Sixty datasets „Zählstelle 01“ … „Zählstelle 60“ (paul's; every fourth otto's), one of an owner
    /// group and one of an owner the directory does not know.
    static func importSixty(_ fixture: WebFixture) async throws {
        var yaml = "datasets:\n"
        for number in 1...60 {
            let id = String(format: "zaehlstelle-%02d", number)
            yaml += """
                  - id: \(id)
                    title: Zählstelle \(String(format: "%02d", number))
                    domain: mobilitaet
                    owner: \(number % 4 == 0 ? "otto" : "paul")
                    classification: public
                    personal_data: none
                    protection_need: normal

                """
        }
        yaml += """
              - id: spielplaetze
                title: Spielplätze
                domain: umwelt
                owner_group: cn=umweltamt,ou=groups,dc=stadt,dc=example
                classification: public
                personal_data: none
                protection_need: normal
              - id: unbekannt
                title: Unbekannter Eigentümer
                domain: umwelt
                owner: niemand-bekannt
                classification: public
                personal_data: none
                protection_need: normal

            """
        let document = try CatalogParser.parse(yaml, file: "sechzig.yaml", format: .yaml)
        let report = try await CatalogRepository(client: fixture.store.app).importCatalog(
            document, file: "sechzig.yaml", actor: "adam", now: Clock.start, logger: fixture.store.logger)
        #expect(report.datasetsCreated.count == 62)
    }

    /// The titles in the page's result table, in order.
    static func titles(_ page: Browser.Page) -> [String] {
        page.html.components(separatedBy: "<th scope=\"row\"><a href=\"").dropFirst().compactMap { row in
            row.split(separator: ">", maxSplits: 1).last.map { String($0.prefix { $0 != "<" }) }
        }
    }

    /// The „Weitere Datensätze“ link, unescaped.
    static func next(_ page: Browser.Page) -> String? {
        guard let range = page.html.range(of: "rel=\"next\"") else { return nil }
        let before = page.html[..<range.lowerBound]
        guard let start = before.range(of: "href=\"", options: .backwards) else { return nil }
        return String(before[start.upperBound...].prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
    }

    @Test("the next link reaches the 60th dataset and keeps the filters; the last page has none")
    func paging() async throws {
        try await WebFixture.with { fixture, client in
            try await Self.importSixty(fixture)
            let anna = Browser(client)
            try await anna.login("anna")
            // Two words, as the search form sends them (a space is `+`).
            #expect(Self.titles(try await anna.get("/katalog?q=Z%C3%A4hlstelle+01")) == ["Zählstelle 01"])
            let first = try await anna.get("/katalog?q=zaehlstelle&domain=mobilitaet&classification=public")
            #expect(first.status == 200)
            let firstTitles = Self.titles(first)
            #expect(firstTitles.count == 50)
            #expect(firstTitles.first == "Zählstelle 01" && firstTitles.last == "Zählstelle 50")
            #expect(first.html.contains("Weitere Datensätze"))
            let link = try #require(Self.next(first))
            #expect(link.hasPrefix("/katalog?"))
            for kept in ["q=zaehlstelle", "domain=mobilitaet", "classification=public", "offset=50"] {
                #expect(link.contains(kept), "\(link) keeps \(kept)")
            }
            let second = try await anna.get(link)
            #expect(Self.titles(second) == (51...60).map { "Zählstelle \($0)" })
            #expect(Self.next(second) == nil)
            #expect(!second.html.contains("Weitere Datensätze"))

            // The whole catalogue (62 + 11) is two pages of 50 as well; a smaller page size is kept too.
            let all = try await anna.get("/katalog")
            #expect(Self.titles(all).count == 50)
            let rest = try await anna.get(try #require(Self.next(all)))
            #expect(Self.titles(rest).count == 23)
            let small = try await anna.get("/katalog?q=zaehlstelle&limit=25")
            let smallNext = try #require(Self.next(small))
            #expect(smallNext.contains("limit=25") && smallNext.contains("offset=25"))
        }
    }

    @Test("the next page's address encodes every filter, non-ASCII and reserved characters included")
    func nextAddress() {
        let query = DatasetQuery(
            text: "Zählstelle & Co=1", domain: "mobilitaet", classification: .public, owner: "o'tto", limit: 20,
            offset: 40)
        #expect(
            CatalogPages.nextHref(query)
                == "/katalog?q=Z%C3%A4hlstelle%20%26%20Co%3D1&domain=mobilitaet&classification=public&owner=o%27tto&limit=20&offset=60"
        )
        #expect(CatalogPages.nextHref(DatasetQuery()) == "/katalog?offset=50")
    }

    @Test("?owner= shows only that person's datasets; hostile values are answered clearly and change nothing")
    func ownerFilter() async throws {
        try await WebFixture.with { fixture, client in
            try await Self.importSixty(fixture)
            let anna = Browser(client)
            try await anna.login("anna")
            let before = try await fixture.allCounts()
            let otto = try await anna.get("/katalog?owner=otto")
            #expect(otto.status == 200)
            let ottos = Self.titles(otto)
            // The demo's four and every fourth Zählstelle.
            #expect(ottos.count == 4 + 15)
            #expect(ottos.contains("Baumkataster") && ottos.contains("Zählstelle 04"))
            #expect(!ottos.contains("Zählstelle 01") && !ottos.contains("Verkehrszählung"))
            #expect(otto.html.contains("value=\"otto\""), "the field keeps the filter")
            #expect(Self.next(otto) == nil)
            // Case does not matter, as in the directory.
            #expect(Self.titles(try await anna.get("/katalog?owner=OTTO")) == ottos)
            // Paul's 45 are two pages; the link keeps the owner.
            let paul = try await anna.get("/katalog?owner=paul")
            #expect(Self.titles(paul).count == 45)
            #expect(Self.next(paul) == nil)
            let pauls = try await anna.get("/katalog?owner=paul&limit=20")
            #expect(try #require(Self.next(pauls)).contains("owner=paul"))

            for hostile in ["%27%20OR%20%271%27%3D%271", "niemand", "%25", "otto%27--"] {
                let page = try await anna.get("/katalog?owner=\(hostile)")
                #expect(page.status == 200, "\(hostile)")
                #expect(Self.titles(page).isEmpty, "\(hostile)")
                #expect(page.html.contains("Keine Datensätze gefunden."), "\(hostile)")
            }
            for refused in [String(repeating: "a", count: 101), "ot%00to", "ot%0Ato"] {
                let page = try await anna.get("/katalog?owner=\(refused)")
                #expect(page.status == 200)
                #expect(page.html.contains("Der Data Owner ist als Benutzerkennung anzugeben"), "\(refused)")
                // Shown instead: the whole catalogue, as for any filter that cannot be meant.
                #expect(Self.titles(page).count == 50)
            }
            #expect(try await fixture.allCounts() == before)
        }
    }

    @Test("a dataset's page names its owner as the directory does, a group by its name, an unknown uid as is")
    func ownerName() async throws {
        try await WebFixture.with { fixture, client in
            try await Self.importSixty(fixture)
            let anna = Browser(client)
            try await anna.login("anna")
            let trees = try await anna.get("/katalog/baumkataster")
            #expect(trees.html.contains("<dd>Otto Oberle<br><span class=\"small\"><code>otto</code></span></dd>"))
            let playgrounds = try await anna.get("/katalog/spielplaetze")
            #expect(
                playgrounds.html.contains(
                    "<dd>umweltamt<br><span class=\"small\"><code>cn=umweltamt,ou=groups,dc=stadt,dc=example</code>"))
            let unknown = try await anna.get("/katalog/unbekannt")
            #expect(unknown.status == 200)
            #expect(unknown.html.contains("<dd>niemand-bekannt<br>"))
        }
    }
}
