import Foundation
import Testing

@testable import SMTPClient

/// Builds test values; every one is valid, so a throw here is a bug in the test.
enum Fixture {
    static func address(_ text: String) -> EmailAddress {
        try! EmailAddress(text)
    }

    static func messageID(_ text: String) -> MessageID {
        try! MessageID(text)
    }

    static func envelope(
        _ id: String = "m1@freigabe.test", to recipients: [String] = ["a@stadt.example"],
        content: String = "Subject: x\r\n\r\nHallo\r\n", smtpUTF8: Bool = false
    ) -> SMTPEnvelope {
        SMTPEnvelope(
            messageID: messageID(id), sender: address("freigabe@stadt.example"),
            recipients: recipients.map(address), content: Array(content.utf8), requiresSMTPUTF8: smtpUTF8)
    }

    /// A reply as a server would send it, lines separated by newlines: "250-a\n250 b".
    static func reply(_ text: String) -> SMTPReply {
        var parser = SMTPReplyParser()
        do {
            try parser.append(text.split(separator: "\n").map { $0 + "\r\n" }.joined().utf8)
            return try #require(try parser.next())
        } catch {
            Issue.record("bad test reply \(text): \(error)")
            return SMTPReply(code: 0, lines: [])
        }
    }

    static let credentials = SMTPCredentials(username: "svc-freigabe", password: "geheim-Passwört")
    static let ehloWithEverything =
        "250-mail.stadt.example Hallo\n250-PIPELINING\n250-SIZE 10240000\n250-STARTTLS\n250-AUTH PLAIN LOGIN\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250 SMTPUTF8"
    static let ehloAfterTLS =
        "250-mail.stadt.example Hallo\n250-SIZE 10240000\n250-AUTH PLAIN LOGIN\n250-8BITMIME\n250 SMTPUTF8"
}

/// Variables that `scripts/services up` writes to `.local/env` (the process environment wins).
/// Tests that need the SMTP sink fail, not skip, when they are missing: `make test` starts it.
enum TestEnvironment {
    static let values: [String: String] = {
        var values: [String: String] = [:]
        let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        if let text = try? String(contentsOf: root.appendingPathComponent(".local/env"), encoding: .utf8) {
            for line in text.split(separator: "\n") {
                var line = line.trimmingCharacters(in: .whitespaces)
                guard !line.hasPrefix("#") else { continue }
                if line.hasPrefix("export ") {
                    line.removeFirst("export ".count)
                }
                guard let equals = line.firstIndex(of: "=") else { continue }
                var value = String(line[line.index(after: equals)...])
                if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                    value = String(value.dropFirst().dropLast())
                }
                values[String(line[..<equals])] = value
            }
        }
        for (key, value) in ProcessInfo.processInfo.environment where key.hasPrefix("FREIGABE_") {
            values[key] = value
        }
        return values
    }()

    static func value(_ key: String) throws -> String {
        try #require(
            values[key].flatMap { $0.isEmpty ? nil : $0 },
            "\(key) is not set: run `scripts/services up` (make test does) so that .local/env describes the test SMTP server"
        )
    }
}
