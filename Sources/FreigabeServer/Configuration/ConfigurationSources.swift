import Configuration
import Foundation

/// Builds the `ConfigReader` the server reads its settings from.
///
/// Sources, first match wins:
/// 1. `overrides`: options the `serve` command declares (`--host`, `--port`, ...), keyed by config key;
/// 2. `arguments`: any other `--key value` on the command line (`--http-port 9000`), so settings
///    that later modules read need no new option;
/// 3. the environment, every key prefixed with `FREIGABE_` (`http.port` ↔ `FREIGABE_HTTP_PORT`), so
///    unrelated variables such as `HOME` or `PORT` never leak in;
/// 4. the YAML file named by `config.file` (`--config`, `FREIGABE_CONFIG_FILE`), if any;
/// 5. the defaults, which live in ``AppConfiguration`` (one place, documented with the fields).
public enum ConfigurationSources {
    /// The environment variable prefix, as a key component.
    static let environmentPrefix: ConfigKey = "freigabe"

    /// Builds the reader from the given sources.
    ///
    /// - Parameters:
    ///   - overrides: Values by configuration key (`"http.port": "9000"`), highest priority.
    ///   - arguments: Command-line arguments without the program name, parsed as `--key value`.
    ///   - environment: Environment variables; pass the process environment in production.
    /// - Throws: ``ConfigurationError`` with code `unreadableConfigFile` if a configuration file is
    ///   named but cannot be read or parsed.
    public static func reader(
        overrides: [String: String] = [:],
        arguments: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = []
        if !overrides.isEmpty {
            providers.append(
                InMemoryProvider(
                    name: "command-line options",
                    values: Dictionary(
                        uniqueKeysWithValues: overrides.map { key, value in
                            (AbsoluteConfigKey(ConfigKey(key)), ConfigValue(.string(value), isSecret: false))
                        }
                    )
                )
            )
        }
        if !arguments.isEmpty {
            // The provider skips the first element as the program name.
            providers.append(CommandLineArgumentsProvider(arguments: ["freigabe"] + arguments))
        }
        providers.append(
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: environmentPrefix)
        )

        // The file's path can itself come from any of the sources above, so look it up first.
        let bootstrap = ConfigReader(providers: providers)
        if let path = SettingValues(reader: bootstrap).text(AppConfiguration.Key.configFile) {
            providers.append(try await yamlFileProvider(path: path))
        }
        return ConfigReader(providers: providers)
    }

    private static func yamlFileProvider(path: String) async throws -> FileProvider<YAMLSnapshot> {
        // `FileProvider(config:)` takes the path as a string; the `filePath:` initialiser would need
        // swift-system's `FilePath`, a dependency we would otherwise not have.
        let fileSettings = ConfigReader(
            provider: InMemoryProvider(values: ["filePath": ConfigValue(.string(path), isSecret: false)])
        )
        do {
            return try await FileProvider<YAMLSnapshot>(config: fileSettings)
        } catch {
            throw ConfigurationError(
                code: .unreadableConfigFile,
                key: AppConfiguration.Key.configFile,
                description: "Die Konfigurationsdatei „\(path)“ kann nicht gelesen werden "
                    + "(fehlt sie oder ist sie kein gültiges YAML?).",
                details: String(describing: error)
            )
        }
    }
}
