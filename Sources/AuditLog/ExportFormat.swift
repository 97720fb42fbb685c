import Foundation

/// One line of a JSON Lines export of the decision log (`FORMAT.md` §7): a header, the events in log
/// order, an end line.
///
/// Every line is the *canonical* JSON of its value (keys sorted, no spaces, slashes unescaped, UUIDs and
/// hashes in lowercase, times in the one ``AuditTimestamp`` form): the verifier re-serialises each line
/// it reads and refuses it unless the bytes are identical. So any changed byte is found, even one that
/// leaves the meaning alone (a `\u0041` for an `A`, an upper-case hex digit), and the export has exactly
/// one text for one content.
public enum ExportLine: Sendable, Hashable {
    case header(ExportHeader)
    case event(ExportedEvent)
    case end(ExportEnd)
}

/// The first line: what was exported and against which signed tree head.
public struct ExportHeader: Sendable, Hashable, Codable {
    /// The export format: 1.
    public static let currentFormat = 1

    public var format: Int
    /// The log's name, as in its checkpoints.
    public var origin: String
    /// The size of the tree every exported event belongs to: the checkpoint that covers the export.
    public var treeSize: UInt64
    public var selection: ExportSelection
    /// The filters the export was made with (informational: a filtered export proves each event it
    /// contains, not that no other event matched).
    public var filters: [String: String]
    /// The signed checkpoint of size ``treeSize`` as the database held it when exporting. Not trusted by
    /// the verifier: compare it with your outside copy, or pass that copy as `--checkpoint`.
    public var checkpoint: String?

    public init(
        format: Int = currentFormat, origin: String, treeSize: UInt64, selection: ExportSelection,
        filters: [String: String] = [:], checkpoint: String? = nil
    ) {
        self.format = format
        self.origin = origin
        self.treeSize = treeSize
        self.selection = selection
        self.filters = filters
        self.checkpoint = checkpoint
    }

    enum CodingKeys: String, CodingKey {
        case format, origin, selection, filters, checkpoint
        case treeSize = "tree_size"
    }
}

/// What an export contains, and so what it can prove (`FORMAT.md` §7).
public enum ExportSelection: String, Sendable, Hashable, Codable {
    /// Every event from position 0 to the tree size, in order: the verifier rebuilds the whole tree and
    /// compares its root with the checkpoint's.
    case complete
    /// The events matching filters, in log order, each with its RFC 9162 inclusion proof in the tree of
    /// the header's size.
    case filtered
}

/// The last line: how many event lines came before it, so that a cut-off export is told from a short one.
public struct ExportEnd: Sendable, Hashable, Codable {
    public var eventCount: UInt64

    public init(eventCount: UInt64) {
        self.eventCount = eventCount
    }

    enum CodingKeys: String, CodingKey {
        case eventCount = "event_count"
    }
}

/// One sealed event as exported: the leaf's fields, its payload (or the note that it was erased), the
/// leaf hash recorded at sealing, and for filtered exports the inclusion proof.
public struct ExportedEvent: Sendable, Hashable {
    public var event: AuditEvent
    public var payload: PayloadEvidence
    public var leafHash: SHA256Hash
    /// RFC 9162 §2.1.3 audit path of leaf `event.sequence` in the tree of the header's size; `nil` in a
    /// complete export, where the verifier rebuilds the tree instead.
    public var inclusionProof: [SHA256Hash]?

    public init(event: AuditEvent, payload: PayloadEvidence, leafHash: SHA256Hash, inclusionProof: [SHA256Hash]? = nil)
    {
        self.event = event
        self.payload = payload
        self.leafHash = leafHash
        self.inclusionProof = inclusionProof
    }

    /// What ``LogVerifier`` checks.
    public var verifiable: VerifiableEvent {
        VerifiableEvent(event: event, payload: payload, recordedLeafHash: leafHash)
    }
}

// MARK: - JSON

extension ExportLine {
    /// The canonical line, without the final newline (``ExportJSONWriter``).
    public func encoded() throws -> [UInt8] {
        var writer = ExportJSONWriter()
        try writer.write(self)
        return writer.bytes
    }

    /// Reads one line (without its newline) and refuses it unless it is the canonical JSON of what it
    /// says.
    public init(decoding line: [UInt8]) throws(ExportLineError) {
        var writer = ExportJSONWriter(capacity: line.count)
        self = try Self.decode(line, writer: &writer)
    }

    /// ``init(decoding:)`` with a buffer kept by the caller: the verifier reads millions of lines.
    static func decode(_ line: [UInt8], writer: inout ExportJSONWriter) throws(ExportLineError) -> ExportLine {
        let read = try ExportJSONParser.parse(line)
        writer.reset()
        do {
            try writer.write(read)
        } catch {
            throw .unreadable("\(error)")
        }
        guard writer.bytes == line else { throw .notCanonical }
        return read
    }

    /// The line as Foundation's `JSONEncoder` writes the `Codable` form: the reference the hand-written
    /// ``ExportJSONWriter`` must equal byte for byte (export format 1 was defined by it). Slow; for
    /// tests (`@testable import`), not part of the module's interface.
    func foundationEncoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        switch self {
        case .header(let header): data = try encoder.encode(Tagged(record: .header, header))
        case .event(let event): data = try encoder.encode(Tagged(record: .event, EventJSON(event)))
        case .end(let end): data = try encoder.encode(Tagged(record: .end, end))
        }
        return Array(data)
    }
}

extension ExportLine {
    /// What the `JSONDecoder`-based reader of export format 1 made of a line (decode, write back with
    /// `JSONEncoder`, compare): the reference ``init(decoding:)`` must agree with, in what it accepts and
    /// in the kind of failure. Slow; for tests (`@testable import`), not part of the module's interface.
    static func foundationDecoded(_ line: [UInt8]) throws(ExportLineError) -> ExportLine {
        let decoder = JSONDecoder()
        let data = Data(line)
        let kind: RecordKind
        let read: ExportLine
        do {
            kind = try decoder.decode(RecordTag.self, from: data).record
        } catch {
            throw .unreadable(reason(error))
        }
        do {
            switch kind {
            case .header: read = .header(try decoder.decode(Tagged<ExportHeader>.self, from: data).value)
            case .event: read = .event(try decoder.decode(Tagged<EventJSON>.self, from: data).value.exported())
            case .end: read = .end(try decoder.decode(Tagged<ExportEnd>.self, from: data).value)
            }
        } catch let error as ExportLineError {
            throw error
        } catch {
            throw .unreadable(reason(error))
        }
        let canonical: [UInt8]
        do {
            canonical = try read.foundationEncoded()
        } catch {
            throw .unreadable(reason(error))
        }
        guard canonical == line else { throw .notCanonical }
        return read
    }

    private static func reason(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.keyNotFound(_, let context),
            DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

private struct RecordTag: Decodable {
    var record: RecordKind
}

/// Why a line is not an export line.
public enum ExportLineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Not JSON, or not the fields an export line has.
    case unreadable(String)
    /// Readable, but not byte for byte the canonical form of its content: changed after export.
    case notCanonical

    public var description: String {
        switch self {
        case .unreadable(let reason): "not an export line (\(reason))"
        case .notCanonical: "not in the canonical form the exporter writes (the line was changed)"
        }
    }
}

enum RecordKind: String, Codable {
    case header, event, end
}

/// A value with the `record` key beside its own keys.
private struct Tagged<Value: Codable>: Codable {
    var record: RecordKind
    var value: Value

    init(record: RecordKind, _ value: Value) {
        self.record = record
        self.value = value
    }

    private enum Keys: String, CodingKey { case record }

    init(from decoder: any Decoder) throws {
        record = try decoder.container(keyedBy: Keys.self).decode(RecordKind.self, forKey: .record)
        value = try Value(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(record, forKey: .record)
        try value.encode(to: encoder)
    }
}

/// The flat JSON form of ``ExportedEvent``: absent optional fields are left out, an empty string is
/// present (as in the canonical encoding).
private struct EventJSON: Codable {
    var sequence: UInt64
    var id: String
    var occurredAt: AuditTimestamp
    var type: String
    var requestID: String?
    var actor: String?
    var actingFor: String?
    var capacity: String?
    var role: String?
    var step: String?
    var decision: String?
    var datasetID: String?
    var workflow: WorkflowReference?
    var state: String?
    var payloadHash: SHA256Hash
    var payload: PayloadJSON?
    var redacted: Redaction?
    var leafHash: SHA256Hash
    var inclusionProof: [SHA256Hash]?

    enum CodingKeys: String, CodingKey {
        case sequence, id, type, actor, capacity, role, step, decision, workflow, state, payload, redacted
        case occurredAt = "occurred_at"
        case requestID = "request_id"
        case actingFor = "acting_for"
        case datasetID = "dataset_id"
        case payloadHash = "payload_hash"
        case leafHash = "leaf_hash"
        case inclusionProof = "inclusion_proof"
    }

    struct PayloadJSON: Codable {
        /// Lowercase hex.
        var salt: String
        var fields: [String: String]
    }

    init(_ exported: ExportedEvent) {
        let event = exported.event
        sequence = event.sequence
        id = event.id.uuidString.lowercased()
        occurredAt = event.occurredAt
        type = event.type
        requestID = event.requestID?.uuidString.lowercased()
        actor = event.actor
        actingFor = event.actingFor
        capacity = event.capacity
        role = event.role
        step = event.step
        decision = event.decision
        datasetID = event.datasetID
        workflow = event.workflow
        state = event.state
        payloadHash = event.payloadHash
        switch exported.payload {
        case .present(let payload): self.payload = PayloadJSON(salt: Hex.encode(payload.salt), fields: payload.fields)
        case .redacted(let redaction): redacted = redaction
        }
        leafHash = exported.leafHash
        inclusionProof = exported.inclusionProof
    }

    func exported() throws -> ExportedEvent {
        guard let id = UUID(uuidString: id) else { throw ExportLineError.unreadable("id: not a UUID") }
        var requestUUID: UUID?
        if let requestID {
            guard let parsed = UUID(uuidString: requestID) else {
                throw ExportLineError.unreadable("request_id: not a UUID")
            }
            requestUUID = parsed
        }
        let evidence: PayloadEvidence
        switch (payload, redacted) {
        case (let payload?, nil):
            guard let salt = Hex.decode(payload.salt), salt.count <= Int(UInt8.max) else {
                throw ExportLineError.unreadable("payload.salt: not hex of at most 255 bytes")
            }
            evidence = .present(AuditPayload(salt: salt, fields: payload.fields))
        case (nil, let redaction?):
            evidence = .redacted(redaction)
        default:
            throw ExportLineError.unreadable("an event has either a payload or a redaction")
        }
        let event = AuditEvent(
            sequence: sequence, id: id, occurredAt: occurredAt, type: type, requestID: requestUUID, actor: actor,
            actingFor: actingFor, capacity: capacity, role: role, step: step, decision: decision,
            datasetID: datasetID, workflow: workflow, state: state, payloadHash: payloadHash)
        return ExportedEvent(event: event, payload: evidence, leafHash: leafHash, inclusionProof: inclusionProof)
    }
}

/// Lowercase hexadecimal, for salts.
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
