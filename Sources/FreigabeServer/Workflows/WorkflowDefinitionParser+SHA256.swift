import Crypto
import Foundation
import WorkflowEngine

extension WorkflowDefinitionParser {
    /// The server's parser: definitions are pinned by the SHA-256 of their source (swift-crypto), as
    /// every other digest the server computes.
    public static func pinningBySHA256(customRoles: Set<String> = []) -> WorkflowDefinitionParser {
        WorkflowDefinitionParser(customRoles: customRoles, contentHash: sha256Hex)
    }

    static let sha256Hex: ContentDigest = { data in
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
