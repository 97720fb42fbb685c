import Foundation

/// The canonical byte encoding of an ``AuditEvent``, format v1, specified in `FORMAT.md`.
///
/// A value type that keeps one buffer between events: the verifier encodes millions of events, and
/// reusing the buffer saves an allocation per event. Copies are independent (the buffer is an array).
public struct AuditEventEncoder: Sendable {
    /// The format this encoder writes: the first byte of every encoding.
    public static let formatVersion: UInt8 = 1

    // Starts with the RFC 6962 leaf prefix 0x00, so the leaf hash is one pass over the buffer.
    private var writer = ByteWriter()

    public init() {}

    /// The canonical encoding (without the Merkle leaf prefix).
    public mutating func encode(_ event: AuditEvent) -> [UInt8] {
        fill(event)
        return Array(writer.bytes.dropFirst())
    }

    /// SHA-256(0x00 || encoding): the event's leaf hash in the Merkle tree.
    public mutating func leafHash(of event: AuditEvent) -> SHA256Hash {
        fill(event)
        return writer.bytes.withUnsafeBytes { SHA256Hash.digest(of: $0) }
    }

    private mutating func fill(_ event: AuditEvent) {
        writer.bytes.removeAll(keepingCapacity: true)
        writer.append(MerkleHashing.leafPrefix)
        writer.append(Self.formatVersion)
        writer.append(event.sequence)
        writer.append(event.id.uuid)
        writer.append(event.occurredAt.microsecondsSinceEpoch)
        writer.append(event.type)
        writer.appendOptional(event.requestID) { $0.append($1.uuid) }
        writer.appendOptional(event.actor) { $0.append($1) }
        writer.appendOptional(event.actingFor) { $0.append($1) }
        writer.appendOptional(event.capacity) { $0.append($1) }
        writer.appendOptional(event.role) { $0.append($1) }
        writer.appendOptional(event.step) { $0.append($1) }
        writer.appendOptional(event.decision) { $0.append($1) }
        writer.appendOptional(event.datasetID) { $0.append($1) }
        writer.appendOptional(event.workflow) { writer, workflow in
            writer.append(workflow.id)
            writer.append(workflow.version)
        }
        writer.appendOptional(event.state) { $0.append($1) }
        writer.append(event.payloadHash)
    }

    /// Reads an encoding back. Every value has exactly one encoding, so
    /// `encode(decode(bytes)) == bytes` whenever this succeeds: an auditor's tool can check a
    /// re-implementation against the bytes the server exported.
    public static func decode(_ bytes: [UInt8]) throws(CanonicalDecodingError) -> AuditEvent {
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == formatVersion else { throw .unsupportedVersion(version) }
        let event = AuditEvent(
            sequence: try reader.readUInt64(),
            id: UUID(uuid: try reader.readUUID()),
            occurredAt: AuditTimestamp(microsecondsSinceEpoch: try reader.readInt64()),
            type: try reader.readString(),
            requestID: try reader.readOptional { reader throws(CanonicalDecodingError) in
                UUID(uuid: try reader.readUUID())
            },
            actor: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            actingFor: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            capacity: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            role: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            step: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            decision: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            datasetID: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            workflow: try reader.readOptional { reader throws(CanonicalDecodingError) in
                WorkflowReference(id: try reader.readString(), version: try reader.readUInt32())
            },
            state: try reader.readOptional { reader throws(CanonicalDecodingError) in try reader.readString() },
            payloadHash: try reader.readHash()
        )
        guard reader.isAtEnd else { throw .trailingBytes(offset: reader.offset) }
        return event
    }
}

extension AuditEvent {
    /// The canonical encoding, format v1 (``AuditEventEncoder``).
    public var canonicalEncoding: [UInt8] {
        var encoder = AuditEventEncoder()
        return encoder.encode(self)
    }

    /// SHA-256(0x00 || ``canonicalEncoding``).
    public var leafHash: SHA256Hash {
        var encoder = AuditEventEncoder()
        return encoder.leafHash(of: self)
    }
}
