import Foundation
import Testing

@testable import SMTPClient

@Suite struct MIMEComposerTests {
    static let date = Date(timeIntervalSince1970: 1_796_116_200)  // 2026-12-01 09:10:00 UTC

    static func message(
        subject: String = "Freigabe erbeten: Baumkataster",
        fromName: String? = "Freigabe Stadt Musterstadt",
        to: [Mailbox] = [Mailbox(Fixture.address("daten.eigner@stadt.example"), displayName: "Dana Eigner")],
        text: String = "Hallo,\nbitte prüfen.",
        html: String? = "<p>Hallo,<br>bitte prüfen.</p>"
    ) throws -> MailMessage {
        try MailMessage(
            messageID: Fixture.messageID("req-42.step-3@freigabe.stadt.example"),
            date: Self.date,
            from: Mailbox(Fixture.address("freigabe@stadt.example"), displayName: fromName),
            to: to,
            subject: subject,
            textBody: text,
            htmlBody: html,
            inReplyTo: Fixture.messageID("req-42@freigabe.stadt.example"),
            references: [Fixture.messageID("req-42@freigabe.stadt.example")])
    }

    static func headerNames(_ reader: MIMEReader) -> [String] {
        reader.message.headers.map(\.name)
    }

    @Test func germanMessageComposesAndReadsBack() throws {
        let message = try Self.message(
            subject: "Prüfung: Überschwemmungsgebiete der Straßenmeisterei — Größe & Maß",
            fromName: "Amt für Geoinformation (Jürgen Weiß)",
            to: [
                Mailbox(Fixture.address("dana@stadt.example"), displayName: "Dana Ölmann"),
                Mailbox(Fixture.address("b@stadt.example")),
            ],
            text: "Guten Tag,\r\n\r\nder Datensatz „Bäume“ wartet auf Ihre Entscheidung.\nGrüße",
            html: "<p>Guten Tag,</p>\n<p>der Datensatz „Bäume“ wartet.</p>")
        let bytes = MIMEComposer.compose(message)
        #expect(bytes.allSatisfy { $0 < 0x80 }, "headers and QP bodies are 7-bit")
        // Every line ends in CRLF: no bare CR or LF anywhere (RFC 5322 2.3).
        for (index, byte) in bytes.enumerated() {
            if byte == 13 {
                #expect(index + 1 < bytes.count && bytes[index + 1] == 10, "bare CR at \(index)")
            } else if byte == 10 {
                #expect(index > 0 && bytes[index - 1] == 13, "bare LF at \(index)")
            }
        }
        #expect(bytes.ends(with: [13, 10]))
        let reader = try MIMEReader(bytes)
        #expect(
            Self.headerNames(reader) == [
                "Date", "From", "To", "Message-ID", "In-Reply-To", "References", "Subject", "Auto-Submitted",
                "X-Auto-Response-Suppress", "MIME-Version", "Content-Type",
            ])
        let header = { (name: String) in reader.message.header(name) ?? "" }
        #expect(header("Date") == "Tue, 01 Dec 2026 09:10:00 +0000")
        #expect(try MIMEReader.decodeEncodedWords(header("Subject")) == message.subject)
        #expect(header("Message-ID") == "<req-42.step-3@freigabe.stadt.example>")
        #expect(header("In-Reply-To") == "<req-42@freigabe.stadt.example>")
        #expect(header("References") == "<req-42@freigabe.stadt.example>")
        #expect(header("Auto-Submitted") == "auto-generated")
        let from = header("From")
        #expect(from.hasSuffix(" <freigabe@stadt.example>"))
        #expect(
            try MIMEReader.decodePhrase(String(from.dropLast(" <freigabe@stadt.example>".count)))
                == message.from.displayName)
        let to = header("To")
        #expect(to.hasSuffix(" <dana@stadt.example>, b@stadt.example"))
        #expect(
            try MIMEReader.decodePhrase(String(to.dropLast(" <dana@stadt.example>, b@stadt.example".count)))
                == "Dana Ölmann")

        let parts = try reader.parts()
        #expect(parts.count == 2)
        #expect(parts.map { $0.header("Content-Type") } == ["text/plain; charset=UTF-8", "text/html; charset=UTF-8"])
        #expect(parts.allSatisfy { $0.header("Content-Transfer-Encoding") == "quoted-printable" })
        #expect(
            MIMEReader.decodeQuotedPrintable(parts[0].rawBody)
                == "Guten Tag,\r\n\r\nder Datensatz „Bäume“ wartet auf Ihre Entscheidung.\r\nGrüße")
        #expect(
            MIMEReader.decodeQuotedPrintable(parts[1].rawBody)
                == "<p>Guten Tag,</p>\r\n<p>der Datensatz „Bäume“ wartet.</p>")
        // Every line within RFC 5322's limit, encoded-word lines within RFC 2047's 76.
        let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.count <= 76 }, "\(lines.filter { $0.count > 76 })")
    }

    @Test func composingIsDeterministic() throws {
        let message = try Self.message()
        #expect(MIMEComposer.compose(message) == MIMEComposer.compose(message))
    }

    @Test func textOnlyMessageIsASinglePart() throws {
        let reader = try MIMEReader(MIMEComposer.compose(try Self.message(html: nil)))
        #expect(reader.message.header("Content-Type") == "text/plain; charset=UTF-8")
        // The CRLF that ends the message is part of a single part's body.
        #expect(MIMEReader.decodeQuotedPrintable(reader.message.rawBody) == "Hallo,\r\nbitte prüfen.\r\n")
    }

    @Test func plainASCIISubjectAndNameStayReadable() throws {
        let reader = try MIMEReader(
            MIMEComposer.compose(try Self.message(subject: "Request approved", fromName: "Freigabe \"Test\"")))
        #expect(reader.message.header("Subject") == "Request approved")
        #expect(reader.message.header("From") == "\"Freigabe \\\"Test\\\"\" <freigabe@stadt.example>")
    }

    @Test func longASCIISubjectFoldsAtSpaces() throws {
        let subject = Array(repeating: "Datensatz", count: 20).joined(separator: " ")
        let reader = try MIMEReader(MIMEComposer.compose(try Self.message(subject: subject)))
        #expect(reader.message.header("Subject") == subject)
        #expect(reader.rawHeaderLines.allSatisfy { $0.count <= 76 })
    }

    // MARK: - Header injection

    static let hostileTexts = [
        "Hallo\r\nBcc: opfer@evil.example",
        "Hallo\nBcc: opfer@evil.example",
        "Hallo\rBcc: opfer@evil.example",
        "Hallo\r\n\r\n<html>body</html>",
        "Ärger\r\nBcc: opfer@evil.example",
        "x\u{0}y\u{1B}z\u{7F}",
        "Zeile\u{2028}Bcc: opfer@evil.example\u{2029}",
        "Zeile\u{85}Bcc: opfer@evil.example",
        "=?UTF-8?Q?Bcc=3A_x?=\r\n Bcc: fold@evil.example",
        String(repeating: "Ä\r\nBcc: x@evil.example ", count: 20),
    ]

    /// Whatever a person typed into a subject or a name, the header block keeps exactly our
    /// headers, and the value reads back as the text with line breaks flattened to spaces.
    @Test(arguments: hostileTexts)
    func headerInjectionInSubjectAndDisplayNames(text: String) throws {
        let message = try Self.message(
            subject: text, fromName: text,
            to: [Mailbox(Fixture.address("a@stadt.example"), displayName: text)])
        let bytes = MIMEComposer.compose(message)
        let reader = try MIMEReader(bytes)
        #expect(
            Self.headerNames(reader) == [
                "Date", "From", "To", "Message-ID", "In-Reply-To", "References", "Subject", "Auto-Submitted",
                "X-Auto-Response-Suppress", "MIME-Version", "Content-Type",
            ])
        #expect(!reader.rawHeaderLines.contains { $0.lowercased().hasPrefix("bcc") })
        // Continuation lines start with a space; no header line holds a control character.
        #expect(
            reader.rawHeaderLines.allSatisfy { line in
                line.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }
            })
        let flattened = HeaderText.sanitize(text)
        #expect(!flattened.contains("\r") && !flattened.contains("\n"))
        #expect(try MIMEReader.decodeEncodedWords(reader.message.header("Subject") ?? "") == flattened)
        let to = try #require(reader.message.header("To"))
        #expect(try MIMEReader.decodePhrase(String(to.dropLast(" <a@stadt.example>".count))) == flattened)
    }

    @Test func sanitizeFlattensAndTrims() {
        #expect(HeaderText.sanitize("  a\r\n\tb \u{2028} c  ") == "a b c")
        #expect(HeaderText.sanitize("\r\n") == "")
    }

    @Test(arguments: [
        "a@b.example\r\nBcc: c@d.example", "a@b.example\n", "a b@c.example", "<a@b.example>", "a@b.example>",
        "ab.example", "a@", "@b.example", "a..b@c.example", ".a@b.example", "a@b..example", "a@-b.example",
        "a@b.example,c@d.example", "a@b c.example", "\"a\r\nb\"@c.example", "\"unterminated@b.example",
        "a\u{0}@b.example", "a@b.example\u{2028}", String(repeating: "a", count: 65) + "@b.example",
    ])
    func hostileOrMalformedAddressesAreRefused(text: String) {
        let error = #expect(throws: SMTPError.self) { try EmailAddress(text) }
        #expect(error?.code == .invalidMessage)
    }

    @Test(arguments: ["a@b.example", "vorname.nachname+tag@stadt.example", "\"a b\"@stadt.example", "x@[192.0.2.1]"])
    func validAddresses(text: String) throws {
        #expect(try EmailAddress(text).description == text)
        #expect(try EmailAddress(text).requiresSMTPUTF8 == false)
    }

    @Test func nonASCIIAddressNeedsSMTPUTF8() throws {
        #expect(try EmailAddress("jürgen@straße.example").requiresSMTPUTF8)
        let message = try MailMessage(
            messageID: Fixture.messageID("x@y.example"), date: Self.date,
            from: Mailbox(Fixture.address("a@b.example")), to: [Mailbox(try EmailAddress("jürgen@stadt.example"))],
            subject: "s", textBody: "t")
        #expect(SMTPEnvelope(message).requiresSMTPUTF8)
        #expect(SMTPEnvelope(try Self.message()).requiresSMTPUTF8 == false)
    }

    @Test(arguments: ["a@b\r\nBcc: x@y", "a b@c", "<a@b", "a@b@c", "ä@b", "", "a@", "a.@b"])
    func hostileMessageIDsAreRefused(text: String) {
        #expect(throws: SMTPError.self) { try MessageID(text) }
    }

    @Test func messageIDAcceptsBracketsAndRandomIsValid() throws {
        #expect(try MessageID("<a.b@c.example>").bracketed == "<a.b@c.example>")
        let random = try MessageID.random(domain: "freigabe.stadt.example")
        #expect(random.value.hasSuffix("@freigabe.stadt.example"))
        #expect(random.value.count == 32 + "@freigabe.stadt.example".count)
    }

    @Test func messageNeedsDistinctRecipients() throws {
        #expect(throws: SMTPError.self) {
            try Self.message(to: [])
        }
        #expect(throws: SMTPError.self) {
            try Self.message(to: [Mailbox(Fixture.address("a@b.example")), Mailbox(Fixture.address("A@b.example"))])
        }
    }

    // MARK: - Encoded words

    @Test func encodedWordsNeverSplitAUTF8Sequence() throws {
        let text = String(repeating: "Ä€😀👩‍👩‍👧‍👦e\u{301}", count: 12)
        let words = HeaderText.encodedWords(text)
        #expect(words.count > 1)
        for word in words {
            #expect(word.count <= HeaderText.maximumEncodedWordLength)
            #expect(word.hasPrefix("=?UTF-8?Q?") && word.hasSuffix("?="))
            // decodeEncodedWords requires each word to be valid UTF-8 on its own.
            _ = try MIMEReader.decodeEncodedWords(word)
        }
        #expect(try MIMEReader.decodeEncodedWords(words.joined(separator: "\r\n ")) == text)
    }

    @Test func aClusterTooLongForOneWordIsSplitBetweenScalars() throws {
        let zalgo = "a" + String(repeating: "\u{301}", count: 40)
        let words = HeaderText.encodedWords(zalgo)
        #expect(words.count > 1)
        #expect(try MIMEReader.decodeEncodedWords(words.joined(separator: " ")) == zalgo)
    }

    @Test func encodedWordSyntaxInPlainTextIsEncoded() throws {
        // Otherwise a reader would decode "=?UTF-8?Q?…?=" that a person typed.
        let tokens = HeaderText.unstructured("Betreff =?UTF-8?Q?x?=")
        #expect(tokens.allSatisfy { $0.hasPrefix("=?UTF-8?Q?") })
        #expect(try MIMEReader.decodeEncodedWords(tokens.joined(separator: " ")) == "Betreff =?UTF-8?Q?x?=")
    }

    // MARK: - Quoted-printable

    @Test func quotedPrintableRules() {
        #expect(QuotedPrintable.encode("a=b") == "a=3Db")
        #expect(QuotedPrintable.encode("Grüße") == "Gr=C3=BC=C3=9Fe")
        #expect(QuotedPrintable.encode("Ende \nx\t") == "Ende=20\r\nx=09")
        #expect(QuotedPrintable.encode("a\r\nb\rc\nd") == "a\r\nb\r\nc\r\nd")
        #expect(QuotedPrintable.encode(".\nFrom here") == "=2E\r\n=46rom here")
        #expect(QuotedPrintable.encode("") == "")
    }

    @Test(arguments: [
        String(repeating: "a", count: 200),
        String(repeating: "ä", count: 100),
        String(repeating: "x", count: 75) + "ü" + String(repeating: "y", count: 80),
        String(repeating: "Wort ", count: 40),
        String(repeating: "=", count: 100),
        String(repeating: "😀", count: 30) + " \n" + String(repeating: " ", count: 90),
    ])
    func quotedPrintableLinesStayShortAndDecode(text: String) throws {
        let encoded = QuotedPrintable.encode(text)
        let lines = encoded.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.count <= 76 })
        #expect(encoded.unicodeScalars.allSatisfy { $0.isASCII })
        // No soft break inside an =XX escape, and none between the bytes of one character:
        // each line decodes to whole UTF-8 on its own.
        for line in lines {
            let body = line.hasSuffix("=") ? String(line.dropLast()) : line
            #expect(MIMEReader.decodeQuotedPrintable(body) != nil, "\(line)")
            #expect(!line.hasSuffix(" ") && !line.hasSuffix("\t"))
        }
        let expected = text.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(MIMEReader.decodeQuotedPrintable(encoded) == expected)
    }

    @Test func boundaryCannotOccurInQuotedPrintableParts() throws {
        let message = try Self.message()
        let boundary = MIMEComposer.boundary(for: message.messageID)
        #expect(boundary.hasPrefix("=_"))
        // A body that contains the boundary text verbatim still cannot produce it after encoding.
        let hostile = try Self.message(text: "--\(boundary)\n--\(boundary)--", html: "--\(boundary)")
        let parts = try MIMEReader(MIMEComposer.compose(hostile)).parts()
        #expect(parts.count == 2)
        #expect(MIMEReader.decodeQuotedPrintable(parts[0].rawBody) == "--\(boundary)\r\n--\(boundary)--")
    }

    // MARK: - Date

    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (1_709_251_199.9, "Thu, 29 Feb 2024 23:59:59 +0000"),
        (1_796_116_200, "Tue, 01 Dec 2026 09:10:00 +0000"),
        (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 +0000"),
        (-1, "Wed, 31 Dec 1969 23:59:59 +0000"),
    ])
    func dates(seconds: Double, expected: String) {
        #expect(MailDate.format(Date(timeIntervalSince1970: seconds)) == expected)
    }
}
