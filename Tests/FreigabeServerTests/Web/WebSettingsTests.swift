import Foundation
import Testing

@testable import FreigabeServer

/// `web.*`: the public address decides the cookies' `Secure`/`__Host-`, HSTS, the cross-site check and
/// every link in a mail, so a wrong one must stop the start at its key, never be taken half.
@Suite("Configuration: web.* settings")
struct WebSettingsTests {
    static func web(_ environment: [String: String]) async throws -> WebSettings {
        try await HTTPServerSettingsTests.configuration(environment).web
    }

    @Test("defaults: loopback http, 30 minutes idle, 10 hours at most, links for 14 days with the password")
    func defaults() async throws {
        let settings = try await Self.web([:])
        #expect(settings.publicURL.absoluteString == "http://127.0.0.1:8080")
        #expect(!settings.isHTTPS)
        #expect(settings.sessionCookieName == "freigabe-session")
        #expect(settings.idleTimeout == .seconds(30 * 60))
        #expect(settings.absoluteTimeout == .seconds(10 * 3600))
        #expect(settings.decisionLinkDays == 14)
        #expect(settings.decisionLinkPassword)
    }

    @Test("every key is read: https with a port, minutes, hours, days, the link password off")
    func keys() async throws {
        let settings = try await Self.web([
            "FREIGABE_WEB_PUBLIC_URL": "https://Freigabe.Stadt.example:8443/",
            "FREIGABE_WEB_SESSION_IDLE_MINUTES": "15",
            "FREIGABE_WEB_SESSION_MAX_HOURS": "24", "FREIGABE_WEB_DECISION_LINK_DAYS": "60",
            "FREIGABE_WEB_DECISION_LINK_PASSWORD": "false",
        ])
        #expect(settings.publicURL.absoluteString == "https://Freigabe.Stadt.example:8443")
        #expect(settings.isHTTPS)
        #expect(settings.sessionCookieName == "__Host-freigabe-session")
        #expect(settings.idleTimeout == .seconds(15 * 60))
        #expect(settings.absoluteTimeout == .seconds(24 * 3600))
        #expect(settings.decisionLinkDays == 60)
        #expect(!settings.decisionLinkPassword)
        // Plain http is for development on this machine only.
        for loopback in ["http://localhost:8080", "http://[::1]:8080"] {
            #expect(try await !Self.web(["FREIGABE_WEB_PUBLIC_URL": loopback]).isHTTPS, "\(loopback)")
        }
    }

    @Test(
        "a wrong value stops the start at its key",
        arguments: [
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "http://freigabe.stadt.example"),
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "javascript:alert(1)"),
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "https://u:p@freigabe.stadt.example"),
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "https://freigabe.stadt.example/?x=1"),
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "https://freigabe.stadt.example/#f"),
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "https://"),
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "ftp://freigabe.stadt.example"),
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "freigabe.stadt.example"),
            // The pages and the cookie live at the root: a prefix would reach the mails' links only.
            ("FREIGABE_WEB_PUBLIC_URL", "web.public_url", "https://intranet.stadt.example/freigabe"),
            ("FREIGABE_WEB_SESSION_IDLE_MINUTES", "web.session_idle_minutes", "0"),
            ("FREIGABE_WEB_SESSION_IDLE_MINUTES", "web.session_idle_minutes", "1441"),
            ("FREIGABE_WEB_SESSION_IDLE_MINUTES", "web.session_idle_minutes", "-1"),
            ("FREIGABE_WEB_SESSION_IDLE_MINUTES", "web.session_idle_minutes", "+30"),
            ("FREIGABE_WEB_SESSION_IDLE_MINUTES", "web.session_idle_minutes", "abc"),
            ("FREIGABE_WEB_SESSION_MAX_HOURS", "web.session_max_hours", "0"),
            ("FREIGABE_WEB_SESSION_MAX_HOURS", "web.session_max_hours", "25"),
            ("FREIGABE_WEB_SESSION_MAX_HOURS", "web.session_max_hours", "10.5"),
            ("FREIGABE_WEB_DECISION_LINK_DAYS", "web.decision_link_days", "0"),
            ("FREIGABE_WEB_DECISION_LINK_DAYS", "web.decision_link_days", "61"),
            ("FREIGABE_WEB_DECISION_LINK_DAYS", "web.decision_link_days", "99999999999999999999"),
            ("FREIGABE_WEB_DECISION_LINK_PASSWORD", "web.decision_link_password", "vielleicht"),
        ])
    func badValues(variable: String, key: String, value: String) async throws {
        let error = await #expect(throws: ConfigurationError.self) {
            try await Self.web([variable: value])
        }
        #expect(error?.key == key, "\(value)")
        #expect(error?.description.contains(variable) == true)
    }

    /// Mail to a server beyond this machine reaches people at their own computers: a link to 127.0.0.1
    /// (the default, when `web.public_url` was forgotten or misspelt) would lead each to their own.
    @Test("mail leaving this machine with the public address left at loopback stops the server's start")
    func loopbackAddressInMailLeavingTheMachine() async throws {
        let mail = ["FREIGABE_SMTP_HOST": "mail.stadt.example", "FREIGABE_MAIL_FROM": "freigabe@stadt.example"]
        let error = await #expect(throws: ConfigurationError.self) {
            try FreigabeService.StartSettings(
                reader: try await ConfigurationSources.reader(environment: mail), given: [])
        }
        // The tools that read the same settings send no links (`freigabe mail test` before the address
        // is known).
        #expect(try await HTTPServerSettingsTests.configuration(mail).mail?.smtp.host == "mail.stadt.example")
        #expect(error?.key == "web.public_url")
        #expect(error?.description.contains("FREIGABE_WEB_PUBLIC_URL") == true, "\(String(describing: error))")
        var configured = mail
        configured["FREIGABE_WEB_PUBLIC_URL"] = "https://freigabe.stadt.example"
        #expect(try await HTTPServerSettingsTests.configuration(configured).web.isHTTPS)
        // Mail to a sink on this machine (development, `make run`): loopback links are right.
        var local = mail
        local["FREIGABE_SMTP_HOST"] = "127.0.0.1"
        #expect(try await !HTTPServerSettingsTests.configuration(local).web.isHTTPS)
    }
}
