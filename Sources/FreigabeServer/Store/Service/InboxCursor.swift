import Foundation

/// Where an inbox page ends: the last shown request's place in the inbox's order (deadline, nulls last,
/// then creation time, then id). The place, not just the id, so that the next page continues right after
/// it even when that request left the inbox meanwhile (decided, withdrawn): an id alone would have to be
/// looked up, and a request that is no longer in the caller's inbox may not place a page (its deadline
/// and age are not theirs to learn). A place says nothing about anybody's request, whoever wrote it.
///
/// Its text (`next` and `after` in the API, `?nach=` on the page) is
/// `<deadline>.<created>.<request id>`, the times in microseconds since 1970 as PostgreSQL stores them (so
/// a place compares exactly) and `n` for no deadline.
public struct InboxCursor: Sendable, Hashable, LosslessStringConvertible {
    var deadline: Int64?
    var createdAt: Int64
    var id: UUID

    init(deadline: Int64?, createdAt: Int64, id: UUID) {
        self.deadline = deadline
        self.createdAt = createdAt
        self.id = id
    }

    /// Refuses anything but the three parts: digits only (no sign, no spaces), at most 18 of them, and a
    /// request id.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let createdAt = Self.microseconds(parts[1]), let id = UUID(uuidString: String(parts[2]))
        else { return nil }
        if parts[0] == "n" {
            deadline = nil
        } else if let deadline = Self.microseconds(parts[0]) {
            self.deadline = deadline
        } else {
            return nil
        }
        self.createdAt = createdAt
        self.id = id
    }

    public var description: String {
        "\(deadline.map(String.init) ?? "n").\(createdAt).\(id.uuidString.lowercased())"
    }

    private static func microseconds(_ digits: Substring) -> Int64? {
        Int64(digits: digits, in: 0...999_999_999_999_999_999)
    }
}
