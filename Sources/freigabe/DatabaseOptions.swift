import ArgumentParser
import Foundation
import FreigabeServer

/// `--config FILE` of the commands that reach the database: its `db.*` keys are used as `freigabe serve
/// --config` uses them, set `FREIGABE_DB_*` variables first (``ToolEnvironment``).
struct DatabaseOptions: ParsableArguments {
    @Option(help: "YAML configuration file (config.file) whose db.* keys are used, as by `freigabe serve`.")
    var config: String?

    /// The environment with the file's `db.*` keys.
    func environment() async throws -> [String: String] {
        try await ToolEnvironment.effective(config: config)
    }
}
