import Foundation
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Templates and strings")
struct PageRendererTests {
    @Test func valuesAreHTMLEscaped() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let page = ErrorPageMiddleware.ErrorPage(
            status: 400, title: #"<script>alert("x")</script>"#, message: "Tom & Jerry's", path: nil, reference: nil,
            loginHref: nil)
        let html = try #require(renderer.render("error", language: "de", values: ["page": page]))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
        #expect(html.contains("Tom &amp; Jerry&#39;s"))
        #expect(!html.contains("<script>"))
    }

    @Test func germanAndEnglishHaveTheSameKeys() async throws {
        let renderer = try await TestSupport.makeRenderer()
        #expect(renderer.languages == ["de", "en"])
        let german = Set(renderer.catalog(for: "de").texts.keys)
        let english = Set(renderer.catalog(for: "en").texts.keys)
        #expect(german.subtracting(english).isEmpty, "only in de.yaml: \(german.subtracting(english).sorted())")
        #expect(english.subtracting(german).isEmpty, "only in en.yaml: \(english.subtracting(german).sorted())")
        for text in Array(renderer.catalog(for: "en").texts.values) + Array(renderer.catalog(for: "de").texts.values) {
            #expect(!text.trimmingCharacters(in: .whitespaces).isEmpty)
        }
    }

    @Test func everyTextATemplateUsesExists() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let folder = URL(fileURLWithPath: TestSupport.templatesDirectory).resolvingSymlinksInPath()
        let files = try #require(FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil))
        let reference = try Regex(#"\{\{\s*t\.([a-z_.]+)\s*\}\}"#)
        var checked = 0
        for case let file as URL in files where file.pathExtension == "mustache" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: reference) {
                let key = String(text[match.output[1].range!])
                for language in renderer.languages {
                    #expect(
                        renderer.catalog(for: language)[key] != nil,
                        "\(file.lastPathComponent): t.\(key) missing in \(language)")
                }
                checked += 1
            }
        }
        #expect(checked > 20)
    }

    /// Messages are chosen in code by key (`UserText("request.purpose_missing")`) and worded in the
    /// catalogue; a key without its text in every language would show as the key itself.
    @Test func everyMessageTheCodeUsesExists() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let sources = TestSupport.repositoryRoot.appendingPathComponent("Sources/FreigabeServer")
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        let reference = try Regex(#"(?:UserText\(|\.message\(|notFound\(|forbidden\()\s*"([a-z_]+\.[a-z_.-]+)""#)
        var keys = Set(ProblemType.allCases.map { "problem." + $0.rawValue })
        keys.formUnion(AuditFilterError.Problem.allCases.map { "query.filter." + $0.rawValue })
        for case let file as URL in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: reference) { keys.insert(String(text[match.output[1].range!])) }
        }
        #expect(keys.count > 100)
        for key in keys.sorted() {
            for language in renderer.languages {
                #expect(
                    renderer.catalog(for: language)["messages." + key] != nil, "messages.\(key) missing in \(language)")
            }
        }
    }

    /// The outbox page names each mail by its topic in words, in every language.
    @Test func everyMailTopicHasItsWords() async throws {
        let renderer = try await TestSupport.makeRenderer()
        for topic in OutboxTopic.allCases where topic != .webhook {
            for language in renderer.languages {
                let text = PageText(catalog: renderer.catalog(for: language))
                #expect(AdminOutboxPages.topic(topic.rawValue, text: text) != topic.rawValue, "\(topic) in \(language)")
            }
        }
        let german = PageText(catalog: renderer.catalog(for: "de"))
        #expect(AdminOutboxPages.topic("request_decision", text: german) == "Aufgabe: Entscheidung erbeten")
        #expect(AdminOutboxPages.topic("from_a_newer_release", text: german) == "from_a_newer_release")
    }

    /// "Wer entscheidet?" before login is read from the workflows in force: a step added to a workflow
    /// file brings its role, a step taken out takes its role away, with no change to the page.
    @Test func startPageNamesTheRolesOfTheWorkflows() async throws {
        let renderer = try await TestSupport.makeRenderer()
        for language in renderer.languages {
            let text = PageText(catalog: renderer.catalog(for: language))
            for role in Role.builtIn {
                #expect(!text.roleDuty(role.identifier).isEmpty, "\(role) has no duty in \(language)")
            }
        }
        let german = PageText(catalog: renderer.catalog(for: "de"))
        let shipped = try WorkflowLoader.load(directory: TestSupport.workflowsDirectory)
        let page = HomePages.StartPage(shipped, text: german)
        #expect(
            page.roles.map(\.name) == [
                "Data Owner", "Data Steward", "Datenschutzbeauftragte/r", "Informationssicherheitsbeauftragte/r",
                "Data-Governance-Stelle", "Open-Data-Beauftragte/r",
            ])
        #expect(page.intro.hasPrefix("Je nach Datensatz prüfen bis zu 6 Stellen"), "\(page.intro)")
        // Shared Data alone, its ISB step taken out and a governance step put in its place.
        let file = TestSupport.workflowsDirectory + "/shared-data.yaml"
        var edited = try String(contentsOfFile: file, encoding: .utf8)
        let isbStep = try #require(edited.range(of: "  - id: security_review"))
        let ends = try #require(edited.range(of: "\nends:"))
        edited.replaceSubrange(
            isbStep.lowerBound..<ends.lowerBound,
            with: """
                  - id: security_review
                    title: { de: Prüfung im Datenmanagement-Büro, en: Data governance office review }
                    role: governance
                    on: { approve: granted, reject: rejected }

                """)
        let library = try WorkflowLibrary(sources: [DefinitionSet.Source(file: "shared-data.yaml", text: edited)])
        let changed = HomePages.StartPage(library, text: german)
        #expect(
            changed.roles.map(\.name) == [
                "Data Owner", "Data Steward", "Datenschutzbeauftragte/r", "Data-Governance-Stelle",
            ])
        #expect(changed.intro.hasPrefix("Je nach Datensatz prüfen bis zu 4 Stellen"))
        #expect(changed.roles.allSatisfy { !$0.duty.isEmpty })
        #expect(!HomePages.StartPage(nil, text: german).hasRoles)
    }

    /// The start page's "In Ihrer Vertretung entschieden" words each outcome, in either capacity.
    @Test func everyDecisionTakenForYouHasItsWords() async throws {
        let renderer = try await TestSupport.makeRenderer()
        for language in renderer.languages {
            let text = PageText(catalog: renderer.catalog(for: language))
            for outcome in Decision.Outcome.allCases {
                for asEscalation in [false, true] {
                    let key = "home.decided_for_you.\(outcome.rawValue)" + (asEscalation ? "_as_escalation" : "")
                    let words = text(key, ["who": "Paul", "date": "3. Dezember"])
                    #expect(words.contains("Paul") && words.contains("3. Dezember"), "\(key) in \(language): \(words)")
                }
            }
        }
    }

    @Test func errorTextsExistForEveryKind() async throws {
        let renderer = try await TestSupport.makeRenderer()
        for language in renderer.languages {
            for kind in ["not_found", "client_error", "server_error"] {
                #expect(renderer.catalog(for: language)["errors.\(kind).title"] != nil)
                #expect(renderer.catalog(for: language)["errors.\(kind).message"] != nil)
            }
            for kind in ["unauthorized", "forbidden", "conflict", "too_many", "unavailable"] {
                #expect(renderer.catalog(for: language)["errors.\(kind).title"] != nil)
            }
        }
    }

    /// The pages' texts (`text("…")` in Sources/FreigabeServer/Web, `web.` in the catalogue), literal keys
    /// found by scanning the code, keys made from values by listing every value.
    @Test func everyWebTextTheCodeUsesExists() async throws {
        let renderer = try await TestSupport.makeRenderer()
        let sources = TestSupport.repositoryRoot.appendingPathComponent("Sources/FreigabeServer/Web")
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        let literal = try Regex(#"text\("([a-z_]+(?:\.[a-z_]+)+)"[,)]"#)
        var keys: Set<String> = []
        for case let file as URL in files where file.pathExtension == "swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: literal) { keys.insert(String(text[match.output[1].range!])) }
        }
        #expect(keys.count > 60)
        keys.formUnion(ReleaseKind.allCases.map { "kinds.\($0.rawValue)" })
        keys.formUnion(Classification.allCases.map { "classification.\($0.rawValue)" })
        keys.formUnion(PersonalDataCategory.allCases.map { "personal_data.\($0.rawValue)" })
        keys.formUnion(ProtectionNeed.allCases.map { "protection_need.\($0.rawValue)" })
        keys.formUnion(Recipient.allCases.map { "form.recipient.type.\($0.rawValue)" })
        keys.formUnion(
            [Role.dataOwner, .dataSteward, .dsb, .isb, .openDataOfficer, .governance].map { "roles.\($0.identifier)" })
        keys.formUnion(TimelineStep.Status.allCases.map { "timeline.status.\($0.rawValue)" })
        // The auditors' pages name every event type the log holds (the filter and each row).
        keys.formUnion(AuditEvent.allCases.map { "audit.events.\($0.rawValue)" })
        // Every door a logged event may name (`details.via`), the command line included.
        keys.formUnion(Caller.Channel.allCases.map { "audit.via.\($0.rawValue)" })
        keys.formUnion(SkipReason.allCases.map { "timeline.skip.\($0.rawValue)" })
        keys.formUnion(Decision.Outcome.allCases.map { "decision.outcome.\($0.rawValue)" })
        keys.formUnion(RequestPages.notices.map { "notices.\($0)" })
        keys.formUnion(["created", "ended"].map { "notices.deputyship_\($0)" })
        keys.formUnion(RequestFormPage.legalBases.map { "form.legal_basis.options.\($0)" })
        keys.formUnion(OpenDataCheck.questions.map { "form.check.\($0)" })
        keys.formUnion(
            ["in_review_today", "in_review_one_day", "in_review", "deadline", "deadline_overdue"].map { "status.\($0)" }
        )
        keys.formUnion(renderer.languages.map { "language.\($0)" })
        for field in [
            "purpose", "recipient.name", "recipient.type", "legal_basis", "legal_basis_detail", "access_start",
            "access_end", "format", "licence", "anonymisation_statement",
        ] {
            keys.insert("form.\(field).label")
        }
        for key in keys.sorted() {
            for language in renderer.languages {
                #expect(renderer.catalog(for: language)["web." + key] != nil, "web.\(key) missing in \(language)")
            }
        }
        for language in renderer.languages {
            let text = PageText(catalog: renderer.catalog(for: language))
            for licence in RequestFormPage.licences {
                #expect(text.licence(licence) != licence, "\(licence) in \(language)")
            }
        }
    }

    @Test func stringsFileErrorsNameFileAndLine() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try StringCatalog(language: "de", yaml: "start:\n  title: Hallo\n  liste:\n    - a\n", fileName: "de.yaml")
        }
        #expect(error?.code == .invalidStrings)
        #expect(error?.description.contains("de.yaml") == true)
        #expect(error?.description.contains("start.liste") == true)
    }

    @Test func missingTemplatesDirectoryIsAClearError() async throws {
        let error = await #expect(throws: ConfigurationError.self) {
            try await PageRenderer.load(templatesDirectory: "/nonexistent/Templates")
        }
        #expect(error?.code == .invalidTemplates)
        #expect(error?.description.contains("/nonexistent/Templates") == true)
        #expect(error?.description.contains("FREIGABE_TEMPLATES_DIR") == true)
    }
}

@Suite("Accept-Language")
struct LanguageNegotiationTests {
    let negotiation = LanguageNegotiation(supported: ["de", "en"], defaultLanguage: "de")

    @Test(
        arguments: [
            (nil, "de"),
            ("", "de"),
            ("en", "en"),
            ("EN-us", "en"),
            ("de-AT", "de"),
            ("fr, en;q=0.5", "en"),
            ("en;q=0.4, de;q=0.6", "de"),
            ("en, de", "en"),
            ("de;q=0.8, en;q=0.8", "de"),
            ("en;q=0", "de"),
            ("en;q=abc", "en"),
            ("*;q=0.5, en;q=0.4", "de"),
            ("garbage;;;,", "de"),
            // `*` is every language not named; `q=0` refuses one.
            ("de;q=0, *", "en"),
            ("de;q=0, *;q=0.5", "en"),
            ("de;q=0", "en"),
            ("en, *;q=0.1", "en"),
            ("*", "de"),
        ] as [(String?, String)])
    func picksBestSupportedLanguage(header: String?, expected: String) {
        #expect(negotiation.language(forAcceptLanguage: header) == expected)
    }
}
