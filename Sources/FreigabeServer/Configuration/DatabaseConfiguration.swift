import Foundation

extension DatabaseSettings {
    /// The `db.*` keys, in the names `DatabaseSettings(environment:)` understands.
    static let keys = [
        "db.host", "db.port", "db.name", "db.user", "db.password", "db.password_file", "db.admin_user",
        "db.admin_password", "db.admin_password_file", "db.tls", "db.tls_ca_file", "db.max_connections",
        "db.transaction_timeout_seconds", "db.pool_wait_timeout_seconds", "db.connect_timeout_seconds",
        "db.statement_timeout_seconds", "db.lock_timeout_seconds", "db.idle_in_transaction_timeout_seconds",
    ]

    /// The `db.*` keys any source sets, under their variable names (`FREIGABE_DB_HOST`, ...).
    static func variables(_ values: SettingValues) -> [String: String] {
        var environment: [String: String] = [:]
        for key in keys {
            if let value = values.text(key) { environment[SettingValues.environmentName(for: key)] = value }
        }
        return environment
    }

    /// Reads the `db.*` settings from any configuration source (command line, environment, YAML) by
    /// handing them to the store's own parser under their environment names, so both share one set of
    /// rules and messages. Nil when no `db.*` key is set at all.
    static func read(_ values: SettingValues) throws -> DatabaseSettings? {
        let environment = variables(values)
        guard !environment.isEmpty else { return nil }
        do {
            return try DatabaseSettings(environment: environment)
        } catch {
            throw configurationError(error)
        }
    }

    /// The store's error as the configuration's: its messages name the variable; a value from the file or
    /// the command line is found by its key and option.
    static func configurationError(_ error: SettingsError) -> ConfigurationError {
        let key = keys.first { SettingValues.environmentName(for: $0) == error.variable }
        let named = key.map { " (Einstellung „\($0)“, Option \(SettingValues.optionName(for: $0)))" } ?? ""
        return ConfigurationError(code: .invalidValue, key: key, description: error.message + named)
    }
}
