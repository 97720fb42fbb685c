import Foundation
import Testing
import Yams

@testable import WorkflowEngine

/// The demo catalogue (`scripts/demo/catalog.yaml`) is what `make run` and the tours show; it must
/// cover every classification, personal-data category and protection need, and each dataset must be
/// routed to exactly the independent controllers its attributes demand.
@Suite("Demo catalogue")
struct DemoCatalogTests {
    struct Catalogue: Decodable {
        struct Domain: Decodable {
            var id: String
            var title: String
            var steward_group: String
        }
        struct Dataset: Decodable {
            var id: String
            var title: String
            var domain: String
            var owner: String
            var classification: Classification
            var personal_data: PersonalDataCategory
            var protection_need: ProtectionNeed
            var high_value: Bool
        }
        var domains: [Domain]
        var datasets: [Dataset]
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func catalogue() throws -> Catalogue {
        let text = try String(
            contentsOf: repositoryRoot.appendingPathComponent("scripts/demo/catalog.yaml"), encoding: .utf8)
        return try YAMLDecoder().decode(Catalogue.self, from: text)
    }

    static func definition(_ name: String) throws -> WorkflowDefinition {
        let url = repositoryRoot.appendingPathComponent("Workflows/\(name).yaml")
        return try WorkflowDefinitionParser(contentHash: TestDigest.sha256).parse(
            String(contentsOf: url, encoding: .utf8), file: url.path)
    }

    @Test("covers every classification, personal-data category and protection need")
    func coversEveryValue() throws {
        let catalogue = try Self.catalogue()
        #expect(catalogue.datasets.count >= 8)
        #expect(Set(catalogue.domains.map(\.id)).count == 3)
        #expect(Set(catalogue.datasets.map(\.classification)) == Set(Classification.allCases))
        #expect(Set(catalogue.datasets.map(\.personal_data)) == Set(PersonalDataCategory.allCases))
        #expect(Set(catalogue.datasets.map(\.protection_need)) == Set(ProtectionNeed.allCases))
        #expect(Set(catalogue.datasets.map(\.id)).count == catalogue.datasets.count, "dataset ids are unique")
        let domains = Set(catalogue.domains.map(\.id))
        for dataset in catalogue.datasets {
            #expect(domains.contains(dataset.domain), "\(dataset.id) names an unknown domain")
        }
    }

    @Test("every owner exists in the demo directory")
    func ownersExist() throws {
        let ldif = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("scripts/demo/directory.ldif"), encoding: .utf8)
        for owner in Set(try Self.catalogue().datasets.map(\.owner)) {
            #expect(ldif.contains("dn: uid=\(owner),ou=people,dc=stadt,dc=example"), "owner \(owner) missing")
        }
    }

    @Test("each dataset asks exactly the controllers its attributes require", arguments: ["shared-data", "open-data"])
    func routing(workflow: String) throws {
        let definition = try Self.definition(workflow)
        let kind = definition.kinds.first!
        let calendar = WorkingDayCalendar(state: .hessen)
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        for dataset in try Self.catalogue().datasets {
            let facts = RequestFacts(
                kind: kind, classification: dataset.classification, personalData: dataset.personal_data,
                protectionNeed: dataset.protection_need, recipient: kind == .sharedData ? .internal : nil,
                highValue: dataset.high_value, hasAnonymisationStatement: true, hasLegalBasis: true,
                hasOpenDataCheck: true)
            var machine = try RequestMachine(
                definition: definition, calendar: calendar, requester: "anna", facts: facts,
                accessEnd: start.addingTimeInterval(86_400 * 90))
            var asked: [Role] = []
            var effects = try machine.submit(by: "anna", at: start)
            // Approve every step with a distinct person holding exactly the role asked for.
            for round in 0..<10 {
                let requested = effects.compactMap { effect -> Role? in
                    if case .requestDecision(_, _, let role, _) = effect { return role }
                    return nil
                }
                guard !requested.isEmpty else { break }
                asked += requested
                effects = []
                for (index, role) in requested.enumerated() {
                    let decider = Decider(person: "person-\(round)-\(index)", roles: [role])
                    let publishing = role == .openDataOfficer
                    let details = ApprovalDetails(
                        licence: publishing ? "dl-de-by-2.0" : nil,
                        portalURL: publishing ? "https://opendata.stadt.example/x" : nil)
                    effects += try machine.approve(by: decider, at: start, details: details)
                }
            }
            let needsDSB = dataset.personal_data >= (kind == .openData ? .anonymised : .pseudonymised)
            let needsISB = dataset.classification >= .confidential || dataset.protection_need >= .high
            #expect(asked.contains(.dsb) == needsDSB, "\(workflow) \(dataset.id): DSB")
            #expect(asked.contains(.isb) == needsISB, "\(workflow) \(dataset.id): ISB")
            #expect(asked.prefix(2) == [.dataOwner, .dataSteward], "\(workflow) \(dataset.id): owner then steward")
            #expect(machine.state.name == (kind == .sharedData ? "granted:granted" : "published:published"))
        }
    }
}
