import ArgumentParser
import Foundation
import FreigabeServer

/// `freigabe serve`: runs the HTTP server until SIGTERM or SIGINT.
///
/// Settings come from (first match wins) the options below, any other `--key value` argument
/// (`--http-port 9000`, forwarded to swift-configuration), `FREIGABE_*` environment variables, the
/// YAML file from `--config` / `FREIGABE_CONFIG_FILE`, and the defaults.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Freigabe HTTP server.",
        discussion: """
            Every setting can also be given as an environment variable with the FREIGABE_ prefix \
            (http.port: FREIGABE_HTTP_PORT), in the YAML file given by --config, or as --<key> \
            with dots replaced by dashes (--http-port).
            """
    )

    // Options are optional without defaults: a default here would always beat the environment.
    @Option(help: "Address to bind to (http.host, FREIGABE_HTTP_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "TCP port (http.port, FREIGABE_HTTP_PORT; default 8080).")
    var port: Int?

    @Option(help: "YAML configuration file (config.file, FREIGABE_CONFIG_FILE).")
    var config: String?

    @Option(help: "Directory with templates, strings and static files (templates.dir; default Templates).")
    var templatesDir: String?

    @Option(help: "Directory with workflow definitions (workflows.dir; default Workflows).")
    var workflowsDir: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (log.level; default info).")
    var logLevel: String?

    @Option(help: "Federal state for public holidays, e.g. HE, NW, BY (state; default HE).")
    var state: String?

    /// Any other `--key value` pairs, for settings without an option of their own.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var configArguments: [String] = []

    func validate() throws {
        // Forwarded arguments are not checked by the parser; at least refuse stray words, which
        // are almost always typos, instead of silently ignoring them.
        if let first = configArguments.first, !first.hasPrefix("--") {
            throw ValidationError(ConfigurationSources.unexpectedArgumentText(first))
        }
    }

    func run() async throws {
        let overrides: [String: String?] = [
            AppConfiguration.Key.httpHost: host,
            AppConfiguration.Key.httpPort: port.map(String.init),
            AppConfiguration.Key.configFile: config,
            AppConfiguration.Key.templatesDirectory: templatesDir,
            AppConfiguration.Key.workflowsDirectory: workflowsDir,
            AppConfiguration.Key.logLevel: logLevel,
            AppConfiguration.Key.federalState: state,
        ]
        do {
            let reader = try await ConfigurationSources.reader(
                overrides: overrides.compactMapValues { $0 },
                arguments: configArguments
            )
            let given = try ConfigurationSources.givenSettings(
                arguments: configArguments, environment: ProcessInfo.processInfo.environment, reader: reader)
            try await FreigabeService.run(reader: reader, given: given)
        } catch let error as ConfigurationError {
            // Operators read this on the console: the safe description, then the technical details.
            var message = "Konfigurationsfehler: \(error.description)\n"
            if let details = error.details {
                message += "Details: \(details)\n"
            }
            FileHandle.standardError.write(Data(message.utf8))
            throw ExitCode(78)  // EX_CONFIG from sysexits.h
        }
    }
}
