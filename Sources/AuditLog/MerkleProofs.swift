/// Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4) made from the leaf hashes.
///
/// Works on the leaf hashes of the whole tree, O(n) hashing per proof: the server reads them from the
/// sealed rows when an auditor asks, which is rare; a log serving proofs to the public would keep the
/// interior nodes (tiles) instead.
public enum MerkleProofs {
    public enum ProofError: Error, Sendable, Hashable, CustomStringConvertible {
        case indexOutOfRange(index: UInt64, treeSize: UInt64)
        case invalidSizes(from: UInt64, to: UInt64)
        /// ``TiledMerkleTree`` was not given the tile a proof needs.
        case tileMissing(index: UInt64)

        public var description: String {
            switch self {
            case .indexOutOfRange(let index, let treeSize): "leaf \(index) is not in a tree of size \(treeSize)"
            case .invalidSizes(let from, let to):
                "no consistency proof from size \(from) to size \(to) (needs 0 < from <= to)"
            case .tileMissing(let index): "the tile holding leaf \(index) is needed for this proof"
            }
        }
    }

    /// The audit path of leaf `index` in the tree over the first `treeSize` leaf hashes (RFC 9162
    /// §2.1.3.1 PATH).
    public static func inclusionProof(
        index: UInt64, treeSize: UInt64, leafHashes: [SHA256Hash]
    ) throws(ProofError) -> [SHA256Hash] {
        guard index < treeSize, treeSize <= UInt64(leafHashes.count) else {
            throw .indexOutOfRange(index: index, treeSize: treeSize)
        }
        var proof: [SHA256Hash] = []
        path(Int(index), leafHashes[0..<Int(treeSize)], into: &proof)
        return proof
    }

    /// The proof that the tree of size `to` extends the tree of size `from`, both over prefixes of
    /// `leafHashes` (RFC 9162 §2.1.4.1 PROOF). Empty when the sizes are equal.
    public static func consistencyProof(
        from oldSize: UInt64, to newSize: UInt64, leafHashes: [SHA256Hash]
    ) throws(ProofError) -> [SHA256Hash] {
        guard oldSize > 0, oldSize <= newSize, newSize <= UInt64(leafHashes.count) else {
            throw .invalidSizes(from: oldSize, to: newSize)
        }
        var proof: [SHA256Hash] = []
        subproof(Int(oldSize), leafHashes[0..<Int(newSize)], complete: true, into: &proof)
        return proof
    }

    /// MTH(D[n]) over a slice of leaf hashes.
    static func rootHash(_ leaves: ArraySlice<SHA256Hash>) -> SHA256Hash {
        MerkleFrontier(leafHashes: leaves).rootHash
    }

    /// The largest power of two smaller than `count` (count > 1): where RFC 9162 splits a tree.
    static func split(_ count: Int) -> Int {
        1 << (Int.bitWidth - (count - 1).leadingZeroBitCount - 1)
    }

    private static func path(_ index: Int, _ leaves: ArraySlice<SHA256Hash>, into proof: inout [SHA256Hash]) {
        guard leaves.count > 1 else { return }
        let k = split(leaves.count)
        let middle = leaves.startIndex + k
        if index < k {
            path(index, leaves[..<middle], into: &proof)
            proof.append(rootHash(leaves[middle...]))
        } else {
            path(index - k, leaves[middle...], into: &proof)
            proof.append(rootHash(leaves[..<middle]))
        }
    }

    private static func subproof(
        _ oldSize: Int, _ leaves: ArraySlice<SHA256Hash>, complete: Bool, into proof: inout [SHA256Hash]
    ) {
        if oldSize == leaves.count {
            // The verifier knows the old root itself only when this subtree is the whole old tree.
            if !complete { proof.append(rootHash(leaves)) }
            return
        }
        let k = split(leaves.count)
        let middle = leaves.startIndex + k
        if oldSize <= k {
            subproof(oldSize, leaves[..<middle], complete: complete, into: &proof)
            proof.append(rootHash(leaves[middle...]))
        } else {
            subproof(oldSize - k, leaves[middle...], complete: false, into: &proof)
            proof.append(rootHash(leaves[..<middle]))
        }
    }
}

/// Checks proofs with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2: from the proof and the
/// sizes alone, without any leaves.
public enum MerkleProofVerifier {
    /// Whether `proof` shows that `leafHash` is leaf `index` of the tree of `treeSize` with `rootHash`.
    public static func verifyInclusion(
        leafHash: SHA256Hash, index: UInt64, treeSize: UInt64, proof: [SHA256Hash], rootHash: SHA256Hash
    ) -> Bool {
        guard index < treeSize else { return false }
        var fn = index
        var sn = treeSize - 1
        var result = leafHash
        for sibling in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                result = MerkleHashing.nodeHash(sibling, result)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                result = MerkleHashing.nodeHash(result, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && result == rootHash
    }

    /// Whether `proof` shows that the tree of `newSize` with `newRoot` extends (keeps every leaf of)
    /// the tree of `oldSize` with `oldRoot`. Equal sizes need an empty proof and equal roots; a proof
    /// from the empty tree says nothing and is refused, as in RFC 9162 (every tree extends it).
    public static func verifyConsistency(
        oldSize: UInt64, newSize: UInt64, oldRoot: SHA256Hash, newRoot: SHA256Hash, proof: [SHA256Hash]
    ) -> Bool {
        guard oldSize > 0, oldSize <= newSize else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        guard !proof.isEmpty else { return false }
        // A power-of-two old tree is a complete subtree the proof leaves out: the old root seeds it.
        let remaining = oldSize.nonzeroBitCount == 1 ? [oldRoot] + proof : proof
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var oldResult = remaining.first!
        var newResult = oldResult
        for node in remaining.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                oldResult = MerkleHashing.nodeHash(node, oldResult)
                newResult = MerkleHashing.nodeHash(node, newResult)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                newResult = MerkleHashing.nodeHash(newResult, node)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && oldResult == oldRoot && newResult == newRoot
    }
}
