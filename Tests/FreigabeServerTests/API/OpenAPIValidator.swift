import Foundation
import Hummingbird
import Yams

@testable import FreigabeServer

/// Checks answers against `openapi.yaml`: the operation exists, the status is documented, the content
/// type is the documented one, and the body matches the schema (the JSON Schema subset the document
/// uses: `$ref`, `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`, `const`,
/// `oneOf`, `anyOf`, `format` uuid/date/date-time, lengths, `pattern`, `minimum`/`maximum`).
///
/// Every request the API tests send goes through it, so the lifecycle tests double as conformance
/// tests for answers schemathesis cannot reach with random data (a granted request, a timeline with
/// decisions, an inbox as deputy).
struct OpenAPIValidator: Sendable {
    let document: JSONValue
    /// Paths as written in the document (below `/api/v1`), split into segments.
    let paths: [(template: String, segments: [String])]

    static let prefix = "/api/v1"

    init(yaml: String) throws {
        guard let loaded = try Yams.load(yaml: yaml) else { throw TestSetupError("openapi.yaml is empty") }
        document = try Self.json(loaded)
        guard case .object(let paths)? = document["paths"] else { throw TestSetupError("openapi.yaml has no paths") }
        self.paths = paths.keys.sorted().map { ($0, $0.split(separator: "/").map(String.init)) }
    }

    /// YAML as loaded by Yams → JSON values.
    static func json(_ value: Any) throws -> JSONValue {
        switch value {
        case let value as [String: Any]: return .object(try value.mapValues(json))
        case let value as [Any]: return .array(try value.map(json))
        case let value as Bool: return .bool(value)
        case let value as Int: return .number(Double(value))
        case let value as Double: return .number(value)
        case let value as String: return .string(value)
        case is NSNull: return .null
        default: throw TestSetupError("unexpected YAML value \(value)")
        }
    }

    /// The document's path template for a concrete path (`/api/v1/requests/<uuid>` → `/requests/{id}`).
    func template(for path: String) -> String? {
        var path = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        guard path.hasPrefix(Self.prefix) else { return nil }
        path.removeFirst(Self.prefix.count)
        let segments = path.split(separator: "/").map(String.init)
        // Literal segments win over parameters, as in the router.
        let candidates = paths.filter { candidate in
            candidate.segments.count == segments.count
                && zip(candidate.segments, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
        return candidates.min {
            $0.segments.filter { $0.hasPrefix("{") }.count < $1.segments.filter { $0.hasPrefix("{") }.count
        }?
        .template
    }

    func check(
        method: HTTPRequest.Method, path: String, status: Int, contentType: String?, body: JSONValue?
    ) -> [String] {
        guard let template = template(for: path) else { return ["no path in the document matches \(path)"] }
        let methodName = method == .head ? "get" : method.rawValue.lowercased()
        guard let operation = document["paths"]?[template]?[methodName] else {
            return ["\(method) \(template) is not in the document"]
        }
        guard var response = operation["responses"]?[String(status)] else {
            return ["status \(status) is not documented for \(method) \(template)"]
        }
        if let reference = response["$ref"]?.string {
            guard let resolved = resolve(reference) else { return ["unresolvable \(reference)"] }
            response = resolved
        }
        guard case .object(let content)? = response["content"] else {
            return body == nil ? [] : ["\(status) documents no body"]
        }
        if method == .head { return [] }
        let mediaType =
            contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard let media = content[mediaType] else {
            return ["content type \(mediaType) is not documented for \(status) (\(content.keys.sorted()))"]
        }
        guard let schema = media["schema"], let body else { return [] }
        return validate(body, against: schema, at: "$")
    }

    func resolve(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
        return node
    }

    func validate(_ value: JSONValue, against schema: JSONValue, at location: String) -> [String] {
        guard case .object = schema else { return ["\(location): the schema is \(schema.kindName), not an object"] }
        if let reference = schema["$ref"]?.string {
            guard let resolved = resolve(reference) else { return ["\(location): unresolvable \(reference)"] }
            return validate(value, against: resolved, at: location)
        }
        var problems: [String] = []
        if let options = schema["anyOf"]?.array, !options.isEmpty {
            if !options.contains(where: { validate(value, against: $0, at: location).isEmpty }) {
                problems.append("\(location): matches none of anyOf")
            }
        }
        if let options = schema["oneOf"]?.array, !options.isEmpty {
            let matches = options.filter { validate(value, against: $0, at: location).isEmpty }.count
            if matches != 1 { problems.append("\(location): matches \(matches) of oneOf, not 1") }
        }
        if let constant = schema["const"], constant != value {
            problems.append("\(location): is \(value), not the constant \(constant)")
        }
        if let allowed = schema["enum"]?.array, !allowed.contains(value) {
            problems.append("\(location): \(value) is not one of \(allowed.compactMap(\.string))")
        }
        if let type = schema["type"] {
            let types = type.string.map { [$0] } ?? type.array.compactMap(\.string)
            if !types.contains(where: { Self.has(value, type: $0) }) {
                return problems + ["\(location): \(value.kindName) where \(types) is expected"]
            }
        }
        switch value {
        case .object(let fields):
            for name in schema["required"]?.array.compactMap(\.string) ?? [] where fields[name] == nil {
                problems.append("\(location): required property \(name) is missing")
            }
            let properties: [String: JSONValue]
            if case .object(let declared)? = schema["properties"] { properties = declared } else { properties = [:] }
            for (name, field) in fields {
                if let property = properties[name] {
                    problems += validate(field, against: property, at: "\(location).\(name)")
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        problems.append("\(location): property \(name) is not in the schema")
                    } else if case .object = additional {
                        problems += validate(field, against: additional, at: "\(location).\(name)")
                    }
                }
            }
        case .array(let items):
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    problems += validate(item, against: itemSchema, at: "\(location)[\(index)]")
                }
            }
        case .string(let text):
            if let minimum = schema["minLength"]?.int, text.count < minimum {
                problems.append("\(location): shorter than \(minimum)")
            }
            if let maximum = schema["maxLength"]?.int, text.count > maximum {
                problems.append("\(location): longer than \(maximum)")
            }
            if let pattern = schema["pattern"]?.string, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(location): \(text) does not match \(pattern)")
            }
            if let format = schema["format"]?.string, !Self.has(text, format: format) {
                problems.append("\(location): \(text) is not a \(format)")
            }
        case .number(let number):
            if let minimum = schema["minimum"].flatMap({ if case .number(let n) = $0 { n } else { nil } }),
                number < minimum
            {
                problems.append("\(location): \(number) < \(minimum)")
            }
            if let maximum = schema["maximum"].flatMap({ if case .number(let n) = $0 { n } else { nil } }),
                number > maximum
            {
                problems.append("\(location): \(number) > \(maximum)")
            }
        case .null, .bool:
            break
        }
        return problems
    }

    static func has(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null),
            ("number", .number):
            true
        case ("integer", .number(let number)): number.rounded() == number
        default: false
        }
    }

    static func has(_ text: String, format: String) -> Bool {
        switch format {
        case "uuid": UUID(uuidString: text) != nil
        case "date-time": APIDates.instant(text) != nil
        case "date": APIDates.day(text) != nil
        default: true
        }
    }

    /// Every example in the document (`example` and `examples` of media types) checked against its
    /// schema, and every schema of `properties` an object: a broken document fails here before
    /// schemathesis trips over it.
    func documentProblems() -> [String] {
        var problems: [String] = []
        func walk(_ node: JSONValue, _ location: String) {
            switch node {
            case .object(let fields):
                if case .object(let properties)? = fields["properties"] {
                    for (name, property) in properties {
                        if case .object = property { continue }
                        problems.append("\(location)/properties/\(name) is not a schema object")
                    }
                }
                if let schema = fields["schema"] {
                    if let example = fields["example"] {
                        problems += validate(example, against: schema, at: "\(location)/example")
                    }
                    if case .object(let examples)? = fields["examples"] {
                        for (name, example) in examples {
                            guard let value = example["value"] else { continue }
                            problems += validate(value, against: schema, at: "\(location)/examples/\(name)")
                        }
                    }
                }
                for (key, child) in fields { walk(child, "\(location)/\(key)") }
            case .array(let items):
                for (index, item) in items.enumerated() { walk(item, "\(location)[\(index)]") }
            case .null, .bool, .number, .string:
                break
            }
        }
        walk(document, "#")
        return problems
    }
}
