import Foundation
import Hummingbird
import HummingbirdTesting
import LDAPDirectory
import Testing

@testable import FreigabeServer

/// The deputy picker on /vertretungen: people found by name in the real directory, the search text
/// escaped so that it can never widen the filter.
@Suite("Web: deputy picker", .serialized)
struct WebDeputyPickerTests {
    @Test("searchPeople finds by name and user name; filter syntax in the text is matched literally")
    func searchIsEscaped() async throws {
        let directory = try LDAPDirectory(
            configuration: try DemoDirectory.configuration(), logger: APITestSupport.logger)
        do {
            #expect(try await directory.searchPeople(matching: "Dietz").map(\.uid) == ["dora"])
            #expect(try await directory.searchPeople(matching: "  peters ").map(\.uid) == ["paul"])
            #expect(try await directory.searchPeople(matching: "otto").map(\.displayName) == ["Otto Oberle"])
            // Unescaped, each of these would match everybody (or break the filter).
            for hostile in ["**", "*)(uid=*", "*)(|(uid=*", "\\2a", "a)(objectClass=*", "\u{0}*", "*))(|(cn=*"] {
                #expect(try await directory.searchPeople(matching: hostile).isEmpty, "\(hostile)")
            }
            // Too short or too long: nobody, without asking.
            #expect(try await directory.searchPeople(matching: "o").isEmpty)
            #expect(try await directory.searchPeople(matching: String(repeating: "a", count: 65)).isEmpty)
            let many = try await directory.searchPeople(matching: "a", limit: 50)
            #expect(many.isEmpty)
            let capped = try await directory.searchPeople(matching: "er", limit: 2)
            #expect(capped.count <= 2)
        } catch {
            await directory.shutdown()
            throw error
        }
        await directory.shutdown()
    }

    @Test("otto finds Paul by name, picks him, and the deputyship is set up; hostile searches find nobody")
    func pickDeputyByName() async throws {
        try await WebFixture.with { fixture, client in
            let otto = Browser(client)
            try await otto.login("otto")
            let found = try await otto.get("/vertretungen?suche=Peters")
            #expect(found.status == 200)
            #expect(found.html.contains("1 Person gefunden – bitte wählen"))
            #expect(found.html.contains("type=\"radio\""))
            #expect(found.html.contains("value=\"paul\""))
            #expect(found.html.contains("Paul Peters (paul,"))
            // The whole name, as the search form sends it (a space is `+`): found too, the box keeps it.
            let wholeName = try await otto.get("/vertretungen?suche=Paul+Peters")
            #expect(wholeName.html.contains("value=\"paul\""), "\(wholeName.html)")
            #expect(wholeName.html.contains(#"name="suche" value="Paul Peters""#))
            // A `+` typed is `%2B`: searched as a `+`, which no name holds.
            #expect(
                try await otto.get("/vertretungen?suche=Paul%2BPeters").html.contains("Im Verzeichnis passt niemand"))
            // A period that ends before it starts: refused, and the choice comes back as it was made.
            let refused = try await otto.post(
                "/vertretungen",
                [
                    ("suche", "Peters"), ("deputy", "paul"), ("valid_from", "2026-03-20"),
                    ("valid_until", "2026-03-10"),
                ], csrf: found.hidden("_csrf"))
            #expect(refused.status == 422)
            #expect(refused.html.contains(#"value="paul" checked"#), "\(refused.html)")
            #expect(refused.html.contains("Paul Peters (paul,"))
            #expect(refused.html.contains(#"name="suche" value="Peters""#))
            // otto does not find himself as his own deputy.
            let himself = try await otto.get("/vertretungen?suche=Oberle")
            #expect(himself.html.contains("Im Verzeichnis passt niemand zu „Oberle“."))
            for (hostile, encoded) in [
                ("*)(uid=*", "%2A%29%28uid%3D%2A"), ("**", "%2A%2A"),
                ("<script>x</script>", "%3Cscript%3Ex%3C%2Fscript%3E"),
            ] {
                let page = try await otto.get("/vertretungen?suche=" + encoded)
                #expect(page.status == 200)
                #expect(!page.html.contains("type=\"radio\""), "\(hostile)")
                #expect(page.html.contains("Im Verzeichnis passt niemand"), "\(hostile)")
                #expect(!page.html.contains("<script>x"))
            }
            #expect(try await otto.get("/vertretungen?suche=p").html.contains("mindestens 2"))
            let before = try await fixture.allCounts()["deputyships"] ?? 0
            let created = try await otto.post(
                "/vertretungen",
                [("deputy", "paul"), ("valid_from", "2026-03-02"), ("valid_until", "2026-03-20")],
                csrf: found.hidden("_csrf"))
            #expect(created.status == 303)
            #expect(try await fixture.allCounts()["deputyships"] == before + 1)
            #expect(try await otto.get("/vertretungen").html.contains("paul"))
            // Sent again (a second click): one deputyship; overlapping days: the error at the start date.
            let again = try await otto.post(
                "/vertretungen",
                [("deputy", "paul"), ("valid_from", "2026-03-02"), ("valid_until", "2026-03-20")],
                csrf: found.hidden("_csrf"))
            #expect(again.status == 303)
            let overlapping = try await otto.post(
                "/vertretungen",
                [("deputy", "paul"), ("valid_from", "2026-03-10"), ("valid_until", "2026-03-30")],
                csrf: found.hidden("_csrf"))
            #expect(overlapping.status == 422)
            #expect(overlapping.html.contains("id=\"f-valid-from-error\""))
            #expect(try await fixture.allCounts()["deputyships"] == before + 1)
            // Paul, the deputy, may end it from his page too.
            let paul = Browser(client)
            try await paul.login("paul")
            let page = try await paul.get("/vertretungen")
            let form = try #require(page.html.range(of: "action=\"/vertretungen/"))
            let path = String(page.html[form.upperBound...].prefix { $0 != "\"" })
            let ended = try await paul.post("/vertretungen/" + path, [], csrf: page.hidden("_csrf"))
            #expect(ended.status == 303)
            #expect(
                !(try await otto.get("/vertretungen").html.contains("action=\"/vertretungen/")), "nothing left to end")
        }
    }
}
