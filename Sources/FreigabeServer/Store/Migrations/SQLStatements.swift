import Foundation

/// Splits a migration's SQL into single statements.
///
/// PostgresNIO sends every query with the extended protocol, which takes one statement at a time, so a
/// migration of many statements is run statement by statement (in one transaction). The splitter knows
/// exactly the lexical parts of PostgreSQL's SQL in which a `;` does not end a statement: quoted strings
/// (`'...'` with `''`, `E'...'` with `\'`), quoted identifiers (`"..."`), dollar-quoted bodies
/// (`$$...$$`, `$tag$...$tag$`), line comments (`--`) and nested block comments (`/* */`).
enum SQLStatements {
    static func split(_ sql: String) -> [String] {
        let scalars = Array(sql.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty && !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }
        func peek(_ offset: Int) -> Unicode.Scalar? {
            index + offset < scalars.count ? scalars[index + offset] : nil
        }

        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case ";":
                flush()
                index += 1
            case "'":
                // E'...' strings allow backslash escapes.
                let escapes = index > 0 && (scalars[index - 1] == "E" || scalars[index - 1] == "e")
                current.append(scalar)
                index += 1
                while index < scalars.count {
                    let inner = scalars[index]
                    current.append(inner)
                    index += 1
                    if escapes && inner == "\\" && index < scalars.count {
                        current.append(scalars[index])
                        index += 1
                    } else if inner == "'" {
                        if peek(0) == "'" {
                            current.append("'")
                            index += 1
                        } else {
                            break
                        }
                    }
                }
            case "\"":
                current.append(scalar)
                index += 1
                while index < scalars.count {
                    let inner = scalars[index]
                    current.append(inner)
                    index += 1
                    if inner == "\"" {
                        if peek(0) == "\"" {
                            current.append("\"")
                            index += 1
                        } else {
                            break
                        }
                    }
                }
            case "-" where peek(1) == "-":
                while index < scalars.count && scalars[index] != "\n" {
                    current.append(scalars[index])
                    index += 1
                }
            case "/" where peek(1) == "*":
                var depth = 0
                repeat {
                    if scalars[index] == "/" && peek(1) == "*" {
                        depth += 1
                        current.append(contentsOf: ["/", "*"])
                        index += 2
                    } else if scalars[index] == "*" && peek(1) == "/" {
                        depth -= 1
                        current.append(contentsOf: ["*", "/"])
                        index += 2
                    } else {
                        current.append(scalars[index])
                        index += 1
                    }
                } while depth > 0 && index < scalars.count
            case "$":
                // A dollar-quote tag: $$ or $identifier$ (not $1, a parameter).
                var end = index + 1
                while end < scalars.count,
                    scalars[end] == "_" || scalars[end].properties.isAlphabetic
                        || (end > index + 1 && ("0"..."9").contains(scalars[end]))
                {
                    end += 1
                }
                guard end < scalars.count, scalars[end] == "$" else {
                    current.append(scalar)
                    index += 1
                    continue
                }
                let tag = Array(scalars[index...end])
                current.append(contentsOf: tag)
                index = end + 1
                while index < scalars.count {
                    if scalars[index] == "$", index + tag.count <= scalars.count,
                        Array(scalars[index..<(index + tag.count)]) == tag
                    {
                        current.append(contentsOf: tag)
                        index += tag.count
                        break
                    }
                    current.append(scalars[index])
                    index += 1
                }
            default:
                current.append(scalar)
                index += 1
            }
        }
        flush()
        return statements
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return line.isEmpty || line.hasPrefix("--")
        }
    }
}
