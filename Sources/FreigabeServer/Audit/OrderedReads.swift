/// Reads the parts of something long (the decision log, cut into ranges of places) several at a time,
/// each in a task of its own, and hands them to one consumer strictly in order.
///
/// Reading a batch of the log costs PostgreSQL a core (scan, join, each row's output) and this process
/// another (each row decoded, hashed or written): one batch after the other leaves one of them idle
/// most of the time. With `width` reads in flight the database works on the next ranges while the
/// consumer takes the one before, and the tasks' own work (a leaf per row) runs on every core. At most
/// `width` parts exist at any time, read or waiting to be consumed, so memory stays bounded.
struct OrderedReads<Part: Sendable, Result: Sendable>: Sendable {
    /// Reads in flight (and parts waiting) at most; 1 reads one part after the other.
    var width: Int
    /// Reads one part, concurrently with the others and in any order.
    var read: @Sendable (_ part: Part) async throws -> Result

    /// Calls `consume` with each part's result in the order of `parts`, until it returns false or the
    /// parts run out; the reads still in flight are then cancelled and their results dropped. The first error (of a
    /// read or of `consume`) ends it and is thrown.
    func run<Parts: Sequence<Part>>(
        _ parts: Parts, consume: (_ part: Part, _ result: Result) async throws -> Bool
    ) async throws {
        let width = max(width, 1)
        let read = self.read
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var upcoming = parts.enumerated().makeIterator()
            var partsByIndex: [Int: Part] = [:]
            var ready: [Int: Result] = [:]
            var started = 0
            var consumed = 0
            func startNext() -> Bool {
                guard let (index, part) = upcoming.next() else { return false }
                partsByIndex[index] = part
                group.addTask { (index, try await read(part)) }
                started += 1
                return true
            }
            while started - consumed < width, startNext() {}
            while consumed < started {
                guard let (index, result) = try await group.next() else { break }
                ready[index] = result
                while let result = ready.removeValue(forKey: consumed),
                    let part = partsByIndex.removeValue(
                        forKey: consumed)
                {
                    consumed += 1
                    guard try await consume(part, result) else {
                        // Stop here: nobody takes the results of the reads in flight, so they are
                        // cancelled, and the group waits for them (their errors are dropped).
                        group.cancelAll()
                        return
                    }
                    while started - consumed < width, startNext() {}
                }
            }
        }
    }
}
