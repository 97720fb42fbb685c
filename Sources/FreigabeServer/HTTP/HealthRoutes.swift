import Hummingbird

/// `GET /health`: answers 200 while the process serves requests. For load balancers and monitoring;
/// it will check the database once there is one.
struct HealthRoutes<Context: RequestContext> {
    struct Status: ResponseEncodable {
        var status: String
    }

    func add(to router: Router<Context>) {
        router.get("/health") { _, _ in
            // A cached "ok" would hide an outage.
            EditedResponse(headers: [.cacheControl: "no-store"], response: Status(status: "ok"))
        }
    }
}
