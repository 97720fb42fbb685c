import LDAPDirectory
import ServiceLifecycle

/// Runs the directory's background cache refresh beside the HTTP server and closes its connections
/// and threads on graceful shutdown.
struct DirectoryService: Service {
    let directory: LDAPDirectory

    func run() async throws {
        // `run()` returns when cancelled and shuts the directory down itself.
        await cancelWhenGracefulShutdown { await directory.run() }
    }
}
