import Foundation
import Metrics
import Prometheus

/// The figures an operator watches, in Prometheus' text format at `/metrics`.
///
/// Each application has its own registry and hands its factory to swift-metrics' types explicitly
/// (tests run several applications in one process, and `MetricsSystem.bootstrap` may run only once).
/// Labels are routes, commands and outcomes, never a person's uid.
public final class AppMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// Seconds; from a fast command (a few ms) to a transaction deadline hit.
    static let latencyBuckets: [Duration] = [
        .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        .seconds(10),
    ]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        self.factory = factory
    }

    /// One answered HTTP request; `route` is the route pattern (`/api/v1/requests/{id}`), not the path.
    func request(route: String, method: String, status: Int, duration: Duration) {
        let dimensions = [("route", route), ("method", method), ("status", String(status))]
        Counter(label: "freigabe_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(
            label: "freigabe_http_request_duration_seconds", dimensions: [("route", route), ("method", method)],
            factory: factory
        )
        .recordNanoseconds(duration.nanoseconds)
    }

    /// A command on a request (`submit`, `decide`, ...) and how it ended (`ok`, `conflict`, `forbidden`, ...).
    func command(_ operation: String, outcome: String, duration: Duration) {
        Counter(
            label: "freigabe_commands_total", dimensions: [("command", operation), ("outcome", outcome)],
            factory: factory
        ).increment()
        Timer(label: "freigabe_command_duration_seconds", dimensions: [("command", operation)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    /// A decision that was stored, by its outcome (`approved`, `rejected`, `changes_requested`, `revoked`,
    /// `discontinued`).
    func decision(_ outcome: String) {
        Counter(label: "freigabe_decisions_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// How long a command waited for a database connection.
    func databaseWait(_ duration: Duration) {
        Timer(label: "freigabe_db_pool_wait_seconds", factory: factory).recordNanoseconds(duration.nanoseconds)
    }

    /// A login against the directory, by result (`ok`, `cached`, `refused`, `throttled`, `unavailable`).
    func login(result: String, duration: Duration) {
        Counter(label: "freigabe_logins_total", dimensions: [("result", result)], factory: factory).increment()
        Timer(label: "freigabe_login_duration_seconds", dimensions: [("result", result)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    /// An outbox mail row after a sending attempt: `sent` (everybody reached), `failed` (someone never
    /// will), `retried` (another attempt is scheduled).
    func outboxMail(_ outcome: String) {
        Counter(label: "freigabe_outbox_mails_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// A webhook delivery after an attempt: `delivered`, `retried`, `failed` (given up or 410), by
    /// subscription (a configured name, so the label set stays small).
    func webhookDelivery(subscription: String, outcome: String) {
        Counter(
            label: "freigabe_webhook_deliveries_total",
            dimensions: [("subscription", subscription), ("outcome", outcome)],
            factory: factory
        ).increment()
    }

    /// A subscription switched off because its receiver answered 410 Gone.
    func webhookDisabled(subscription: String) {
        Counter(
            label: "freigabe_webhook_subscriptions_disabled_total", dimensions: [("subscription", subscription)],
            factory: factory
        ).increment()
    }

    /// Why a sealing round of the decision log did not do all it should.
    enum AuditSealFailure: String {
        /// The database's history differs from the outside copy of the checkpoints: the sealer refuses.
        case historyDiffers = "history_differs"
        /// The signed checkpoint is in the database but not in `audit.checkpoint_file`.
        case checkpointFile = "checkpoint_file"
        /// Anything else (database unavailable, a deadline); the next round tries again.
        case error
    }

    func auditSealFailure(_ reason: AuditSealFailure) {
        Counter(
            label: "freigabe_audit_seal_failures_total", dimensions: [("reason", reason.rawValue)], factory: factory
        ).increment()
    }

    /// A gauge set at scrape time.
    func gauge(_ label: String, _ value: Double, dimensions: [(String, String)] = []) {
        Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
