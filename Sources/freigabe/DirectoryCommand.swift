import ArgumentParser
import FreigabeServer

/// `freigabe directory check | lookup`: what Freigabe sees in the configured LDAP / Active Directory.
struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory",
        abstract: "Check the LDAP / Active Directory settings and look people up.",
        discussion: "Settings come from ldap.* keys: FREIGABE_LDAP_* variables, --config FILE or --ldap-... options.",
        subcommands: [Check.self, Lookup.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "YAML configuration file (config.file, FREIGABE_CONFIG_FILE).")
        var config: String?

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        /// Any `--ldap-... value` settings.
        @Argument(parsing: .allUnrecognized, help: .hidden)
        var configArguments: [String] = []

        var overrides: [String: String] { config.map { [AppConfiguration.Key.configFile: $0] } ?? [:] }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Connect and report: server reachable, TLS, naming contexts, how many role groups resolve.")

        @OptionGroup var options: Options

        func run() async throws {
            let reader = try await ConfigurationSources.reader(
                overrides: options.overrides, arguments: options.configArguments)
            try await DirectoryTool.check(reader: reader, json: options.json).emit()
        }
    }

    struct Lookup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a person and the roles Freigabe derives from their groups.")

        @Argument(help: "The user name (uid or sAMAccountName).") var username: String
        @OptionGroup var options: Options

        func run() async throws {
            let reader = try await ConfigurationSources.reader(
                overrides: options.overrides, arguments: options.configArguments)
            try await DirectoryTool.lookup(username: username, reader: reader, json: options.json).emit()
        }
    }
}
