import Foundation

/// A small RDF graph: what the DCAT catalogue is built as once, then written as Turtle and as JSON-LD,
/// so both documents always state the same triples.
struct RDFGraph: Sendable, Hashable {
    enum Term: Sendable, Hashable {
        case iri(String)
        /// A blank node, named only within this document.
        case blank(String)
        case text(String, language: String?)
        case typed(String, datatype: String)
    }

    struct Triple: Sendable, Hashable {
        var subject: Term
        var predicate: String
        var object: Term
    }

    /// Prefix → namespace, for both serialisations. Predicates and classes are written with these.
    static let prefixes: KeyValuePairs<String, String> = [
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "dcatde": "http://dcat-ap.de/def/dcatde/",
        "dcatap": "http://data.europa.eu/r5r/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    ]

    static let type = "rdf:type"

    /// An IRI term from data (a portal URL, an id in a path): the characters neither Turtle's IRIREF
    /// nor an IRI allow (controls, space, `<>"{}|^` and backquote, backslash) percent-encoded here,
    /// once, so that Turtle and JSON-LD name the same resource.
    static func iri(_ value: String) -> Term {
        var out = ""
        for scalar in value.unicodeScalars {
            if scalar.value <= 0x20 || scalar.value == 0x7F || "<>\"{}|^`\\".unicodeScalars.contains(scalar) {
                for byte in String(scalar).utf8 { out += String(format: "%%%02X", byte) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return .iri(out)
    }

    private(set) var triples: [Triple] = []

    mutating func add(_ subject: Term, _ predicate: String, _ object: Term) {
        triples.append(Triple(subject: subject, predicate: predicate, object: object))
    }

    /// The subjects in the order they first appear, each with its triples in order.
    var subjects: [(Term, [Triple])] {
        var order: [Term] = []
        var grouped: [Term: [Triple]] = [:]
        for triple in triples {
            if grouped[triple.subject] == nil { order.append(triple.subject) }
            grouped[triple.subject, default: []].append(triple)
        }
        return order.map { ($0, grouped[$0] ?? []) }
    }

    /// A class or other term of the vocabularies above, named `prefix:local`.
    static func term(_ name: String) -> Term { .iri(expand(name)) }

    /// `prefix:local` for an IRI in one of the namespaces whose local part is a plain name (letters,
    /// digits, underscore), else nil: both documents then write the IRI in full.
    static func compact(_ iri: String) -> String? {
        for (prefix, namespace) in prefixes where iri.hasPrefix(namespace) {
            let local = iri.dropFirst(namespace.count)
            guard let first = local.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII,
                local.unicodeScalars.allSatisfy({
                    $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_")
                })
            else { return nil }
            return prefix + ":" + local
        }
        return nil
    }

    /// `prefix:local` → the full IRI.
    static func expand(_ name: String) -> String {
        guard let colon = name.firstIndex(of: ":") else { return name }
        let prefix = String(name[..<colon])
        guard let namespace = prefixes.first(where: { $0.key == prefix })?.value else { return name }
        return namespace + name[name.index(after: colon)...]
    }
}
