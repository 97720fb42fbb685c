/// One reply of an SMTP server (RFC 5321 section 4.2): a three-digit code and one or more lines of
/// text. A multi-line reply (`250-first`, `250-second`, `250 last`) is one reply.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit reply code, 200...599.
    public let code: Int
    /// The text of each line without the code and separator; the first line is `lines[0]`.
    public let lines: [String]
    /// The RFC 3463 enhanced status code that opens the first line (`5.1.1`), when the server sent one.
    public let enhancedStatus: EnhancedStatusCode?

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines.isEmpty ? [""] : lines
        self.enhancedStatus = EnhancedStatusCode(openingText: self.lines[0], replyCode: code)
    }

    /// 2xx: the command succeeded.
    public var isPositiveCompletion: Bool { (200..<300).contains(self.code) }
    /// 3xx: the server waits for more (354 after DATA, 334 during AUTH).
    public var isPositiveIntermediate: Bool { (300..<400).contains(self.code) }
    /// 4xx: temporary; the same command may succeed later.
    public var isTransientNegative: Bool { (400..<500).contains(self.code) }
    /// 5xx: permanent; repeating the same command will fail again.
    public var isPermanentNegative: Bool { (500..<600).contains(self.code) }

    /// The reply as the server sent it, one line per line (for logs; server text, never our secrets).
    public var description: String {
        self.lines.enumerated().map { index, line in
            let separator = index == self.lines.count - 1 ? " " : "-"
            return "\(self.code)\(separator)\(line)"
        }.joined(separator: "\n")
    }
}

/// An RFC 3463 enhanced status code such as `5.1.1` (class.subject.detail).
public struct EnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    /// 2, 4 or 5: the same class as the reply code it came with.
    public let statusClass: Int
    public let subject: Int
    public let detail: Int

    public init(statusClass: Int, subject: Int, detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Reads the code that opens a reply's first line. RFC 3463 requires its class to equal the
    /// first digit of the reply code; a first word that merely looks like one ("1.0 ready") is not one.
    init?(openingText text: String, replyCode: Int) {
        let word = text.prefix(while: { $0 != " " })
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCIIDigit) }),
            let statusClass = Int(parts[0]), let subject = Int(parts[1]), let detail = Int(parts[2]),
            [2, 4, 5].contains(statusClass), statusClass == replyCode / 100
        else {
            return nil
        }
        self.init(statusClass: statusClass, subject: subject, detail: detail)
    }

    public var description: String { "\(self.statusClass).\(self.subject).\(self.detail)" }
}

extension Character {
    var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
