import Configuration
import Hummingbird
import ServiceLifecycle

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully: open requests finish,
/// background services stop in reverse order. Graceful shutdown has a limit (`shutdown.timeout_seconds`,
/// default 10): work still running then is cancelled, and if even that does not end within 5 s the
/// process stops hard, so a stuck dependency can never keep it alive.
public enum FreigabeService {
    public static let shutdownTimeoutKey = "shutdown.timeout_seconds"

    /// - Parameter given: the settings the sources hold (``ConfigurationSources/givenSettings(arguments:environment:reader:)``),
    ///   checked against the ones the server reads.
    public static func run(reader: ConfigReader, given: [GivenSetting] = []) async throws {
        let settings = try StartSettings(reader: reader, given: given)
        let logger = defaultLogger(configuration: settings.configuration)
        // Before the start can fail on what the typo left unset (`db.admin_pasword`: the migration's login).
        if !settings.unread.isEmpty {
            logger.warning(
                "Settings that nothing reads: a typo, or without effect here (ldap.* without ldap.url, smtp.* without smtp.host)",
                metadata: ["settings": .array(settings.unread.map { .string($0.description) })])
        }
        let app = try await buildApplication(configuration: settings.configuration, logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: app.logger)
        configuration.maximumGracefulShutdownDuration = settings.shutdownTimeout
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }

    /// Every setting the server reads at start, and the given ones it does not.
    struct StartSettings {
        var configuration: AppConfiguration
        var shutdownTimeout: Duration
        /// Given in the environment or the file but read by nothing (logged as a warning: environments
        /// carry other `FREIGABE_*` variables, and a file may keep a section that is switched off).
        var unread: [GivenSetting]

        /// - Throws: ``ConfigurationError`` for a bad value, and for a `--key` on the command line that
        ///   nothing reads: typed just now, it is a mistake to say at once.
        init(reader: ConfigReader, given: [GivenSetting]) throws {
            let values = SettingValues(reader: reader)
            self.shutdownTimeout = try FreigabeService.shutdownTimeout(values)
            self.configuration = try AppConfiguration(values: values)
            try configuration.checkServerStart()
            self.unread = ConfigurationSources.unread(given, asked: values.asked)
            if let typed = unread.first(where: { $0.source == .commandLine }) {
                throw ConfigurationError(
                    code: .invalidValue, key: typed.written,
                    description: "Die Option „\(ToolOutput.oneLine(typed.written))“ ist keine Einstellung, die gelesen "
                        + "wird: ein Tippfehler, oder ohne Wirkung (ldap.* ohne ldap.url, smtp.* ohne smtp.host).")
            }
        }
    }

    static func shutdownTimeout(_ values: SettingValues) throws -> Duration {
        try values.seconds(shutdownTimeoutKey, in: 1...600) ?? .seconds(10)
    }
}
