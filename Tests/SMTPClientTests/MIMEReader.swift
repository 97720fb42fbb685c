import Foundation
import Testing

@testable import SMTPClient

/// A small, independent reader of the messages the composer writes, for tests: unfolds headers,
/// decodes RFC 2047 encoded words (Q and B) and quoted-printable. Written from the RFCs, not from
/// the composer, so that a composer bug shows up as a mismatch.
struct MIMEReader {
    struct Part {
        var headers: [(name: String, value: String)]
        var rawBody: String

        func header(_ name: String) -> String? {
            self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// Header lines as written (before unfolding), for line-length and injection checks.
    let rawHeaderLines: [String]
    let message: Part

    init(_ bytes: [UInt8]) throws {
        let text = try #require(String(bytes: bytes, encoding: .utf8))
        guard let split = text.range(of: "\r\n\r\n") else {
            throw ReaderError("no blank line after the headers")
        }
        let headerText = String(text[..<split.lowerBound])
        self.rawHeaderLines = headerText.components(separatedBy: "\r\n")
        self.message = Part(headers: try Self.parseHeaders(headerText), rawBody: String(text[split.upperBound...]))
    }

    struct ReaderError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func parseHeaders(_ text: String) throws -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        for line in text.components(separatedBy: "\r\n") {
            if line.hasPrefix(" ") || line.hasPrefix("\t") {
                guard !headers.isEmpty else { throw ReaderError("continuation line first") }
                headers[headers.count - 1].value += line  // unfolding removes only the CRLF
            } else {
                guard let colon = line.firstIndex(of: ":") else {
                    throw ReaderError("header line without colon: \(line)")
                }
                let value = line[line.index(after: colon)...].drop(while: { $0 == " " })
                headers.append((String(line[..<colon]), String(value)))
            }
        }
        return headers
    }

    /// The text parts of a multipart/alternative message, or the single part.
    func parts() throws -> [Part] {
        let contentType = self.message.header("Content-Type") ?? ""
        guard contentType.lowercased().hasPrefix("multipart/") else {
            return [self.message]
        }
        guard let range = contentType.range(of: "boundary=\"") else { throw ReaderError("no quoted boundary") }
        let boundary = String(contentType[range.upperBound...].prefix(while: { $0 != "\"" }))
        let delimiter = "--" + boundary
        var sections = self.message.rawBody.components(separatedBy: delimiter)
        guard sections.count >= 3, sections.last?.hasPrefix("--") == true else {
            throw ReaderError("multipart body without closing delimiter")
        }
        sections.removeFirst()  // preamble
        sections.removeLast()  // "--" epilogue
        return try sections.map { section in
            var body = Substring(section)
            guard body.hasPrefix("\r\n") else { throw ReaderError("delimiter not followed by CRLF") }
            body = body.dropFirst()  // "\r\n" is one Character
            guard let split = body.range(of: "\r\n\r\n") else { throw ReaderError("part without headers") }
            var content = String(body[split.upperBound...])
            // The CRLF before the next delimiter belongs to the delimiter (RFC 2046 5.1.1).
            if content.hasSuffix("\r\n") {
                content.removeLast()  // "\r\n" is one Character
            }
            return Part(headers: try Self.parseHeaders(String(body[..<split.lowerBound])), rawBody: content)
        }
    }

    /// RFC 2045 6.7 decoding; returns nil for malformed input.
    static func decodeQuotedPrintable(_ text: String) -> String? {
        var bytes: [UInt8] = []
        let lines = text.components(separatedBy: "\r\n")
        for (index, line) in lines.enumerated() {
            var chars = Array(line.utf8)
            var softBreak = false
            if chars.last == UInt8(ascii: "=") {
                softBreak = true
                chars.removeLast()
            }
            var i = 0
            while i < chars.count {
                if chars[i] == UInt8(ascii: "=") {
                    guard i + 2 < chars.count,
                        let byte = UInt8(String(decoding: chars[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
                    else { return nil }
                    bytes.append(byte)
                    i += 3
                } else {
                    bytes.append(chars[i])
                    i += 1
                }
            }
            if !softBreak && index < lines.count - 1 {
                bytes += [13, 10]
            }
        }
        return String(bytes: bytes, encoding: .utf8)
    }

    /// Decodes the encoded words of a header value (whitespace between adjacent words dropped).
    static func decodeEncodedWords(_ value: String) throws -> String {
        let pattern = try NSRegularExpression(pattern: "=\\?([^?]+)\\?([QqBb])\\?([^?]*)\\?=")
        let ns = value as NSString
        var output = ""
        var last = 0
        var previousWasWord = false
        for match in pattern.matches(in: value, range: NSRange(location: 0, length: ns.length)) {
            let between = ns.substring(with: NSRange(location: last, length: match.range.location - last))
            if !(previousWasWord && between.allSatisfy(\.isWhitespace)) {
                output += between
            }
            let charset = ns.substring(with: match.range(at: 1)).uppercased()
            guard charset == "UTF-8" else { throw ReaderError("charset \(charset)") }
            let encoding = ns.substring(with: match.range(at: 2)).uppercased()
            let payload = ns.substring(with: match.range(at: 3))
            let bytes: [UInt8]
            if encoding == "B" {
                bytes = Array(try #require(Data(base64Encoded: payload)))
            } else {
                var decoded: [UInt8] = []
                var chars = Array(payload.utf8)[...]
                while let c = chars.first {
                    chars = chars.dropFirst()
                    if c == UInt8(ascii: "_") {
                        decoded.append(0x20)
                    } else if c == UInt8(ascii: "=") {
                        let hex = String(decoding: chars.prefix(2), as: UTF8.self)
                        decoded.append(try #require(UInt8(hex, radix: 16)))
                        chars = chars.dropFirst(2)
                    } else {
                        decoded.append(c)
                    }
                }
                bytes = decoded
            }
            // Each encoded word must hold whole characters (RFC 2047 5): decode it on its own.
            output += try #require(String(bytes: bytes, encoding: .utf8), "encoded word is not UTF-8 on its own")
            last = match.range.location + match.range.length
            previousWasWord = true
        }
        output += ns.substring(from: last)
        return output
    }

    /// A display name as a reader shows it: quoted string unescaped, encoded words decoded.
    static func decodePhrase(_ phrase: String) throws -> String {
        let trimmed = phrase.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("\"") && trimmed.hasSuffix("\"") {
            var result = ""
            var escaped = false
            for c in trimmed.dropFirst().dropLast() {
                if !escaped && c == "\\" {
                    escaped = true
                    continue
                }
                escaped = false
                result.append(c)
            }
            return result
        }
        return try decodeEncodedWords(trimmed)
    }
}
