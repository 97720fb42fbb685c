import Configuration
import Foundation

/// Builds the `ConfigReader` the server reads its settings from.
///
/// Sources, first match wins:
/// 1. `overrides`: options the `serve` command declares (`--host`, `--port`, ...), keyed by config key;
/// 2. `arguments`: any other `--key value` or `--key=value` on the command line (`--http-port 9000`,
///    `--db-tls-ca-file ca.pem`: dots and underscores written as dashes), so settings that later
///    modules read need no new option;
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
            providers.append(
                EnvironmentVariablesProvider(environmentVariables: try argumentSettings(arguments)))
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

    /// The `--key value` arguments by the name the environment provider looks a key up under:
    /// `--db-tls-ca-file` and `db.tls_ca_file` both become `DB_TLS_CA_FILE`. swift-configuration's
    /// own `CommandLineArgumentsProvider` looks `db.tls_ca_file` up as `--db-tls_ca_file` (so the
    /// dashed spelling operators are told to use was silently ignored) and splits every value at
    /// commas (a group DN arrived as three values). A value is taken whole; a key without a value
    /// (followed by another `--key` or at the end) is `true`; a key given twice is refused.
    static func argumentSettings(_ arguments: [String]) throws -> [String: String] {
        var settings: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else { throw unexpectedArgument(argument) }
            let option = argument.dropFirst(2)
            let key: Substring
            let value: String
            if let equals = option.firstIndex(of: "=") {
                key = option[..<equals]
                value = String(option[option.index(after: equals)...])
            } else if index < arguments.count, !arguments[index].hasPrefix("--") {
                key = option
                value = arguments[index]
                index += 1
            } else {
                key = option
                value = "true"
            }
            let isName =
                !key.isEmpty && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
            guard isName else { throw unexpectedArgument(argument) }
            let name = SettingValues.environmentKey(key)
            // Every local user reads a process's arguments (`ps`, /proc/PID/cmdline), and so do unit
            // listings and process monitors: a secret there is no secret.
            if Self.isSecret(name) {
                throw ConfigurationError(
                    code: .invalidValue, key: String(key),
                    description: "Die Option „--\(key)“ nimmt kein Geheimnis auf der Kommandozeile an: dort sieht es "
                        + "jeder auf dem Rechner (ps). Bitte als Umgebungsvariable FREIGABE_\(name) oder als Datei "
                        + "(„--\(key)-file“, wo es sie gibt) angeben.")
            }
            guard settings.updateValue(value, forKey: name) == nil else {
                throw ConfigurationError(
                    code: .invalidValue, key: String(key),
                    description: "Die Option „--\(key)“ ist mehrfach angegeben.")
            }
        }
        return settings
    }

    /// The settings whose value is a secret, by their environment name: the passwords, the metrics token,
    /// every webhook subscription's secret (also the old one while it is replaced). Named one by one:
    /// `web.decision_link_password` is a switch, not a password.
    static let secretNames: Set<String> = [
        "DB_PASSWORD", "DB_ADMIN_PASSWORD", "LDAP_BIND_PASSWORD", "SMTP_PASSWORD", "METRICS_TOKEN",
    ]

    static func isSecret(_ name: String) -> Bool {
        secretNames.contains(name) || (name.hasPrefix("WEBHOOKS_") && name.hasSuffix("_SECRET"))
    }

    private static func unexpectedArgument(_ argument: String) -> ConfigurationError {
        ConfigurationError(code: .invalidValue, key: "", description: unexpectedArgumentText(argument))
    }

    /// Why a word among `serve`'s settings is refused (the command's parser says it too).
    public static func unexpectedArgumentText(_ argument: String) -> String {
        "Unerwartetes Argument „\(ToolOutput.oneLine(argument))“: Einstellungen werden als "
            + "--schlüssel wert angegeben (--http-port 9000)."
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
                // Only the first line: Yams adds the offending source line below it, which may hold a
                // password (a value starting with `@` or `%` is itself a YAML error).
                details: String(describing: error).split(whereSeparator: \.isNewline).first.map(String.init)
            )
        }
    }
}
