import Hummingbird

/// The query parameters one list or page knows. A name outside them (a misspelt `datset=`, an `offset=`
/// where pages go by `after`), or a single-valued one given twice (`limit=2&limit=500`), is refused with
/// 400 naming it, before anything is read or recorded: ignored, it would answer as if it were the
/// selection asked for (the whole list, the first value only, the first page again and again).
struct QueryNames: Sendable, Hashable {
    /// Names given at most once.
    var single: Set<String>
    /// Names that may repeat (`type`, one per event type).
    var repeatable: Set<String> = []

    /// `GET /api/v1/inbox`.
    static let inbox = QueryNames(single: ["limit", "after"])
    /// `GET /api/v1/me/requests`.
    static let myRequests = QueryNames(single: ["phase", "limit", "offset"])
    /// `GET /api/v1/datasets`.
    static let datasets = QueryNames(single: ["q", "domain", "classification", "owner", "limit", "offset"])
    /// Lists that take no parameters (`/inbox/stalled`, `/inbox/revocable`, `/me/deputy-decisions`, `/domains`, `/deputyships`).
    static let none = QueryNames(single: [])

    func adding(_ names: Set<String>) -> QueryNames {
        QueryNames(single: single.union(names), repeatable: repeatable)
    }

    /// Each refused name of a query string with its reason, by the name as given.
    func refusals(_ names: some Sequence<Substring>) -> [String: UserText] {
        var counts: [String: Int] = [:]
        for name in names { counts[String(name), default: 0] += 1 }
        var refusals: [String: UserText] = [:]
        let known = single.union(repeatable)
        for (name, count) in counts {
            if known.contains(name) {
                if count > 1, !repeatable.contains(name) {
                    refusals[name] = UserText("query.repeated_parameter", ["name": .text(Self.shown(name))])
                }
            } else {
                let allowed = known.isEmpty ? "—" : known.sorted().joined(separator: ", ")
                refusals[name] = UserText(
                    "query.unknown_parameter", ["name": .text(Self.shown(name)), "allowed": .text(allowed)])
            }
        }
        return refusals
    }

    /// Adds the refusals of `parameters`' names to `errors`; a parameter already refused keeps its own
    /// reason.
    func refuse(_ parameters: Parameters, errors: inout [String: UserText]) {
        errors.merge(refusals(parameters.map { $0.key })) { own, _ in own }
    }

    /// Throws 400 when `parameters` has a name outside these, or one of them twice.
    func check(_ parameters: Parameters) throws(APIProblem) {
        var errors: [String: UserText] = [:]
        refuse(parameters, errors: &errors)
        guard errors.isEmpty else { throw APIProblem.badRequest(UserText("query.invalid_parameters"), errors: errors) }
    }

    /// A name or value as a refusal shows it, as the user gave it: shortened, without control characters.
    static func shown(_ name: String) -> String {
        String(name.unicodeScalars.prefix(60).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
    }
}
