import Foundation
import Testing

@testable import WorkflowEngine

@Suite("Shipped workflow definitions")
struct ShippedDefinitionTests {
    private static func isLowerHex64(_ text: String) -> Bool {
        text.utf8.count == 64 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    @Test(
        "each shipped file parses and is pinned by the SHA-256 of its bytes", arguments: DefinitionFixtures.shippedFiles
    )
    func parsesAndPins(_ fileName: String) throws {
        let definition = try DefinitionFixtures.shipped(fileName)
        #expect(definition.id + ".yaml" == fileName)
        #expect(definition.version >= 1)
        #expect(Self.isLowerHex64(definition.contentHash), "\(definition.contentHash)")
        #expect(definition.contentHash == TestDigest.sha256(try DefinitionFixtures.shippedBytes(fileName)))
        #expect(
            definition.pin
                == WorkflowPin(id: definition.id, version: definition.version, contentHash: definition.contentHash))
        #expect(
            definition.pin.description
                == "\(definition.id)@\(definition.version) (\(definition.contentHash.prefix(12)))")
    }

    @Test("the pin of unchanged bytes is the one the engine's former built-in SHA-256 gave")
    func pinsSurviveTheHandedDigest() throws {
        // shared-data.yaml v1 is released and was never edited; its pin must not move when the digest
        // comes from the caller. (A failure here also means someone edited a released version in place.)
        let definition = try DefinitionFixtures.shipped("shared-data.yaml")
        #expect(definition.contentHash == "16c70ea96fb26ea49dbcaf542bd5060c2d1059b68013c7109550a9517134f347")
        // FIPS 180-2 example "abc": the test digest is SHA-256, not merely some hash.
        #expect(
            TestDigest.sha256(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("the same text always gives the same pin", arguments: DefinitionFixtures.shippedFiles)
    func pinIsDeterministic(_ fileName: String) throws {
        let text = try DefinitionFixtures.shippedText(fileName)
        let first = try DefinitionFixtures.parse(text, file: "a.yaml")
        let second = try DefinitionFixtures.parse(text, file: "elsewhere/b.yaml")
        #expect(first.pin == second.pin, "the file name is not part of the pin")
        #expect(first == second)
    }

    @Test(
        "any change of the text, even whitespace or a comment, changes the hash",
        arguments: DefinitionFixtures.shippedFiles)
    func whitespaceChangesHash(_ fileName: String) throws {
        let text = try DefinitionFixtures.shippedText(fileName)
        let original = try DefinitionFixtures.parse(text)
        // Changes that leave every line where it was: apart from the hash the definition is the same.
        let sameLines = [
            text + "\n",
            text.replacingOccurrences(of: "steps:\n", with: "steps: \n"),
            text.replacingOccurrences(of: "\n", with: "\r\n"),
        ]
        var hashes: Set<String> = [original.contentHash]
        for variant in sameLines {
            #expect(variant != text)
            var changed = try DefinitionFixtures.parse(variant)
            #expect(Self.isLowerHex64(changed.contentHash))
            #expect(changed.pin != original.pin)
            hashes.insert(changed.contentHash)
            changed.contentHash = original.contentHash
            #expect(changed == original, "only the hash may differ")
        }
        // A comment on top moves the lines, and changes the hash all the same.
        let commented = try DefinitionFixtures.parse("# edited\n" + text)
        #expect(commented.pin != original.pin)
        #expect(commented.steps.map(\.id) == original.steps.map(\.id))
        hashes.insert(commented.contentHash)
        #expect(hashes.count == sameLines.count + 2)
    }

    @Test("DefinitionSet loads both shipped files")
    func definitionSetLoadsBoth() throws {
        let sources = try DefinitionFixtures.shippedFiles.map {
            DefinitionSet.Source(file: "Workflows/\($0)", text: try DefinitionFixtures.shippedText($0))
        }
        let registry = try DefinitionSet(parser: WorkflowDefinitionParser(contentHash: TestDigest.sha256)).load(sources)
            .get()
        #expect(registry.definitions.map(\.id) == ["shared-data", "open-data"])
        #expect(registry.current(for: .sharedData)?.id == "shared-data")
        #expect(registry.current(for: .openData)?.id == "open-data")
        for definition in registry.definitions {
            #expect(registry.definition(for: definition.pin) == definition)
        }
    }

    @Test("shared-data: Owner → Steward → DSB if pseudonymised or more → ISB → granted, expiring or revoked")
    func sharedDataShape() throws {
        let definition = try DefinitionFixtures.shipped("shared-data.yaml")
        #expect(definition.kinds == [.sharedData])
        #expect(definition.start == "owner_review")
        #expect(definition.steps.map(\.id) == ["owner_review", "steward_review", "privacy_review", "security_review"])
        #expect(definition.steps.map(\.roles) == [[.dataOwner], [.dataSteward], [.dsb], [.isb]])
        #expect(
            definition.steps.map(\.onApprove) == ["steward_review", "privacy_review", "security_review", "granted"])
        #expect(definition.steps.allSatisfy { $0.onReject == "rejected" && $0.allowsRequestChanges })
        #expect(definition.steps.allSatisfy { $0.deadline?.escalateTo == .governance })
        #expect(definition.steps.map { $0.deadline?.workingDays } == [5, 5, 10, 10])
        #expect(definition.personalUnion == .combine)
        #expect(definition.resubmission == .sameStep)
        #expect(definition.withdrawTo == "withdrawn")
        #expect(definition.submitRequirements.map(\.field) == [.accessEnd, .recipient, .legalBasis])

        let granted = try #require(definition.end("granted"))
        #expect(granted.type == .granted)
        #expect(granted.onExpire == "expired")
        #expect(granted.onRevoke == "revoked")
        #expect(Set(granted.revocableBy) == [.dataOwner, .dataSteward, .dsb, .isb, .governance])
        #expect(definition.ends.filter { $0.id != "granted" }.allSatisfy { $0.type == .final })
    }

    @Test(
        "open-data: Owner → Steward → DSB ∥ ISB ∥ Governance → Open Data officer with licence and portal URL → published"
    )
    func openDataShape() throws {
        let definition = try DefinitionFixtures.shipped("open-data.yaml")
        #expect(definition.kinds == [.openData])
        #expect(definition.steps.map(\.id) == ["owner_review", "steward_review", "legal_review", "publication"])
        let legal = try #require(definition.step("legal_review"))
        #expect(legal.isParallel)
        #expect(legal.branches.map(\.id) == ["privacy_review", "security_review", "exclusions_review"])
        #expect(legal.roles == [.dsb, .isb, .governance])
        #expect(legal.condition == nil, "the step itself always applies; its branches are conditional")
        let publication = try #require(definition.step("publication"))
        #expect(publication.roles == [.openDataOfficer])
        #expect(publication.approvalRequires == [.licence, .portalURL])
        #expect(publication.onApprove == "published")
        #expect(definition.end("published")?.type == .published)
        #expect(!definition.ends.contains { $0.type == .granted })
        #expect(definition.submitRequirements.map(\.field) == [.anonymisationStatement, .openDataCheck])
        #expect(definition.steps.allSatisfy { $0.deadline?.escalateTo == .governance })
    }

    /// Every combination of the routing attributes, for checking a shipped condition against its rule.
    private static var allFacts: [RequestFacts] {
        var result: [RequestFacts] = []
        for classification in Classification.allCases {
            for personalData in PersonalDataCategory.allCases {
                for protectionNeed in ProtectionNeed.allCases {
                    for recipient in [nil, Recipient.internal, .external] {
                        for highValue in [false, true] {
                            result.append(
                                RequestFacts(
                                    kind: .sharedData, classification: classification, personalData: personalData,
                                    protectionNeed: protectionNeed, recipient: recipient, highValue: highValue))
                        }
                    }
                }
            }
        }
        return result
    }

    @Test("shared-data routes to DSB and ISB exactly as Workflows/README.md says")
    func sharedDataRouting() throws {
        let definition = try DefinitionFixtures.shipped("shared-data.yaml")
        let privacy = try #require(definition.step("privacy_review")?.condition)
        let security = try #require(definition.step("security_review")?.condition)
        let legalBasis = try #require(definition.submitRequirements.first { $0.field == .legalBasis }?.condition)
        for facts in Self.allFacts {
            #expect(privacy.holds(for: facts) == (facts.personalData >= .pseudonymised), "\(facts)")
            #expect(legalBasis.holds(for: facts) == (facts.personalData >= .pseudonymised), "\(facts)")
            let isb =
                facts.classification >= .confidential || facts.protectionNeed >= .high
                || (facts.recipient == .external && facts.classification >= .internal)
            #expect(security.holds(for: facts) == isb, "\(facts)")
        }
    }

    /// Every subset of the Open Data check's exclusions.
    private static var exclusionSets: [Set<CheckExclusion>] {
        (0..<(1 << CheckExclusion.allCases.count)).map { bits in
            Set(CheckExclusion.allCases.enumerated().filter { bits & (1 << $0.offset) != 0 }.map(\.element))
        }
    }

    @Test(
        "open-data routes to DSB for anything ever personal or a personal reference, to ISB for confidential, high protection need or security, to Governance for the other exclusions"
    )
    func openDataRouting() throws {
        let definition = try DefinitionFixtures.shipped("open-data.yaml")
        let branches = try #require(definition.step("legal_review")?.branches)
        let privacy = try #require(branches.first { $0.role == .dsb }?.condition)
        let security = try #require(branches.first { $0.role == .isb }?.condition)
        let exclusions = try #require(branches.first { $0.role == .governance }?.condition)
        let statement = try #require(definition.submitRequirements.first?.condition)
        for var facts in Self.allFacts where facts.recipient == nil {
            facts.kind = .openData
            for applying in Self.exclusionSets {
                facts.checkExclusions = applying
                #expect(
                    privacy.holds(for: facts)
                        == (facts.personalData >= .anonymised
                            || applying.contains(.personalReference)),
                    "\(facts)")
                #expect(statement.holds(for: facts) == (facts.personalData >= .anonymised), "\(facts)")
                #expect(
                    security.holds(for: facts)
                        == (facts.classification >= .confidential || facts.protectionNeed >= .high
                            || applying.contains(.security)),
                    "\(facts)")
                #expect(
                    exclusions.holds(for: facts)
                        == !applying.isDisjoint(with: [.tradeSecrets, .thirdPartyRights, .confidentiality]),
                    "\(facts)")
            }
        }
    }

    typealias Fixtures = MachineFixtures

    @Test("open-data version 1 stays for the requests that started with it; new requests take version 2")
    func openDataVersions() throws {
        let sources = try ["open-data.yaml", "open-data.v1.yaml"].map {
            DefinitionSet.Source(file: "Workflows/\($0)", text: try DefinitionFixtures.shippedText($0))
        }
        let registry = try DefinitionSet(parser: WorkflowDefinitionParser(contentHash: TestDigest.sha256)).load(sources)
            .get()
        #expect(registry.current(for: .openData)?.version == 2)
        #expect(registry.definitions.map(\.version).sorted() == [1, 2])
        let first = try DefinitionFixtures.shipped("open-data.v1.yaml")
        #expect(
            first.version == 1
                && first.step("legal_review")?.branches.map(\.id) == ["privacy_review", "security_review"])
        // Version 1 never reads the check's answers: a request pinned to it routes without them, so its
        // requester's answers, unchanged, do not send it back to the first step on resubmission.
        var answered = Fixtures.open()
        answered.checkExclusions = [.confidentiality]
        #expect(first.routing(answered).checkExclusions.isEmpty)
        let second = try DefinitionFixtures.shipped("open-data.yaml")
        #expect(second.routing(answered) == answered)
        var machine = try Fixtures.submitted(first, first.routing(answered))
        try Fixtures.drive(&machine, to: "in_review:steward_review")
        _ = try machine.requestChanges(by: Fixtures.stefan, at: Fixtures.t0, question: "Welche Felder?")
        _ = try machine.resubmit(by: Fixtures.requester, at: Fixtures.t0, facts: first.routing(answered))
        #expect(machine.state.name == "in_review:steward_review", "same step, the owner's approval kept")
    }
}
