import Configuration
import Hummingbird

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully: open requests finish,
/// background services stop in reverse order.
public enum FreigabeService {
    public static func run(reader: ConfigReader) async throws {
        let app = try await buildApplication(reader: reader)
        // The default signals are SIGTERM and SIGINT.
        try await app.runService()
    }
}
