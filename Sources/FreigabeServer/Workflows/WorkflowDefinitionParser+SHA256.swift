import Foundation
import WorkflowEngine

extension WorkflowDefinitionParser {
    /// The server's parser: definitions are pinned by the SHA-256 of their source (swift-crypto), as
    /// every other digest the server computes. It knows the built-in roles only: the server resolves no
    /// other role from the directory, so `freigabe workflow validate` refuses what the server would.
    public static let pinningBySHA256 = WorkflowDefinitionParser(contentHash: sha256Hex)

    static let sha256Hex: ContentDigest = { data in SHA256Hex.of(data) }
}
