import Foundation
import Logging
import NIOPosix
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
/// | `FREIGABE_DB_TRANSACTION_TIMEOUT_SECONDS` | `db.transaction_timeout_seconds` | deadline of one transaction, pool wait included (default 5) |
/// | `FREIGABE_DB_POOL_WAIT_TIMEOUT_SECONDS` | `db.pool_wait_timeout_seconds` | longest wait for a pooled connection (default 3) |
/// | `FREIGABE_DB_CONNECT_TIMEOUT_SECONDS` | `db.connect_timeout_seconds` | TCP connect plus startup and login (default 3) |
/// | `FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS` | `db.statement_timeout_seconds` | the server's `statement_timeout` (default 4) |
/// | `FREIGABE_DB_LOCK_TIMEOUT_SECONDS` | `db.lock_timeout_seconds` | the server's `lock_timeout` (default 2) |
/// | `FREIGABE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS` | `db.idle_in_transaction_timeout_seconds` | the server's `idle_in_transaction_session_timeout` (default 10) |
///
/// The last three are sent as startup parameters on the application role's connections only: migrations
/// (the admin role) may legitimately run longer.
public struct DatabaseSettings: Sendable, Hashable {
    /// Modelled on libpq's `sslmode`: `prefer` and `require` encrypt without checking the certificate
    /// (unless a CA file is given), `verify_full` checks the chain and the host name. Production should use
    /// `verify_full`; `prefer` is the default only because it works with any local server.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify_full"
    }

    /// Why the connection to a database on another machine could be read or changed on the way, or nil
    /// (loopback, or TLS with a checked certificate). Logged as a warning at start: `prefer` is the
    /// default because it works with any local server.
    public var networkPathRisk: String? {
        guard !AppConfiguration.isLoopback(host) else { return nil }
        switch tls {
        case .verifyFull: return nil
        case .require where caFile != nil: return nil
        case .disable: return "db.tls=disable: statements, answers and passwords cross the network in clear"
        case .prefer:
            return "db.tls=prefer: falls back to no encryption when the server offers none"
                + (caFile == nil ? ", and does not check the server's certificate" : "")
        case .require: return "db.tls=require without db.tls_ca_file: anyone on the path can pose as the database"
        }
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
    /// Deadlines: see ``Timeouts``.
    public var timeouts: Timeouts

    /// Every call to the database has a deadline, so a dead connection or a database that is down turns
    /// into a 503 within seconds instead of a request that never answers.
    public struct Timeouts: Sendable, Hashable {
        /// The whole of ``Database/transaction(_:logger:_:)``: waiting for a connection, BEGIN, the
        /// body, COMMIT. When it passes, the connection is closed (which fails the statement in flight)
        /// and the transaction fails with ``ServiceError/Code/unavailable``.
        public var transaction: Duration
        /// The longest wait for a connection from the pool (within ``transaction``).
        public var poolWait: Duration
        /// Opening a connection: TCP connect, TLS, startup and authentication.
        public var connect: Duration
        /// `statement_timeout`: the server cancels a statement running longer (shorter than
        /// ``transaction``, so the server ends a slow statement before the client gives up on it).
        public var statement: Duration
        /// `lock_timeout`: the server stops waiting for a row or table lock after this.
        public var lock: Duration
        /// `idle_in_transaction_session_timeout`: the server ends a session whose transaction waits for
        /// the client longer than this (a client that died mid-transaction holds no locks for long).
        public var idleInTransaction: Duration

        /// For migrations: they may wait for another instance's migration (advisory lock) and rewrite
        /// large tables, so the owner role's transactions get minutes, not a user's seconds.
        /// Refuses deadlines that undo each other in the server: a statement must end (cancelled by the
        /// database, answered 503 with `Retry-After`) before its transaction's deadline closes the
        /// connection from this side, and a lock wait within the statement that waits. (`audit verify`
        /// takes a longer statement timeout and lengthens the transaction's itself.)
        func checkOrder() throws(SettingsError) {
            if statement >= transaction {
                throw SettingsError(
                    variable: "FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS",
                    message: "FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS (\(statement)) muss kleiner sein als "
                        + "FREIGABE_DB_TRANSACTION_TIMEOUT_SECONDS (\(transaction)).")
            }
            if lock > statement {
                throw SettingsError(
                    variable: "FREIGABE_DB_LOCK_TIMEOUT_SECONDS",
                    message: "FREIGABE_DB_LOCK_TIMEOUT_SECONDS (\(lock)) darf nicht größer sein als "
                        + "FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS (\(statement)).")
            }
        }

        public static let migration = Timeouts(
            transaction: .seconds(600), poolWait: .seconds(30), connect: .seconds(10), statement: .seconds(590),
            lock: .seconds(590), idleInTransaction: .seconds(600))

        public init(
            transaction: Duration = .seconds(5), poolWait: Duration = .seconds(3), connect: Duration = .seconds(3),
            statement: Duration = .seconds(4), lock: Duration = .seconds(2), idleInTransaction: Duration = .seconds(10)
        ) {
            self.transaction = transaction
            self.poolWait = poolWait
            self.connect = connect
            self.statement = statement
            self.lock = lock
            self.idleInTransaction = idleInTransaction
        }

        /// The server-side limits as startup parameters, in milliseconds (PostgreSQL's unit for all three).
        var startupParameters: [(String, String)] {
            [
                ("statement_timeout", String(Self.milliseconds(statement))),
                ("lock_timeout", String(Self.milliseconds(lock))),
                ("idle_in_transaction_session_timeout", String(Self.milliseconds(idleInTransaction))),
            ]
        }

        static func milliseconds(_ duration: Duration) -> Int64 {
            let (seconds, attoseconds) = duration.components
            return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        }
    }

    public init(
        host: String = "127.0.0.1", port: Int = 5432, database: String = "freigabe", user: String = "freigabe_app",
        password: String? = nil, adminUser: String? = nil, adminPassword: String? = nil, tls: TLSMode = .prefer,
        caFile: String? = nil, maxConnections: Int = 20, timeouts: Timeouts = Timeouts()
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
        self.timeouts = timeouts
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
            let direct = environment[name].flatMap { $0.isEmpty ? nil : $0 }
            let file = value(name + "_FILE")
            // Which one counts would be a guess: a password replaced in its file while an old one stays set
            // directly (or the reverse) would fail every login without a word.
            if direct != nil, file != nil {
                throw SettingsError(
                    variable: name + "_FILE",
                    message: "\(name) und \(name)_FILE sind beide gesetzt; nur eines von beiden.")
            }
            if let direct { return direct }
            guard let file else { return nil }
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
            else {
                throw SettingsError(
                    variable: name + "_FILE", message: "Die Datei „\(file)“ aus \(name)_FILE ist nicht lesbar.")
            }
            // Files written by `echo` or editors end with a line break that is not part of the password.
            return String(text.trimmingSuffix { $0 == "\n" || $0 == "\r" })
        }
        var settings = DatabaseSettings()
        if let host = value("FREIGABE_DB_HOST") {
            // A connection URL or `host:port` never resolves, and a URL would carry its password into every
            // log line that names the host.
            guard let host = Self.hostName(host) else {
                throw SettingsError(
                    variable: "FREIGABE_DB_HOST",
                    message: "Ungültiger Wert für FREIGABE_DB_HOST: nur ein Rechnername oder eine IP-Adresse, ohne "
                        + "Schema, Benutzer, Port oder Pfad (den Port nennt FREIGABE_DB_PORT).")
            }
            settings.host = host
        }
        if let port = value("FREIGABE_DB_PORT") {
            guard let number = Int(digits: port, in: 1...65535) else {
                throw SettingsError(
                    variable: "FREIGABE_DB_PORT", message: "Ungültiger Wert für FREIGABE_DB_PORT: „\(port)“ (1–65535).")
            }
            settings.port = number
        }
        if let name = value("FREIGABE_DB_NAME") { settings.database = name }
        if let user = value("FREIGABE_DB_USER") {
            // The grants name the role in SQL: refused here, at start, not by the first migration.
            do {
                try Privileges.checkRoleName(user)
            } catch {
                throw SettingsError(
                    variable: "FREIGABE_DB_USER",
                    message: "Ungültiger Wert für FREIGABE_DB_USER: „\(user)“ (1 bis 63 Zeichen aus a–z, 0–9, _ und -)."
                )
            }
            settings.user = user
        }
        settings.password = try secret("FREIGABE_DB_PASSWORD")
        settings.adminUser = value("FREIGABE_DB_ADMIN_USER")
        // The server must not run as the tables' owner: the owner can switch off the decision log's
        // append-only triggers and rewrite it (README "Für Prüfer").
        if let adminUser = settings.adminUser, adminUser.lowercased() == settings.user.lowercased() {
            throw SettingsError(
                variable: "FREIGABE_DB_ADMIN_USER",
                message: "FREIGABE_DB_ADMIN_USER (Eigentümer der Tabellen) und FREIGABE_DB_USER (Anwendungsrolle) "
                    + "müssen verschiedene Rollen sein: „\(adminUser)“.")
        }
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
        if let caFile = settings.caFile, settings.tls != .disable {
            // PostgresNIO reads the file only at the first connection: a typo would show as "database
            // unreachable" on every request, not as the setting at fault.
            guard let certificates = try? NIOSSLCertificate.fromPEMFile(caFile), !certificates.isEmpty else {
                throw SettingsError(
                    variable: "FREIGABE_DB_TLS_CA_FILE",
                    message: "FREIGABE_DB_TLS_CA_FILE: „\(caFile)“ ist keine lesbare PEM-Datei mit Zertifikaten.")
            }
        }
        if let maximum = value("FREIGABE_DB_MAX_CONNECTIONS") {
            guard let number = Int(digits: maximum, in: 1...1000) else {
                throw SettingsError(
                    variable: "FREIGABE_DB_MAX_CONNECTIONS",
                    message: "Ungültiger Wert für FREIGABE_DB_MAX_CONNECTIONS: „\(maximum)“ (1–1000).")
            }
            settings.maxConnections = number
        }
        func seconds(_ name: String, into keyPath: WritableKeyPath<Timeouts, Duration>) throws(SettingsError) {
            guard let text = value(name) else { return }
            guard let number = Double(text), number.isFinite, number > 0, number <= 3600 else {
                throw SettingsError(
                    variable: name,
                    message: "Ungültiger Wert für \(name): „\(text)“ (Sekunden, größer als 0, höchstens 3600).")
            }
            settings.timeouts[keyPath: keyPath] = .milliseconds(Int64((number * 1000).rounded()))
        }
        try seconds("FREIGABE_DB_TRANSACTION_TIMEOUT_SECONDS", into: \.transaction)
        try seconds("FREIGABE_DB_POOL_WAIT_TIMEOUT_SECONDS", into: \.poolWait)
        try seconds("FREIGABE_DB_CONNECT_TIMEOUT_SECONDS", into: \.connect)
        try seconds("FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS", into: \.statement)
        try seconds("FREIGABE_DB_LOCK_TIMEOUT_SECONDS", into: \.lock)
        try seconds("FREIGABE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", into: \.idleInTransaction)
        self = settings
    }

    /// `text` as a host to connect to, if it is a host name or an IP address (an IPv6 address bare or in
    /// brackets, given back bare, as name resolution takes it), nothing else: no scheme, credentials, port
    /// or path (`10.0.0.5:5432` is no IPv6 address).
    static func hostName(_ text: String) -> String? {
        let bare = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        if bare.contains(":") { return InetAddress.isValid(bare) ? bare : nil }
        let isName =
            !bare.isEmpty && bare.count <= 253 && bare == text
            && bare.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                    || $0 == "." || $0 == "_"
            }
        return isName ? bare : nil
    }

    /// The client configuration for the application role, or (with `admin`) the owner role.
    public func clientConfiguration(admin: Bool = false) throws -> PostgresClient.Configuration {
        let (username, password) = try credentials(admin: admin)
        let tls: PostgresClient.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(tlsConfiguration)
            case .require, .verifyFull: .require(tlsConfiguration)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = timeouts.connect
        if !admin {
            configuration.options.additionalStartupParameters = timeouts.startupParameters
        }
        return configuration
    }

    private func credentials(admin: Bool) throws -> (username: String, password: String?) {
        guard admin else { return (user, password) }
        guard let adminUser else {
            throw SettingsError(
                variable: "FREIGABE_DB_ADMIN_USER",
                message: "Für Migrationen ist die Administrationsrolle nötig (FREIGABE_DB_ADMIN_USER).")
        }
        return (adminUser, adminPassword)
    }

    private var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            configuration.trustRoots = .file(caFile)
        } else if tls != .verifyFull {
            // libpq semantics: without a CA to check against, prefer/require only encrypt.
            configuration.certificateVerification = .none
        }
        return configuration
    }

    /// Why no connection can be made right now — refused, no route, a certificate, PostgreSQL's own
    /// "password authentication failed for user …" — or nil when one can. For the command line: its
    /// pooled client only says that no connection came within the deadline, and the operator at 3 a.m.
    /// needs the cause. One connection attempt, within the connect timeout and at most 10 s in all.
    func connectionProblem(admin: Bool = false, logger: Logger) async -> String? {
        let username: String
        let password: String?
        do {
            (username, password) = try credentials(admin: admin)
        } catch {
            return String(describing: error)
        }
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            case .require, .verifyFull: tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
        } catch {
            return "TLS: \(error)"
        }
        var settings = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        let connect = timeouts.connect.components
        settings.options.connectTimeout = .nanoseconds(
            connect.seconds * 1_000_000_000 + connect.attoseconds / 1_000_000_000)
        let configuration = settings
        let outcome = await withTimeout(.seconds(10)) {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
        }
        switch outcome {
        case .success: return nil
        case .failure(let error as PSQLError):
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            return error.underlying.map { String(describing: $0) } ?? "\(error.code)"
        case .failure(is TimeoutError):
            return "keine Antwort innerhalb von 10 s"
        case .failure(let error):
            return String(describing: error)
        }
    }

    /// `error` of a store call in words for the command line: PostgreSQL's message, or for a database
    /// that could not be reached the cause (``connectionProblem(admin:logger:)``) and where it was.
    func describe(_ error: any Error, admin: Bool = false, logger: Logger) async -> String {
        if let message = Database.serverMessage(of: error) { return message }
        let service = Database.serviceError(from: error)
        guard service.code == .unavailable else { return String(reflecting: error) }
        let role = (try? credentials(admin: admin).username) ?? user
        let place = "\(host):\(port), Datenbank \(database), Rolle \(role)"
        guard let problem = await connectionProblem(admin: admin, logger: logger) else {
            return "Datenbank nicht erreichbar (\(place)): \(service.details ?? "keine Verbindung"); "
                + "eine neue Verbindung gelingt jetzt"
        }
        return "Datenbank nicht erreichbar (\(place)): \(problem)"
    }

    /// A client for the application role (or, with `admin`, the owner role) whose transactions keep
    /// ``timeouts``: use this instead of `PostgresClient(configuration:)`, so that
    /// ``Database/transaction(_:logger:_:)`` knows the deadlines. Run it as a service (or with
    /// ``Database/withClient(_:logger:_:)``).
    public func makeClient(admin: Bool = false, logger: Logger) throws -> PostgresClient {
        let client = PostgresClient(configuration: try clientConfiguration(admin: admin), backgroundLogger: logger)
        Database.register(client, timeouts: timeouts)
        return client
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
        try await run(PostgresClient(configuration: configuration, backgroundLogger: logger), body)
    }

    /// Runs `body` with a running client made by ``DatabaseSettings/makeClient(admin:logger:)``, so its
    /// transactions keep the settings' deadlines.
    static func withClient<Result: Sendable>(
        _ settings: DatabaseSettings, admin: Bool = false, logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = try settings.makeClient(admin: admin, logger: logger)
        defer { Database.unregister(client) }
        return try await run(client, body)
    }

    private static func run<Result: Sendable>(
        _ client: PostgresClient, _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}

/// The settings as they may be printed: where to, as whom, never the passwords (a `"\(settings)"` in a
/// log line, a `dump`, a failed test's expectation).
extension DatabaseSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "DatabaseSettings(\(user)@\(host):\(port)/\(database), admin: \(adminUser ?? "-"), tls: \(tls.rawValue))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "database": database, "user": user, "password": "<redacted>",
                "adminUser": adminUser as Any, "adminPassword": "<redacted>", "tls": tls,
                "maxConnections": maxConnections,
            ], displayStyle: .struct)
    }
}
