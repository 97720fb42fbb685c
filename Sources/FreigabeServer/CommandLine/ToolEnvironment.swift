import Configuration
import Foundation
import LDAPDirectory

/// The environment a command-line tool reads its database settings from (the tools take `FREIGABE_DB_*`
/// variables): the process's own, with the `db.*` keys of the configuration file added under their
/// variable names — the file given as `--config`, or `config.file` (`FREIGABE_CONFIG_FILE`) — so that
/// `freigabe migrate` and `freigabe outbox list` reach the database `freigabe serve --config` uses. A
/// variable that is set wins over the file, as it does for `serve`.
public enum ToolEnvironment {
    public static func effective(
        config: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> [String: String] {
        let reader = try await ConfigurationSources.reader(
            overrides: config.map { [AppConfiguration.Key.configFile: $0] } ?? [:], environment: environment)
        // The reader puts a set variable before the file, as for `serve`.
        return environment.merging(DatabaseSettings.variables(SettingValues(reader: reader))) { _, read in read }
    }

    /// The directory (`ldap.*`) as `serve` reads it from the same sources, or nil when none is configured.
    public static func directory(
        config: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> LDAPConfiguration? {
        let reader = try await ConfigurationSources.reader(
            overrides: config.map { [AppConfiguration.Key.configFile: $0] } ?? [:], environment: environment)
        return try DirectorySettings.read(SettingValues(reader: reader))
    }
}
