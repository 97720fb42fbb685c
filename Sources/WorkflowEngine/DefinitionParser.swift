import Foundation
import Yams

/// Turns the exact bytes of a definition file into the hex digest that pins requests to that text.
///
/// The engine imports nothing but Foundation and Yams, so it does no cryptography itself: the caller hands
/// it SHA-256 (the server: swift-crypto's `SHA256`, lower-case hex of the UTF-8 bytes of the source).
public typealias ContentDigest = @Sendable (Data) -> String

/// Reads a workflow definition from YAML and checks it, reporting every problem with its line.
///
/// Parsing works on Yams' node tree rather than `Decodable` because only the node tree keeps source
/// positions, and an administrator fixing a definition needs `file:line`, not a coding path.
public struct WorkflowDefinitionParser: Sendable {
    /// Roles definitions may use besides the built-in ones (the engine's tests use them; the server
    /// passes none, since it resolves no other role from the directory).
    public var customRoles: Set<String>
    /// Computes `WorkflowDefinition.contentHash` from the UTF-8 bytes of the source.
    public var contentHash: ContentDigest

    public init(customRoles: Set<String> = [], contentHash: @escaping ContentDigest) {
        self.customRoles = customRoles
        self.contentHash = contentHash
    }

    /// The definition in `source`, or every problem with its `file:line`.
    ///
    /// - Parameter pinned: the source a stored request is pinned to (read back from the database). Only
    ///   what running its requests needs is checked then, not the rules for filing new requests
    ///   (``DefinitionValidator/checkFiling(_:)``): a rule added in a later release must not strand the
    ///   requests filed under a definition that broke it.
    public func parse(
        _ source: String, file: String, pinned: Bool = false
    ) throws(DefinitionError)
        -> WorkflowDefinition
    {
        let diagnostics = Diagnostics(file: file)
        let root: Node?
        // The parser object owns the anchors; node.anchor is a weak reference, so it must stay alive
        // until `AnchorCheck` has looked at the tree.
        let yamlParser: Parser
        do {
            yamlParser = try Parser(yaml: source)
            root = try yamlParser.singleRoot()
        } catch let error as YamlError {
            throw DefinitionError(problems: diagnostics.problems(for: error, source: source))
        } catch {
            throw DefinitionError(problems: [DefinitionProblem(file: file, line: 1, message: "invalid YAML: \(error)")])
        }
        guard let root else {
            throw DefinitionError(problems: [DefinitionProblem(file: file, line: 1, message: "the file is empty")])
        }
        // Anchors and aliases are refused before anything is read: expanding them is how a few hundred
        // bytes of YAML ("billion laughs") become gigabytes, and a definition never needs them.
        withExtendedLifetime(yamlParser) { AnchorCheck(diagnostics: diagnostics).check(root) }
        guard diagnostics.problems.isEmpty else { throw DefinitionError(problems: diagnostics.sortedProblems) }
        let reader = DefinitionReader(diagnostics: diagnostics, customRoles: customRoles)
        let definition = reader.definition(from: root, contentHash: contentHash(Data(source.utf8)))
        if let definition, diagnostics.problems.isEmpty {
            DefinitionValidator(diagnostics: diagnostics).validate(definition, forFiling: !pinned)
        }
        guard let definition, diagnostics.problems.isEmpty else {
            throw DefinitionError(problems: diagnostics.sortedProblems)
        }
        return definition
    }
}

/// Collects problems while one file is read. Lives only for one `parse` call, on one thread.
final class Diagnostics {
    let file: String
    private(set) var problems: [DefinitionProblem] = []

    init(file: String) { self.file = file }

    func report(_ message: String, at node: Node?, orLine fallback: Int = 1) {
        problems.append(DefinitionProblem(file: file, line: node?.mark?.line ?? fallback, message: message))
    }

    func report(_ message: String, line: Int) {
        problems.append(DefinitionProblem(file: file, line: line, message: message))
    }

    var sortedProblems: [DefinitionProblem] {
        problems.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element)
    }

    func problems(for error: YamlError, source: String) -> [DefinitionProblem] {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return [DefinitionProblem(file: file, line: mark.line, message: "invalid YAML: \(problem)")]
        case .duplicatedKeysInMapping(let duplicates, let context):
            return duplicates.map { key in
                DefinitionProblem(file: file, line: context.mark.line, message: "duplicate key '\(key)'")
            }
        case .reader(let problem, let offset, _, _):
            // libyaml reports a byte offset; count the lines before it.
            let line = offset.map { offset in source.utf8.prefix(offset).count { $0 == UInt8(ascii: "\n") } + 1 } ?? 1
            return [DefinitionProblem(file: file, line: line, message: "invalid YAML: \(problem)")]
        default:
            return [DefinitionProblem(file: file, line: 1, message: "invalid YAML")]
        }
    }
}

/// Reports every anchor (`&name`) and alias (`*name`) without descending into them. Yams replaces an
/// alias by the anchored node itself, so both show up as a node that has an anchor.
struct AnchorCheck {
    let diagnostics: Diagnostics

    func check(_ node: Node) {
        if case .alias = node {
            diagnostics.report("YAML aliases (*name) are not supported; write the value out", at: node)
            return
        }
        if node.anchor != nil {
            diagnostics.report("YAML anchors (&name) are not supported; write the value out", at: node)
            return
        }
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                check(key)
                check(value)
            }
        case .sequence(let sequence):
            for item in sequence { check(item) }
        case .scalar, .alias:
            break
        }
    }
}

/// A mapping node with its keys checked: duplicates and unknown keys are reported once.
struct MappingReader {
    let node: Node
    private let values: [String: Node]
    private let diagnostics: Diagnostics

    init?(_ node: Node, what: String, allowed: Set<String>, diagnostics: Diagnostics) {
        guard let mapping = node.mapping else {
            diagnostics.report("\(what) must be a mapping", at: node)
            return nil
        }
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                diagnostics.report("\(what): keys must be text", at: key)
                continue
            }
            if values[name] != nil {
                diagnostics.report("\(what): duplicate key '\(name)'", at: key)
            } else if !allowed.contains(name) {
                let known = allowed.sorted().joined(separator: ", ")
                diagnostics.report("\(what): unknown key '\(name)' (known: \(known))", at: key)
            }
            values[name] = values[name] ?? value
        }
        self.node = node
        self.values = values
        self.diagnostics = diagnostics
    }

    subscript(key: String) -> Node? { values[key] }

    var line: Int { node.mark?.line ?? 1 }

    func required(_ key: String, in what: String) -> Node? {
        guard let value = values[key] else {
            diagnostics.report("\(what): missing required key '\(key)'", at: node)
            return nil
        }
        return value
    }
}

/// Turns the node tree into a `WorkflowDefinition`, reporting shape problems as it goes.
struct DefinitionReader {
    let diagnostics: Diagnostics
    let customRoles: Set<String>

    private static let topLevelKeys: Set<String> = [
        "id", "version", "title", "kinds", "start", "personal_union", "resubmission", "withdraw", "submit_requires",
        "steps", "ends",
    ]
    private static let stepKeys: Set<String> = [
        "id", "title", "role", "quorum", "when", "parallel", "deadline", "on", "request_changes", "approve_requires",
    ]
    private static let branchKeys: Set<String> = ["id", "title", "role", "quorum", "when"]
    private static let endKeys: Set<String> = ["id", "title", "type", "on", "revocable_by"]

    func definition(from root: Node, contentHash: String) -> WorkflowDefinition? {
        guard let top = MappingReader(root, what: "definition", allowed: Self.topLevelKeys, diagnostics: diagnostics)
        else { return nil }
        let id = top.required("id", in: "definition").flatMap { identifier($0, what: "id") }
        let version = top.required("version", in: "definition").flatMap { positiveInt($0, what: "version") }
        let title = top.required("title", in: "definition").flatMap { text($0, what: "title") }
        let kinds = top.required("kinds", in: "definition").flatMap { self.kinds($0) }
        let start = top.required("start", in: "definition").flatMap { identifier($0, what: "start") }
        let withdrawTo = top.required("withdraw", in: "definition").flatMap { identifier($0, what: "withdraw") }
        let personalUnion =
            top["personal_union"].map { node in
                enumValue(node, PersonalUnionRule.self, what: "personal_union") ?? .separate
            } ?? .separate
        let resubmission =
            top["resubmission"].map { node in
                enumValue(node, ResubmissionRule.self, what: "resubmission") ?? .sameStep
            } ?? .sameStep
        let requirements = top["submit_requires"].map(submitRequirements) ?? []
        let steps = top.required("steps", in: "definition").map(self.steps) ?? []
        let ends = top.required("ends", in: "definition").map(self.ends) ?? []

        guard let id, let version, let title, let kinds, let start, let withdrawTo else { return nil }
        return WorkflowDefinition(
            id: id, version: version, title: title, kinds: kinds, start: start, personalUnion: personalUnion,
            resubmission: resubmission, steps: steps, ends: ends, withdrawTo: withdrawTo,
            submitRequirements: requirements, contentHash: contentHash,
            startLine: top["start"]?.mark?.line ?? top.line, withdrawLine: top["withdraw"]?.mark?.line ?? top.line)
    }

    // MARK: Steps

    private func steps(_ node: Node) -> [Step] {
        guard let items = sequence(node, what: "steps", allowEmpty: false) else { return [] }
        return items.compactMap(step)
    }

    private func step(_ node: Node) -> Step? {
        guard let map = MappingReader(node, what: "step", allowed: Self.stepKeys, diagnostics: diagnostics) else {
            return nil
        }
        let id = map.required("id", in: "step").flatMap { identifier($0, what: "step id") }
        let what = "step '\(id ?? "?")'"
        let title = map.required("title", in: what).flatMap { text($0, what: "\(what) title") }
        let condition = map["when"].flatMap { self.condition($0) }
        let deadline = map["deadline"].flatMap { self.deadline($0, what: what) }
        let allowsRequestChanges =
            map["request_changes"].map { bool($0, what: "\(what) request_changes") ?? true } ?? true
        let approvalRequires = map["approve_requires"].map { approvalFields($0, what: what) } ?? []
        let (onApprove, onReject, targetLines) = transitions(map, what: what)

        var branches: [Branch] = []
        let isParallel = map["parallel"] != nil
        if let parallel = map["parallel"] {
            if map["role"] != nil || map["quorum"] != nil {
                diagnostics.report(
                    "\(what): a parallel step names its roles in its branches, not with 'role'", at: node)
            }
            if let items = sequence(parallel, what: "\(what) parallel", allowEmpty: false) {
                if items.count < 2 {
                    diagnostics.report("\(what): a parallel step needs at least two branches", at: parallel)
                }
                branches = items.compactMap { branch($0, in: what) }
            }
        } else if let roleNode = map.required("role", in: what), let id, let title {
            let quorum = map["quorum"].flatMap { positiveInt($0, what: "\(what) quorum") } ?? 1
            if let role = role(roleNode, what: "\(what) role") {
                branches = [Branch(id: id, title: title, role: role, quorum: quorum, condition: nil, line: map.line)]
            }
        }
        guard let id, let title, let onApprove, let onReject else { return nil }
        return Step(
            id: id, title: title, condition: condition, branches: branches, isParallel: isParallel,
            deadline: deadline, onApprove: onApprove, onReject: onReject,
            allowsRequestChanges: allowsRequestChanges, approvalRequires: approvalRequires, line: map.line,
            onApproveLine: targetLines.approve ?? map.line, onRejectLine: targetLines.reject ?? map.line)
    }

    /// The targets of `on.approve` and `on.reject`, with the line of each.
    private func transitions(
        _ map: MappingReader, what: String
    ) -> (String?, String?, (approve: Int?, reject: Int?)) {
        guard let on = map.required("on", in: what),
            let reader = MappingReader(
                on, what: "\(what) on", allowed: ["approve", "reject"], diagnostics: diagnostics)
        else { return (nil, nil, (nil, nil)) }
        let approve = reader.required("approve", in: "\(what) on").flatMap {
            identifier($0, what: "\(what) on.approve")
        }
        let reject = reader.required("reject", in: "\(what) on").flatMap { identifier($0, what: "\(what) on.reject") }
        return (approve, reject, (reader["approve"]?.mark?.line, reader["reject"]?.mark?.line))
    }

    private func branch(_ node: Node, in step: String) -> Branch? {
        guard let map = MappingReader(node, what: "\(step) branch", allowed: Self.branchKeys, diagnostics: diagnostics)
        else { return nil }
        let id = map.required("id", in: "\(step) branch").flatMap { identifier($0, what: "branch id") }
        let what = "branch '\(id ?? "?")'"
        let title = map.required("title", in: what).flatMap { text($0, what: "\(what) title") }
        let role = map.required("role", in: what).flatMap { self.role($0, what: "\(what) role") }
        let quorum = map["quorum"].flatMap { positiveInt($0, what: "\(what) quorum") } ?? 1
        let condition = map["when"].flatMap { self.condition($0) }
        guard let id, let title, let role else { return nil }
        return Branch(id: id, title: title, role: role, quorum: quorum, condition: condition, line: map.line)
    }

    private func deadline(_ node: Node, what: String) -> Deadline? {
        let allowed: Set<String> = ["working_days", "remind_before", "escalate_to"]
        guard let map = MappingReader(node, what: "\(what) deadline", allowed: allowed, diagnostics: diagnostics),
            let days = map.required("working_days", in: "\(what) deadline").flatMap({
                positiveInt($0, what: "\(what) deadline working_days")
            })
        else { return nil }
        let remindBefore = map["remind_before"].flatMap { positiveInt($0, what: "\(what) deadline remind_before") }
        if let remindBefore, remindBefore >= days {
            diagnostics.report(
                "\(what): remind_before (\(remindBefore)) must be less than working_days (\(days))",
                at: map["remind_before"])
        }
        let escalateTo = map["escalate_to"].flatMap { role($0, what: "\(what) deadline escalate_to") }
        return Deadline(workingDays: days, remindBefore: remindBefore, escalateTo: escalateTo)
    }

    private func approvalFields(_ node: Node, what: String) -> [ApprovalField] {
        guard let items = sequence(node, what: "\(what) approve_requires", allowEmpty: true) else { return [] }
        return items.compactMap { enumValue($0, ApprovalField.self, what: "\(what) approve_requires") }
    }

    // MARK: Ends

    private func ends(_ node: Node) -> [EndState] {
        guard let items = sequence(node, what: "ends", allowEmpty: false) else { return [] }
        return items.compactMap(end)
    }

    private func end(_ node: Node) -> EndState? {
        guard let map = MappingReader(node, what: "end", allowed: Self.endKeys, diagnostics: diagnostics) else {
            return nil
        }
        let id = map.required("id", in: "end").flatMap { identifier($0, what: "end id") }
        let what = "end '\(id ?? "?")'"
        let title = map.required("title", in: what).flatMap { text($0, what: "\(what) title") }
        let type = map.required("type", in: what).flatMap { enumValue($0, EndType.self, what: "\(what) type") }
        var onExpire: String?
        var onRevoke: String?
        if let on = map["on"],
            let reader = MappingReader(on, what: "\(what) on", allowed: ["expire", "revoke"], diagnostics: diagnostics)
        {
            onExpire = reader["expire"].flatMap { identifier($0, what: "\(what) on.expire") }
            onRevoke = reader["revoke"].flatMap { identifier($0, what: "\(what) on.revoke") }
        }
        let revocableBy =
            map["revocable_by"].map { node in
                (sequence(node, what: "\(what) revocable_by", allowEmpty: false) ?? []).compactMap {
                    role($0, what: "\(what) revocable_by")
                }
            } ?? []
        guard let id, let title, let type else { return nil }
        return EndState(
            id: id, title: title, type: type, onExpire: onExpire, onRevoke: onRevoke, revocableBy: revocableBy,
            line: map.line)
    }

    // MARK: Submission requirements

    private func submitRequirements(_ node: Node) -> [SubmitRequirement] {
        guard let items = sequence(node, what: "submit_requires", allowEmpty: true) else { return [] }
        return items.compactMap { item in
            guard
                let map = MappingReader(
                    item, what: "submit_requires entry", allowed: ["field", "when", "message"], diagnostics: diagnostics
                )
            else { return nil }
            let field = map.required("field", in: "submit_requires entry").flatMap {
                enumValue($0, RequirementField.self, what: "submit_requires field")
            }
            let message = map.required("message", in: "submit_requires entry").flatMap {
                text($0, what: "submit_requires message")
            }
            let condition = map["when"].flatMap { self.condition($0) }
            guard let field, let message else { return nil }
            return SubmitRequirement(
                field: field, condition: condition, message: message, line: map["field"]?.mark?.line ?? map.line)
        }
    }

    // MARK: Conditions

    func condition(_ node: Node) -> Condition? {
        guard let mapping = node.mapping else {
            diagnostics.report(
                "a condition must be a mapping (all_of, any_of, not, or attribute with a test)", at: node)
            return nil
        }
        let keys = Set(mapping.keys.compactMap(\.string))
        if keys.contains("all_of") || keys.contains("any_of") {
            let key = keys.contains("all_of") ? "all_of" : "any_of"
            guard let map = MappingReader(node, what: "condition", allowed: [key], diagnostics: diagnostics),
                let items = map[key].flatMap({ sequence($0, what: key, allowEmpty: false) })
            else { return nil }
            let parts = items.compactMap(condition)
            guard parts.count == items.count else { return nil }
            return key == "all_of" ? .allOf(parts) : .anyOf(parts)
        }
        if keys.contains("not") {
            guard let map = MappingReader(node, what: "condition", allowed: ["not"], diagnostics: diagnostics),
                let inner = map["not"].flatMap(condition)
            else { return nil }
            return .not(inner)
        }
        let tests: Set<String> = ["equals", "in", "at_least", "at_most"]
        guard
            let map = MappingReader(
                node, what: "condition", allowed: tests.union(["attribute"]), diagnostics: diagnostics),
            let attributeNode = map.required("attribute", in: "condition")
        else { return nil }
        guard let name = attributeNode.string, let attribute = Attribute(rawValue: name) else {
            let known = Attribute.allCases.map(\.rawValue).joined(separator: ", ")
            diagnostics.report(
                "condition on unknown attribute '\(attributeNode.string ?? "?")' (known: \(known))", at: attributeNode)
            return nil
        }
        let present = tests.filter { map[$0] != nil }
        guard present.count == 1, let test = present.first, let operand = map[test] else {
            diagnostics.report(
                "condition on '\(name)' needs exactly one of equals, in, at_least, at_most", at: node)
            return nil
        }
        switch test {
        case "in":
            guard let items = sequence(operand, what: "'in' list", allowEmpty: false) else { return nil }
            let values = items.compactMap { value($0, of: attribute) }
            return values.count == items.count ? .oneOf(attribute, Set(values)) : nil
        case "equals":
            return value(operand, of: attribute).map { .oneOf(attribute, [$0]) }
        default:
            guard attribute.isOrdered else {
                diagnostics.report("'\(test)' needs an ordered attribute; '\(name)' has no order", at: operand)
                return nil
            }
            guard let bound = value(operand, of: attribute) else { return nil }
            return test == "at_least" ? .atLeast(attribute, bound) : .atMost(attribute, bound)
        }
    }

    private func value(_ node: Node, of attribute: Attribute) -> String? {
        let raw: String?
        switch attribute {
        case _ where attribute.isBoolean: raw = node.bool.map(String.init)
        default: raw = node.scalar != nil ? node.string : nil
        }
        guard let raw, attribute.values.contains(raw) else {
            let known = attribute.values.joined(separator: ", ")
            diagnostics.report(
                "unknown value '\(node.string ?? "?")' for attribute '\(attribute.rawValue)' (known: \(known))",
                at: node)
            return nil
        }
        return raw
    }

    // MARK: Scalars

    private func kinds(_ node: Node) -> Set<ReleaseKind>? {
        guard let items = sequence(node, what: "kinds", allowEmpty: false) else { return nil }
        let kinds = items.compactMap { enumValue($0, ReleaseKind.self, what: "kinds") }
        return kinds.count == items.count ? Set(kinds) : nil
    }

    private func role(_ node: Node, what: String) -> Role? {
        guard let name = scalarString(node, what: what) else { return nil }
        let role = Role(identifier: name)
        if case .custom = role, !customRoles.contains(name) {
            let known = (Role.builtIn.map(\.identifier) + customRoles.sorted()).joined(separator: ", ")
            diagnostics.report("\(what): unknown role '\(name)' (known: \(known))", at: node)
            return nil
        }
        return role
    }

    private func text(_ node: Node, what: String) -> LocalizedText? {
        if node.scalar != nil {
            return scalarString(node, what: what).map { LocalizedText(de: $0) }
        }
        guard let map = MappingReader(node, what: what, allowed: ["de", "en"], diagnostics: diagnostics),
            let de = map.required("de", in: what).flatMap({ scalarString($0, what: "\(what) de") })
        else { return nil }
        return LocalizedText(de: de, en: map["en"].flatMap { scalarString($0, what: "\(what) en") })
    }

    private func identifier(_ node: Node, what: String) -> String? {
        guard let value = scalarString(node, what: what) else { return nil }
        let valid =
            value.first.map { $0.isASCII && $0.isLowercase } == true && value.count <= 64
            && value.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }
        guard valid else {
            diagnostics.report("\(what) '\(value)' must be lower-case ASCII letters, digits, _ or -", at: node)
            return nil
        }
        return value
    }

    private func positiveInt(_ node: Node, what: String) -> Int? {
        guard node.scalar != nil, let value = node.int, value >= 1, value <= 10_000 else {
            diagnostics.report("\(what) must be a whole number from 1 to 10000", at: node)
            return nil
        }
        return value
    }

    private func bool(_ node: Node, what: String) -> Bool? {
        guard node.scalar != nil, let value = node.bool else {
            diagnostics.report("\(what) must be true or false", at: node)
            return nil
        }
        return value
    }

    private func enumValue<Value: RawRepresentable<String>>(_ node: Node, _: Value.Type, what: String) -> Value?
    where Value: CaseIterable {
        guard let raw = scalarString(node, what: what) else { return nil }
        guard let value = Value(rawValue: raw) else {
            let known = Value.allCases.map(\.rawValue).joined(separator: ", ")
            diagnostics.report("\(what): unknown value '\(raw)' (known: \(known))", at: node)
            return nil
        }
        return value
    }

    private func scalarString(_ node: Node, what: String) -> String? {
        guard node.scalar != nil, let value = node.string, !value.isEmpty else {
            diagnostics.report("\(what) must be a non-empty text", at: node)
            return nil
        }
        return value
    }

    private func sequence(_ node: Node, what: String, allowEmpty: Bool) -> [Node]? {
        guard let items = node.sequence else {
            diagnostics.report("\(what) must be a list", at: node)
            return nil
        }
        if !allowEmpty && items.isEmpty {
            diagnostics.report("\(what) must not be empty", at: node)
            return nil
        }
        return Array(items)
    }
}
