import Crypto
import Foundation

/// A symmetric Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes (the
/// specification's range; fewer bytes are refused as too weak to sign with).
public struct WebhookSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    let key: Data

    public init?(_ text: String) {
        guard text.hasPrefix("whsec_") else { return nil }
        var encoded = String(text.dropFirst("whsec_".count))
        // Unpadded base64 is common in generated secrets; the reference implementation accepts it too.
        while encoded.count % 4 != 0 { encoded += "=" }
        guard let key = Data(base64Encoded: encoded), (24...64).contains(key.count) else { return nil }
        self.key = key
    }

    /// Never the secret itself: settings are printed in errors and logs.
    public var description: String { "whsec_***" }
    public var debugDescription: String { description }
}

/// Signs one webhook message as the Standard Webhooks specification says
/// (`spec/standard-webhooks.md`, "Signature scheme"): HMAC-SHA256 over `id.timestamp.body`, base64,
/// prefixed `v1,`; one signature per secret, separated by spaces, so that a receiver still holding
/// the old secret during a rotation verifies as well as one with the new. Pure: no clock, no I/O.
enum WebhookSigner {
    struct InvalidID: Error, CustomStringConvertible {
        var id: String
        var description: String { "webhook-id „\(id)“ must be 1 to 128 of A-Z a-z 0-9 _ -" }
    }

    /// The three headers of one attempt.
    struct Headers: Sendable, Hashable {
        var id: String
        var timestamp: Int64
        var signature: String
    }

    /// - Parameter timestamp: seconds since 1970 of this attempt (the receiver checks it is recent).
    /// - Throws: ``InvalidID`` when `id` could blur the signed content (the specification forbids `.`).
    static func sign(id: String, timestamp: Int64, body: Data, secrets: [WebhookSecret]) throws(InvalidID) -> Headers {
        guard !id.isEmpty, id.utf8.count <= 128,
            id.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
            })
        else { throw InvalidID(id: id) }
        var content = Data("\(id).\(timestamp).".utf8)
        content.append(body)
        let signatures = secrets.map { secret in
            let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secret.key))
            return "v1," + Data(mac).base64EncodedString()
        }
        return Headers(id: id, timestamp: timestamp, signature: signatures.joined(separator: " "))
    }
}
