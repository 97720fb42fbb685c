import Logging

/// Records what a sending round achieved, trying again while the claimed rows' lease still has time.
///
/// The mails and webhooks went out; a database that blinked meanwhile (a restart, a failover) must not
/// have them all sent again once the lease ran out. Recording writes only rows still claimed by the
/// round's token, in one statement, so trying it again is safe.
enum OutcomeRecording {
    /// Runs `record` until it succeeds, pausing `firstPause`, then twice as long each time (at most 8 s),
    /// as long as the next try starts before `end`; then throws the last error.
    static func retrying<Value: Sendable>(
        until end: ContinuousClock.Instant, firstPause: Duration = .seconds(1), logger: Logger,
        _ record: () async throws -> Value
    ) async throws -> Value {
        var pause = firstPause
        while true {
            do {
                return try await record()
            } catch {
                guard Rounds.goOn, ContinuousClock.now + pause < end else { throw error }
                logger.warning(
                    "the round's outcome could not be recorded; trying again while the rows are still claimed",
                    metadata: ["retry_in": "\(pause)", "error": "\(String(reflecting: error))"])
                await Rounds.pause(pause)
                // A loaded machine may wake late, a shutdown early: never a try after the end or in a shutdown.
                guard Rounds.goOn, ContinuousClock.now < end else { throw error }
                pause = min(pause * 2, .seconds(8))
            }
        }
    }
}
