import Foundation
import Mustache
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The request page says in words why a step or review applies or is skipped: the engine's
/// explanation of the workflow's `when:`, with the catalogue's words for the attributes and values.
@Suite("Web: why a step applies or is skipped")
struct WebTimelineWhyTests {
    static let dsbSkipped =
        "Datenschutzprüfung (DSB)</span>: Entfällt, weil der Personenbezug „keine personenbezogenen Daten“ ist"
        + " (nötig wäre mindestens „anonymisiert“) und in der Open-Data-Prüfung die Frage"
        + " „Enthalten die Daten einen Personenbezug?“ mit „Nein“ beantwortet ist."

    @Test("Open Data without personal data: the page names the personal reference and its value for the DSB")
    func dsbSkippedNamesTheReason() async throws {
        try await WebFixture.with { fixture, client in
            let request = try await fixture.store.open("baumkataster")
            // The view carries the explanation as data (the JSON API's `skipped_because`).
            let legal = try #require(request.timeline.first { $0.id == "legal_review" })
            #expect(legal.status == .skipped)
            #expect(legal.skipReason == .noBranchApplies, "none of its reviews applies")
            #expect(legal.skippedBecause == nil, "its branches say why")
            let privacy = try #require(legal.branches.first { $0.id == "privacy_review" })
            #expect(privacy.skipReason == .conditionNotMet)
            #expect(privacy.skippedBecause?.first?.attribute == "personal_data")
            #expect(privacy.skippedBecause?.first?.actual == "none")
            #expect(privacy.skippedBecause?.first?.bounds == ["anonymised"])
            #expect(privacy.skippedBecause?.first?.held == false)
            #expect(request.timeline.first { $0.id == "owner_review" }?.applyReason == .always)

            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(page.status == 200)
            #expect(page.html.contains(Self.dsbSkipped), "\(page.html)")
            #expect(page.html.contains("Entfällt, weil keine der Prüfungen dieses Schritts auf den Antrag zutrifft."))
            #expect(!page.html.contains("die Voraussetzung dieses Schritts trifft auf den Antrag nicht zu"))
        }
    }

    @Test("Open Data of data with a high protection need: the page says why the ISB must review, in German and English")
    func isbAppliesSaysWhy() async throws {
        try await WebFixture.with { fixture, client in
            let request = try await fixture.store.open(
                "altlastenkataster", anonymisation: "Nur Flächen, keine Eigentümer.")
            let security = try #require(
                request.timeline.first { $0.id == "legal_review" }?.branches.first { $0.id == "security_review" })
            #expect(security.applyReason == .conditionHolds)
            #expect(security.appliesBecause?.map(\.attribute) == ["classification", "protection_need"])
            #expect(security.appliesBecause?.map(\.actual) == ["confidential", "high"])

            let anna = Browser(client)
            try await anna.login("anna")
            let path = "/antraege/\(request.id.uuidString)"
            let german = try await anna.get(path).html
            let because =
                "Prüfung der Informationssicherheit (ISB)</span>: Nötig, weil die Einstufung „vertraulich“ ist"
                + " (ab „vertraulich“) und der Schutzbedarf „hoch“ ist (ab „hoch“)."
            #expect(german.contains(because), "\(german)")
            // The check no exclusion brought in is skipped with all its questions in one clause, answered „Nein“.
            let governance =
                "Prüfung der Ausschlussgründe durch die Daten-Governance</span>: Entfällt, weil in der"
                + " Open-Data-Prüfung die Fragen „Enthalten die Daten Betriebs- oder Geschäftsgeheimnisse?“,"
                + " „Stehen Rechte Dritter (z. B. Urheberrechte) entgegen?“ und „Unterliegen die Daten einer"
                + " Geheimhaltungspflicht?“ mit „Nein“ beantwortet sind."
            #expect(german.contains(governance), "\(german)")
            #expect(!german.contains("ist und in der Open-Data-Prüfung"), "the check is named once")
            // A step without a condition says nothing of why.
            #expect(!german.contains("Nötig.</p>"))

            anna.language = "en"
            let english = try await anna.get(path).html
            let becauseEnglish =
                "Information security review (ISO)</span>: Needed because the classification is “confidential”"
                + " (from “confidential”) and the protection need is “high” (from “high”)."
            #expect(english.contains(becauseEnglish), "\(english)")
            let governanceEnglish =
                "Data Governance Office review of the exclusions</span>: Not needed because the Open Data check"
                + " answers “Do the data contain trade or business secrets?”,"
            #expect(english.contains(governanceEnglish), "\(english)")
        }
    }

    @Test("the check's questions answered alike are one clause: one, two and three questions, German and English")
    func checkQuestionsInOneClause() async throws {
        let renderer = try await TestSupport.makeRenderer()
        func check(_ attribute: Attribute, _ answer: Bool) -> ConditionAtomView {
            ConditionAtomView(
                ConditionExplanation.Atom(
                    attribute: attribute, comparison: .oneOf, bounds: ["true"], actual: answer ? "true" : "false",
                    held: answer))
        }
        let secrets = check(.checkTradeSecrets, false)
        let rights = check(.checkThirdPartyRights, false)
        let confidential = check(.checkConfidentiality, false)
        let german = PageText(catalog: renderer.catalog(for: "de"))
        let english = PageText(catalog: renderer.catalog(for: "en"))
        let q1 = "„Enthalten die Daten Betriebs- oder Geschäftsgeheimnisse?“"
        let q2 = "„Stehen Rechte Dritter (z. B. Urheberrechte) entgegen?“"
        let q3 = "„Unterliegen die Daten einer Geheimhaltungspflicht?“"
        #expect(
            german.skippedBecause([secrets])
                == "Entfällt, weil in der Open-Data-Prüfung die Frage \(q1) mit „Nein“ beantwortet ist.")
        #expect(
            german.skippedBecause([secrets, rights])
                == "Entfällt, weil in der Open-Data-Prüfung die Fragen \(q1) und \(q2) mit „Nein“ beantwortet sind.")
        #expect(
            german.skippedBecause([secrets, rights, confidential])
                == "Entfällt, weil in der Open-Data-Prüfung die Fragen \(q1), \(q2) und \(q3) mit „Nein“ beantwortet sind."
        )
        let e1 = "“Do the data contain trade or business secrets?”"
        let e2 = "“Do rights of third parties (e.g. copyright) stand in the way?”"
        let e3 = "“Are the data subject to a duty of confidentiality?”"
        #expect(english.skippedBecause([secrets]) == "Not needed because the Open Data check answers \(e1) with “No”.")
        #expect(
            english.skippedBecause([secrets, rights])
                == "Not needed because the Open Data check answers \(e1) and \(e2) with “No”.")
        #expect(
            english.skippedBecause([secrets, rights, confidential])
                == "Not needed because the Open Data check answers \(e1), \(e2) and \(e3) with “No”.")
        // Answered differently: one clause per answer, where its first question stands; other parts keep
        // their place. A value the catalogue does not know stays as it is, and the page escapes it.
        let hostile = "<script>alert('x')</script>"
        let classification = ConditionAtomView(
            ConditionExplanation.Atom(
                attribute: .classification, comparison: .oneOf, bounds: ["public"], actual: hostile, held: true))
        let mixed = try #require(
            german.appliesBecause(
                .conditionHolds, [check(.checkTradeSecrets, true), classification, rights, confidential]))
        let expected =
            "Nötig, weil in der Open-Data-Prüfung die Frage \(q1) mit „Ja, trifft zu“ beantwortet ist und"
            + " die Einstufung „\(hostile)“ ist und in der Open-Data-Prüfung die Fragen \(q2) und \(q3)"
            + " mit „Nein“ beantwortet sind."
        #expect(mixed == expected)
        HTMLEscaping.register()
        let html = try MustacheTemplate(string: "<p>{{why}}</p>").render(["why": mixed])
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;"))
    }

    @Test("an administrator's changed condition changes the page: the DSB's review follows the new `when:`")
    func pageFollowsTheWorkflow() async throws {
        let shipped = try String(
            contentsOfFile: StoreTestSupport.workflowsDirectory + "/open-data.yaml", encoding: .utf8)
        let changed =
            shipped
            .replacingOccurrences(of: "\nversion: 2\n", with: "\nversion: 3\n")
            .replacingOccurrences(
                of: "- { attribute: personal_data, at_least: anonymised }",
                with: "- { attribute: personal_data, at_least: none }")
        #expect(changed.contains("at_least: none"))
        let library = try StoreTestSupport.workflows(written: ["open-data.v3.yaml": changed])
        try await WebFixture.with(workflows: library) { fixture, client in
            let request = try await fixture.store.open("baumkataster")
            #expect(request.workflow.version == 3)
            let anna = Browser(client)
            try await anna.login("anna")
            let page = try await anna.get("/antraege/\(request.id.uuidString)").html
            let because =
                "Datenschutzprüfung (DSB)</span>: Nötig, weil der Personenbezug „keine personenbezogenen Daten“ ist"
                + " (ab „keine personenbezogenen Daten“)."
            #expect(page.contains(because), "\(page)")
            #expect(!page.contains(Self.dsbSkipped))
        }
    }

    @Test("every way of a part in words; a value the catalogue lacks is shown as it is, and escaped on the page")
    func partsInWords() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let text = PageText(catalog: renderer.catalog(for: "de"))
        func part(
            _ attribute: Attribute, _ comparison: ConditionExplanation.Atom.Comparison, negated: Bool = false,
            _ bounds: [String], _ actual: String, held: Bool
        ) -> String {
            text.reason(
                ConditionAtomView(
                    ConditionExplanation.Atom(
                        attribute: attribute, comparison: comparison, negated: negated, bounds: bounds,
                        actual: actual, held: held)))
        }
        #expect(
            part(.protectionNeed, .atMost, ["normal"], "normal", held: true)
                == "der Schutzbedarf „normal“ ist (bis „normal“)")
        #expect(
            part(.classification, .atMost, ["internal"], "confidential", held: false)
                == "die Einstufung „vertraulich“ ist (nötig wäre höchstens „intern“)")
        #expect(
            part(.classification, .oneOf, ["public", "internal"], "confidential", held: false)
                == "die Einstufung „vertraulich“ ist (nötig wäre „öffentlich“ oder „intern“)")
        #expect(
            part(.personalData, .atLeast, negated: true, ["pseudonymised"], "anonymised", held: true)
                == "der Personenbezug „anonymisiert“ ist (unter „pseudonymisiert“)")
        #expect(
            part(.recipient, .oneOf, ["external"], "external", held: true)
                == "die empfangende Stelle „eine Stelle außerhalb der Stadtverwaltung“ ist")
        #expect(
            part(.checkSecurity, .oneOf, ["true"], "true", held: true)
                == "in der Open-Data-Prüfung die Frage „Sind die Daten sicherheitsrelevant?“ mit „Ja, trifft zu“ beantwortet ist"
        )
        // Hostile: a value the catalogue does not know stays as it is, and the page escapes it.
        let hostile = "<script>alert('x')</script>"
        let words = try #require(
            text.skippedBecause([
                ConditionAtomView(
                    ConditionExplanation.Atom(
                        attribute: .classification, comparison: .oneOf, bounds: ["{reasons}"], actual: hostile,
                        held: false))
            ]))
        #expect(words == "Entfällt, weil die Einstufung „\(hostile)“ ist (nötig wäre „{reasons}“).")
        HTMLEscaping.register()
        let html = try MustacheTemplate(string: "<p>{{why}}</p>").render(["why": words])
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;"))
    }
}
