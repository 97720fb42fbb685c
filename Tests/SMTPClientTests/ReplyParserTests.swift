import Testing

@testable import SMTPClient

@Suite struct ReplyParserTests {
    static func replies(
        _ text: String, chunkSize: Int = .max, parser: SMTPReplyParser = SMTPReplyParser()
    ) throws(SMTPError) -> [SMTPReply] {
        var parser = parser
        var replies: [SMTPReply] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + min(chunkSize, bytes.count))
            try parser.append(bytes[start..<end])
            while let reply = try parser.next() {
                replies.append(reply)
            }
            start = end
        }
        return replies
    }

    @Test(arguments: [1, 2, 7, 1000])
    func multiLineRepliesInAnyChunking(chunkSize: Int) throws {
        let text = "250-mail.example Hallo\r\n250-SIZE 1000\r\n250 STARTTLS\r\n220 2.0.0 Ready\r\n"
        let replies = try Self.replies(text, chunkSize: chunkSize)
        #expect(
            replies == [
                SMTPReply(code: 250, lines: ["mail.example Hallo", "SIZE 1000", "STARTTLS"]),
                SMTPReply(code: 220, lines: ["2.0.0 Ready"]),
            ])
        #expect(replies[1].enhancedStatus == EnhancedStatusCode(statusClass: 2, subject: 0, detail: 0))
    }

    @Test func bareCodeAndBareLineFeed() throws {
        #expect(
            try Self.replies("250\r\n354\n") == [SMTPReply(code: 250, lines: [""]), SMTPReply(code: 354, lines: [""])])
    }

    @Test func incompleteReplyWaitsForMore() throws {
        var parser = SMTPReplyParser()
        try parser.append("250-first\r\n250 sec".utf8)
        #expect(try parser.next() == nil)
        #expect(parser.hasBufferedInput)
        try parser.append("ond\r\n".utf8)
        #expect(try parser.next() == SMTPReply(code: 250, lines: ["first", "second"]))
        #expect(!parser.hasBufferedInput)
    }

    @Test func bytesAfterAReplyAreReportedAsBuffered() throws {
        // What the channel handler checks after the 220 to STARTTLS.
        var parser = SMTPReplyParser()
        try parser.append("220 go ahead\r\n250 injected".utf8)
        #expect(try parser.next()?.code == 220)
        #expect(parser.hasBufferedInput)
    }

    @Test func enhancedStatusCodesOnlyWhenTheClassMatches() {
        #expect(SMTPReply(code: 550, lines: ["5.1.1 unknown"]).enhancedStatus?.description == "5.1.1")
        #expect(SMTPReply(code: 451, lines: ["4.3.0 later"]).enhancedStatus?.description == "4.3.0")
        #expect(SMTPReply(code: 550, lines: ["4.1.1 mismatch"]).enhancedStatus == nil)
        #expect(SMTPReply(code: 250, lines: ["1.0 ready"]).enhancedStatus == nil)
        #expect(SMTPReply(code: 250, lines: ["mail.example"]).enhancedStatus == nil)
    }

    @Test func lineAtTheLimitIsAcceptedOneMoreIsNot() throws {
        let parser = SMTPReplyParser(maximumLineLength: 512)
        let atLimit = "250 " + String(repeating: "a", count: 508)
        #expect(try Self.replies(atLimit + "\r\n", parser: parser).first?.lines == [String(repeating: "a", count: 508)])
        #expect(throws: SMTPError.self) {
            try Self.replies(atLimit + "a\r\n", parser: parser)
        }
    }

    @Test func overLongLineFailsBeforeItEnds() throws {
        // A server that never sends a line break must not make us buffer without end.
        var parser = SMTPReplyParser()
        let error = #expect(throws: SMTPError.self) {
            try parser.append(repeatElement(UInt8(ascii: "x"), count: 1_000_000))
        }
        #expect(error?.code == .protocolViolation)
        #expect(error?.isTemporary == true)
    }

    @Test func tooManyLines() throws {
        let parser = SMTPReplyParser(maximumLines: 10)
        let nine = String(repeating: "250-x\r\n", count: 9) + "250 last\r\n"
        #expect(try Self.replies(nine, parser: parser).first?.lines.count == 10)
        #expect(throws: SMTPError.self) {
            try Self.replies(String(repeating: "250-x\r\n", count: 10) + "250 last\r\n", parser: parser)
        }
    }

    @Test(arguments: ["hello\r\n", "25\r\n", "650 six\r\n", "2a0 x\r\n", "250_x\r\n", "250-a\r\n251 b\r\n", "\r\n"])
    func malformedReplies(text: String) {
        let error = #expect(throws: SMTPError.self) {
            try Self.replies(text)
        }
        #expect(error?.code == .protocolViolation)
    }

    @Test func invalidUTF8IsKeptAsReplacementCharacters() throws {
        var parser = SMTPReplyParser()
        try parser.append([50, 53, 48, 32, 0xFF, 0x41, 13, 10])
        #expect(try parser.next()?.lines == ["\u{FFFD}A"])
    }
}
