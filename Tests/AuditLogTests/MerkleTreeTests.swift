import AuditLog
import Foundation
import Testing

/// RFC 6962 trees over the leaf inputs of transparency-dev/merkle `testonly/constants.go` (Apache
/// 2.0), and its inclusion and consistency probe files (`Vectors/`, see `Vectors/README.md`).
@Suite("Merkle tree") struct MerkleTreeTests {
    static let leafInputs: [[UInt8]] = [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ].map(hexBytes)
    /// Roots of the trees over the first 0...8 leaf inputs.
    static let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ].map { SHA256Hash(hex: $0)! }
    static var leafHashes: [SHA256Hash] { leafInputs.map(MerkleHashing.leafHash) }

    @Test("roots of the RFC 6962 test trees")
    func referenceRoots() {
        var frontier = MerkleFrontier()
        #expect(frontier.rootHash == Self.roots[0])
        for (size, leafHash) in Self.leafHashes.enumerated() {
            frontier.append(leafHash: leafHash)
            #expect(frontier.rootHash == Self.roots[size + 1], "size \(size + 1)")
        }
        #expect(frontier.hashes.count == 1)
    }

    @Test("the frontier keeps one hash per set bit of the size and restores from them")
    func frontierShape() throws {
        let leaves = (0..<1000).map { MerkleHashing.leafHash([UInt8(truncatingIfNeeded: $0)]) }
        var frontier = MerkleFrontier()
        for (index, leaf) in leaves.enumerated() {
            frontier.append(leafHash: leaf)
            #expect(frontier.hashes.count == (index + 1).nonzeroBitCount)
        }
        let stored = try JSONEncoder().encode(frontier)
        var restored = try JSONDecoder().decode(MerkleFrontier.self, from: stored)
        #expect(restored == frontier)
        restored.append(leafHash: leaves[0])
        frontier.append(leafHash: leaves[0])
        #expect(restored.rootHash == frontier.rootHash)
        #expect(MerkleFrontier(size: 3, hashes: [leaves[0]]) == nil)
        let broken = Data(#"{"size":3,"hashes":["\#(leaves[0].hex)"]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MerkleFrontier.self, from: broken) }
    }

    @Test("every inclusion probe of transparency-dev/merkle is decided as expected")
    func inclusionProbes() throws {
        let probes = try Self.load([InclusionProbe].self, "inclusion-probes.json")
        #expect(probes.count == 98)
        for probe in probes {
            let accepted =
                if let leaf = SHA256Hash(base64: probe.leafHash), let root = SHA256Hash(base64: probe.root),
                    let proof = Self.hashes(probe.proof)
                {
                    MerkleProofVerifier.verifyInclusion(
                        leafHash: leaf, index: probe.leafIdx, treeSize: probe.treeSize, proof: proof, rootHash: root)
                } else {
                    false
                }
            #expect(accepted == !probe.wantErr, "\(probe.file): \(probe.desc)")
        }
    }

    @Test("every consistency probe of transparency-dev/merkle is decided as expected")
    func consistencyProbes() throws {
        let probes = try Self.load([ConsistencyProbe].self, "consistency-probes.json")
        #expect(probes.count == 98)
        for probe in probes {
            // Some probes use placeholder roots ("don't care") that are not 32 bytes: they test the sizes
            // and whether the roots are equal, which a stand-in hash of the placeholder keeps.
            let root1 = SHA256Hash(base64: probe.root1) ?? SHA256Hash.digest(of: Array(probe.root1.utf8))
            let root2 = SHA256Hash(base64: probe.root2) ?? SHA256Hash.digest(of: Array(probe.root2.utf8))
            let accepted =
                if let proof = Self.hashes(probe.proof) {
                    MerkleProofVerifier.verifyConsistency(
                        oldSize: probe.size1, newSize: probe.size2, oldRoot: root1, newRoot: root2, proof: proof)
                } else {
                    false
                }
            #expect(accepted == !probe.wantErr, "\(probe.file): \(probe.desc)")
        }
    }

    @Test("generated proofs equal the reference proofs of the happy-path probes")
    func generatedProofsMatchReference() throws {
        let inclusion = try Self.load([InclusionProbe].self, "inclusion-probes.json").filter {
            $0.desc == "happy path" && $0.treeSize <= 8
        }
        #expect(!inclusion.isEmpty)
        for probe in inclusion {
            let proof = try MerkleProofs.inclusionProof(
                index: probe.leafIdx, treeSize: probe.treeSize, leafHashes: Self.leafHashes)
            #expect(proof.map(\.base64) == probe.proof ?? [], "\(probe.file)")
        }
        let consistency = try Self.load([ConsistencyProbe].self, "consistency-probes.json").filter {
            $0.desc == "happy path" && $0.size1 > 0 && $0.size2 <= 8
        }
        #expect(!consistency.isEmpty)
        for probe in consistency {
            let proof = try MerkleProofs.consistencyProof(
                from: probe.size1, to: probe.size2, leafHashes: Self.leafHashes)
            #expect(proof.map(\.base64) == probe.proof ?? [], "\(probe.file)")
        }
    }

    @Test("generated proofs verify for every index and size pair up to 40 leaves; a changed proof does not")
    func proofsRoundTrip() throws {
        let leaves = (0..<40).map { MerkleHashing.leafHash(Array("leaf \($0)".utf8)) }
        let roots = (0...40).map { MerkleFrontier(leafHashes: leaves.prefix($0)).rootHash }
        let flipped = MerkleHashing.leafHash([0xff])
        for size in 1...UInt64(40) {
            for index in 0..<size {
                var proof = try MerkleProofs.inclusionProof(index: index, treeSize: size, leafHashes: leaves)
                #expect(
                    MerkleProofVerifier.verifyInclusion(
                        leafHash: leaves[Int(index)], index: index, treeSize: size, proof: proof,
                        rootHash: roots[Int(size)]))
                #expect(
                    !MerkleProofVerifier.verifyInclusion(
                        leafHash: flipped, index: index, treeSize: size, proof: proof, rootHash: roots[Int(size)]))
                if !proof.isEmpty {
                    proof[proof.count / 2] = flipped
                    #expect(
                        !MerkleProofVerifier.verifyInclusion(
                            leafHash: leaves[Int(index)], index: index, treeSize: size, proof: proof,
                            rootHash: roots[Int(size)]))
                }
            }
            for oldSize in 1...size {
                var proof = try MerkleProofs.consistencyProof(from: oldSize, to: size, leafHashes: leaves)
                #expect(
                    MerkleProofVerifier.verifyConsistency(
                        oldSize: oldSize, newSize: size, oldRoot: roots[Int(oldSize)], newRoot: roots[Int(size)],
                        proof: proof), "\(oldSize) → \(size)")
                if oldSize < size {
                    #expect(
                        !MerkleProofVerifier.verifyConsistency(
                            oldSize: oldSize, newSize: size, oldRoot: flipped, newRoot: roots[Int(size)], proof: proof))
                    proof[0] = flipped
                    #expect(
                        !MerkleProofVerifier.verifyConsistency(
                            oldSize: oldSize, newSize: size, oldRoot: roots[Int(oldSize)], newRoot: roots[Int(size)],
                            proof: proof))
                }
            }
        }
    }

    @Test("proofs for impossible positions are refused")
    func impossibleProofs() {
        #expect(throws: MerkleProofs.ProofError.indexOutOfRange(index: 8, treeSize: 8)) {
            try MerkleProofs.inclusionProof(index: 8, treeSize: 8, leafHashes: Self.leafHashes)
        }
        #expect(throws: MerkleProofs.ProofError.invalidSizes(from: 0, to: 3)) {
            try MerkleProofs.consistencyProof(from: 0, to: 3, leafHashes: Self.leafHashes)
        }
        #expect(throws: MerkleProofs.ProofError.invalidSizes(from: 4, to: 3)) {
            try MerkleProofs.consistencyProof(from: 4, to: 3, leafHashes: Self.leafHashes)
        }
    }

    struct InclusionProbe: Decodable {
        var leafIdx: UInt64
        var treeSize: UInt64
        var root: String
        var leafHash: String
        var proof: [String]?
        var desc: String
        var wantErr: Bool
        var file: String
    }

    struct ConsistencyProbe: Decodable {
        var size1: UInt64
        var size2: UInt64
        var root1: String
        var root2: String
        var proof: [String]?
        var desc: String
        var wantErr: Bool
        var file: String
    }

    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors")

    static func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: vectors.appendingPathComponent(name)))
    }

    /// A probe's proof as hashes; `nil` when an element is not 32 bytes (then no proof can hold).
    static func hashes(_ proof: [String]?) -> [SHA256Hash]? {
        let hashes = (proof ?? []).compactMap { SHA256Hash(base64: $0) }
        return hashes.count == (proof ?? []).count ? hashes : nil
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map {
        UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
    }
}
