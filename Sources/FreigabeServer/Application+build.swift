import Configuration
import Hummingbird
import LDAPDirectory
import Logging
import ServiceLifecycle

/// Builds the Freigabe application from configuration.
///
/// - Throws: ``ConfigurationError`` if a setting, a template or a strings file is unusable.
public func buildApplication(reader: ConfigReader) async throws -> some ApplicationProtocol {
    try await buildApplication(configuration: AppConfiguration(reader: reader))
}

/// Builds the Freigabe application from already validated settings.
///
/// - Parameter logger: The application's logger; by default one labelled `freigabe` at
///   ``AppConfiguration/logLevel``.
public func buildApplication(
    configuration: AppConfiguration,
    logger: Logger? = nil
) async throws -> some ApplicationProtocol {
    let logger = logger ?? defaultLogger(configuration: configuration)
    if !configuration.bindsToLoopback {
        logger.warning(
            "Listening on a non-loopback address; make sure a TLS-terminating proxy is in front",
            metadata: ["http.host": .string(configuration.host)]
        )
    }
    let renderer = try await PageRenderer.load(templatesDirectory: configuration.templatesDirectory)
    let workflows = try WorkflowLoader.load(directory: configuration.workflowsDirectory)
    logger.info(
        "Workflow definitions loaded",
        metadata: ["workflows": .array(workflows.definitions.map { .string($0.pin.description) })]
    )
    var services: [any Service] = []
    var directory: LDAPDirectory?
    if let settings = configuration.directory {
        let ldap = try LDAPDirectory(configuration: settings, logger: logger)
        directory = ldap
        services.append(DirectoryService(directory: ldap))
    } else {
        logger.warning("No directory configured (ldap.url): only public pages are served, logins answer 503")
    }
    let router = buildRouter(
        configuration: configuration, renderer: renderer,
        authenticator: DirectoryAuthenticator(
            directory: directory, throttle: LoginThrottle()),
        logger: logger)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
        services: services,
        logger: logger
    )
}

func defaultLogger(configuration: AppConfiguration) -> Logger {
    var logger = Logger(label: "freigabe")
    logger.logLevel = configuration.logLevel
    return logger
}

/// The router with all routes and middleware.
///
/// Middleware order, outermost first: request log (sees the final status), security headers (on
/// every response, errors included), error pages, static files (serves `/static/*` when no route matches).
func buildRouter(
    configuration: AppConfiguration,
    renderer: PageRenderer,
    authenticator: DirectoryAuthenticator,
    logger: Logger
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.addMiddleware {
        RequestLogMiddleware()
        SecurityHeadersMiddleware()
        ErrorPageMiddleware(renderer: renderer)
        FileMiddleware(
            configuration.templatesDirectory + "/static",
            urlBasePath: "/static",
            logger: logger
        )
    }
    HealthRoutes().add(to: router)
    PageRoutes(renderer: renderer).add(to: router)
    let api = router.group("api/v1").add(middleware: authenticator)
    MeRoutes().add(to: api)
    return router
}
