import Foundation
import Logging
import PostgresNIO

/// Connection settings of the PostgreSQL database, for the application role and the admin (owner) role
/// that runs migrations. Read from `FREIGABE_DB_*` environment variables for now; the server's
/// configuration will map its keys (`db.host`, ...) onto the same fields.
///
/// | variable | key | meaning |
/// |---|---|---|
/// | `FREIGABE_DB_HOST` | `db.host` | host name or address (default 127.0.0.1) |
/// | `FREIGABE_DB_PORT` | `db.port` | port (default 5432) |
/// | `FREIGABE_DB_NAME` | `db.name` | database (default freigabe) |
/// | `FREIGABE_DB_USER` | `db.user` | application role (default freigabe_app) |
/// | `FREIGABE_DB_PASSWORD` / `_FILE` | `db.password` / `db.password_file` | its password, or a file holding it |
/// | `FREIGABE_DB_ADMIN_USER` | `db.admin_user` | owner role for migrations |
/// | `FREIGABE_DB_ADMIN_PASSWORD` / `_FILE` | `db.admin_password` / `db.admin_password_file` | its password |
/// | `FREIGABE_DB_TLS` | `db.tls` | `disable`, `prefer` (default), `require` or `verify_full`, as libpq's sslmode |
/// | `FREIGABE_DB_TLS_CA_FILE` | `db.tls_ca_file` | PEM file of the CA to trust; makes `require` verify too |
/// | `FREIGABE_DB_MAX_CONNECTIONS` | `db.max_connections` | pool size per instance (default 20) |
public struct DatabaseSettings: Sendable, Hashable {
    /// Modelled on libpq's `sslmode`: `prefer` and `require` encrypt without checking the certificate
    /// (unless a CA file is given), `verify_full` checks the chain and the host name. Production should use
    /// `verify_full`; `prefer` is the default only because it works with any local server.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify_full"
    }

    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var password: String?
    public var adminUser: String?
    public var adminPassword: String?
    public var tls: TLSMode
    public var caFile: String?
    public var maxConnections: Int

    public init(
        host: String = "127.0.0.1", port: Int = 5432, database: String = "freigabe", user: String = "freigabe_app",
        password: String? = nil, adminUser: String? = nil, adminPassword: String? = nil, tls: TLSMode = .prefer,
        caFile: String? = nil, maxConnections: Int = 20
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.adminUser = adminUser
        self.adminPassword = adminPassword
        self.tls = tls
        self.caFile = caFile
        self.maxConnections = maxConnections
    }

    /// A setting that cannot be used; `message` is German and names the variable.
    public struct SettingsError: Error, Sendable, Hashable, CustomStringConvertible {
        public var variable: String
        public var message: String
        public var description: String { message }
    }

    /// Reads `FREIGABE_DB_*` from `environment`; unset values keep their defaults.
    public init(environment: [String: String]) throws(SettingsError) {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func secret(_ name: String) throws(SettingsError) -> String? {
            if let direct = environment[name], !direct.isEmpty { return direct }
            guard let file = value(name + "_FILE") else { return nil }
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
            else {
                throw SettingsError(
                    variable: name + "_FILE", message: "Die Datei „\(file)“ aus \(name)_FILE ist nicht lesbar.")
            }
            // Files written by `echo` or editors end with a line break that is not part of the password.
            return String(text.trimmingSuffix { $0 == "\n" || $0 == "\r" })
        }
        var settings = DatabaseSettings()
        if let host = value("FREIGABE_DB_HOST") { settings.host = host }
        if let port = value("FREIGABE_DB_PORT") {
            guard let number = Int(port), (1...65535).contains(number) else {
                throw SettingsError(
                    variable: "FREIGABE_DB_PORT", message: "Ungültiger Wert für FREIGABE_DB_PORT: „\(port)“ (1–65535).")
            }
            settings.port = number
        }
        if let name = value("FREIGABE_DB_NAME") { settings.database = name }
        if let user = value("FREIGABE_DB_USER") { settings.user = user }
        settings.password = try secret("FREIGABE_DB_PASSWORD")
        settings.adminUser = value("FREIGABE_DB_ADMIN_USER")
        settings.adminPassword = try secret("FREIGABE_DB_ADMIN_PASSWORD")
        if let mode = value("FREIGABE_DB_TLS") {
            guard let tls = TLSMode(rawValue: mode.lowercased()) else {
                throw SettingsError(
                    variable: "FREIGABE_DB_TLS",
                    message: "Ungültiger Wert für FREIGABE_DB_TLS: „\(mode)“ (disable, prefer, require, verify_full).")
            }
            settings.tls = tls
        }
        settings.caFile = value("FREIGABE_DB_TLS_CA_FILE")
        if let maximum = value("FREIGABE_DB_MAX_CONNECTIONS") {
            guard let number = Int(maximum), (1...1000).contains(number) else {
                throw SettingsError(
                    variable: "FREIGABE_DB_MAX_CONNECTIONS",
                    message: "Ungültiger Wert für FREIGABE_DB_MAX_CONNECTIONS: „\(maximum)“ (1–1000).")
            }
            settings.maxConnections = number
        }
        self = settings
    }

    /// The client configuration for the application role, or (with `admin`) the owner role.
    public func clientConfiguration(admin: Bool = false) throws -> PostgresClient.Configuration {
        let username: String
        let password: String?
        if admin {
            guard let adminUser else {
                throw SettingsError(
                    variable: "FREIGABE_DB_ADMIN_USER",
                    message: "Für Migrationen ist die Administrationsrolle nötig (FREIGABE_DB_ADMIN_USER).")
            }
            username = adminUser
            password = adminPassword
        } else {
            username = user
            password = self.password
        }
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            tlsConfiguration.trustRoots = .file(caFile)
        } else if self.tls != .verifyFull {
            // libpq semantics: without a CA to check against, prefer/require only encrypt.
            tlsConfiguration.certificateVerification = .none
        }
        let tls: PostgresClient.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration)
            case .require, .verifyFull: .require(tlsConfiguration)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maxConnections
        return configuration
    }
}

extension String {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return self[..<end]
    }
}

extension Database {
    /// Runs `body` with a running `PostgresClient` (its `run()` in a child task), for command-line tools
    /// and tests; the server runs the client as a ServiceLifecycle service instead.
    static func withClient<Result: Sendable>(
        _ configuration: PostgresClient.Configuration, logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
