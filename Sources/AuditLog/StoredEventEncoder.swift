import Foundation

/// A sealed event as a database row holds it, for ``StoredEventEncoder``: its texts are ranges of the
/// encoder's ``StoredEventEncoder/texts`` (UTF-8 bytes as the row gave them), the rest are values.
public struct StoredEventFields: Sendable, Hashable {
    public var sequence: UInt64
    public var id: UUID
    public var occurredAt: AuditTimestamp
    public var type: Range<Int>
    public var requestID: UUID?
    public var actor: Range<Int>?
    public var actingFor: Range<Int>?
    public var capacity: Range<Int>?
    public var role: Range<Int>?
    public var step: Range<Int>?
    public var decision: Range<Int>?
    public var datasetID: Range<Int>?
    public var state: Range<Int>?
    /// The payload's salt (at most 255 bytes: ``AuditPayload``).
    public var salt: Range<Int>

    public init(
        sequence: UInt64, id: UUID, occurredAt: AuditTimestamp, type: Range<Int>, requestID: UUID?,
        actor: Range<Int>?, actingFor: Range<Int>?, capacity: Range<Int>?, role: Range<Int>?, step: Range<Int>?,
        decision: Range<Int>?, datasetID: Range<Int>?, state: Range<Int>?, salt: Range<Int>
    ) {
        self.sequence = sequence
        self.id = id
        self.occurredAt = occurredAt
        self.type = type
        self.requestID = requestID
        self.actor = actor
        self.actingFor = actingFor
        self.capacity = capacity
        self.role = role
        self.step = step
        self.decision = decision
        self.datasetID = datasetID
        self.state = state
        self.salt = salt
    }
}

/// A leaf hash this module recomputed from an event's stored fields and found equal to the hash recorded
/// when the event was sealed. Only ``StoredEventEncoder`` makes one, so ``LogVerification/check(_:)``
/// can take its place in the tree without the checks the encoder already made.
public struct RecomputedLeaf: Sendable, Hashable {
    public let sequence: UInt64
    public let leafHash: SHA256Hash
}

/// The database verifier's fast path (`audit verify`): writes the payload's and the leaf's canonical
/// encodings (`FORMAT.md` §2, §3) straight from the row's bytes, without a `String` per column, an
/// ``AuditPayload`` with its dictionary, an ``AuditEvent``, or the payload hashed twice.
///
/// It knows only the common case: format version 1, a payload with its salt, no workflow reference,
/// every text well-formed UTF-8, payload keys strictly ascending. For anything else, or when the hash it
/// computes differs from the recorded one, it answers nil and the caller reads the row the slow way
/// (``VerifiableEvent``, ``LogVerification/check(_:)-(VerifiableEvent)``), which names the fault. Ill-formed
/// UTF-8 goes the slow way because a `String` made from those bytes holds U+FFFD instead, and the slow
/// path hashes that: with it, what this encoder accepts is exactly what the slow path accepts (the
/// differential tests hold it to that).
public struct StoredEventEncoder: Sendable {
    /// The current event's texts, one after another; the caller fills it (after ``reset()``) and names
    /// the ranges in ``StoredEventFields`` and ``payloadFields``.
    public var texts: [UInt8] = []
    /// The payload's fields as ranges of ``texts``, in strictly ascending byte order of their keys.
    public var payloadFields: [(key: Range<Int>, value: Range<Int>)] = []

    private var payload = ByteWriter(capacity: 512)
    private var leaf = ByteWriter(capacity: 512)

    public init() {
        texts.reserveCapacity(1024)
        payloadFields.reserveCapacity(8)
    }

    /// Empties ``texts`` and ``payloadFields`` for the next event, keeping their capacity.
    public mutating func reset() {
        texts.removeAll(keepingCapacity: true)
        payloadFields.removeAll(keepingCapacity: true)
    }

    /// Appends `text`'s UTF-8 bytes to ``texts`` (for a text the caller has as a `String`, such as a
    /// capacity or an event type it checked) and returns their range.
    public mutating func append(_ text: String) -> Range<Int> {
        let start = texts.count
        texts.append(contentsOf: text.utf8)
        return start..<texts.count
    }

    /// The event's leaf when format version 1 is claimed and the leaf hash of its fields equals
    /// `recorded`; nil otherwise, and for everything this fast path does not handle (see the type).
    public mutating func recomputedLeaf(
        of fields: StoredEventFields, formatVersion: Int, recorded: SHA256Hash
    ) -> RecomputedLeaf? {
        guard formatVersion == Int(AuditEventEncoder.formatVersion), fields.salt.count <= Int(UInt8.max) else {
            return nil
        }
        guard let leafHash = texts.withUnsafeBufferPointer({ leafHash(fields, texts: $0) }), leafHash == recorded
        else { return nil }
        return RecomputedLeaf(sequence: fields.sequence, leafHash: leafHash)
    }

    private mutating func leafHash(_ fields: StoredEventFields, texts: UnsafeBufferPointer<UInt8>) -> SHA256Hash? {
        // The payload (FORMAT.md §3): version, salt, field count, fields in key order.
        payload.bytes.removeAll(keepingCapacity: true)
        payload.append(AuditPayload.formatVersion)
        payload.append(UInt8(fields.salt.count))
        payload.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: texts[fields.salt]))
        payload.append(UInt32(payloadFields.count))
        var previousKey: Range<Int>?
        for (key, value) in payloadFields {
            if let previousKey, !Self.precedes(texts, previousKey, key) { return nil }
            guard Self.appendText(texts, key, to: &payload), Self.appendText(texts, value, to: &payload) else {
                return nil
            }
            previousKey = key
        }
        let payloadHash = payload.bytes.withUnsafeBytes { SHA256Hash.digest(of: $0) }

        // The leaf (FORMAT.md §2), behind the RFC 6962 leaf prefix, in ``AuditEventEncoder``'s order.
        leaf.bytes.removeAll(keepingCapacity: true)
        leaf.append(MerkleHashing.leafPrefix)
        leaf.append(AuditEventEncoder.formatVersion)
        leaf.append(fields.sequence)
        leaf.append(fields.id.uuid)
        leaf.append(fields.occurredAt.microsecondsSinceEpoch)
        guard Self.appendText(texts, fields.type, to: &leaf) else { return nil }
        if let requestID = fields.requestID {
            leaf.append(UInt8(1))
            leaf.append(requestID.uuid)
        } else {
            leaf.append(UInt8(0))
        }
        // One by one, not as an array: no allocation per event.
        guard Self.appendOptionalText(texts, fields.actor, to: &leaf),
            Self.appendOptionalText(texts, fields.actingFor, to: &leaf),
            Self.appendOptionalText(texts, fields.capacity, to: &leaf),
            Self.appendOptionalText(texts, fields.role, to: &leaf),
            Self.appendOptionalText(texts, fields.step, to: &leaf),
            Self.appendOptionalText(texts, fields.decision, to: &leaf),
            Self.appendOptionalText(texts, fields.datasetID, to: &leaf)
        else { return nil }
        // No workflow reference: the server's rows have none (an event with one goes the slow way).
        leaf.append(UInt8(0))
        guard Self.appendOptionalText(texts, fields.state, to: &leaf) else { return nil }
        leaf.append(payloadHash)
        return leaf.bytes.withUnsafeBytes { SHA256Hash.digest(of: $0) }
    }

    /// u32 length and the bytes, when they are well-formed UTF-8.
    private static func appendText(
        _ texts: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to writer: inout ByteWriter
    ) -> Bool {
        let text = UnsafeBufferPointer(rebasing: texts[range])
        guard isWellFormedUTF8(text) else { return false }
        writer.append(UInt32(text.count))
        writer.bytes.append(contentsOf: text)
        return true
    }

    private static func appendOptionalText(
        _ texts: UnsafeBufferPointer<UInt8>, _ range: Range<Int>?, to writer: inout ByteWriter
    ) -> Bool {
        guard let range else {
            writer.append(UInt8(0))
            return true
        }
        writer.append(UInt8(1))
        return appendText(texts, range, to: &writer)
    }

    /// Strictly before in byte order (what ``AuditPayload`` sorts by).
    private static func precedes(_ texts: UnsafeBufferPointer<UInt8>, _ left: Range<Int>, _ right: Range<Int>) -> Bool {
        texts[left].lexicographicallyPrecedes(texts[right])
    }

    /// RFC 3629 well-formed UTF-8; the ASCII run is the common case and costs one comparison a byte.
    static func isWellFormedUTF8(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < text.count {
            if text[index] < 0x80 {
                index += 1
                continue
            }
            guard let length = utf8SequenceLength(text, at: index) else { return false }
            index += length
        }
        return true
    }
}
