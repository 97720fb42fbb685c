/// Splits the bytes a server sends into ``SMTPReply`` values. Pure: bytes in, replies out.
///
/// Bounds, so that a broken or hostile server cannot make us buffer without end: a line may hold at
/// most ``maximumLineLength`` octets (RFC 5321 4.5.3.1.5 allows 512; real servers send longer
/// EHLO and error texts, so the default is generous) and a reply at most ``maximumLines`` lines.
/// Beyond either the parser throws a protocol error and the connection must be closed.
struct SMTPReplyParser {
    static let defaultMaximumLineLength = 4096
    static let defaultMaximumLines = 256

    let maximumLineLength: Int
    let maximumLines: Int

    /// Bytes of a line not yet ended by LF.
    private var partialLine: [UInt8] = []
    /// Lines read so far of a multi-line reply (`250-...`), and its code.
    private var pendingLines: [String] = []
    private var pendingCode: Int?
    /// Complete lines not yet turned into replies.
    private var completeLines: [[UInt8]] = []
    private var completeLinesStart = 0

    init(
        maximumLineLength: Int = SMTPReplyParser.defaultMaximumLineLength,
        maximumLines: Int = SMTPReplyParser.defaultMaximumLines
    ) {
        self.maximumLineLength = maximumLineLength
        self.maximumLines = maximumLines
    }

    /// True when bytes have arrived that do not belong to a reply already returned. After the reply
    /// to STARTTLS nothing may be buffered: bytes sent before the TLS handshake would otherwise be
    /// read as if they came over TLS (the STARTTLS command injection of CVE-2011-0411).
    var hasBufferedInput: Bool {
        !self.partialLine.isEmpty || self.pendingCode != nil || self.completeLinesStart < self.completeLines.count
    }

    /// Takes bytes from the connection. Throws when a line grows beyond the limit.
    mutating func append<Bytes: Sequence>(_ bytes: Bytes) throws(SMTPError) where Bytes.Element == UInt8 {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if self.partialLine.last == UInt8(ascii: "\r") {
                    self.partialLine.removeLast()
                }
                self.completeLines.append(self.partialLine)
                self.partialLine.removeAll(keepingCapacity: true)
            } else {
                self.partialLine.append(byte)
                // +1: a CR may still be followed by the LF that ends the line.
                if self.partialLine.count > self.maximumLineLength + 1 {
                    throw SMTPError.protocolViolation(
                        "reply line longer than \(self.maximumLineLength) octets")
                }
            }
        }
    }

    /// The next complete reply, or nil when more bytes are needed.
    mutating func next() throws(SMTPError) -> SMTPReply? {
        while self.completeLinesStart < self.completeLines.count {
            let raw = self.completeLines[self.completeLinesStart]
            self.completeLinesStart += 1
            if self.completeLinesStart == self.completeLines.count {
                self.completeLines.removeAll(keepingCapacity: true)
                self.completeLinesStart = 0
            }
            let line = try Self.parse(line: raw, maximumLength: self.maximumLineLength)
            if let code = self.pendingCode, code != line.code {
                throw SMTPError.protocolViolation(
                    "multi-line reply changed its code from \(code) to \(line.code)")
            }
            self.pendingCode = line.code
            self.pendingLines.append(line.text)
            if line.isLast {
                let reply = SMTPReply(code: line.code, lines: self.pendingLines)
                self.pendingLines.removeAll()
                self.pendingCode = nil
                return reply
            }
            if self.pendingLines.count >= self.maximumLines {
                throw SMTPError.protocolViolation("reply longer than \(self.maximumLines) lines")
            }
        }
        return nil
    }

    private struct Line {
        var code: Int
        var isLast: Bool
        var text: String
    }

    /// `ddd` `SP`|`-` text, or a bare `ddd` (RFC 5321 4.2: the text is optional on the last line).
    private static func parse(line: [UInt8], maximumLength: Int) throws(SMTPError) -> Line {
        guard line.count <= maximumLength else {
            throw SMTPError.protocolViolation("reply line longer than \(maximumLength) octets")
        }
        guard line.count >= 3, line[0] >= UInt8(ascii: "2"), line[0] <= UInt8(ascii: "5"),
            line[1...2].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else {
            throw SMTPError.protocolViolation("malformed reply line")
        }
        let code = line[0..<3].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        if line.count == 3 {
            return Line(code: code, isLast: true, text: "")
        }
        let isLast: Bool
        switch line[3] {
        case UInt8(ascii: " "): isLast = true
        case UInt8(ascii: "-"): isLast = false
        default: throw SMTPError.protocolViolation("malformed reply line")
        }
        // Servers send UTF-8 at most (RFC 6531); anything else is only shown in logs, so invalid
        // bytes become U+FFFD instead of failing the reply.
        let text = String(decoding: line[4...], as: UTF8.self)
        return Line(code: code, isLast: isLast, text: text)
    }
}
