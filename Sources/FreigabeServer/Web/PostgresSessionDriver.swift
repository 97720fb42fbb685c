import Crypto
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// Hummingbird's key/value `PersistDriver` on the `web_sessions` table, for hummingbird-auth's
/// `SessionMiddleware`: every instance of Freigabe sees every session, and a restart logs nobody out.
///
/// Keys are stored as their SHA-256, so whoever reads the table (a backup, a replica) cannot take over a
/// session with what they read. Every call has the store's deadlines (``Database/read(_:logger:_:)``);
/// when the database fails the call throws ``ServiceError/Code/unavailable``, which `SessionMiddleware`
/// swallows when it loads a session: ``SessionReadFailure`` carries it past, and the page answers 503.
/// As a service it deletes expired sessions every few minutes.
struct PostgresSessionDriver: PersistDriver {
    let client: PostgresClient
    let logger: Logger
    /// The longest a session may live; also the expiry of a value stored without one.
    let maximumLifetime: Duration
    var cleanupInterval: Duration = .seconds(300)

    func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let hash = Self.hash(key)
        let json = try Self.encode(value)
        // No row outlives the longest session, whatever the cookie that names it is given.
        let seconds = min(expires ?? maximumLifetime, maximumLifetime).seconds
        let inserted = try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO web_sessions (key_hash, value, expires_at)
                VALUES (\(hash), \(json)::text::jsonb, now() + make_interval(secs => \(seconds)))
                ON CONFLICT (key_hash) DO NOTHING RETURNING 1
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        }
        guard inserted else { throw PersistError.duplicate }
    }

    func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let hash = Self.hash(key)
        let json = try Self.encode(value)
        // Without `expires` an existing value keeps its expiry (the PersistDriver contract). No row outlives
        // the longest session, whatever the cookie that names it is given (a login saves through here).
        let seconds = min(expires ?? maximumLifetime, maximumLifetime).seconds
        let keepExpiry = expires == nil
        _ = try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            try await connection.query(
                """
                INSERT INTO web_sessions (key_hash, value, expires_at)
                VALUES (\(hash), \(json)::text::jsonb, now() + make_interval(secs => \(seconds)))
                ON CONFLICT (key_hash) DO UPDATE SET value = EXCLUDED.value,
                    expires_at = CASE WHEN \(keepExpiry) THEN web_sessions.expires_at ELSE EXCLUDED.expires_at END
                """, logger: logger)
        }
    }

    /// Stores `value` and moves the expiry of a live session forward, as an UPDATE only: a row deleted
    /// meanwhile (a logout) is never written again. Whether the row was there.
    func touch<Object: Codable & Sendable>(key: String, value: Object, expires: Duration) async throws -> Bool {
        let hash = Self.hash(key)
        let json = try Self.encode(value)
        let seconds = expires.seconds
        return try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                """
                UPDATE web_sessions SET value = \(json)::text::jsonb,
                    expires_at = now() + make_interval(secs => \(seconds))
                WHERE key_hash = \(hash) AND expires_at > now() RETURNING 1
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    func get<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> Object? {
        try await getWithTTL(key: key, as: type)?.object
    }

    func getWithTTL<Object: Codable & Sendable>(
        key: String, as type: Object.Type
    ) async throws -> (object: Object, ttl: Duration?)? {
        let hash = Self.hash(key)
        let stored: (String, Double)?
        do {
            stored = try await Database.read(client, logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT value::text, extract(epoch FROM expires_at - now())::float8
                    FROM web_sessions WHERE key_hash = \(hash) AND expires_at > now()
                    """, logger: logger)
                for try await (json, remaining) in rows.decode((String, Double).self) { return (json, remaining) }
                return nil
            }
        } catch {
            // hummingbird-auth swallows this; the pages must not take it for an ended session.
            SessionReadFailure.note(
                error as? ServiceError ?? .unavailable("session not read: \(String(reflecting: error))"))
            throw error
        }
        guard let (json, remaining) = stored else { return nil }
        do {
            return (try JSONDecoder().decode(type, from: Data(json.utf8)), .milliseconds(Int64(remaining * 1000)))
        } catch {
            throw PersistError.invalidConversion
        }
    }

    func remove(key: String) async throws {
        let hash = Self.hash(key)
        _ = try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            try await connection.query("DELETE FROM web_sessions WHERE key_hash = \(hash)", logger: logger)
        }
    }

    /// Deletes expired sessions now and then; a failed round is retried at the next one.
    func run() async throws {
        await Rounds.repeating(every: cleanupInterval, logger: logger, failure: "Deleting expired sessions failed") {
            try await deleteExpired()
        }
    }

    func deleteExpired() async throws {
        _ = try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            try await connection.query("DELETE FROM web_sessions WHERE expires_at <= now()", logger: logger)
        }
    }

    static func hash(_ key: String) -> ByteBuffer { ByteBuffer(bytes: SHA256.hash(data: Data(key.utf8))) }

    private static func encode<Object: Encodable>(_ value: Object) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
}
