import Configuration
import Hummingbird
import ServiceLifecycle

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully: open requests finish,
/// background services stop in reverse order. Graceful shutdown has a limit (`shutdown.timeout_seconds`,
/// default 10): work still running then is cancelled, and if even that does not end within 5 s the
/// process stops hard, so a stuck dependency can never keep it alive.
public enum FreigabeService {
    public static let shutdownTimeoutKey = "shutdown.timeout_seconds"

    public static func run(reader: ConfigReader) async throws {
        let timeout = try shutdownTimeout(SettingValues(reader: reader))
        let app = try await buildApplication(reader: reader)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger)
        configuration.maximumGracefulShutdownDuration = timeout
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }

    static func shutdownTimeout(_ values: SettingValues) throws -> Duration {
        let seconds = try values.parsed(shutdownTimeoutKey, expected: "Sekunden von 1 bis 600") { text in
            Int(text).flatMap { (1...600).contains($0) ? $0 : nil }
        }
        return .seconds(seconds ?? 10)
    }
}
