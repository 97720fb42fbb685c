import Foundation
import Hummingbird
import HummingbirdAuth
import LDAPDirectory

/// The web pages and what they stand on: sessions in PostgreSQL, the CSRF check, the person behind the
/// session. Without a database only the public start page is served (and the login says why not).
struct WebRoutes: Sendable {
    let pages: WebPages
    let authenticator: DirectoryAuthenticator
    let directory: LDAPDirectory?
    let service: RequestService?
    let sessions: PostgresSessionDriver?
    /// The workflows in force, for the start page's "who decides" (nil: none loaded, as in some tests).
    var workflows: WorkflowLibrary? = nil

    /// `routes` names the methods of every route once all are added: a form posted after its session
    /// ended leads back to a page that answers GET (``EndedSessionForms``).
    func add(to router: Router<AppRequestContext>, routes: RouteMethods) {
        guard let service, let sessions else {
            HomePages(pages: pages, service: nil, acting: nil, workflows: workflows).add(to: router.group())
            return
        }
        let settings = pages.settings
        let cookie = SessionCookieParameters(
            name: settings.sessionCookieName, path: "/", secure: settings.isHTTPS, sameSite: .lax)
        let ended = EndedSessionForms(routes: routes)
        let group = router.group()
            // Before the session is read: another site's image or frame of a page gets nothing.
            .add(middleware: ForeignEmbeddingMiddleware())
            .add(middleware: SessionReadFailure.Scope())
            .add(
                middleware: SessionMiddleware<AppRequestContext>(
                    storage: sessions,
                    configuration: SessionMiddlewareConfiguration(
                        sessionCookieParameters: cookie, keyPrefix: LoginPages.sessionKeyPrefix,
                        defaultSessionExpiration: settings.absoluteTimeout))
            )
            // A session that could not be read is no session that ended (the middleware above goes on without it).
            .add(middleware: SessionReadFailure.Guard())
            // Before anything reads the session's person: a forged form is refused first.
            .add(
                middleware: FormCSRFMiddleware(
                    https: settings.isHTTPS, sessionCookieName: settings.sessionCookieName, endedSessions: ended)
            )
            .add(
                middleware: SessionAuthenticator(
                    directory: directory, settings: settings, now: pages.now, sessions: sessions,
                    endedSessions: ended)
            )
            // Once the person is known: an error page of these routes shows them by name with their
            // navigation, as every page does (the router's own error pages know only the session's uid).
            .add(middleware: ErrorPageMiddleware(renderer: pages.renderer))
        LoginPages(pages: pages, authenticator: authenticator, sessions: sessions).add(to: group)
        let acting = ActingPeopleLookup(directory: directory, service: service)
        HomePages(pages: pages, service: service, acting: acting, workflows: workflows, routes: routes).add(to: group)
        CatalogPages(pages: pages, service: service, acting: acting).add(to: group)
        RequestPages(pages: pages, service: service, acting: acting).add(to: group)
        DeputyshipPages(pages: pages, service: service, directory: directory).add(to: group)
        AdminPages(pages: pages, service: service).add(to: group)
        AdminDomainPages(
            pages: pages, service: service,
            mappedStewardGroups: directory?.configuration.stewardGroups ?? [:]
        ).add(to: group)
        AdminOutboxPages(pages: pages, service: service).add(to: group)
        AuditPages(pages: pages, service: service, query: AuditQuery(client: service.client), acting: acting).add(
            to: group)
        CaseFilePages(pages: pages, service: service, query: AuditQuery(client: service.client), acting: acting)
            .add(to: group)
        DecisionLinkPages(
            pages: pages, service: service, links: DecisionLinkStore(client: service.client, logger: sessions.logger),
            directory: directory, authenticator: authenticator, acting: acting
        ).add(to: group)
    }
}
