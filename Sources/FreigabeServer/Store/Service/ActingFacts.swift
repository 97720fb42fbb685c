import Foundation

/// What the request page needs besides the view to name who must act now (``ActingPeopleLookup``), read
/// in the request's own statement (``RequestService/requestForPage(id:caller:now:logger:)``), so that a
/// page view does not take a transaction of its own for it: the steward group of the dataset's domain and
/// the deputyships in force.
///
/// Whose deputies matter is the directory's answer (the holders of the roles the request waits for),
/// known only after the read; so the statement reads every deputyship in force then, up to ``limit``, and
/// the lookup keeps those of the holders.
public struct ActingFacts: Sendable, Hashable {
    /// A deputyship in force: `deputy` acts for `principal` (lower-cased, as the lookup compares uids).
    public struct Deputy: Sendable, Hashable, Decodable {
        public var deputy: String
        public var principal: String
    }

    /// DN of the steward group of the dataset's domain (as `domains.steward_group` stores it).
    public var stewardGroup: String
    /// Every deputyship in force at the read, oldest first; nil when more than ``limit`` are (the lookup
    /// then asks for its holders' own, in a transaction of its own), or when the request is not in review.
    public var deputies: [Deputy]?

    /// A city has some dozens in force at a time; past this the page reads only the holders' own.
    static let limit = 500

    /// A scalar subquery of request `r` giving the deputyships in force at `at` as JSON text, or NULL when
    /// `r` is not in review (nobody must act) or more than ``limit`` are in force. `at` is the placeholder
    /// the caller bound the instant to.
    static func subquery(at: String) -> String {
        """
        CASE WHEN r.phase = 'in_review' THEN (
            SELECT CASE WHEN count(*) <= \(limit) THEN coalesce(json_agg(json_build_object(
                    'deputy', x.deputy, 'principal', lower(x.principal)) ORDER BY x.valid_from, x.id), '[]') END::text
            FROM (SELECT deputy, principal, valid_from, id FROM deputyships
                  WHERE valid_from <= \(at) AND valid_until > \(at) AND (ended_at IS NULL OR ended_at > \(at))
                  ORDER BY valid_from, id LIMIT \(limit + 1)) x) END
        """
    }

    static func decode(_ json: String?) throws -> [Deputy]? {
        try json.map { try StoredJSON.decode([Deputy].self, from: $0) }
    }

    /// The deputies in force of `principals` as ``OutboxStore/deputies(of:at:stillAt:client:logger:)`` answers:
    /// (deputy, the principal as given), oldest deputyship first.
    func deputies(of principals: [String]) -> [(deputy: String, principal: String)]? {
        guard let deputies else { return nil }
        return deputies.compactMap { found in
            principals.first { $0.lowercased() == found.principal }.map { (found.deputy, $0) }
        }
    }
}
