import Foundation
import Testing

@testable import FreigabeServer

@Suite("Page texts")
struct PageTextTests {
    @Test("placeholders are filled from the arguments; unknown ones and stray braces stay")
    func fillsPlaceholders() {
        #expect(PageText.fill("{count} Anträge warten", ["count": "500"]) == "500 Anträge warten")
        #expect(
            PageText.fill("als {role} für {principal}", ["role": "DSB", "principal": "otto"]) == "als DSB für otto")
        #expect(PageText.fill("{a}{a}{b}", ["a": "x", "b": "ü"]) == "xxü")
        #expect(PageText.fill("ohne {name} und {", ["other": "x"]) == "ohne {name} und {")
        #expect(PageText.fill("{}{ {count}}", ["count": "3"]) == "{}{ 3}")
        #expect(PageText.fill("Straße {n}", [:]) == "Straße {n}")
    }

    @Test("hostile: a value is never read for placeholders itself, whatever the order of the arguments")
    func valuesStayAsWritten() {
        let arguments = ["role": "{principal}", "principal": "{role}"]
        #expect(PageText.fill("{role} / {principal}", arguments) == "{principal} / {role}")
        #expect(PageText.fill("von {uid}", ["uid": "<b>{uid}</b>"]) == "von <b>{uid}</b>")
    }

    @Test("the catalogue's texts come out as before, through the page's own call")
    func catalogueTexts() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let text = PageText(catalog: renderer.catalog(for: "de"))
        let raw = try #require(renderer.catalog(for: "de")["web.inbox.total"])
        #expect(raw.contains("{count}"))
        #expect(text("inbox.total", ["count": "500"]) == raw.replacingOccurrences(of: "{count}", with: "500"))
        #expect(text("no.such.key") == "web.no.such.key")
    }
}
