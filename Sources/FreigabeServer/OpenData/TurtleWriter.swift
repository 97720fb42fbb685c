import Foundation

/// Writes an ``RDFGraph`` as Turtle (RDF 1.1). Every literal and IRI that comes from data (titles,
/// descriptions, URLs) passes through ``literal(_:)`` or ``iri(_:)``: a title with quotes, backslashes,
/// line breaks or control characters stays one literal, and a URL cannot end its IRI early.
enum TurtleWriter {
    static func document(_ graph: RDFGraph) -> String {
        var out = ""
        for (prefix, namespace) in RDFGraph.prefixes {
            out += "@prefix \(prefix): \(iri(namespace)) .\n"
        }
        for (subject, triples) in graph.subjects {
            out += "\n" + term(subject)
            var first = true
            for triple in triples {
                out += (first ? "\n    " : " ;\n    ") + predicate(triple.predicate) + " " + term(triple.object)
                first = false
            }
            out += " .\n"
        }
        return out
    }

    static func predicate(_ name: String) -> String {
        name == RDFGraph.type ? "a" : name
    }

    static func term(_ term: RDFGraph.Term) -> String {
        switch term {
        case .iri(let value): return RDFGraph.compact(value) ?? iri(value)
        // Blank node labels are ours (letters and digits), never data.
        case .blank(let label): return "_:" + label
        case .text(let value, let language):
            return literal(value) + (language.map { "@" + $0 } ?? "")
        case .typed(let value, let datatype): return literal(value) + "^^" + datatype
        }
    }

    /// The value between double quotes, with the string escapes Turtle defines (ECHAR) and a UCHAR of four
    /// hex digits (`\u001F`) for the other control characters; everything else, umlauts included, is
    /// written as UTF-8.
    static func literal(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04X", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// `<…>`, with the characters IRIREF excludes percent-encoded (``RDFGraph/iri(_:)``); Turtle does
    /// not allow them even as `\u` escapes.
    static func iri(_ value: String) -> String {
        guard case .iri(let safe) = RDFGraph.iri(value) else { return "<>" }
        return "<" + safe + ">"
    }
}
