import Crypto
import Foundation
import Hummingbird
import LDAPDirectory
import Logging
import NIOCore
import PostgresNIO

/// `GET /metrics`: Prometheus text. Readable with the configured bearer token (`metrics.token`), or
/// without one only from a loopback address (as resolved through trusted proxies).
struct MetricsRoutes: Sendable {
    let metrics: AppMetrics
    let token: SecretText?
    let directory: LDAPDirectory?
    let database: PostgresClient?

    func add(to router: Router<AppRequestContext>) {
        router.get("metrics") { request, context in
            guard authorised(request, context) else {
                return Response(
                    status: .unauthorized,
                    headers: [.wwwAuthenticate: "Bearer realm=\"metrics\""])
            }
            await sample(logger: context.logger)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
    }

    func authorised(_ request: Request, _ context: AppRequestContext) -> Bool {
        if let token {
            guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
            // Compared as HMACs of equal length, so the time taken does not reveal a prefix.
            let key = SymmetricKey(size: .bits256)
            let given = HMAC<SHA256>.authenticationCode(for: Data(header.dropFirst(7).utf8), using: key)
            let expected = HMAC<SHA256>.authenticationCode(for: Data(token.text.utf8), using: key)
            return given == expected
        }
        guard let address = context.clientAddress else { return false }
        return address == "::1" || address.hasPrefix("127.")
    }

    /// Figures that are states, not events, read when they are asked for.
    func sample(logger: Logger) async {
        if let directory {
            for state in LDAPDirectory.CircuitState.allCases {
                metrics.gauge(
                    "freigabe_ldap_circuit_state", directory.circuitState == state ? 1 : 0,
                    dimensions: [("state", state.rawValue)])
            }
        }
        guard let database else { return }
        do {
            // Through the store's deadlines (pool wait, statement, a connection the server closed): a
            // scrape during a database outage answers `database_up 0` instead of hanging.
            let figures = try await Database.read(database, logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT
                        (SELECT count(*) FROM timers
                         WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= now())::float8,
                        (SELECT count(*) FROM timers
                         WHERE fired_at IS NULL AND cancelled_at IS NULL AND attempts > 0)::float8,
                        (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL)::float8,
                        COALESCE((SELECT extract(epoch FROM now() - min(created_at)) FROM outbox
                                  WHERE sent_at IS NULL AND failed_at IS NULL), 0)::float8,
                        (SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL)::float8,
                        -- Two index probes, as /ready's sealing check: the first event after the newest seal.
                        COALESCE((SELECT extract(epoch FROM now() - e.recorded_at) FROM audit_events e
                                  WHERE e.id > (SELECT coalesce(max(event_row), 0) FROM audit_seals)
                                  ORDER BY e.id LIMIT 1), 0)::float8
                    """, logger: logger)
                let figures = try await rows.decode((Double, Double, Double, Double, Double, Double).self)
                    .first(where: { _ in true })
                return (figures, try await ClockOffset.measure(on: connection, logger: logger))
            }
            metrics.gauge("freigabe_clock_offset_seconds", figures.1)
            if let (due, failing, pending, oldest, failed, unsealed) = figures.0 {
                metrics.gauge("freigabe_timers_due", due)
                metrics.gauge("freigabe_timers_failing", failing)
                metrics.gauge("freigabe_outbox_pending", pending)
                metrics.gauge("freigabe_outbox_oldest_age_seconds", oldest)
                metrics.gauge("freigabe_outbox_failed", failed)
                metrics.gauge("freigabe_audit_unsealed_age_seconds", max(unsealed, 0))
            }
            metrics.gauge("freigabe_metrics_database_up", 1)
        } catch {
            // The scrape still answers: an unreachable database is itself the figure.
            metrics.gauge("freigabe_metrics_database_up", 0)
            logger.warning("metrics: database figures unavailable", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}

/// Counts every answered request by route pattern, method and status, with its duration.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: AppMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        let method = request.method.rawValue
        do {
            let response = try await next(request, context)
            metrics.request(
                route: context.endpointPath ?? "unmatched", method: method, status: Int(response.status.code),
                duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(
                route: context.endpointPath ?? "unmatched", method: method, status: Int(status),
                duration: ContinuousClock.now - started)
            throw error
        }
    }
}
