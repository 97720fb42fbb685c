import AuditLog
import Foundation
import Logging
import PostgresNIO

/// Millions of *sealed* audit events for `freigabe-bench audit`, made in this process and loaded with
/// `COPY … FROM STDIN` (PostgresNIO's `copyFrom`): the rows, their salts, leaf hashes and places in the
/// tree, and a signed checkpoint per ``AuditSealer/batchSize`` events as the sealer would have made them.
/// Sealing ten million events through ``AuditSealer`` would take half an hour; this takes minutes, and
/// `audit verify` over the result must hold (the benchmark checks it), which proves the rows are what
/// the sealer would have written.
///
/// The data are meant to look like a city's log, not like a counter: ``people`` persons acting in
/// five roles, every tenth decision by a deputy, ``datasets`` datasets, requests of about six events
/// each, comments, request numbers and now and then a client address, over ``years`` years of
/// increasing times. A fixed seed makes two runs load the same log (salts and event ids aside).
struct AuditBulkLoad: Sendable {
    var events: Int
    var people = 5_000
    var datasets = 2_000
    var years = 3
    var start = AuditTimestamp(microsecondsSinceEpoch: 1_704_067_200_000_000)  // 2024-01-01T00:00:00Z
    /// Events per COPY statement pair (events, then their seals, which refer to them).
    var chunk = 100_000

    /// The uid of person `index`, as the benchmark's queries name them.
    static func uid(_ index: Int) -> String { "p\(index)" }

    /// The newest checkpoint's signed note and the tree size.
    struct Loaded: Sendable {
        var treeSize: UInt64
        var checkpoints: Int
    }

    /// Loads into a database with the current migrations and no audit events yet.
    func load(client: PostgresClient, signer: NoteSigner, logger: Logger) async throws -> Loaded {
        var generator = Generator(load: self)
        var frontier = MerkleFrontier()
        var checkpoints = 0
        var loaded = 0
        while loaded < events {
            let count = min(chunk, events - loaded)
            var eventRows = ByteBuffer()
            var sealRows = ByteBuffer()
            var checkpointRows = ByteBuffer()
            eventRows.reserveCapacity(count * 260)
            sealRows.reserveCapacity(count * 200)
            for _ in 0..<count {
                let leafHash = generator.next(events: &eventRows, seals: &sealRows)
                frontier.append(leafHash: leafHash)
                if frontier.size % UInt64(AuditSealer.batchSize) == 0 || frontier.size == UInt64(events) {
                    try appendCheckpoint(frontier, signer: signer, at: generator.now, to: &checkpointRows)
                    checkpoints += 1
                }
            }
            try await client.withConnection { connection in
                try await connection.copyFrom(table: "audit_events", columns: Generator.eventColumns, logger: logger) {
                    try await $0.write(eventRows)
                }
                try await connection.copyFrom(table: "audit_seals", columns: Generator.sealColumns, logger: logger) {
                    try await $0.write(sealRows)
                }
                try await connection.copyFrom(
                    table: "audit_checkpoints",
                    columns: ["tree_size", "root_hash", "frontier", "signed_note", "created_at"],
                    logger: logger
                ) { try await $0.write(checkpointRows) }
            }
            loaded += count
        }
        // The rows were given their ids: the next insert continues after them.
        try await client.query(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), \(Int64(max(events, 1))))", logger: logger)
        return Loaded(treeSize: frontier.size, checkpoints: checkpoints)
    }

    private func appendCheckpoint(
        _ frontier: MerkleFrontier, signer: NoteSigner, at time: AuditTimestamp, to rows: inout ByteBuffer
    ) throws {
        let checkpoint = Checkpoint(
            origin: signer.keyName, treeSize: frontier.size, rootHash: frontier.rootHash, time: time)
        let note = try signer.sign(checkpoint).serialized
        var line = "\(frontier.size)\t\\\\x\(frontier.rootHash.hex)\t"
        line += CopyText.escape(try StoredJSON.encode(frontier)) + "\t" + CopyText.escape(note) + "\t"
        line += (time.rfc3339 ?? "") + "\n"
        rows.writeString(line)
    }

    /// The rows one after another (not `Sendable`-shared: one loader, one generator).
    private struct Generator {
        static let eventColumns = [
            "id", "occurred_at", "actor", "acting_for", "role", "request_id", "dataset_id", "event", "decision", "step",
            "state", "comment", "client_address", "details",
        ]
        static let sealColumns = [
            "sequence", "event_row", "event_id", "format_version", "payload_salt", "leaf_hash", "sealed_at",
        ]
        static let roles = ["data_owner", "data_steward", "dsb", "isb", "open_data_officer"]
        static let steps = ["owner_review", "steward_review", "dsb_review", "isb_review", "open_data_review"]

        let load: AuditBulkLoad
        var random: SplitMix64
        var sequence: UInt64 = 0
        var now: AuditTimestamp
        /// Mean microseconds between two events: the years spread over the events.
        let gap: Int64
        var request = UUID()
        var requestNumber = 0
        var requestEventsLeft = 0
        var requester = 0
        var dataset = 0
        var encoder = AuditEventEncoder()

        init(load: AuditBulkLoad) {
            self.load = load
            random = SplitMix64(seed: 0x4652_4549_4741_4245)
            now = load.start
            gap = Int64(load.years) * 365 * 86_400_000_000 / Int64(max(load.events, 1))
        }

        /// Appends one event row and its seal row; returns the leaf hash.
        mutating func next(events: inout ByteBuffer, seals: inout ByteBuffer) -> SHA256Hash {
            if requestEventsLeft == 0 {
                request = random.uuid()
                requestNumber += 1
                requestEventsLeft = 3 + random.below(7)
                requester = random.below(load.people)
                dataset = random.below(load.datasets)
            }
            requestEventsLeft -= 1
            now = AuditTimestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch + 1 + random.below64(2 * gap))
            let roleIndex = random.below(Self.roles.count)
            let first = requestEventsLeft > 0 && requestNumber % 2 == 0 && random.below(6) == 0
            let type: AuditEvent
            let decision: String?
            switch random.below(20) {
            case 0: (type, decision) = (.rejected, "rejected")
            case 1: (type, decision) = (.changesRequested, "changes_requested")
            case 2: (type, decision) = (.reminded, nil)
            case 3: (type, decision) = (.escalated, nil)
            case 4, 5, 6: (type, decision) = (first ? .submitted : .stepCompleted, nil)
            default: (type, decision) = (.approved, "approved")
            }
            let system = type == .reminded || type == .escalated
            let actorIndex = type == .submitted ? requester : random.below(load.people)
            let actor = system ? nil : AuditBulkLoad.uid(actorIndex)
            let actingFor = !system && random.below(10) == 0 ? AuditBulkLoad.uid(random.below(load.people)) : nil
            let role = system || type == .submitted ? nil : Self.roles[roleIndex]
            let step = type == .submitted ? nil : Self.steps[roleIndex]
            let state = decision == "rejected" ? "rejected" : "in_review:\(Self.steps[(roleIndex + 1) % 5])"
            let datasetID = "ds-\(dataset)"
            let comment: String? =
                decision == nil
                ? nil : "Begründung zu FG-\(requestNumber): geprüft nach Datenstrategie, Schritt \(step ?? "-")."
            let address: String? =
                random.below(4) == 0 ? "10.\(random.below(256)).\(random.below(256)).\(random.below(254) + 1)" : nil
            let details = "{\"request_number\": \"FG-\(String(requestNumber))\"}"

            var fields = ["details": details]
            if let comment { fields["comment"] = comment }
            if let address { fields["client_address"] = address }
            let payload = AuditPayload(salt: random.bytes(16), fields: fields)
            let eventID = random.uuid()
            let leaf = AuditLog.AuditEvent(
                sequence: sequence, id: eventID, occurredAt: now, type: type.rawValue, requestID: request, actor: actor,
                actingFor: actingFor, capacity: actingFor == nil ? nil : "deputy", role: role, step: step,
                decision: decision, datasetID: datasetID, state: state, payloadHash: payload.hash)
            let leafHash = encoder.leafHash(of: leaf)

            let row = Int64(sequence) + 1
            var line = "\(row)\t\(now.rfc3339 ?? "")\t\(CopyText.field(actor))\t\(CopyText.field(actingFor))\t"
            line += "\(CopyText.field(role))\t\(request.uuidString.lowercased())\t\(datasetID)\t\(type.rawValue)\t"
            line += "\(CopyText.field(decision))\t\(CopyText.field(step))\t\(state)\t\(CopyText.field(comment))\t"
            line += "\(CopyText.field(address))\t\(CopyText.escape(details))\n"
            events.writeString(line)
            var seal = "\(sequence)\t\(row)\t\(eventID.uuidString.lowercased())\t\(AuditEventEncoder.formatVersion)\t"
            seal += "\\\\x\(CopyText.hex(payload.salt))\t\\\\x\(leafHash.hex)\t\(now.rfc3339 ?? "")\n"
            seals.writeString(seal)
            sequence += 1
            return leafHash
        }
    }
}

/// PostgreSQL's COPY text format: `\N` for NULL; backslash, tab, newline and carriage return escaped.
enum CopyText {
    static func field(_ value: String?) -> String {
        guard let value else { return "\\N" }
        return escape(value)
    }

    /// Lowercase hex digits, for a `bytea` cell written as `\\x…`.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func escape(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else { return value }
        var escaped = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\t": escaped += "\\t"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}

/// A small, fast, seeded generator (Steele, Lea, Flood 2014): the benchmark's data are the same each run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func below64(_ bound: Int64) -> Int64 { Int64(next() % UInt64(max(bound, 1))) }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            withUnsafeBytes(of: next()) { bytes.append(contentsOf: $0.prefix(count - bytes.count)) }
        }
        return bytes
    }

    /// A version-4 UUID from the generator.
    mutating func uuid() -> UUID {
        var bytes = self.bytes(16)
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
