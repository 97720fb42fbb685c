import Foundation
import Testing

@testable import FreigabeServer

/// A decision link lives `web.decision_link_days` as people count days in Berlin, and at least as long
/// as the step it decides may take.
@Suite("Decision links: when they expire")
struct DecisionLinkExpiryTests {
    static func instant(_ text: String) throws -> Date {
        try #require(ISO8601DateFormatter().date(from: text))
    }

    @Test("14 days later at the hour it was sent in Berlin, across both clock changes")
    func calendarDaysInBerlin() throws {
        // Sent Tuesday 20 October 2026, 10:00 summer time; 25 October the clocks go back.
        let autumn = try Self.instant("2026-10-20T08:00:00Z")
        #expect(
            DecisionLinkStore.expiry(minted: autumn, days: 14, deadline: nil)
                == (try Self.instant("2026-11-03T09:00:00Z")),
            "10:00 winter time, not 09:00")
        // Sent Friday 20 March 2026, 10:00 winter time; 29 March the clocks go forward.
        let spring = try Self.instant("2026-03-20T09:00:00Z")
        #expect(
            DecisionLinkStore.expiry(minted: spring, days: 14, deadline: nil)
                == (try Self.instant("2026-04-03T08:00:00Z")))
        // Far from a change it is plain 24-hour days.
        let june = try Self.instant("2026-06-01T08:00:00Z")
        #expect(DecisionLinkStore.expiry(minted: june, days: 1, deadline: nil) == june.addingTimeInterval(86_400))
    }

    @Test("not before the step's deadline (over the holidays), yet never beyond the longest lifetime")
    func atLeastUntilTheDeadline() throws {
        // Ten working days in Bavaria from Thursday 17 December 2026 end with Monday 4 January 2027.
        let sent = try Self.instant("2026-12-17T09:00:00Z")
        let deadline = try Self.instant("2027-01-04T23:00:00Z")
        #expect(DecisionLinkStore.expiry(minted: sent, days: 14, deadline: deadline) == deadline)
        // A deadline sooner than the lifetime shortens nothing.
        let soon = try Self.instant("2026-12-22T23:00:00Z")
        #expect(
            DecisionLinkStore.expiry(minted: sent, days: 14, deadline: soon)
                == (try Self.instant("2026-12-31T09:00:00Z")))
        // A deadline months away is capped at the longest lifetime the setting allows.
        let far = try Self.instant("2027-06-30T22:00:00Z")
        #expect(
            DecisionLinkStore.expiry(minted: sent, days: 14, deadline: far)
                == (try Self.instant("2027-02-15T09:00:00Z")), "60 days after 17 December")
    }
}
