import Foundation
import Logging
import PostgresNIO

/// Small helpers over `PostgresClient` shared by the store.
enum Database {
    /// Runs `body` in one transaction on one connection: BEGIN, body, COMMIT; ROLLBACK when `body` throws.
    ///
    /// Unlike `PostgresClient.withTransaction` this rethrows `body`'s own error instead of wrapping it in
    /// `PostgresTransactionError`, so `ServiceError`s and `PSQLError`s reach the error mapping unchanged.
    static func transaction<Result: Sendable>(
        _ client: PostgresClient, logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                do {
                    try await connection.query("ROLLBACK", logger: logger)
                } catch let rollbackError {
                    // The connection is unusable; the pool discards it. The original error matters more.
                    logger.warning("rollback failed", metadata: ["error": "\(String(reflecting: rollbackError))"])
                }
                throw error
            }
            try await connection.query("COMMIT", logger: logger)
            return result
        }
    }

    /// The SQLSTATE of a server error, e.g. `40001`, or nil for other errors.
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The server's message of a server error.
    static func serverMessage(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.message]
    }

    /// Maps any error of a store operation to a ``ServiceError``; service errors pass through.
    static func serviceError(from error: any Error) -> ServiceError {
        if let error = error as? ServiceError { return error }
        if let error = error as? PSQLError {
            if let state = error.serverInfo?[.sqlState] {
                switch state {
                // serialization_failure, deadlock_detected, lock_not_available
                case "40001", "40P01", "55P03":
                    return .conflict("sqlstate \(state): \(error.serverInfo?[.message] ?? "")")
                // too_many_connections, cannot_connect_now, admin_shutdown, crash_shutdown
                case "53300", "57P03", "57P01", "57P02":
                    return .unavailable("sqlstate \(state): \(error.serverInfo?[.message] ?? "")")
                default:
                    return .internal("sqlstate \(state): \(error.serverInfo?[.message] ?? "")")
                }
            }
            // No server info: the connection could not be made or broke.
            return .unavailable(String(reflecting: error))
        }
        return .internal(String(reflecting: error))
    }
}

/// JSON as stored in `jsonb` columns: sorted keys (stable fingerprints and diffs) and dates as seconds
/// since 1970, which round-trip exactly (an ISO 8601 string would drop sub-millisecond digits, and the
/// engine compares stored instants).
enum StoredJSON {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: Data(text.utf8))
    }
}

/// Compares LDAP DNs as the directory does for our purposes: case-insensitive, ignoring spaces around
/// the separators (`CN=Stewards, OU=Groups` equals `cn=stewards,ou=groups`). Stored beside the DN in
/// `datasets.owner_group_key` and `domains.steward_group_key`, so membership tests are plain equality.
enum DNKey {
    static func key(_ dn: String) -> String {
        var result = ""
        var pendingSpace = ""
        var previousSeparator = true
        for character in dn.lowercased() {
            if character == " " {
                pendingSpace.append(character)
                continue
            }
            let isSeparator = character == "," || character == "=" || character == "+"
            if !isSeparator && !previousSeparator { result += pendingSpace }
            pendingSpace = ""
            result.append(character)
            previousSeparator = isSeparator
        }
        return result
    }
}
