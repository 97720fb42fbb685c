import Foundation
import Logging
import PostgresNIO

/// How far this instance's clock is from the database's. Several instances share leases, due times and
/// cut-offs through the database, but each stamps them with its own clock (`Date()`): an instance whose
/// clock runs two minutes fast claims another's mail and webhook leases early and fires timers early. The
/// clocks must agree (NTP); `/api/v1/ready` and `/metrics` say when this one does not.
enum ClockOffset {
    /// Beyond this the instance's clock is reported as off: NTP keeps clocks within milliseconds, so
    /// seconds mean it does not run; the shortest lease (a webhook delivery's) is 120 s.
    static let tolerance: TimeInterval = 5

    /// The database's clock minus this instance's (`now`), in seconds, against the middle of one round
    /// trip (its error is at most half the round trip).
    static func measure(
        on connection: PostgresConnection, now: () -> Date = Date.init, logger: Logger
    ) async throws -> TimeInterval {
        let before = now()
        let rows = try await connection.query("SELECT extract(epoch FROM clock_timestamp())::float8", logger: logger)
        var database: Double?
        for try await value in rows.decode(Double.self) { database = value }
        let after = now()
        guard let database else { return 0 }
        return database - (before.timeIntervalSince1970 + after.timeIntervalSince1970) / 2
    }

    /// Whether `offset` is within ``tolerance``.
    static func isWithinTolerance(_ offset: TimeInterval) -> Bool { abs(offset) <= tolerance }
}
