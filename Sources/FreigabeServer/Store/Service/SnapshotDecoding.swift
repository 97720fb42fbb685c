import Foundation
import Synchronization
import WorkflowEngine

/// Decodes the engine snapshot of a `requests` row (`requests.snapshot`), remembering the last few
/// thousand decodings by their exact text.
///
/// Decoding the JSON was a quarter of the server's CPU for an inbox page (`make bench-web`: 51 snapshots
/// a page, the same ones for every approver looking at them). A snapshot is a value decoded from its text
/// alone, so the same bytes give the same snapshot: remembering it changes no answer, and a rewritten
/// column (other bytes) is decoded afresh. Nothing is remembered by request id or version.
enum SnapshotDecoding {
    /// Most decodings kept; when full, the memory starts over (bounded, no bookkeeping per hit).
    static let capacity = 2048

    private static let memory = Mutex<[SnapshotText: RequestSnapshot]>([:])

    /// - Parameter remember: false decodes without looking up or keeping anything (a text that will not
    ///   be read again).
    static func decode(_ text: String, remember: Bool = true) throws -> RequestSnapshot {
        guard remember else { return try StoredJSON.decode(RequestSnapshot.self, from: text) }
        let key = SnapshotText(text)
        if let known = memory.withLock({ $0[key] }) { return known }
        let snapshot = try StoredJSON.decode(RequestSnapshot.self, from: text)
        memory.withLock { memory in
            if memory.count >= capacity { memory.removeAll(keepingCapacity: true) }
            memory[key] = snapshot
        }
        return snapshot
    }

    /// Whether the decoding of exactly `text` is remembered (for tests).
    static func isRemembered(_ text: String) -> Bool { memory.withLock { $0[SnapshotText(text)] != nil } }

    /// How many decodings are remembered now (for tests).
    static var remembered: Int { memory.withLock { $0.count } }
}

/// A snapshot's text compared and hashed by its UTF-8 bytes: `String`'s own `==` and hash compare
/// canonically equivalent texts as equal and normalise non-ASCII text first, which is slower and, for
/// a memo of what exactly was stored, not wanted.
private struct SnapshotText: Hashable, Sendable {
    let text: String

    init(_ text: String) {
        var text = text
        text.makeContiguousUTF8()
        self.text = text
    }

    static func == (lhs: SnapshotText, rhs: SnapshotText) -> Bool {
        let contiguous = lhs.text.utf8.withContiguousStorageIfAvailable { left in
            rhs.text.utf8.withContiguousStorageIfAvailable { right in left.elementsEqual(right) }
        }
        if case .some(.some(let equal)) = contiguous { return equal }
        return lhs.text.utf8.elementsEqual(rhs.text.utf8)
    }

    func hash(into hasher: inout Hasher) {
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
        if hashed == nil {
            for byte in text.utf8 { hasher.combine(byte) }
        }
    }
}
