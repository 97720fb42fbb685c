import Configuration
import Foundation
import Hummingbird
import LDAPDirectory
import Logging
import PostgresNIO
import ServiceLifecycle
import WorkflowEngine

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
    // Read before anything touches the database: a missing file stops the start as a configuration
    // error, not after the migrations ran.
    let document = try OpenAPIDocument.load(path: configuration.openAPIFile)
    logger.info(
        "Workflow definitions loaded",
        metadata: ["workflows": .array(workflows.entries.map { .string($0.definition.pin.description) })]
    )
    let metrics = AppMetrics()
    var services: [any Service] = []
    var directory: LDAPDirectory?
    var databaseClient: PostgresClient?
    if let settings = configuration.directory {
        let ldap = try LDAPDirectory(configuration: settings, logger: logger)
        for role in workflows.rolesWithoutGroups(settings.roleGroups) {
            logger.warning(
                "A workflow asks the role \(role.rawValue), but no directory group grants it: its tasks reach nobody and its steps wait until they escalate",
                metadata: ["setting": "ldap.roles.\(role.rawValue)"])
        }
        directory = ldap
        services.append(DirectoryService(directory: ldap))
    } else {
        logger.warning("No directory configured (ldap.url): only public pages are served, logins answer 503")
    }
    var api: APIRoutes?
    var requests: RequestService?
    var sessions: PostgresSessionDriver?
    if let database = configuration.database {
        // Also for settings not read by ``AppConfiguration/init(reader:)`` (tests, embedders).
        try configuration.checkDatabasePool()
        if let risk = database.networkPathRisk {
            logger.warning(
                "The database connection is not protected on the network: use db.tls=verify_full",
                metadata: ["db.host": .string(database.host), "reason": .string(risk)])
        }
        let client = try database.makeClient(logger: logger)
        services.append(client)
        databaseClient = client
        let principals: any PrincipalResolver =
            directory.map { DirectoryPrincipalResolver(directory: $0) } ?? ClosurePrincipalResolver { _ in nil }
        let service = RequestService(
            client: client, workflows: workflows,
            calendar: WorkingDayCalendar(state: configuration.federalState, closedDays: configuration.closedDays),
            principals: principals, metrics: metrics,
            webhookEvents: WebhookEventSelection(subscriptions: configuration.webhooks.subscriptions))
        services.append(TimerService(requests: service, logger: logger))
        let signer = try configuration.audit.signer()
        if signer == nil {
            logger.warning("No audit.key_file: the decision log is sealed, but its checkpoints are not signed")
        }
        let outsideCopy = configuration.audit.checkpointFile.map { _ in OutsideCopyStatus() }
        services.append(
            AuditSealService(
                sealer: AuditSealer(client: client, signer: signer, checkpointFile: configuration.audit.checkpointFile),
                interval: configuration.audit.sealInterval, logger: logger, metrics: metrics, outsideCopy: outsideCopy))
        if let dispatcher = try makeOutboxDispatcher(
            configuration: configuration, client: client, directory: directory, renderer: renderer,
            workflows: workflows, metrics: metrics, logger: logger)
        {
            services.append(OutboxDispatcherService(dispatcher: dispatcher, logger: logger))
        }
        services.append(
            try await makeWebhookDispatcherService(
                settings: configuration.webhooks, client: client, metrics: metrics, logger: logger))
        api = APIRoutes(
            service: service, document: document,
            readiness: .database(client, workflows: workflows, outsideCopy: outsideCopy),
            dcat: configuration.dcat)
        requests = service
        let sessionStore = PostgresSessionDriver(
            client: client, logger: logger, maximumLifetime: configuration.web.absoluteTimeout)
        services.append(sessionStore)
        services.append(IdempotencyKeyExpiry(client: client, logger: logger))
        sessions = sessionStore
        // Last: every setting above that can stop the start (the signing key, the mail templates and SMTP
        // settings, the webhook receivers' addresses) has been read, so a wrong one stops it on an
        // untouched database.
        if configuration.migrateOnStart && database.adminUser != nil {
            try await DatabaseStartup.migrate(database, workflows: workflows, logger: logger)
        } else {
            logger.notice(
                "Migrations are not applied at start (db.migrate_on_start, db.admin_user); /ready reports the schema")
        }
    } else {
        logger.warning("No database configured (db.*): the request API is not served")
    }
    let authenticator = DirectoryAuthenticator(
        directory: directory, throttle: LoginThrottle(),
        cache: configuration.loginCacheTTL > .zero ? LoginCache(ttl: configuration.loginCacheTTL) : nil,
        onFailedLogin: requests.map { auditFailedLogins(to: $0, logger: logger) }, metrics: metrics)
    let web = WebRoutes(
        pages: WebPages(renderer: renderer, settings: configuration.web, now: { Date() }),
        authenticator: authenticator, directory: directory, service: requests, sessions: sessions,
        workflows: workflows)
    let router = buildRouter(
        configuration: configuration, renderer: renderer, authenticator: authenticator, api: api, web: web,
        metrics: MetricsRoutes(
            metrics: metrics, token: configuration.metricsToken, directory: directory, database: databaseClient),
        logger: logger)
    return Application(
        router: router,
        server: configuration.http.serverBuilder,
        configuration: configuration.http.applicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port), logger: logger),
        services: services,
        logger: logger
    )
}

/// The mail dispatcher, or nil (logged once) when there is no SMTP server or no directory to find
/// the recipients in: the outbox rows then wait, nothing is lost.
func makeOutboxDispatcher(
    configuration: AppConfiguration, client: PostgresClient, directory: LDAPDirectory?, renderer: PageRenderer,
    workflows: WorkflowLibrary, metrics: AppMetrics, logger: Logger
) throws -> OutboxDispatcher? {
    guard let mail = configuration.mail else {
        logger.notice("No SMTP server configured (smtp.host): notifications stay in the outbox, no mail is sent")
        return nil
    }
    guard let directory else {
        logger.warning("SMTP is configured but no directory (ldap.url): recipients cannot be found, no mail is sent")
        return nil
    }
    for topic in OutboxTopic.allCases {
        for name in MailComposer.templateNames(for: topic) where renderer.library.getTemplate(named: name) == nil {
            throw ConfigurationError(
                code: .invalidTemplates, key: AppConfiguration.Key.templatesDirectory,
                description: "Im Vorlagenverzeichnis „\(configuration.templatesDirectory)“ fehlt „\(name).mustache“.")
        }
    }
    logger.info(
        "Mail dispatcher configured",
        metadata: ["smtp.server": "\(mail.smtp.host):\(mail.smtp.port)", "mail.from": "\(mail.from.address)"])
    do {
        return try OutboxDispatcher(
            client: client, directory: LDAPMailDirectory(directory: directory),
            composer: MailComposer(renderer: renderer, workflows: workflows, publicURL: configuration.web.publicURL),
            settings: mail, metrics: metrics, logger: logger, linkDays: configuration.web.decisionLinkDays)
    } catch {
        throw ConfigurationError(
            code: .invalidValue, key: MailSettings.Key.host,
            description: "Die SMTP-Einstellungen sind nicht verwendbar: \(error.description)",
            details: String(reflecting: error))
    }
}

/// The webhook dispatcher. Host names of the subscriptions are resolved now: one that resolves to an
/// address the policy refuses stops the start; one that does not resolve is a warning (checked again
/// before every attempt).
func makeWebhookDispatcherService(
    settings: WebhookSettings, client: PostgresClient, metrics: AppMetrics, logger: Logger
) async throws -> WebhookDispatcherService {
    for warning in try await WebhookAddressCheck.check(settings) {
        logger.warning("Webhook receiver not resolvable now", metadata: ["webhook.subscription": "\(warning)"])
    }
    for subscription in settings.subscriptions where subscription.url.scheme == "http" {
        // Allowed (a receiver on the same host or behind a TLS proxy), but the body travels readable.
        logger.warning(
            "Webhook URL without TLS: events travel unencrypted",
            metadata: ["webhook.subscription": "\(subscription)"])
    }
    if settings.subscriptions.isEmpty {
        logger.info("No webhook subscriptions (webhooks.subscriptions): webhook events are only marked handled")
    } else {
        logger.info(
            "Webhook dispatcher configured",
            metadata: ["webhook.subscriptions": .array(settings.subscriptions.map { .string($0.description) })])
    }
    return WebhookDispatcherService(
        dispatcher: WebhookDispatcher(client: client, settings: settings, metrics: metrics, logger: logger),
        logger: logger)
}

/// Records every refused login as a security event in the audit log. Failing to record it must not
/// turn the 401 into a 500, so such a failure is logged instead.
func auditFailedLogins(
    to requests: RequestService, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
) -> DirectoryAuthenticator.FailedLoginRecorder {
    { knownUser, address in
        do {
            try await requests.recordSecurityEvent(
                SecurityEvent(
                    event: .loginFailed, actor: knownUser, clientAddress: address,
                    details: knownUser == nil ? ["user": "unknown"] : [:]), now: now(),
                logger: logger)
        } catch {
            logger.error("Recording a failed login failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}

func defaultLogger(configuration: AppConfiguration) -> Logger {
    var logger =
        switch configuration.logFormat {
        case .text: Logger(label: "freigabe")
        case .json: Logger(label: "freigabe") { JSONLogHandler(label: $0) }
        }
    logger.logLevel = configuration.logLevel
    return logger
}

/// The router with all routes and middleware.
///
/// Middleware order, outermost first: client address (behind trusted proxies), request log (sees the
/// final status), security headers (on every response, errors included), error pages, static files
/// (serves `/static/*` when no route matches), 405/OPTIONS for known paths.
func buildRouter(
    configuration: AppConfiguration,
    renderer: PageRenderer,
    authenticator: DirectoryAuthenticator,
    api: APIRoutes? = nil,
    web: WebRoutes? = nil,
    metrics: MetricsRoutes = MetricsRoutes(metrics: AppMetrics(), token: nil, directory: nil, database: nil),
    logger: Logger
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    let routeMethods = RouteMethods()
    router.addMiddleware {
        ClientAddressMiddleware(resolver: configuration.http.clientAddressResolver)
        RequestMetricsMiddleware(metrics: metrics.metrics)
        RequestLogMiddleware()
        SecurityHeadersMiddleware(strictTransportSecurity: configuration.web.isHTTPS)
        ErrorPageMiddleware(renderer: renderer)
        // Inside the error pages: API errors (also the authenticator's 401/429/503) become
        // application/problem+json and never reach the HTML error page.
        APIProblemMiddleware<AppRequestContext>(pathPrefix: "/api/v1", texts: renderer.texts)
        FileMiddleware(
            configuration.templatesDirectory + "/static",
            urlBasePath: "/static",
            logger: logger
        )
        AllowedMethodsMiddleware(routes: routeMethods)
    }
    HealthRoutes().add(to: router)
    metrics.add(to: router)
    (web
        ?? WebRoutes(
            pages: WebPages(renderer: renderer, settings: configuration.web, now: { Date() }),
            authenticator: authenticator, directory: nil, service: nil, sessions: nil)).add(
            to: router, routes: routeMethods)
    let group = router.group("api/v1").add(
        middleware: CrossSiteRequestMiddleware<AppRequestContext>(publicURL: configuration.web.publicURL)
    ).add(middleware: authenticator)
    MeRoutes().add(to: group)
    api?.add(to: group)
    routeMethods.install(router.routes)
    return router
}
