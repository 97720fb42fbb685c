/// The right edge of a Merkle tree: the roots of the perfect subtrees that make up its leaves, one per
/// set bit of the size, largest first (a "compact range" over `[0, size)`).
///
/// That is all the sealer has to keep between batches — O(log n) hashes — to append leaves and
/// compute the tree head, and all an export needs to carry so that a verifier can continue the tree
/// from the export's first event. Its hashes are not trusted by themselves: they are only ever
/// accepted because the root they lead to matches a signed checkpoint.
public struct MerkleFrontier: Sendable, Hashable {
    /// The number of leaves.
    public private(set) var size: UInt64
    /// Subtree roots, left to right; `hashes.count == size.nonzeroBitCount`.
    public private(set) var hashes: [SHA256Hash]

    /// The empty tree.
    public init() {
        size = 0
        hashes = []
    }

    /// Takes a stored frontier; `nil` when the number of hashes does not fit the size.
    public init?(size: UInt64, hashes: [SHA256Hash]) {
        guard hashes.count == size.nonzeroBitCount else { return nil }
        self.size = size
        self.hashes = hashes
    }

    /// Adds one leaf: its hash merges with every subtree of equal height at the edge, as a carry
    /// ripples through a binary counter. Amortised one node hash per leaf.
    public mutating func append(leafHash: SHA256Hash) {
        var carry = leafHash
        var bits = size
        while bits & 1 == 1 {
            carry = MerkleHashing.nodeHash(hashes.removeLast(), carry)
            bits >>= 1
        }
        hashes.append(carry)
        size += 1
    }

    /// The tree head over `[0, size)`: the edge folded from the right (RFC 9162 §2.1.1 MTH).
    public var rootHash: SHA256Hash {
        guard var root = hashes.last else { return MerkleHashing.emptyRoot }
        for hash in hashes.dropLast().reversed() {
            root = MerkleHashing.nodeHash(hash, root)
        }
        return root
    }
}

extension MerkleFrontier {
    /// Builds the frontier over the given leaf hashes.
    public init(leafHashes: some Sequence<SHA256Hash>) {
        self.init()
        for leafHash in leafHashes { append(leafHash: leafHash) }
    }
}

/// Decoding checks the invariant that synthesised decoding would skip.
extension MerkleFrontier: Codable {
    private enum CodingKeys: String, CodingKey { case size, hashes }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let size = try container.decode(UInt64.self, forKey: .size)
        let hashes = try container.decode([SHA256Hash].self, forKey: .hashes)
        guard let frontier = MerkleFrontier(size: size, hashes: hashes) else {
            throw DecodingError.dataCorruptedError(
                forKey: .hashes, in: container,
                debugDescription: "a frontier of size \(size) has \(size.nonzeroBitCount) hashes, not \(hashes.count)")
        }
        self = frontier
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(size, forKey: .size)
        try container.encode(hashes, forKey: .hashes)
    }
}
