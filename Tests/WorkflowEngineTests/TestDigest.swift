import Crypto
import Foundation
import WorkflowEngine

/// The digest the server hands the parser: SHA-256 of the source's bytes as lower-case hex, computed with
/// swift-crypto as in production, so pins in these tests are the pins requests carry.
enum TestDigest {
    static let sha256: ContentDigest = { bytes in
        SHA256.hash(data: bytes).map { byte in String(byte, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
