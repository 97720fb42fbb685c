import Foundation
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// A request's licence is one of the open licences, recorded by its identifier; one an earlier release
/// stored as free text stays as it was while nobody changes it (a draft edit, a resubmission).
@Suite("Request licence: new input checked and named, stored text left alone")
struct LicenceCleaningTests {
    static func cleaned(_ licence: String?, stored: String?) -> (RequestDetails, FieldErrors) {
        var errors = FieldErrors()
        let details = RequestDetails(purpose: "Portal", licence: licence).cleaned(
            kind: .openData, stored: stored.map { RequestDetails(purpose: "Portal", licence: $0) }, errors: &errors)
        return (details, errors)
    }

    @Test("a new licence: an identifier or a name of one is recorded by its identifier; anything else refused")
    func newLicence() {
        for (given, recorded) in [
            ("cc-by-4.0", "cc-by-4.0"), ("CC BY 4.0", "cc-by-4.0"),
            ("Datenlizenz Deutschland – Zero – Version 2.0", "dl-de-zero-2.0"),
            ("http://dcat-ap.de/def/licenses/cc-zero", "cc0-1.0"), ("CC0 1.0 Universal", "cc0-1.0"),
        ] {
            let (details, errors) = Self.cleaned(given, stored: nil)
            #expect(errors.isEmpty && details.licence == recorded, "\(given)")
        }
        for hostile in ["CC BY-SA 4.0", "ODbL", "'); DROP TABLE requests;--", "cc-by-4.0x"] {
            let (details, errors) = Self.cleaned(hostile, stored: nil)
            #expect(errors.errors.keys.sorted() == ["licence"] && details.licence == nil, "\(hostile)")
        }
        // A change from a stored licence is new input too.
        #expect(Self.cleaned("ODbL", stored: "cc-by-4.0").1.errors.keys.sorted() == ["licence"])
        #expect(Self.cleaned("CC BY 4.0", stored: "cc0-1.0").0.licence == "cc-by-4.0")
    }

    @Test("a licence stored by an earlier release and left as it was: neither refused nor rewritten")
    func storedLicenceStays() {
        for stored in ["CC BY-SA 4.0", "CC BY 4.0", "Eigene Lizenz der Stadt"] {
            let (details, errors) = Self.cleaned(stored, stored: stored)
            #expect(errors.isEmpty && details.licence == stored, "\(stored)")
        }
    }

    @Test("every spelling the DCAT catalogue mapped before names the same licence now")
    func formerSpellings() {
        let spellings: [(String, OpenLicence)] = [
            ("DL-DE/BY-2-0", .dlDeBy), ("dl by de 2.0", .dlDeBy),
            ("Datenlizenz Deutschland Namensnennung 2.0", .dlDeBy), ("dl-zero-de/2.0", .dlDeZero),
            ("CC-BY 4", .ccBy), ("Creative Commons Attribution 4.0 International", .ccBy), ("CC0", .cc0),
            ("CC BY Zero", .cc0), ("Creative Commons CC0", .cc0), ("CC Zero", .cc0),
        ]
        for (text, licence) in spellings { #expect(OpenLicence(named: text) == licence, "\(text)") }
    }
}
