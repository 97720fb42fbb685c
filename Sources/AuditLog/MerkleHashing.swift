/// The RFC 6962 / RFC 9162 (§2.1.1) hashes with SHA-256: distinct prefixes for leaves and interior
/// nodes, so no leaf can pose as a node (second-preimage attack on the tree).
public enum MerkleHashing {
    static let leafPrefix: UInt8 = 0x00
    static let nodePrefix: UInt8 = 0x01

    /// SHA-256(0x00 || leaf).
    public static func leafHash(_ leaf: [UInt8]) -> SHA256Hash {
        var prefixed = [UInt8]()
        prefixed.reserveCapacity(leaf.count + 1)
        prefixed.append(leafPrefix)
        prefixed.append(contentsOf: leaf)
        return SHA256Hash.digest(of: prefixed)
    }

    /// SHA-256(0x01 || left || right).
    public static func nodeHash(_ left: SHA256Hash, _ right: SHA256Hash) -> SHA256Hash {
        // On the stack: the verifier builds about one node per event.
        withUnsafeTemporaryAllocation(byteCount: 1 + 2 * SHA256Hash.byteCount, alignment: 8) { buffer in
            let base = buffer.baseAddress!
            base.storeBytes(of: nodePrefix, as: UInt8.self)
            left.store(to: base + 1)
            right.store(to: base + 1 + SHA256Hash.byteCount)
            return SHA256Hash.digest(of: UnsafeRawBufferPointer(buffer))
        }
    }

    /// The root of the empty tree: SHA-256 of nothing.
    public static var emptyRoot: SHA256Hash { SHA256Hash.empty }
}
