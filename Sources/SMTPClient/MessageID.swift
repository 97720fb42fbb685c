/// A `Message-ID` (RFC 5322 3.6.4) without its angle brackets: `left@right`, both dot-atom-text.
///
/// The caller supplies it and stores it with the outbox row, so that a message sent again after a
/// crash between "accepted by the server" and "marked sent" carries the same id and receivers can
/// drop the duplicate. ASCII only, no whitespace, no CR/LF, no brackets.
public struct MessageID: Sendable, Hashable, CustomStringConvertible {
    public let value: String

    public init(_ value: String) throws(SMTPError) {
        var text = Substring(value)
        if text.hasPrefix("<") && text.hasSuffix(">") && text.count >= 2 {
            text = text.dropFirst().dropLast()
        }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, text.utf8.count <= 250 else {
            throw .invalidMessage("message id must be left@right")
        }
        for part in parts {
            let atoms = part.split(separator: ".", omittingEmptySubsequences: false)
            guard atoms.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy { $0.isASCII && $0.isAtext } })
            else {
                throw .invalidMessage("message id is not dot-atom-text@dot-atom-text")
            }
        }
        self.value = String(text)
    }

    /// A new id under `domain` (the sending system's host name), 128 random bits on the left.
    public static func random(domain: String) throws(SMTPError) -> MessageID {
        var generator = SystemRandomNumberGenerator()
        let left = (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        return try MessageID("\(left)@\(domain)")
    }

    /// As written in headers: `<left@right>`.
    public var bracketed: String { "<\(self.value)>" }

    public var description: String { self.bracketed }
}
