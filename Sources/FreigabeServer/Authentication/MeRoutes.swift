import Hummingbird
import LDAPDirectory

/// `GET /api/v1/me`: who the directory says you are and which roles Freigabe derives from that.
/// The smallest authenticated route, and the first thing to try when setting up a script.
struct MeRoutes {
    struct Me: ResponseEncodable {
        var uid: String
        var displayName: String
        var mail: String?
        var organizationalUnit: String?
        var roles: [String]
        var stewardDomains: [String]

        enum CodingKeys: String, CodingKey {
            case uid, mail, roles
            case displayName = "display_name"
            case organizationalUnit = "organizational_unit"
            case stewardDomains = "steward_domains"
        }
    }

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("me") { _, context in
            guard let person = context.identity?.person else {
                throw APIProblem.unauthorized
            }
            return EditedResponse(
                headers: [.cacheControl: "no-store"],
                response: Me(
                    uid: person.uid, displayName: person.displayName, mail: person.mail,
                    organizationalUnit: person.organizationalUnit, roles: person.roles.map(\.rawValue).sorted(),
                    stewardDomains: person.stewardDomains.sorted()))
        }
    }
}
