import Foundation
import SMTPClient

/// How notifications leave: the SMTP server (`smtp.*`), the sender (`mail.*`) and the retry schedule
/// (`outbox.retry_schedule`). Without `smtp.host` there is none, and no dispatcher runs: the outbox
/// rows wait until a server is configured.
public struct MailSettings: Sendable, Equatable {
    public enum Key {
        public static let host = "smtp.host"
        public static let port = "smtp.port"
        public static let security = "smtp.security"
        public static let user = "smtp.user"
        public static let password = "smtp.password"
        public static let passwordFile = "smtp.password_file"
        public static let caFile = "smtp.ca_file"
        public static let serverName = "smtp.server_name"
        public static let allowPlainNonLoopback = "smtp.allow_plain_non_loopback"
        public static let connectTimeout = "smtp.connect_timeout_seconds"
        public static let commandTimeout = "smtp.command_timeout_seconds"
        public static let dataTimeout = "smtp.data_timeout_seconds"
        public static let from = "mail.from"
        public static let fromName = "mail.from_name"
        public static let hostName = "mail.host_name"
        public static let retrySchedule = "outbox.retry_schedule"
    }

    public var smtp: SMTPConfiguration
    /// The `From` of every mail.
    public var from: Mailbox
    /// Our host name: the right side of every `Message-ID` and the EHLO name.
    public var hostName: String
    public var retrySchedule: RetrySchedule
    /// The safety net beside LISTEN/NOTIFY: rows are looked for at least this often.
    public var pollInterval: Duration = .seconds(30)
    /// Rows per claim and per SMTP session.
    public var batchSize = 20
    /// How long a claimed row is left to its dispatcher before another may take it (a crashed
    /// instance's rows come back after this). Longer than one SMTP session may take.
    public var lease: Duration = .seconds(300)

    public init(smtp: SMTPConfiguration, from: Mailbox, hostName: String, retrySchedule: RetrySchedule = .standard) {
        self.smtp = smtp
        self.from = from
        self.hostName = hostName
        self.retrySchedule = retrySchedule
    }

    /// The settings, or nil when `smtp.host` is not set.
    ///
    /// - Throws: ``ConfigurationError`` naming the key when a value cannot be used (also a CA file that
    ///   cannot be read, or a password over a connection without TLS).
    static func read(_ values: SettingValues) throws -> MailSettings? {
        guard let given = values.text(Key.host) else { return nil }
        // `smtp://…` or `host:587` would fail every mail, temporarily, through the whole retry schedule.
        guard let host = DatabaseSettings.hostName(given) else {
            throw SettingValues.invalid(
                Key.host, given,
                expected: "ein Rechnername oder eine IP-Adresse, ohne Schema, Port oder Pfad "
                    + "(den Port nennt \(Key.port))")
        }
        let security =
            try values.parsed(Key.security, expected: "starttls, tls, plain") { text -> SMTPConfiguration.Security? in
                switch text.lowercased() {
                case "starttls": .startTLS
                case "tls": .implicitTLS
                case "plain": .plaintext
                default: nil
                }
            } ?? .startTLS
        let port = try values.wholeNumber(Key.port, in: 1...65_535)
        // Set but not an address: the parser's message names the key; not set at all: this one.
        guard
            let fromAddress = try values.parsed(
                Key.from, expected: "eine Mailadresse wie freigabe@stadt.example", parse: { try? EmailAddress($0) })
        else {
            throw ConfigurationError(
                code: .invalidValue, key: Key.from,
                description: "„\(Key.host)“ ist gesetzt, aber keine Absenderadresse: setzen Sie „\(Key.from)“ "
                    + "(Umgebungsvariable \(SettingValues.environmentName(for: Key.from))).")
        }
        let hostName =
            try values.parsed(Key.hostName, expected: "ein Rechnername wie freigabe.stadt.example") { text in
                Self.isHostName(text) ? text.lowercased() : nil
            } ?? fromAddress.domain.lowercased()
        guard Self.isHostName(hostName) else {
            throw ConfigurationError(
                code: .invalidValue, key: Key.hostName,
                description: "Die Domäne von „\(Key.from)“ taugt nicht als Rechnername für Message-IDs: "
                    + "setzen Sie „\(Key.hostName)“.")
        }
        let credentials = try Self.credentials(values)
        let schedule =
            try values.parsed(Key.retrySchedule, expected: "aufsteigende Pausen wie „5s, 1m, 5m, 30m, 2h, 6h, 24h“") {
                RetrySchedule.parse($0)
            } ?? .standard
        var smtp = SMTPConfiguration(
            host: host, port: port, security: security,
            tls: .init(caFile: values.text(Key.caFile), serverName: values.text(Key.serverName)),
            credentials: credentials, clientHostname: hostName)
        smtp.allowPlaintextNonLoopback =
            try values.parsed(Key.allowPlainNonLoopback, expected: "true, false", parse: DirectorySettings.bool)
            ?? false
        // Each step of a session within a fraction of the rows' lease (five minutes): the session is cut at
        // half of it anyway, and a relay that stalls after DATA must not hold its rows for longer.
        smtp.connectTimeout = try values.seconds(Key.connectTimeout, in: 1...120) ?? smtp.connectTimeout
        smtp.commandTimeout = try values.seconds(Key.commandTimeout, in: 1...120) ?? smtp.commandTimeout
        smtp.dataTimeout = try values.seconds(Key.dataTimeout, in: 1...120) ?? smtp.dataTimeout
        let settings = MailSettings(
            smtp: smtp, from: Mailbox(fromAddress, displayName: values.text(Key.fromName) ?? "Freigabe"),
            hostName: hostName, retrySchedule: schedule)
        // The client checks what only it knows (a readable CA file, no password without TLS): at start,
        // not at the first mail.
        do {
            _ = try SMTPClient(configuration: smtp)
        } catch {
            throw ConfigurationError(
                code: .invalidValue, key: Key.host,
                description: "Die SMTP-Einstellungen sind nicht verwendbar (\(Key.host), \(Key.security), "
                    + "\(Key.caFile), \(Key.allowPlainNonLoopback)): \(error.description)",
                details: String(reflecting: error))
        }
        return settings
    }

    /// `smtp.user` with `smtp.password_file` (preferred: the secret stays out of the environment) or
    /// `smtp.password`; neither without the other.
    private static func credentials(_ values: SettingValues) throws -> SMTPCredentials? {
        let user = values.text(Key.user)
        var password: String?
        if let path = values.text(Key.passwordFile) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else {
                throw ConfigurationError(
                    code: .invalidValue, key: Key.passwordFile,
                    description: "Die Passwortdatei „\(path)“ (\(Key.passwordFile)) ist nicht lesbar.")
            }
            // Files written by `echo` end with a newline that is not part of the password.
            password = String(text.trimmingSuffix(while: \.isNewline))
        } else {
            password = values.text(Key.password)
        }
        switch (user, password) {
        case (nil, nil):
            return nil
        case (let user?, let password?):
            return SMTPCredentials(username: user, password: password)
        case (nil, _):
            throw ConfigurationError(
                code: .invalidValue, key: Key.user,
                description: "Ein SMTP-Passwort ist gesetzt, aber kein Benutzer: setzen Sie „\(Key.user)“.")
        case (_, nil):
            throw ConfigurationError(
                code: .invalidValue, key: Key.password,
                description: "„\(Key.user)“ ist gesetzt, aber kein Passwort: setzen Sie „\(Key.passwordFile)“ "
                    + "oder „\(Key.password)“ (Umgebungsvariable FREIGABE_SMTP_PASSWORD).")
        }
    }

    /// Letters, digits, hyphens and dots: what a Message-ID's right side and EHLO accept.
    private static func isHostName(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return !text.isEmpty && text.utf8.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.unicodeScalars.allSatisfy {
                        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
                    }
            }
    }
}

extension String {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return self[..<end]
    }
}
