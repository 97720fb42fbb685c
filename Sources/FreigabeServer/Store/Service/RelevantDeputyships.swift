import Foundation
import WorkflowEngine

/// The deputyships (as deputy) of one person that can still matter at `now`, read by one subquery that
/// both a command's read (`CommandSubject`) and the other callers (`CallerContext.load`) embed. Ended and
/// long-expired deputyships are left out; recent ones stay so the engine can say "deputyship not active"
/// instead of "not authorised".
enum RelevantDeputyships {
    static func cutoff(_ now: Date) -> Date { now.addingTimeInterval(-30 * 86_400) }

    /// A scalar subquery giving the deputyships as JSON text; `deputy` and `cutoff` are the placeholders
    /// (`$2`) the caller bound them to.
    static func subquery(deputy: String, cutoff: String) -> String {
        """
        (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                    'principal', principal, 'from', extract(epoch FROM valid_from),
                    'until', extract(epoch FROM LEAST(valid_until, COALESCE(ended_at, valid_until))))
                ORDER BY valid_from), '[]')::text
         FROM deputyships
         WHERE deputy = \(deputy) AND LEAST(valid_until, COALESCE(ended_at, valid_until)) > \(cutoff))
        """
    }

    static func decode(_ json: String, deputy: String) throws -> [Deputyship] {
        try StoredJSON.decode([Period].self, from: json).map {
            Deputyship(
                principal: $0.principal, deputy: deputy, validFrom: Date(timeIntervalSince1970: $0.from),
                validUntil: Date(timeIntervalSince1970: $0.until))
        }
    }

    private struct Period: Decodable {
        var principal: String
        var from: Double
        var until: Double
    }
}
