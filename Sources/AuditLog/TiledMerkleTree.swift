/// Inclusion proofs for any leaf of a large tree while holding only a sliver of it: the roots of its
/// tiles (perfect subtrees of `2^tileHeight` leaves) and everything above them, plus the leaves of the
/// unfinished last tile. A proof's lower part comes from the one tile its leaf lies in, which the
/// caller fetches when needed (the server reads those leaf hashes from `audit_seals`).
///
/// Why: ``MerkleProofs`` hashes the whole tree per proof, fine for one request, far too slow for an
/// export of thousands of events; keeping every leaf hash needs 32 bytes per event of the whole log.
/// With tiles of 256 leaves this keeps 0.25 bytes per event (2.5 MB for 10 million) and builds one
/// proof with about `log2(n)` hashes once its tile is known.
public struct TiledMerkleTree: Sendable {
    public let tileHeight: Int
    /// The number of leaves appended so far: the size of the tree the proofs are for.
    public private(set) var size: UInt64 = 0
    /// `upper[j]`: the roots of the complete perfect subtrees of height `tileHeight + j`, left to right.
    private var upper: [[SHA256Hash]] = []
    /// The leaves of the unfinished last tile.
    private var pending: [SHA256Hash] = []

    public init(tileHeight: Int = 8) {
        precondition((1...20).contains(tileHeight), "tiles of 2 to 2^20 leaves")
        self.tileHeight = tileHeight
    }

    /// Leaves per tile.
    public var tileSize: UInt64 { 1 << UInt64(tileHeight) }

    /// Appends the next leaf; leaves must come in log order.
    public mutating func append(leafHash: SHA256Hash) {
        pending.append(leafHash)
        size += 1
        guard UInt64(pending.count) == tileSize else { return }
        var carry = MerkleTile(start: size - tileSize, leafHashes: pending).root
        pending.removeAll(keepingCapacity: true)
        var level = 0
        while true {
            if upper.count == level { upper.append([]) }
            upper[level].append(carry)
            let count = upper[level].count
            guard count % 2 == 0 else { break }
            carry = MerkleHashing.nodeHash(upper[level][count - 2], upper[level][count - 1])
            level += 1
        }
    }

    /// The first leaf of the tile that holds leaf `index`.
    public func tileStart(of index: UInt64) -> UInt64 { index & ~(tileSize - 1) }

    /// Whether leaf `index` lies in a finished tile, whose leaves ``inclusionProof(index:tile:)`` needs.
    public func needsTile(for index: UInt64) -> Bool { tileStart(of: index) + tileSize <= size }

    /// The tree head over all leaves appended.
    public var rootHash: SHA256Hash {
        get throws(MerkleProofs.ProofError) {
            size == 0 ? MerkleHashing.emptyRoot : try root(0, size, tile: nil)
        }
    }

    /// The RFC 9162 §2.1.3 audit path of leaf `index` in the tree of ``size`` leaves, equal to
    /// ``MerkleProofs/inclusionProof(index:treeSize:leafHashes:)``. `tile` holds the leaves of the tile of
    /// `index` when ``needsTile(for:)``; for a leaf in the unfinished tile it is ignored.
    public func inclusionProof(index: UInt64, tile: MerkleTile?) throws(MerkleProofs.ProofError) -> [SHA256Hash] {
        guard index < size else { throw .indexOutOfRange(index: index, treeSize: size) }
        var usable: MerkleTile?
        if needsTile(for: index) {
            guard let tile, tile.start == tileStart(of: index), UInt64(tile.count) == tileSize else {
                throw .tileMissing(index: index)
            }
            usable = tile
        }
        var proof: [SHA256Hash] = []
        try path(index, 0, size, tile: usable, into: &proof)
        return proof
    }

    /// RFC 9162 PATH over `[low, high)`: the sibling subtree's root at each split, deepest first.
    private func path(
        _ index: UInt64, _ low: UInt64, _ high: UInt64, tile: MerkleTile?, into proof: inout [SHA256Hash]
    ) throws(MerkleProofs.ProofError) {
        guard high - low > 1 else { return }
        let middle = low + UInt64(MerkleProofs.split(Int(high - low)))
        if index < middle {
            try path(index, low, middle, tile: tile, into: &proof)
            proof.append(try root(middle, high, tile: tile))
        } else {
            try path(index, middle, high, tile: tile, into: &proof)
            proof.append(try root(low, middle, tile: tile))
        }
    }

    /// MTH over `[low, high)` for a range of RFC 9162's recursion: it is made of aligned perfect subtrees
    /// of decreasing height, folded from the right as ``MerkleFrontier/rootHash`` does.
    private func root(_ low: UInt64, _ high: UInt64, tile: MerkleTile?) throws(MerkleProofs.ProofError) -> SHA256Hash {
        var blocks: [SHA256Hash] = []
        var start = low
        while start < high {
            var height = 0
            while height < 63, start % (2 << UInt64(height)) == 0, start + (2 << UInt64(height)) <= high {
                height += 1
            }
            blocks.append(try perfectRoot(height: height, start: start, tile: tile))
            start += 1 << UInt64(height)
        }
        var result = blocks.removeLast()
        for block in blocks.reversed() { result = MerkleHashing.nodeHash(block, result) }
        return result
    }

    private func perfectRoot(
        height: Int, start: UInt64, tile: MerkleTile?
    ) throws(MerkleProofs.ProofError) -> SHA256Hash {
        if height >= tileHeight {
            let level = height - tileHeight
            let position = Int(start >> UInt64(height))
            guard level < upper.count, position < upper[level].count else { throw .tileMissing(index: start) }
            return upper[level][position]
        }
        if let root = tile?.perfectRoot(height: height, start: start) { return root }
        if let root = MerkleTile(start: size - UInt64(pending.count), leafHashes: pending)
            .perfectRoot(height: height, start: start)
        {
            return root
        }
        throw .tileMissing(index: start)
    }
}

/// The leaves of one tile (or fewer) and every complete perfect subtree over them.
public struct MerkleTile: Sendable {
    /// The position of the first leaf.
    public let start: UInt64
    /// `levels[0]` the leaf hashes; `levels[h][i]` the root of leaves `i * 2^h ..< (i + 1) * 2^h`.
    private let levels: [[SHA256Hash]]

    public init(start: UInt64, leafHashes: [SHA256Hash]) {
        var levels = [leafHashes]
        while let below = levels.last, below.count > 1 {
            levels.append(
                stride(from: 0, to: below.count - 1, by: 2).map { MerkleHashing.nodeHash(below[$0], below[$0 + 1]) })
        }
        self.start = start
        self.levels = levels
    }

    public var count: Int { levels[0].count }

    /// The root over all leaves when their count is a power of two (a finished tile).
    var root: SHA256Hash { levels[levels.count - 1][0] }

    /// The perfect subtree of `2^height` leaves from `start`, if it lies within this tile.
    func perfectRoot(height: Int, start blockStart: UInt64) -> SHA256Hash? {
        guard blockStart >= start, height < levels.count else { return nil }
        let offset = blockStart - start
        guard offset % (1 << UInt64(height)) == 0 else { return nil }
        let position = offset >> UInt64(height)
        guard position < UInt64(levels[height].count) else { return nil }
        return levels[height][Int(position)]
    }
}
