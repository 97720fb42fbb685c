import Foundation
import WorkflowEngine

/// Shorthands for the calendar tests. A namespace rather than extensions on the engine's types, so they
/// cannot clash with helpers of other test files in this target.
enum CalendarFixtures {
    /// A day from its ISO form; traps on a typo in the test itself.
    static func day(_ iso: String) -> CivilDate {
        guard let date = CivilDate(iso: iso) else { fatalError("Bad test date \(iso)") }
        return date
    }

    /// An instant from an ISO 8601 timestamp with offset, e.g. "2026-04-02T22:00:00Z".
    static func instant(_ iso: String) -> Date {
        guard let date = ISO8601DateFormatter().date(from: iso) else { fatalError("Bad test instant \(iso)") }
        return date
    }

    /// An instant as an ISO 8601 timestamp in UTC, so failing expectations print readably.
    static func utc(_ instant: Date) -> String {
        ISO8601DateFormatter().string(from: instant)
    }

    static let berlin = TimeZone(identifier: "Europe/Berlin")!
}
