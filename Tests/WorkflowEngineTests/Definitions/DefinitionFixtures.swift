import Foundation
import Testing

@testable import WorkflowEngine

/// Shared helpers of the definition tests: a small valid definition whose lines are numbered below, a way
/// to change single lines of it (so the line a problem must be reported at is obvious and stable), and the
/// shipped files. A namespace, so nothing clashes with other test files of the target.
enum DefinitionFixtures {
    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    /// A valid definition. Line numbers (1-based) are what the broken-definition tests refer to:
    ///
    ///      1 id            10 step owner          15 step privacy     21 end granted   32 end rejected
    ///      5 start         12   role              17   role           24   on          35 end withdrawn
    ///      8 withdraw      13   deadline          18   when           26 end expired
    ///      9 steps:        14   on                19   on             29 end revoked
    static let base = """
        id: test-flow
        version: 1
        title: { de: Testablauf, en: Test flow }
        kinds: [shared_data]
        start: owner
        personal_union: combine
        resubmission: same_step
        withdraw: withdrawn
        steps:
          - id: owner
            title: Data Owner
            role: data_owner
            deadline: { working_days: 5, remind_before: 2, escalate_to: governance }
            on: { approve: privacy, reject: rejected }
          - id: privacy
            title: DSB
            role: dsb
            when: { attribute: personal_data, at_least: pseudonymised }
            on: { approve: granted, reject: rejected }
        ends:
          - id: granted
            type: granted
            title: Freigegeben
            on: { expire: expired, revoke: revoked }
            revocable_by: [data_owner]
          - id: expired
            type: final
            title: Abgelaufen
          - id: revoked
            type: final
            title: Widerrufen
          - id: rejected
            type: final
            title: Abgelehnt
          - id: withdrawn
            type: final
            title: Zurückgezogen
        """

    /// `base` with whole lines replaced, keyed by their 1-based number in `base`. A replacement may hold
    /// several lines (later lines then move down) or be empty (the line is blanked, numbers stay).
    static func base(replacing replacements: [Int: String]) -> String {
        var lines = base.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (number, text) in replacements {
            precondition(lines.indices.contains(number - 1), "base has no line \(number)")
            lines[number - 1] = text
        }
        return lines.joined(separator: "\n")
    }

    /// Parses, expecting success.
    static func parse(
        _ text: String, file: String = "inline.yaml", customRoles: Set<String> = [], pinned: Bool = false
    )
        throws -> WorkflowDefinition
    {
        do {
            return try WorkflowDefinitionParser(customRoles: customRoles, contentHash: TestDigest.sha256).parse(
                text, file: file, pinned: pinned)
        } catch {
            throw FixtureError(description: "\(file) should be valid but is not:\n\(error)")
        }
    }

    /// Parses, expecting failure; returns the problems (empty if the text was accepted).
    static func problems(
        _ text: String, file: String = "broken.yaml", customRoles: Set<String> = []
    )
        -> [DefinitionProblem]
    {
        do {
            _ = try WorkflowDefinitionParser(customRoles: customRoles, contentHash: TestDigest.sha256).parse(
                text, file: file)
            return []
        } catch {
            return error.problems
        }
    }

    /// The `when:` of step `privacy` of `base`, with `condition` (YAML, one line) put in its place. Read
    /// as a stored definition is (`pinned`): a condition on every attribute, also one the base's kind
    /// gives a single value (which filing a new request refuses, `BrokenDefinitionTests`).
    static func condition(_ condition: String) throws -> Condition {
        let definition = try parse(
            base(replacing: [18: "    when: \(condition)"]), file: "condition.yaml", pinned: true)
        guard let parsed = definition.step("privacy")?.condition else {
            throw FixtureError(description: "no condition parsed from \(condition)")
        }
        return parsed
    }

    // MARK: Shipped definitions

    /// The repository's `Workflows/` folder, found from this file (symlinks resolved, so a scratch package
    /// that links the test folder still reads the files of the repository).
    static var workflowsDirectory: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent()  // Definitions
            .deletingLastPathComponent()  // WorkflowEngineTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // repository root
            .appendingPathComponent("Workflows")
    }

    static let shippedFiles = ["shared-data.yaml", "open-data.yaml"]

    static func shippedText(_ fileName: String) throws -> String {
        try String(contentsOf: workflowsDirectory.appendingPathComponent(fileName), encoding: .utf8)
    }

    static func shippedBytes(_ fileName: String) throws -> Data {
        try Data(contentsOf: workflowsDirectory.appendingPathComponent(fileName))
    }

    static func shipped(_ fileName: String) throws -> WorkflowDefinition {
        try parse(try shippedText(fileName), file: "Workflows/\(fileName)")
    }

    /// Request facts with every attribute at its lowest value, one of them set to `value`.
    static func facts(_ attribute: Attribute, _ value: String, kind: ReleaseKind = .sharedData) -> RequestFacts {
        setting(
            attribute, to: value,
            in: RequestFacts(kind: kind, classification: .public, personalData: .none, protectionNeed: .normal))
    }

    /// `facts` with one attribute set from its identifier (one of `attribute.values`).
    static func setting(_ attribute: Attribute, to value: String, in facts: RequestFacts) -> RequestFacts {
        var facts = facts
        switch attribute {
        case .kind: facts.kind = ReleaseKind(rawValue: value)!
        case .classification: facts.classification = Classification(rawValue: value)!
        case .personalData: facts.personalData = PersonalDataCategory(rawValue: value)!
        case .protectionNeed: facts.protectionNeed = ProtectionNeed(rawValue: value)!
        case .recipient: facts.recipient = value == "none" ? nil : Recipient(rawValue: value)!
        case .highValue: facts.highValue = value == "true"
        case .anonymisationStatement: facts.hasAnonymisationStatement = value == "true"
        case .checkPersonalReference, .checkTradeSecrets, .checkThirdPartyRights, .checkSecurity, .checkConfidentiality:
            let exclusion = attribute.exclusion!
            if value == "true" {
                facts.checkExclusions.insert(exclusion)
            } else {
                facts.checkExclusions.remove(exclusion)
            }
        }
        return facts
    }
}
