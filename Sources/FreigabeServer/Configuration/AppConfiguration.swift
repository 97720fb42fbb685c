import Configuration
import Foundation
import LDAPDirectory
import Logging
import WorkflowEngine

/// The server's settings, read once at start from a `ConfigReader` and then passed around as a
/// plain value.
///
/// Every setting has a configuration key; the same key can be given on the command line
/// (`--http-port 9000`), in the environment with the `FREIGABE_` prefix (`FREIGABE_HTTP_PORT=9000`)
/// and in the YAML file named by `config.file` (`http: { port: 9000 }`). See
/// ``ConfigurationSources`` for the order in which they win.
public struct AppConfiguration: Sendable, Equatable {
    /// Configuration keys, one per setting.
    public enum Key {
        public static let httpHost = "http.host"
        public static let httpPort = "http.port"
        public static let templatesDirectory = "templates.dir"
        public static let workflowsDirectory = "workflows.dir"
        public static let logLevel = "log.level"
        public static let logFormat = "log.format"
        public static let federalState = "state"
        public static let closedDays = "calendar.closed_days"
        public static let configFile = "config.file"
        public static let migrateOnStart = "db.migrate_on_start"
        public static let openAPIFile = "api.openapi_file"
        public static let metricsToken = "metrics.token"
    }

    /// Address to bind to. Loopback by default: exposing the server is an explicit decision.
    public var host: String
    /// TCP port to listen on.
    public var port: Int
    /// Directory with the Mustache templates, `strings/` and `static/`.
    public var templatesDirectory: String
    /// Directory with the workflow definitions (YAML).
    public var workflowsDirectory: String
    /// Minimum level of log messages.
    public var logLevel: Logger.Level
    /// Federal state whose public holidays count for deadlines in working days.
    public var federalState: GermanState
    /// Days of every year the city's offices close besides the state's holidays (`calendar.closed_days`);
    /// by default 24 and 31 December (TVöD § 6 (3)).
    public var closedDays: Set<ClosedDay> = ClosedDay.christmasAndNewYearsEve
    /// The city's LDAP / Active Directory (`ldap.*`); nil when `ldap.url` is not set, in which case
    /// only the public pages are served and every route that needs a login answers 503.
    public var directory: LDAPConfiguration?
    /// How long a successful login is remembered (`ldap.login_cache_seconds`, default 60, 0 = off).
    public var loginCacheTTL: Duration
    /// The PostgreSQL database (`db.*`); nil when no `db.*` key is set, in which case the API answers 503.
    public var database: DatabaseSettings?
    /// Apply pending migrations at start with the admin role (`db.migrate_on_start`, default true when
    /// `db.admin_user` is set). Otherwise the server refuses to start on an outdated schema.
    public var migrateOnStart: Bool
    /// The OpenAPI document served at `/api/v1/openapi.yaml` (`api.openapi_file`).
    public var openAPIFile: String
    /// Connection timeouts and limits, trusted proxies (`http.*`).
    public var http: HTTPServerSettings
    /// Bearer token for `/metrics`; without one, `/metrics` answers loopback clients only.
    public var metricsToken: SecretText?
    /// Where notifications are sent (`smtp.*`, `mail.*`, `outbox.*`); nil without `smtp.host`, in which
    /// case no mail is sent and the outbox rows wait.
    public var mail: MailSettings?
    /// `text` (swift-log's default lines) or `json` (one object per line, for log collectors).
    public var logFormat: LogFormat = .text
    /// The decision log's signing key and outside copy (`audit.*`).
    public var audit = AuditSettings()
    /// The web pages' address and session lifetimes (`web.*`).
    public var web = WebSettings()
    /// What the Open Data catalogue says about the city (`dcat.*`).
    public var dcat = DCATSettings()
    /// Webhook subscriptions (`webhooks.*`); none by default.
    public var webhooks = WebhookSettings()

    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        templatesDirectory: String = "Templates",
        workflowsDirectory: String = "Workflows",
        logLevel: Logger.Level = .info,
        federalState: GermanState = .hessen,
        directory: LDAPConfiguration? = nil,
        loginCacheTTL: Duration = .seconds(60),
        database: DatabaseSettings? = nil,
        migrateOnStart: Bool = true,
        openAPIFile: String = "openapi.yaml",
        http: HTTPServerSettings = HTTPServerSettings()
    ) {
        self.host = host
        self.port = port
        self.templatesDirectory = templatesDirectory
        self.workflowsDirectory = workflowsDirectory
        self.logLevel = logLevel
        self.federalState = federalState
        self.directory = directory
        self.loginCacheTTL = loginCacheTTL
        self.database = database
        self.migrateOnStart = migrateOnStart
        self.openAPIFile = openAPIFile
        self.http = http
    }

    /// Reads and validates all settings; a setting that is not given keeps its default.
    ///
    /// - Throws: ``ConfigurationError`` with code `invalidValue` for the first setting that cannot be used.
    public init(reader: ConfigReader) throws {
        try self.init(values: SettingValues(reader: reader))
    }

    init(values: SettingValues) throws {
        var configuration = AppConfiguration()
        if let host = values.text(Key.httpHost) {
            configuration.host = host
        }
        configuration.port = try values.wholeNumber(Key.httpPort, in: 1...65535) ?? configuration.port
        if let directory = values.text(Key.templatesDirectory) {
            configuration.templatesDirectory = directory
        }
        if let directory = values.text(Key.workflowsDirectory) {
            configuration.workflowsDirectory = directory
        }
        let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
        if let level = try values.parsed(Key.logLevel, expected: levels, parse: Self.logLevel) {
            configuration.logLevel = level
        }
        let states = GermanState.allCases.map(\.rawValue).joined(separator: ", ")
        if let state = try values.parsed(Key.federalState, expected: states, parse: Self.federalState) {
            configuration.federalState = state
        }
        if let days = try values.parsed(
            Key.closedDays, expected: "Tage als MM-TT, mit ; getrennt (12-24; 12-31; 08-15), oder none",
            parse: Self.closedDays)
        {
            configuration.closedDays = days
        }
        configuration.http = try HTTPServerSettings.read(values)
        configuration.directory = try DirectorySettings.read(values)
        configuration.loginCacheTTL = try DirectorySettings.loginCacheTTL(values)
        configuration.database = try DatabaseSettings.read(values)
        configuration.mail = try MailSettings.read(values)
        configuration.webhooks = try WebhookSettings.read(values)
        if let file = values.text(Key.openAPIFile) { configuration.openAPIFile = file }
        configuration.metricsToken = values.text(Key.metricsToken).map(SecretText.init)
        configuration.audit = try AuditSettings.read(values)
        configuration.web = try WebSettings.read(values)
        configuration.dcat = try DCATSettings.read(values, publicURL: configuration.web.publicURL)
        if let format = try values.parsed(
            Key.logFormat, expected: "text, json", parse: { LogFormat(rawValue: $0.lowercased()) })
        {
            configuration.logFormat = format
        }
        if let migrate = try values.parsed(Key.migrateOnStart, expected: "true, false", parse: DirectorySettings.bool) {
            configuration.migrateOnStart = migrate
        }
        try configuration.checkDatabasePool()
        self = configuration
    }

    /// What only the server needs to hold (the command-line tools that read the same settings send no
    /// links and hold no transactions: `freigabe mail test` before the public address is known): mail
    /// links that lead somewhere, database deadlines that do not undo each other.
    func checkServerStart() throws(ConfigurationError) {
        try checkLinkAddress()
        do {
            try database?.timeouts.checkOrder()
        } catch {
            throw DatabaseSettings.configurationError(error)
        }
    }

    /// Refuses mail that leaves this machine with links to it: `web.public_url` left at its loopback
    /// default (forgotten, or misspelt in the file) while `smtp.host` is another machine would send every
    /// task mail's links, and the Open Data catalogue's addresses, to each reader's own computer.
    private func checkLinkAddress() throws(ConfigurationError) {
        guard let mail, !Self.isLoopback(mail.smtp.host), let host = web.publicURL.host,
            Self.isLoopback(host) || host == "[::1]"
        else { return }
        let key = WebSettings.Key.publicURL
        throw ConfigurationError(
            code: .invalidValue, key: key,
            description: "„\(key)“ (Umgebungsvariable \(SettingValues.environmentName(for: key))) ist "
                + "„\(web.publicURL.absoluteString)“, aber die Mails gehen über „\(mail.smtp.host)“ hinaus: ihre "
                + "Links führten jeden Empfänger auf den eigenen Rechner. Nötig ist die Adresse, unter der die "
                + "Stadt Freigabe erreicht (https://…).")
    }

    /// The pool's connections held for as long as the server runs, each by `LISTEN freigabe_outbox`:
    /// the mail dispatcher's (SMTP and a directory configured) and the webhook dispatcher's (with
    /// subscriptions; on the same connection also `LISTEN freigabe_webhook_retry`).
    var databaseListeners: Int {
        (mail != nil && directory != nil ? 1 : 0) + (webhooks.subscriptions.isEmpty ? 0 : 1)
    }

    /// The smallest `db.max_connections` that leaves the listeners' connections and two more: one for the
    /// pages and the API, one for the background rounds (timers, mail, webhooks, sealing).
    var minimumDatabaseConnections: Int { databaseListeners + 2 }

    /// Refuses a pool the listeners would leave (all but) empty: every call would wait for a connection
    /// and answer 503, and `/ready` report the database unreachable, for as long as the server runs.
    func checkDatabasePool() throws(ConfigurationError) {
        guard let database, database.maxConnections < minimumDatabaseConnections else { return }
        let key = "db.max_connections"
        let listening = [
            mail != nil && directory != nil ? "den Mailversand" : nil,
            webhooks.subscriptions.isEmpty ? nil : "die Webhooks",
        ].compactMap { $0 }
        let each = listening.count == 1 ? "eine" : "je eine"
        let held =
            listening.isEmpty ? "" : "\(each) hält dauerhaft LISTEN für \(listening.joined(separator: " und ")), "
        throw ConfigurationError(
            code: .invalidValue, key: key,
            description: "„\(key)“ (Umgebungsvariable \(SettingValues.environmentName(for: key))) ist "
                + "\(database.maxConnections), nötig sind mindestens \(minimumDatabaseConnections) Verbindungen: "
                + held + "dazu zwei für Seiten, API und Hintergrundarbeit.")
    }

    private static func logLevel(_ text: String) -> Logger.Level? {
        Logger.Level(rawValue: text.lowercased())
    }

    /// `12-24; 12-31` (also with commas, as a YAML list gives it); `none` for no day besides the holidays.
    static func closedDays(_ text: String) -> Set<ClosedDay>? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased() != "none" else { return [] }
        var days: Set<ClosedDay> = []
        for part in trimmed.split(whereSeparator: { $0 == ";" || $0 == "," }) {
            guard let day = ClosedDay(part.trimmingCharacters(in: .whitespaces)) else { return nil }
            days.insert(day)
        }
        return days.isEmpty ? nil : days
    }

    private static func federalState(_ text: String) -> GermanState? {
        GermanState(rawValue: text.uppercased())
    }

    /// Whether ``host`` is a loopback address, i.e. the server is unreachable from other machines.
    public var bindsToLoopback: Bool { Self.isLoopback(host) }

    /// `localhost`, `127.0.0.0/8`, `::1`: this machine, reached without a network.
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { Self.isOctet($0) }
    }

    /// `0` to `255` in plain decimal: no sign, no leading zero (which the C parser reads as octal or refuses).
    private static func isOctet(_ text: Substring) -> Bool {
        guard !text.isEmpty, text.count <= 3, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return (text == "0" || text.first != "0") && (Int(text) ?? 256) <= 255
    }
}

/// Reads raw setting values as text, so that every source (environment, command line, YAML,
/// in-memory) is parsed the same way and a bad value gives an error instead of a silent default
/// (`ConfigReader.int(forKey:)` returns nil for `"abc"`).
struct SettingValues {
    let reader: ConfigReader
    /// Every key this reading asked for, set or not (see `ConfigurationSources.unread(_:asked:)`).
    var asked = AskedKeys()

    /// The trimmed value of `key`; nil if unset, empty (an empty environment variable means "not set") or
    /// YAML's null (`~`, `null`: a templated file's "no value", which the file provider hands over as text).
    func text(_ key: String) -> String? {
        asked.insert(key)
        let configKey = ConfigKey(key)
        // Environment, command line and YAML scalars all answer a string lookup; only typed
        // in-memory values (tests, embedders) need the int/bool fallbacks. A YAML list (`dsb:` with one
        // `- cn=…` line per group) is the `;`-separated text the other sources give: unread, the setting
        // would silently be unset.
        var raw: String? =
            reader.string(forKey: configKey)
            ?? reader.int(forKey: configKey).map(String.init)
            ?? reader.bool(forKey: configKey).map(String.init)
        if raw == nil { raw = reader.stringArray(forKey: configKey).map { $0.joined(separator: ";") } }
        guard let trimmed = raw?.trimmingCharacters(in: .whitespaces), !trimmed.isEmpty,
            !Self.yamlNulls.contains(trimmed)
        else {
            return nil
        }
        return trimmed
    }

    /// YAML 1.2's spellings of null.
    static let yamlNulls: Set<String> = ["~", "null", "Null", "NULL"]

    /// The value of `key` converted by `parse`; nil if unset.
    ///
    /// - Throws: ``ConfigurationError`` naming the key, its environment variable and `expected`
    ///   when the value is set but `parse` rejects it.
    func parsed<Value>(_ key: String, expected: String, parse: (String) -> Value?) throws -> Value? {
        guard let text = text(key) else { return nil }
        guard let value = parse(text) else { throw Self.invalid(key, text, expected: expected) }
        return value
    }

    /// A whole number within `range` (a port, a size, a count), or nil when `key` is not set.
    func wholeNumber(_ key: String, in range: ClosedRange<Int>, expected: String? = nil) throws -> Int? {
        try parsed(key, expected: expected ?? "ganze Zahl von \(range.lowerBound) bis \(range.upperBound)") {
            Int(digits: $0, in: range)
        }
    }

    /// A duration of whole seconds within `range` (a deadline, a pause), or nil when `key` is not set.
    func seconds(_ key: String, in range: ClosedRange<Int>) throws -> Duration? {
        try parsed(key, expected: "Sekunden von \(range.lowerBound) bis \(range.upperBound)") {
            Int(digits: $0, in: range).map { .seconds($0) }
        }
    }

    /// The error for `text`, the value of `key`, which is not `expected`: the key, its environment
    /// variable and its option named, in the operator's words.
    static func invalid(_ key: String, _ text: String, expected: String) -> ConfigurationError {
        ConfigurationError(
            code: .invalidValue,
            key: key,
            description: """
                Ungültiger Wert für „\(key)“ (Umgebungsvariable \(environmentName(for: key)), \
                Option \(optionName(for: key))): „\(text)“. Erlaubt: \(expected).
                """
        )
    }

    /// `http.port` → `FREIGABE_HTTP_PORT`, as `EnvironmentVariablesProvider` encodes prefixed keys.
    static func environmentName(for key: String) -> String {
        "FREIGABE_" + environmentKey(key)
    }

    /// A key as the environment spells it without the prefix: upper case, every other character `_`
    /// (`db.tls_ca_file` and `db-tls-ca-file` are both `DB_TLS_CA_FILE`).
    static func environmentKey(_ key: some StringProtocol) -> String {
        key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    /// `http.port` → `--http-port`, as ``ConfigurationSources/argumentSettings(_:)`` reads them.
    static func optionName(for key: String) -> String {
        "--" + key.map { $0 == "." || $0 == "_" ? "-" : String($0) }.joined()
    }
}
