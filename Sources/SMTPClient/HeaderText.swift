/// Turns free text (subjects, display names: anything a person typed) into header tokens that are
/// safe by construction: printable ASCII without CR or LF, either as typed or as RFC 2047 encoded
/// words. Whatever the input, the result cannot end the header line or start another header.
enum HeaderText {
    /// An encoded word is at most 75 characters (RFC 2047 2). Ours stay shorter, so that the first
    /// one still fits behind `Subject: ` on a 76-character line.
    static let maximumEncodedWordLength = 66
    private static let encodedWordPrefix = "=?UTF-8?Q?"
    private static let encodedWordSuffix = "?="

    /// CR, LF, tabs, other controls and Unicode line separators become spaces; runs of whitespace
    /// shrink to one space; the ends are trimmed. A subject is one line of text: a line break in it
    /// is never meant as structure, so it is flattened rather than the mail refused.
    static func sanitize(_ text: String) -> String {
        var result = ""
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.isControlOrLineBreak || scalar.properties.isWhitespace {
                pendingSpace = !result.isEmpty
                continue
            }
            if pendingSpace {
                result.append(" ")
                pendingSpace = false
            }
            result.unicodeScalars.append(scalar)
        }
        return result
    }

    /// Tokens for an unstructured header (`Subject`), to be joined by folding whitespace.
    static func unstructured(_ text: String) -> [String] {
        let clean = Self.sanitize(text)
        if clean.isEmpty {
            return []
        }
        let words = clean.split(separator: " ").map(String.init)
        // Printable ASCII can stay as it is, unless it would read as an encoded word ("=?") or a
        // word is too long to fold.
        if Self.isPlainASCII(clean) && !clean.contains("=?")
            && words.allSatisfy({ $0.count <= QuotedPrintable.maximumLineLength - 1 })
        {
            return words
        }
        return Self.encodedWords(clean)
    }

    /// Tokens for a display name in `From`/`To`: a quoted string when it is short printable ASCII,
    /// encoded words otherwise (RFC 2047 5(3): encoded words may stand for a whole phrase).
    static func phrase(_ text: String) -> [String] {
        let clean = Self.sanitize(text)
        if clean.isEmpty {
            return []
        }
        if Self.isPlainASCII(clean) && !clean.contains("=?") && clean.count <= 60 {
            var quoted = "\""
            for character in clean {
                if character == "\\" || character == "\"" {
                    quoted.append("\\")
                }
                quoted.append(character)
            }
            return [quoted + "\""]
        }
        return Self.encodedWords(clean)
    }

    private static func isPlainASCII(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) }
    }

    /// `=?UTF-8?Q?…?=` words of at most ``maximumEncodedWordLength`` characters. Words split between
    /// characters (grapheme clusters), never inside one's UTF-8 bytes; a cluster too long for one
    /// word (a pile of combining marks) is split between its Unicode scalars, still whole ones.
    /// Spaces are encoded inside the words, so the whitespace between words carries no meaning.
    static func encodedWords(_ text: String) -> [String] {
        let capacity = Self.maximumEncodedWordLength - Self.encodedWordPrefix.count - Self.encodedWordSuffix.count
        var words: [String] = []
        var current = ""
        func flush() {
            if !current.isEmpty {
                words.append(Self.encodedWordPrefix + current + Self.encodedWordSuffix)
                current = ""
            }
        }
        func add(_ encoded: String) {
            if current.count + encoded.count > capacity {
                flush()
            }
            current += encoded
        }
        for character in text {
            let encoded = Self.qEncode(character.unicodeScalars)
            if encoded.count <= capacity {
                add(encoded)
            } else {
                for scalar in character.unicodeScalars {
                    add(Self.qEncode(CollectionOfOne(scalar)))
                }
            }
        }
        flush()
        return words
    }

    /// The Q encoding of RFC 2047 4.2, restricted to the characters allowed in a phrase (5(3)), so
    /// one encoder serves `Subject` and display names alike.
    private static func qEncode<Scalars: Sequence>(_ scalars: Scalars) -> String
    where Scalars.Element == Unicode.Scalar {
        var output = ""
        for scalar in scalars {
            if scalar == " " {
                output += "_"
            } else if scalar.isASCIIAlphanumeric || "!*+-/".unicodeScalars.contains(scalar) {
                output.unicodeScalars.append(scalar)
            } else {
                for byte in String(scalar).utf8 {
                    output += "=" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
                }
            }
        }
        return output
    }
}

/// Writes one header field, folding between tokens (RFC 5322 2.2.3) so lines stay within 76
/// characters where the tokens allow it. Tokens come from ``HeaderText`` or are validated values
/// (addresses, message ids): none contains CR or LF, which is checked again here.
enum HeaderField {
    static let foldLength = 76

    static func render(_ name: String, _ tokens: [String]) -> String {
        precondition(tokens.allSatisfy { !$0.contains("\r") && !$0.contains("\n") }, "header token with a line break")
        var output = name + ":"
        var lineLength = output.count
        for token in tokens {
            if lineLength + 1 + token.count > Self.foldLength && lineLength > name.count + 1 {
                output += "\r\n"
                lineLength = 0
            }
            output += " " + token
            lineLength += 1 + token.count
        }
        return output + "\r\n"
    }

    /// Tokens of an address list: each mailbox's name tokens, then `<address>`, commas between.
    static func addressTokens(_ mailboxes: [Mailbox]) -> [String] {
        var tokens: [String] = []
        for (index, mailbox) in mailboxes.enumerated() {
            let name = mailbox.displayName.map(HeaderText.phrase) ?? []
            var addressToken = name.isEmpty ? mailbox.address.description : "<\(mailbox.address)>"
            if index < mailboxes.count - 1 {
                addressToken += ","
            }
            tokens += name + [addressToken]
        }
        return tokens
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: Swift.max(0, length - self.count)) + self
    }
}
