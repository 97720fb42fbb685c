import Testing

@testable import WorkflowEngine

/// What one reported problem must look like.
enum ExpectedProblem: Sendable, CustomStringConvertible {
    /// Exactly `file:line: message`.
    case exact(String)
    /// On one of `lines`, with a message containing `fragment` (used where the wording is not settled).
    case fragment(lines: Set<Int>, String)

    func matches(_ problem: DefinitionProblem) -> Bool {
        switch self {
        case .exact(let text): problem.description == text
        case .fragment(let lines, let fragment): lines.contains(problem.line) && problem.message.contains(fragment)
        }
    }

    var description: String {
        switch self {
        case .exact(let text): text
        case .fragment(let lines, let fragment): "line \(lines.sorted()) containing '\(fragment)'"
        }
    }
}

/// A minimal edit of `DefinitionFixtures.base` and every problem it must produce, in order.
struct BrokenDefinition: Sendable, CustomTestStringConvertible {
    var name: String
    var text: String
    var customRoles: Set<String> = []
    var expected: [ExpectedProblem]

    init(_ name: String, _ text: String, customRoles: Set<String> = [], _ expected: [ExpectedProblem]) {
        self.name = name
        self.text = text
        self.customRoles = customRoles
        self.expected = expected
    }

    init(_ name: String, replacing lines: [Int: String], customRoles: Set<String> = [], _ expected: [ExpectedProblem]) {
        self.init(name, DefinitionFixtures.base(replacing: lines), customRoles: customRoles, expected)
    }

    var testDescription: String { name }
}

private let knownRoles = "data_owner, data_steward, dsb, isb, open_data_officer, governance"
private let knownStepKeys = "approve_requires, deadline, id, on, parallel, quorum, request_changes, role, title, when"
private let knownAttributes =
    "kind, classification, personal_data, protection_need, recipient, high_value, anonymisation_statement, "
    + "check_personal_reference, check_trade_secrets, check_third_party_rights, check_security, check_confidentiality"

/// The catalogue of broken definitions. Each changes one or two lines of the valid base definition, so the
/// line of every problem can be read off `DefinitionFixtures.base`.
let brokenDefinitions: [BrokenDefinition] = [
    // MARK: YAML itself
    BrokenDefinition(
        "YAML syntax: tab in indentation", replacing: [12: "\trole: data_owner"],
        [.exact("broken.yaml:12: invalid YAML: found a tab character that violates indentation")]),
    BrokenDefinition(
        "YAML syntax: key indented too far", replacing: [12: "      role: data_owner"],
        [.exact("broken.yaml:12: invalid YAML: mapping values are not allowed in this context")]),
    // libyaml notices the missing '}' at the next token, which is on the following line.
    BrokenDefinition(
        "YAML syntax: unclosed flow mapping", replacing: [14: "    on: { approve: privacy, reject: rejected"],
        [.exact("broken.yaml:15: invalid YAML: did not find expected ',' or '}'")]),
    BrokenDefinition(
        "YAML: two documents in one file", DefinitionFixtures.base + "\n---\nid: other\n",
        [.fragment(lines: [38], "another document")]),
    // BUG (DefinitionParser.swift, Diagnostics.problem(for:)): Yams throws `duplicatedKeysInMapping`,
    // which falls into `default:` and is reported at line 1 with the whole file pasted into the message.
    BrokenDefinition(
        "duplicate key in a step", replacing: [12: "    role: data_owner\n    role: dsb"],
        [.fragment(lines: [12, 13], "duplicate key 'role'")]),
    BrokenDefinition(
        "duplicate top-level key", replacing: [2: "version: 1\nversion: 2"],
        [.fragment(lines: [2, 3], "duplicate key 'version'")]),
    // BUG (minor, same place): libyaml's reader errors (control characters) are reported at line 1.
    BrokenDefinition(
        "control character in a text", replacing: [11: "    title: Data\u{1}Owner"],
        [.fragment(lines: [11], "control characters are not allowed")]),
    BrokenDefinition("empty file", "", [.exact("broken.yaml:1: the file is empty")]),
    BrokenDefinition("only comments", "# nothing here yet\n", [.exact("broken.yaml:1: the file is empty")]),
    BrokenDefinition("a scalar, not a mapping", "hello\n", [.exact("broken.yaml:1: definition must be a mapping")]),

    // MARK: Shape: keys and types
    BrokenDefinition(
        "missing required key in a step", replacing: [16: ""],
        [.exact("broken.yaml:15: step 'privacy': missing required key 'title'")]),
    BrokenDefinition(
        "missing required top-level key", replacing: [5: ""],
        [.exact("broken.yaml:1: definition: missing required key 'start'")]),
    BrokenDefinition(
        "unknown key (typo rol:)", replacing: [12: "    rol: data_owner"],
        [
            .exact("broken.yaml:10: step 'owner': missing required key 'role'"),
            .exact("broken.yaml:12: step: unknown key 'rol' (known: \(knownStepKeys))"),
        ]),
    BrokenDefinition(
        "version is text", replacing: [2: "version: \"abc\""],
        [.exact("broken.yaml:2: version must be a whole number from 1 to 10000")]),
    BrokenDefinition(
        "version is 0", replacing: [2: "version: 0"],
        [.exact("broken.yaml:2: version must be a whole number from 1 to 10000")]),
    BrokenDefinition(
        "version is a fraction", replacing: [2: "version: 1.5"],
        [.exact("broken.yaml:2: version must be a whole number from 1 to 10000")]),
    BrokenDefinition(
        "id with capitals", replacing: [1: "id: Test-Flow"],
        [.exact("broken.yaml:1: id 'Test-Flow' must be lower-case ASCII letters, digits, _ or -")]),
    BrokenDefinition(
        "title without German", replacing: [3: "title: { en: Test flow }"],
        [.exact("broken.yaml:3: title: missing required key 'de'")]),
    BrokenDefinition(
        "no kinds", replacing: [4: "kinds: []"],
        [.exact("broken.yaml:4: kinds must not be empty")]),
    BrokenDefinition(
        "unknown kind", replacing: [4: "kinds: [shared_dat]"],
        [.exact("broken.yaml:4: kinds: unknown value 'shared_dat' (known: shared_data, open_data)")]),
    BrokenDefinition(
        "request_changes not a boolean", replacing: [17: "    role: dsb\n    request_changes: maybe"],
        [.exact("broken.yaml:18: step 'privacy' request_changes must be true or false")]),
    BrokenDefinition(
        "unknown end type", replacing: [22: "    type: grantd"],
        [.exact("broken.yaml:22: end 'granted' type: unknown value 'grantd' (known: granted, published, final)")]),
    BrokenDefinition(
        "unknown submit requirement",
        replacing: [8: "withdraw: withdrawn\nsubmit_requires:\n  - field: licence\n    message: x"],
        [
            .exact(
                "broken.yaml:10: submit_requires field: unknown value 'licence' "
                    + "(known: anonymisation_statement, legal_basis, access_end, recipient, open_data_check)")
        ]),
    BrokenDefinition(
        "submit requirement no request of the kinds has",
        replacing: [8: "withdraw: withdrawn\nsubmit_requires:\n  - field: open_data_check\n    message: x"],
        [
            .exact(
                "broken.yaml:10: submit_requires field 'open_data_check' is never filled in by requests of the "
                    + "workflow's kinds (only open_data requests have it)")
        ]),

    // MARK: Roles
    BrokenDefinition(
        "unknown role", replacing: [17: "    role: dbs"],
        [.exact("broken.yaml:17: step 'privacy' role: unknown role 'dbs' (known: \(knownRoles))")]),
    BrokenDefinition(
        "custom role that is not configured", replacing: [17: "    role: fachamt_leitung"],
        [.exact("broken.yaml:17: step 'privacy' role: unknown role 'fachamt_leitung' (known: \(knownRoles))")]),
    BrokenDefinition(
        "unknown escalation role", replacing: [13: "    deadline: { working_days: 5, escalate_to: gouvernance }"],
        [
            .exact(
                "broken.yaml:13: step 'owner' deadline escalate_to: unknown role 'gouvernance' (known: \(knownRoles))")
        ]),
    BrokenDefinition(
        "unknown role may revoke", replacing: [25: "    revocable_by: [data_ownr]"],
        [.exact("broken.yaml:25: end 'granted' revocable_by: unknown role 'data_ownr' (known: \(knownRoles))")]),

    // MARK: Conditions
    BrokenDefinition(
        "condition on an unknown attribute",
        replacing: [18: "    when: { attribute: personal, at_least: pseudonymised }"],
        [.exact("broken.yaml:18: condition on unknown attribute 'personal' (known: \(knownAttributes))")]),
    BrokenDefinition(
        "unknown attribute value",
        replacing: [18: "    when: { attribute: personal_data, at_least: pseudonymized }"],
        [
            .exact(
                "broken.yaml:18: unknown value 'pseudonymized' for attribute 'personal_data' "
                    + "(known: none, anonymised, pseudonymised, personal, special_category)")
        ]),
    BrokenDefinition(
        "at_least on an unordered attribute", replacing: [18: "    when: { attribute: recipient, at_least: external }"],
        [.exact("broken.yaml:18: 'at_least' needs an ordered attribute; 'recipient' has no order")]),
    BrokenDefinition(
        "condition with two tests",
        replacing: [18: "    when: { attribute: personal_data, at_least: personal, equals: personal }"],
        [.exact("broken.yaml:18: condition on 'personal_data' needs exactly one of equals, in, at_least, at_most")]),
    BrokenDefinition(
        "condition on an answer of the Open Data check in a Shared Data workflow (always false there)",
        replacing: [18: "    when: { not: { attribute: check_security, equals: true } }"],
        [
            .exact(
                "broken.yaml:15: step 'privacy': the part of its condition that tests 'check_security' always gives "
                    + "the same answer (only open_data requests have it)")
        ]),
    BrokenDefinition(
        "condition on the kind in a workflow that serves one kind",
        replacing: [
            18:
                "    when: { any_of: [ { attribute: kind, equals: open_data }, { attribute: high_value, equals: true } ] }"
        ],
        [
            .exact(
                "broken.yaml:15: step 'privacy': the part of its condition that tests 'kind' always gives the same "
                    + "answer (the workflow serves only shared_data)")
        ]),
    BrokenDefinition(
        "a wrong on.reject target in block style is reported at its own line",
        replacing: [14: "    on:\n      approve: privacy\n      reject: rejcted"],
        [.exact("broken.yaml:16: step 'owner': on.reject leads to unknown step or end 'rejcted'")]),
    BrokenDefinition(
        "condition without a test", replacing: [18: "    when: { attribute: personal_data }"],
        [.exact("broken.yaml:18: condition on 'personal_data' needs exactly one of equals, in, at_least, at_most")]),

    // MARK: Graph
    BrokenDefinition(
        "duplicate step id", replacing: [15: "  - id: owner"],
        [
            .exact("broken.yaml:14: step 'owner': on.approve leads to unknown step or end 'privacy'"),
            .exact("broken.yaml:15: duplicate id 'owner' (step; first defined on line 10)"),
        ]),
    BrokenDefinition(
        "transition to an unknown step", replacing: [14: "    on: { approve: privcy, reject: rejected }"],
        [.exact("broken.yaml:14: step 'owner': on.approve leads to unknown step or end 'privcy'")]),
    // BUG (DefinitionValidator.swift, checkStart): reported at line 1 instead of the `start:` line.
    BrokenDefinition(
        "start is an end, not a step", replacing: [5: "start: rejected"],
        [.exact("broken.yaml:5: start 'rejected' is not a step")]),
    BrokenDefinition(
        "unreachable step", replacing: [14: "    on: { approve: granted, reject: rejected }"],
        [.exact("broken.yaml:15: step 'privacy' is unreachable from start 'owner'")]),
    BrokenDefinition(
        "step without way out", replacing: [19: "    on: { approve: privacy, reject: privacy }"],
        [
            .exact("broken.yaml:15: step 'privacy' has no way out: every decision leads back to itself"),
            .exact("broken.yaml:21: end 'granted' is unreachable from start 'owner'"),
            .exact("broken.yaml:26: end 'expired' is unreachable from start 'owner'"),
            .exact("broken.yaml:29: end 'revoked' is unreachable from start 'owner'"),
        ]),
    BrokenDefinition(
        "cycle without exit",
        replacing: [
            14: "    on: { approve: privacy, reject: privacy }", 19: "    on: { approve: owner, reject: owner }",
        ],
        [
            .exact(
                "broken.yaml:10: step 'owner' is in a cycle without exit (owner → privacy): no decision ever reaches an end"
            ),
            .exact(
                "broken.yaml:15: step 'privacy' is in a cycle without exit (owner → privacy): no decision ever reaches an end"
            ),
            .exact("broken.yaml:21: end 'granted' is unreachable from start 'owner'"),
            .exact("broken.yaml:26: end 'expired' is unreachable from start 'owner'"),
            .exact("broken.yaml:29: end 'revoked' is unreachable from start 'owner'"),
            .exact("broken.yaml:32: end 'rejected' is unreachable from start 'owner'"),
        ]),

    // MARK: Ends
    BrokenDefinition(
        "rejection leading to a granted end", replacing: [19: "    on: { approve: granted, reject: granted }"],
        [.exact("broken.yaml:15: step 'privacy': a rejection cannot lead to the granted end 'granted'")]),
    BrokenDefinition(
        "granted end without expire and revoke", replacing: [24: ""],
        [
            .exact(
                "broken.yaml:21: end 'granted': granted access needs on.expire and on.revoke (Shared Data always ends)")
        ]),
    BrokenDefinition(
        "expiry leading to a granted end", replacing: [24: "    on: { expire: granted, revoke: revoked }"],
        [.exact("broken.yaml:21: end 'granted': on.expire must lead to a final end")]),
    BrokenDefinition(
        "granted end in an open_data-only workflow", replacing: [4: "kinds: [open_data]"],
        [.exact("broken.yaml:21: end 'granted': granted access needs kind shared_data")]),
    BrokenDefinition(
        "granted end in a workflow of both kinds", replacing: [4: "kinds: [shared_data, open_data]"],
        [
            .exact(
                "broken.yaml:21: end 'granted': a workflow serving both kinds cannot have a granted end "
                    + "(every request reaches it, whatever its kind)")
        ]),
    BrokenDefinition(
        "published end in a shared_data-only workflow", replacing: [22: "    type: published"],
        [
            .exact("broken.yaml:21: end 'granted': published needs kind open_data"),
            .exact("broken.yaml:21: end 'granted': only granted access can expire or be revoked (type published)"),
        ]),
    BrokenDefinition(
        "final end that expires", replacing: [34: "    title: Abgelehnt\n    on: { expire: expired }"],
        [.exact("broken.yaml:32: end 'rejected': only granted access can expire or be revoked (type final)")]),
    // BUG (DefinitionValidator.swift, checkStart): reported at line 1 instead of the `withdraw:` line.
    BrokenDefinition(
        "withdraw leading to a non-final end", replacing: [8: "withdraw: granted"],
        [.exact("broken.yaml:8: withdraw must lead to an end of type final, not 'granted'")]),
    BrokenDefinition(
        "withdraw leading nowhere", replacing: [8: "withdraw: gone"],
        [.exact("broken.yaml:8: withdraw 'gone' is not an end")]),

    // MARK: Steps
    BrokenDefinition(
        "parallel step with one branch",
        replacing: [17: "    parallel:\n      - { id: privacy_branch, title: DSB, role: dsb }"],
        [.exact("broken.yaml:18: step 'privacy': a parallel step needs at least two branches")]),
    BrokenDefinition(
        "parallel step with role",
        replacing: [
            17: """
                role: dsb
                parallel:
                  - { id: dsb_branch, title: DSB, role: dsb }
                  - { id: isb_branch, title: ISB, role: isb }
            """
        ],
        [.exact("broken.yaml:15: step 'privacy': a parallel step names its roles in its branches, not with 'role'")]),
    BrokenDefinition(
        "branch id equal to a step id",
        replacing: [
            17: """
                parallel:
                  - { id: owner, title: DSB, role: dsb }
                  - { id: isb_branch, title: ISB, role: isb }
            """
        ],
        [.exact("broken.yaml:18: duplicate id 'owner' (branch of 'privacy'; first defined on line 10)")]),
    BrokenDefinition(
        "quorum 0", replacing: [17: "    role: dsb\n    quorum: 0"],
        [.exact("broken.yaml:18: step 'privacy' quorum must be a whole number from 1 to 10000")]),
    BrokenDefinition(
        "data_owner quorum 2", replacing: [12: "    role: data_owner\n    quorum: 2"],
        [.exact("broken.yaml:10: step 'owner': a dataset has exactly one Data Owner, so quorum must be 1")]),
    BrokenDefinition(
        "remind_before not before the deadline",
        replacing: [13: "    deadline: { working_days: 2, remind_before: 2, escalate_to: governance }"],
        [.exact("broken.yaml:13: step 'owner': remind_before (2) must be less than working_days (2)")]),
    BrokenDefinition(
        "deadline of 0 working days", replacing: [13: "    deadline: { working_days: 0 }"],
        [.exact("broken.yaml:13: step 'owner' deadline working_days must be a whole number from 1 to 10000")]),
    BrokenDefinition(
        "escalate_to the step's own role",
        replacing: [13: "    deadline: { working_days: 5, remind_before: 2, escalate_to: data_owner }"],
        [.exact("broken.yaml:10: step 'owner': escalate_to must name a higher instance than the step's own role")]),
    BrokenDefinition(
        "approve_requires an unknown field", replacing: [17: "    role: dsb\n    approve_requires: [licence, portal]"],
        [.exact("broken.yaml:18: step 'privacy' approve_requires: unknown value 'portal' (known: licence, portal_url)")]
    ),
]

@Suite("Broken workflow definitions")
struct BrokenDefinitionTests {
    @Test("the base definition is valid")
    func baseIsValid() throws {
        let definition = try DefinitionFixtures.parse(DefinitionFixtures.base)
        #expect(definition.steps.map(\.id) == ["owner", "privacy"])
        #expect(definition.steps.map(\.line) == [10, 15])
        #expect(definition.ends.map(\.line) == [21, 26, 29, 32, 35])
    }

    @Test("every problem is reported with file:line", arguments: brokenDefinitions)
    func reportsEveryProblem(_ broken: BrokenDefinition) {
        let problems = DefinitionFixtures.problems(broken.text, customRoles: broken.customRoles)
        let report = problems.map { "  \($0)" }.joined(separator: "\n")
        #expect(!problems.isEmpty, "accepted although broken")
        #expect(
            problems.count == broken.expected.count,
            "expected \(broken.expected.count) problem(s), got \(problems.count):\n\(report)")
        for (expected, problem) in zip(broken.expected, problems) {
            #expect(expected.matches(problem), "expected \(expected)\n     got \(problem)")
        }
        #expect(problems.allSatisfy { $0.file == "broken.yaml" })
    }

    @Test("at least 16 kinds of broken definition are covered")
    func catalogueIsLarge() {
        #expect(brokenDefinitions.count >= 16)
        #expect(Set(brokenDefinitions.map(\.name)).count == brokenDefinitions.count, "case names must be unique")
    }

    @Test("problems are sorted by line")
    func problemsAreSorted() {
        for broken in brokenDefinitions {
            let lines = DefinitionFixtures.problems(broken.text).map(\.line)
            #expect(lines == lines.sorted(), "\(broken.name)")
        }
    }

    /// A rule for filing new requests added in a later release must not strand the requests pinned to a
    /// stored definition that breaks it: read back as pinned, the definition still runs them.
    @Test("a stored definition that breaks only a rule for filing is read back for its pinned requests")
    func pinnedDefinitionsSkipFilingRules() throws {
        let parser = WorkflowDefinitionParser(contentHash: TestDigest.sha256)
        for lines in [
            [8: "withdraw: withdrawn\nsubmit_requires:\n  - field: open_data_check\n    message: x"],
            [4: "kinds: [shared_data, open_data]"],
        ] {
            let text = DefinitionFixtures.base(replacing: lines)
            #expect(throws: DefinitionError.self, "\(lines)") { try parser.parse(text, file: "new.yaml") }
            let pinned = try parser.parse(text, file: "workflow_definitions:test-flow@1", pinned: true)
            #expect(pinned.end("granted")?.type == .granted)
        }
        // Anything else is refused for pinned requests too: they could not run on it.
        #expect(throws: DefinitionError.self) {
            try parser.parse(DefinitionFixtures.base(replacing: [17: "    role: dbs"]), file: "stored", pinned: true)
        }
    }

    @Test("a custom role is accepted only when the parser is told about it")
    func customRoles() throws {
        let text = DefinitionFixtures.base(replacing: [17: "    role: fachamt_leitung"])
        #expect(!DefinitionFixtures.problems(text).isEmpty)
        #expect(!DefinitionFixtures.problems(text, customRoles: ["andere_rolle"]).isEmpty)
        let definition = try DefinitionFixtures.parse(text, customRoles: ["fachamt_leitung"])
        #expect(definition.step("privacy")?.roles == [.custom("fachamt_leitung")])
        // A custom role also counts as an escalation target and a revoker.
        let escalating = DefinitionFixtures.base(replacing: [
            13: "    deadline: { working_days: 5, escalate_to: fachamt_leitung }",
            25: "    revocable_by: [data_owner, fachamt_leitung]",
        ])
        let parsed = try DefinitionFixtures.parse(escalating, customRoles: ["fachamt_leitung"])
        #expect(parsed.step("owner")?.deadline?.escalateTo == .custom("fachamt_leitung"))
        #expect(parsed.end("granted")?.revocableBy == [.dataOwner, .custom("fachamt_leitung")])
    }

    @Test("a parallel step with two branches is valid")
    func parallelStep() throws {
        let text = DefinitionFixtures.base(replacing: [
            17: """
                parallel:
                  - { id: dsb_branch, title: DSB, role: dsb, when: { attribute: personal_data, at_least: anonymised } }
                  - { id: isb_branch, title: ISB, role: isb, quorum: 2 }
            """
        ])
        let step = try #require(try DefinitionFixtures.parse(text).step("privacy"))
        #expect(step.isParallel)
        #expect(step.branches.map(\.id) == ["dsb_branch", "isb_branch"])
        #expect(step.branches.map(\.quorum) == [1, 2])
        #expect(step.branches[0].condition == .atLeast(.personalData, "anonymised"))
        #expect(step.roles == [.dsb, .isb])
    }

    /// BUG (DefinitionValidator.swift): two conditional steps whose `on.approve` lead to each other pass
    /// validation, because each can still reach an end through `on.reject`. When neither condition holds,
    /// `RequestMachine.enter` skips from one to the other until its bound and stops the process with
    /// `preconditionFailure("... loops through skipped steps")`. The validator must reject a cycle along
    /// `on.approve` (approvals only ever move forward).
    @Test("a cycle along on.approve is rejected")
    func approvalCycle() {
        let text = DefinitionFixtures.base(replacing: [
            12: "    role: data_owner\n    when: { attribute: personal_data, at_least: personal }",
            19: """
                on: { approve: owner, reject: third }
              - id: third
                title: Dritter Schritt
                role: isb
                on: { approve: granted, reject: rejected }
            """,
        ])
        let problems = DefinitionFixtures.problems(text)
        #expect(
            problems.contains { [10, 16].contains($0.line) && $0.message.contains("cycle") },
            "accepted a definition whose approvals go round in a circle: \(problems)")
    }
}
