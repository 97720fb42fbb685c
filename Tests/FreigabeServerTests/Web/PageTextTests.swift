import Foundation
import Testing

@testable import FreigabeServer

@Suite("Page texts")
struct PageTextTests {
    @Test("placeholders are filled from the arguments; unknown ones and stray braces stay")
    func fillsPlaceholders() {
        #expect(Placeholders.fill("{count} Anträge warten", ["count": "500"]) == "500 Anträge warten")
        #expect(
            Placeholders.fill("als {role} für {principal}", ["role": "DSB", "principal": "otto"]) == "als DSB für otto")
        #expect(Placeholders.fill("{a}{a}{b}", ["a": "x", "b": "ü"]) == "xxü")
        #expect(Placeholders.fill("ohne {name} und {", ["other": "x"]) == "ohne {name} und {")
        #expect(Placeholders.fill("{}{ {count}}", ["count": "3"]) == "{}{ 3}")
        #expect(Placeholders.fill("Straße {n}", [:]) == "Straße {n}")
    }

    @Test("hostile: a value is never read for placeholders itself, whatever the order of the arguments")
    func valuesStayAsWritten() {
        let arguments = ["role": "{principal}", "principal": "{role}"]
        #expect(Placeholders.fill("{role} / {principal}", arguments) == "{principal} / {role}")
        #expect(Placeholders.fill("von {uid}", ["uid": "<b>{uid}</b>"]) == "von <b>{uid}</b>")
    }

    @Test("hostile: a message's argument from the input (a catalogue file's value) is not filled again")
    func messageArgumentsStayAsWritten() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let message = UserText(
            "catalog_file.not_one_of", ["value": .text("{allowed}"), "allowed": .text("intern, offen")])
        #expect(
            message.resolved(in: renderer.catalog(for: "de"))
                == "„{allowed}“ ist kein erlaubter Wert; erlaubt sind: intern, offen.")
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
