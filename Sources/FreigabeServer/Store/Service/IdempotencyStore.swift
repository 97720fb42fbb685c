import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// The Idempotency-Key protocol (IETF draft "The Idempotency-Key HTTP Header Field"): the first call
/// with a key stores its answer in the same transaction as its effects; a repeat with the same key and
/// the same input gets the stored answer and changes nothing; the same key with another input is
/// refused (`idempotencyMismatch`). Keys are per person and live 24 hours.
enum IdempotencyStore {
    static let lifetime: TimeInterval = 86_400

    /// One call's claim on a key.
    struct Claim: Sendable {
        var caller: String
        var key: String
        var operation: String
        /// SHA-256 of the operation, the request id and the canonical JSON of the input.
        var fingerprint: [UInt8]
        var status: Int
        var now: Date

        /// - Throws: `ServiceError.validation` for a key that is not 1 to 255 visible ASCII characters.
        init(
            caller: String, key: String, operation: String, requestID: UUID?, input: some Encodable, status: Int,
            now: Date
        ) throws {
            try RequestValidation.checkIdempotencyKey(key)
            let canonical = try StoredJSON.encode(
                Fingerprint(operation: operation, requestID: requestID, input: try StoredJSON.encode(input)))
            self.caller = caller
            self.key = key
            self.operation = operation
            self.fingerprint = Array(SHA256.hash(data: Data(canonical.utf8)))
            self.status = status
            self.now = now
        }

        /// The stored answer of an earlier call with this key, or nil when there is none (or it expired).
        /// - Throws: `ServiceError.idempotencyMismatch` when the key was used for another input.
        func replay<Answer: Decodable>(
            _ type: Answer.Type, client: PostgresClient, logger: Logger
        ) async throws -> Answer? {
            let (caller, key, since) = (caller, key, now.addingTimeInterval(-lifetime))
            let stored = try await Database.read(client, logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT fingerprint, response::text FROM idempotency_keys
                    WHERE actor = \(caller) AND key = \(key) AND created_at >= \(since)
                    """, logger: logger)
                var found: [(fingerprint: [UInt8], response: String)] = []
                for try await (stored, response) in rows.decode((ByteBuffer, String).self) {
                    found.append((Array(stored.readableBytesView), response))
                }
                return found
            }
            for (storedFingerprint, response) in stored {
                guard storedFingerprint == fingerprint else {
                    throw ServiceError(
                        .idempotencyMismatch,
                        message: UserText("idempotency.key_reused"),
                        details: "key \(key) of \(caller) reused for \(operation)")
                }
                logger.debug("idempotent replay", metadata: ["idempotency.key": "\(key)"])
                return try StoredJSON.decode(Answer.self, from: response)
            }
            return nil
        }

        /// Runs `write` and stores `answer` for the key in one transaction. When a concurrent call with
        /// the same key committed first, nothing is written and its answer is returned instead.
        func commit<Answer: Codable & Sendable>(
            _ answer: Answer, client: PostgresClient, logger: Logger,
            _ write: @escaping @Sendable (PostgresConnection) async throws -> Void
        ) async throws -> Answer {
            try await run(client: client, logger: logger) { connection in
                try await write(connection)
                return answer
            }
        }

        /// Runs `body` in one transaction that also stores its answer for the key. When a concurrent
        /// call with the same key committed first, `body` does not run and that call's answer is returned.
        func run<Answer: Codable & Sendable>(
            client: PostgresClient, logger: Logger,
            _ body: @escaping @Sendable (PostgresConnection) async throws -> Answer
        ) async throws -> Answer {
            do {
                return try await Database.transaction(client, logger: logger) { connection in
                    // The row is claimed first: a concurrent call with the same key waits on it here and,
                    // once this commits, finds it taken.
                    let claimed = try await connection.query(
                        """
                        INSERT INTO idempotency_keys (actor, key, operation, fingerprint, status, response, created_at)
                        VALUES (\(caller), \(key), \(operation), \(ByteBuffer(bytes: fingerprint)), \(status),
                                '{}'::jsonb, \(now))
                        ON CONFLICT (actor, key) DO UPDATE SET
                            operation = EXCLUDED.operation, fingerprint = EXCLUDED.fingerprint,
                            status = EXCLUDED.status, response = EXCLUDED.response, created_at = EXCLUDED.created_at
                        WHERE idempotency_keys.created_at < \(now.addingTimeInterval(-lifetime))
                        RETURNING 1
                        """, logger: logger)
                    var isNew = false
                    for try await _ in claimed { isNew = true }
                    guard isNew else { throw KeyTaken() }
                    let answer = try await body(connection)
                    try await connection.query(
                        """
                        UPDATE idempotency_keys SET response = \(try StoredJSON.encode(answer))::jsonb
                        WHERE actor = \(caller) AND key = \(key)
                        """, logger: logger)
                    return answer
                }
            } catch is KeyTaken {
                guard let stored = try await replay(Answer.self, client: client, logger: logger) else {
                    throw ServiceError.conflict("idempotency key \(key) of \(caller) is taken but has no answer")
                }
                return stored
            }
        }
    }

    private struct KeyTaken: Error {}

    /// What the fingerprint covers.
    private struct Fingerprint: Encodable {
        var operation: String
        var requestID: UUID?
        var input: String
    }
}

/// Deletes the stored answers of expired Idempotency-Keys every few minutes. They are never replayed
/// again, and each holds a whole request as answered (purpose, names): kept, they would pile up for years
/// until `audit redact` took them with the log's payloads.
struct IdempotencyKeyExpiry: Service {
    let client: PostgresClient
    let logger: Logger
    var interval: Duration = .seconds(300)

    func run() async throws {
        await Rounds.repeating(every: interval, logger: logger, failure: "Deleting expired Idempotency-Keys failed") {
            _ = try await deleteExpired(now: Date())
        }
    }

    /// Deletes the keys older than ``IdempotencyStore/lifetime`` at `now` (this instance's clock, which
    /// the replay measures them by too); returns how many.
    func deleteExpired(now: Date) async throws -> Int {
        let before = now.addingTimeInterval(-IdempotencyStore.lifetime)
        return try await Database.transaction(client, logger: logger, scope: .singleStatement) { connection in
            let rows = try await connection.query(
                "WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < \(before) RETURNING 1) SELECT count(*)::int FROM gone",
                logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }
}
