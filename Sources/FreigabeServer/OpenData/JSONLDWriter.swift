import Foundation

/// Writes an ``RDFGraph`` as JSON-LD 1.1: a `@context` with the prefixes and a `@graph` of node
/// objects, one per subject. Values are built as Foundation objects and serialised by
/// `JSONSerialization`, so JSON's escaping is never written by hand.
enum JSONLDWriter {
    static func document(_ graph: RDFGraph) throws -> Data {
        var context: [String: Any] = [:]
        for (prefix, namespace) in RDFGraph.prefixes { context[prefix] = namespace }
        var nodes: [[String: Any]] = []
        for (subject, triples) in graph.subjects {
            var node: [String: Any] = ["@id": id(subject)]
            var types: [String] = []
            var properties: [String: [Any]] = [:]
            for triple in triples {
                if triple.predicate == RDFGraph.type, case .iri(let type) = triple.object {
                    types.append(RDFGraph.compact(type) ?? type)
                } else {
                    properties[triple.predicate, default: []].append(value(triple.object))
                }
            }
            if !types.isEmpty { node["@type"] = types }
            for (predicate, values) in properties { node[predicate] = values }
            nodes.append(node)
        }
        let document: [String: Any] = ["@context": context, "@graph": nodes]
        return try JSONSerialization.data(
            withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted])
    }

    static func id(_ term: RDFGraph.Term) -> String {
        switch term {
        case .iri(let value): value
        case .blank(let label): "_:" + label
        case .text(let value, _), .typed(let value, _): value
        }
    }

    static func value(_ term: RDFGraph.Term) -> Any {
        switch term {
        case .iri, .blank: return ["@id": id(term)]
        case .text(let value, let language):
            var object: [String: Any] = ["@value": value]
            if let language { object["@language"] = language }
            return object
        case .typed(let value, let datatype): return ["@value": value, "@type": RDFGraph.expand(datatype)]
        }
    }
}
