import Crypto
import Foundation

/// SHA-256 in lower-case hex: the one spelling of the digests the server stores and compares as text
/// (workflow definitions, migrations, webhook addresses).
enum SHA256Hex {
    static func of(_ data: some DataProtocol) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
