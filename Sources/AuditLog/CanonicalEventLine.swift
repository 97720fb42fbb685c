import Foundation

/// An event line of a complete export that was read in one pass over its bytes and found whole:
/// canonical, its payload hashing to its `payload_hash`, its fields encoding (`FORMAT.md` §2) to its
/// recorded `leaf_hash`.
struct CanonicalEventLine: Sendable, Hashable {
    var sequence: UInt64
    var leafHash: SHA256Hash
}

/// The export verifier's fast path (`FORMAT.md` §7): checks that an event line is byte for byte in
/// canonical form while it walks it once, and writes the payload's and the leaf's canonical encodings
/// straight from the line's bytes, without a `String`, an ``AuditEvent`` or a second JSON text per line.
///
/// It knows only the common shape: an event with its payload, no inclusion proof, strings with no
/// escapes but the writer's. It answers nil for *anything* else — another record, another escape, a `null`, an erased
/// payload, a payload or leaf hash that does not match, a byte out of place — and the verifier then
/// reads the line the slow way (``ExportJSONParser``, ``ExportJSONWriter``, ``LogVerification/check(_:)``),
/// which finds and names the fault. So this reader can never make the verifier less strict: what it
/// accepts, the slow path accepts with the same leaf hash (the differential tests hold it to that), and
/// everything else takes the slow path.
struct CanonicalEventLineReader {
    private var leaf = ByteWriter(capacity: 512)
    private var payload = ByteWriter(capacity: 512)
    /// Byte ranges of the payload's fields in the line: key start, key end, value start, value end.
    private var fieldRanges: [Int] = []
    /// The time written back, to compare with the line's.
    private var timeText: [UInt8] = []
    /// The line's texts with their escapes resolved, one after another (the cursor's ranges point here).
    private var texts: [UInt8] = []

    init() {
        fieldRanges.reserveCapacity(16)
        timeText.reserveCapacity(32)
        texts.reserveCapacity(1024)
    }

    /// The line without its newline.
    mutating func read(_ line: [UInt8]) -> CanonicalEventLine? {
        line.withUnsafeBufferPointer { read($0) }
    }

    mutating func read(_ line: UnsafeBufferPointer<UInt8>) -> CanonicalEventLine? {
        var cursor = Cursor(input: line)
        // The buffer moves into the cursor and back: its capacity is kept from line to line.
        swap(&cursor.text, &texts)
        cursor.text.removeAll(keepingCapacity: true)
        defer { swap(&cursor.text, &texts) }
        guard let fields = cursor.eventFields(ranges: &fieldRanges, timeText: &timeText) else { return nil }
        return cursor.text.withUnsafeBufferPointer { encode(fields, texts: $0) }
    }

    /// Payload and leaf from the texts the cursor resolved; nil unless both hashes match the line's.
    private mutating func encode(_ fields: EventFields, texts input: UnsafeBufferPointer<UInt8>) -> CanonicalEventLine?
    {
        // The payload (FORMAT.md §3): version, salt, field count, fields in key order (the line's order,
        // which the cursor checked is strictly ascending by bytes).
        payload.bytes.removeAll(keepingCapacity: true)
        payload.append(UInt8(1))
        payload.append(UInt8(fields.salt.count / 2))
        guard Self.appendHex(input, fields.salt, to: &payload.bytes) else { return nil }
        payload.append(UInt32(fieldRanges.count / 4))
        var index = 0
        while index < fieldRanges.count {
            Self.appendString(input, fieldRanges[index]..<fieldRanges[index + 1], to: &payload)
            Self.appendString(input, fieldRanges[index + 2]..<fieldRanges[index + 3], to: &payload)
            index += 4
        }
        let payloadHash = payload.bytes.withUnsafeBytes { SHA256Hash.digest(of: $0) }
        guard payloadHash == fields.payloadHash else { return nil }

        // The leaf (FORMAT.md §2), behind the RFC 6962 leaf prefix.
        leaf.bytes.removeAll(keepingCapacity: true)
        leaf.append(MerkleHashing.leafPrefix)
        leaf.append(AuditEventEncoder.formatVersion)
        leaf.append(fields.sequence)
        leaf.append(fields.id)
        leaf.append(fields.occurredAt)
        Self.appendString(input, fields.type, to: &leaf)
        if let requestID = fields.requestID {
            leaf.append(UInt8(1))
            leaf.append(requestID)
        } else {
            leaf.append(UInt8(0))
        }
        Self.appendOptionalString(input, fields.actor, to: &leaf)
        Self.appendOptionalString(input, fields.actingFor, to: &leaf)
        Self.appendOptionalString(input, fields.capacity, to: &leaf)
        Self.appendOptionalString(input, fields.role, to: &leaf)
        Self.appendOptionalString(input, fields.step, to: &leaf)
        Self.appendOptionalString(input, fields.decision, to: &leaf)
        Self.appendOptionalString(input, fields.datasetID, to: &leaf)
        if let workflowID = fields.workflowID {
            leaf.append(UInt8(1))
            Self.appendString(input, workflowID, to: &leaf)
            leaf.append(fields.workflowVersion)
        } else {
            leaf.append(UInt8(0))
        }
        Self.appendOptionalString(input, fields.state, to: &leaf)
        leaf.append(fields.payloadHash)
        let leafHash = leaf.bytes.withUnsafeBytes { SHA256Hash.digest(of: $0) }
        guard leafHash == fields.leafHash else { return nil }
        return CanonicalEventLine(sequence: fields.sequence, leafHash: leafHash)
    }

    private static func appendString(
        _ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to writer: inout ByteWriter
    ) {
        writer.append(UInt32(range.count))
        writer.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: input[range]))
    }

    private static func appendOptionalString(
        _ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>?, to writer: inout ByteWriter
    ) {
        guard let range else { return writer.append(UInt8(0)) }
        writer.append(UInt8(1))
        Self.appendString(input, range, to: &writer)
    }

    /// Lowercase hex digits (already checked by the cursor) as bytes.
    private static func appendHex(
        _ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to bytes: inout [UInt8]
    ) -> Bool {
        var index = range.lowerBound
        while index < range.upperBound {
            guard let high = SHA256Hash.hexValue(input[index]), let low = SHA256Hash.hexValue(input[index + 1]) else {
                return false
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return true
    }
}

/// What the cursor found in an event line: ranges of the line's bytes for texts, values for the rest.
private struct EventFields {
    var actingFor: Range<Int>?
    var actor: Range<Int>?
    var capacity: Range<Int>?
    var datasetID: Range<Int>?
    var decision: Range<Int>?
    var id: UUIDBytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var leafHash = SHA256Hash.empty
    var occurredAt: Int64 = 0
    var salt: Range<Int> = 0..<0
    var payloadHash = SHA256Hash.empty
    var requestID: UUIDBytes?
    var role: Range<Int>?
    var sequence: UInt64 = 0
    var state: Range<Int>?
    var step: Range<Int>?
    var type: Range<Int> = 0..<0
    var workflowID: Range<Int>?
    var workflowVersion: UInt32 = 0
}

/// Walks the bytes of one line in the one order ``ExportJSONWriter`` writes an event; every check is
/// "exactly this byte" or "a byte of this class", so any deviation ends the walk with nil.
private struct Cursor {
    static let erasureRecordType = Array(ErasureRecord.eventType.utf8)

    let input: UnsafeBufferPointer<UInt8>
    var position = 0
    /// Each string's content, escapes resolved; ``string()`` returns ranges of this buffer.
    var text: [UInt8] = []

    mutating func eventFields(ranges: inout [Int], timeText: inout [UInt8]) -> EventFields? {
        var fields = EventFields()
        guard byte(UInt8(ascii: "{")) else { return nil }
        // Keys before `id` are optional: the first present one has no comma before it.
        var first = true
        func optionalText(_ cursor: inout Cursor, _ key: StaticString) -> Range<Int>?? {
            guard cursor.key(key, comma: !first) else { return .some(nil) }
            first = false
            guard let range = cursor.string() else { return nil }
            return .some(range)
        }
        guard let actingFor = optionalText(&self, #""acting_for":"#) else { return nil }
        guard let actor = optionalText(&self, #""actor":"#) else { return nil }
        guard let capacity = optionalText(&self, #""capacity":"#) else { return nil }
        guard let datasetID = optionalText(&self, #""dataset_id":"#) else { return nil }
        guard let decision = optionalText(&self, #""decision":"#) else { return nil }
        (fields.actingFor, fields.actor, fields.capacity, fields.datasetID, fields.decision) =
            (actingFor, actor, capacity, datasetID, decision)
        guard key(#""id":"#, comma: !first), let id = uuid() else { return nil }
        fields.id = id
        // An inclusion proof does not belong in a complete export: the slow path says so.
        guard key(#""leaf_hash":"#, comma: true), let leafHash = hash() else { return nil }
        fields.leafHash = leafHash
        guard key(#""occurred_at":"#, comma: true), let occurredAt = time(&timeText) else { return nil }
        fields.occurredAt = occurredAt
        // An erased payload (`redacted`) is rare: the slow path reads it.
        guard key(#""payload":{"fields":{"#, comma: true), payloadFields(ranges: &ranges) else { return nil }
        guard key(#""salt":"#, comma: true), let salt = string(), salt.count % 2 == 0, salt.count <= 510,
            salt.allSatisfy({ Self.isLowerHex(text[$0]) }), byte(UInt8(ascii: "}"))
        else { return nil }
        fields.salt = salt
        guard key(#""payload_hash":"#, comma: true), let payloadHash = hash() else { return nil }
        fields.payloadHash = payloadHash
        guard key(#""record":"event""#, comma: true) else { return nil }
        if key(#""request_id":"#, comma: true) {
            guard let requestID = uuid() else { return nil }
            fields.requestID = requestID
        }
        if key(#""role":"#, comma: true) {
            guard let role = string() else { return nil }
            fields.role = role
        }
        guard key(#""sequence":"#, comma: true), let sequence = integer(UInt64.self) else { return nil }
        fields.sequence = sequence
        if key(#""state":"#, comma: true) {
            guard let state = string() else { return nil }
            fields.state = state
        }
        if key(#""step":"#, comma: true) {
            guard let step = string() else { return nil }
            fields.step = step
        }
        guard key(#""type":"#, comma: true), let type = string() else { return nil }
        // An erasure's own record is read the slow way: the verifier needs its count (rare events).
        guard !text[type].elementsEqual(Self.erasureRecordType) else { return nil }
        fields.type = type
        if key(#""workflow":{"id":"#, comma: true) {
            guard let id = string(), key(#""version":"#, comma: true), let version = integer(UInt32.self),
                byte(UInt8(ascii: "}"))
            else { return nil }
            fields.workflowID = id
            fields.workflowVersion = version
        }
        guard byte(UInt8(ascii: "}")), position == input.count else { return nil }
        return fields
    }

    /// `"key":"value"` pairs up to the closing brace, keys strictly ascending by their bytes (no key
    /// twice), as the writer sorts them.
    private mutating func payloadFields(ranges: inout [Int]) -> Bool {
        ranges.removeAll(keepingCapacity: true)
        if byte(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = string(), byte(UInt8(ascii: ":")), let value = string() else { return false }
            if ranges.count >= 4 {
                let previous = ranges[ranges.count - 4]..<ranges[ranges.count - 3]
                guard precedes(previous, key) else { return false }
            }
            ranges.append(key.lowerBound)
            ranges.append(key.upperBound)
            ranges.append(value.lowerBound)
            ranges.append(value.upperBound)
            if byte(UInt8(ascii: ",")) { continue }
            return byte(UInt8(ascii: "}"))
        }
    }

    /// Byte order of two texts of the line (``AuditPayload/utf8Precedes(_:_:)``), strictly.
    private func precedes(_ left: Range<Int>, _ right: Range<Int>) -> Bool {
        let common = min(left.count, right.count)
        for offset in 0..<common {
            let (a, b) = (text[left.lowerBound + offset], text[right.lowerBound + offset])
            if a != b { return a < b }
        }
        return left.count < right.count
    }

    /// The next bytes are `,` (when `comma`) and then `key`: consumed; otherwise nothing is.
    private mutating func key(_ key: StaticString, comma: Bool) -> Bool {
        let start = position
        if comma {
            guard byte(UInt8(ascii: ",")) else { return false }
        }
        let matches = key.withUTF8Buffer { expected in
            guard position + expected.count <= input.count else { return false }
            for offset in 0..<expected.count where input[position + offset] != expected[offset] { return false }
            return true
        }
        guard matches else {
            position = start
            return false
        }
        position += key.utf8CodeUnitCount
        return true
    }

    private mutating func byte(_ expected: UInt8) -> Bool {
        guard position < input.count, input[position] == expected else { return false }
        position += 1
        return true
    }

    /// A string in the writer's form (``ExportJSONWriter``): valid UTF-8, no byte below 0x20 unescaped,
    /// and only the escapes the writer makes — `\"`, `\\`, `\b \t \n \f \r`, and `\u00xx` (lowercase) for
    /// the other bytes below 0x20. Its content, escapes resolved, goes to ``text``; returns its range there.
    private mutating func string() -> Range<Int>? {
        guard byte(UInt8(ascii: "\"")) else { return nil }
        let start = text.count
        var run = position
        while position < input.count {
            let value = input[position]
            if value == UInt8(ascii: "\"") || value == UInt8(ascii: "\\") {
                text.append(contentsOf: UnsafeBufferPointer(rebasing: input[run..<position]))
                if value == UInt8(ascii: "\"") {
                    position += 1
                    return start..<text.count
                }
                guard let (byte, length) = escape() else { return nil }
                text.append(byte)
                position += length
                run = position
            } else if value < 0x20 {
                return nil
            } else if value < 0x80 {
                position += 1
            } else {
                guard let length = utf8SequenceLength(input, at: position) else { return nil }
                position += length
            }
        }
        return nil
    }

    /// The escape at `position` (a backslash) if it is the one the writer makes for its byte: the byte and
    /// the escape's length.
    private func escape() -> (UInt8, Int)? {
        guard position + 1 < input.count else { return nil }
        switch input[position + 1] {
        case UInt8(ascii: "\""): return (UInt8(ascii: "\""), 2)
        case UInt8(ascii: "\\"): return (UInt8(ascii: "\\"), 2)
        case UInt8(ascii: "b"): return (0x08, 2)
        case UInt8(ascii: "t"): return (0x09, 2)
        case UInt8(ascii: "n"): return (0x0A, 2)
        case UInt8(ascii: "f"): return (0x0C, 2)
        case UInt8(ascii: "r"): return (0x0D, 2)
        case UInt8(ascii: "u"):
            guard position + 6 <= input.count, input[position + 2] == UInt8(ascii: "0"),
                input[position + 3] == UInt8(ascii: "0"),
                input[position + 4] == UInt8(ascii: "0")
                    || input[position + 4] == UInt8(ascii: "1"),
                Self.isLowerHex(input[position + 5]), let low = SHA256Hash.hexValue(input[position + 5])
            else { return nil }
            let byte = (input[position + 4] - UInt8(ascii: "0")) << 4 | low
            switch byte {
            // Those five have a short escape, which the writer uses.
            case 0x08, 0x09, 0x0A, 0x0C, 0x0D: return nil
            default: return (byte, 6)
            }
        default: return nil
        }
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// `"` 64 lowercase hex digits `"`.
    private mutating func hash() -> SHA256Hash? {
        guard let range = string(), range.count == 64, range.allSatisfy({ Self.isLowerHex(text[$0]) }) else {
            return nil
        }
        return text.withUnsafeBufferPointer { SHA256Hash(hexUTF8: UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// `"` lowercase 8-4-4-4-12 hex digits `"`.
    private mutating func uuid() -> UUIDBytes? {
        guard let range = string() else { return nil }
        return text.withUnsafeBufferPointer {
            uuidBytes(text: UnsafeBufferPointer(rebasing: $0[range]), lowercaseOnly: true)
        }
    }

    /// `"YYYY-MM-DDThh:mm:ss.ffffffZ"` that writes back to the same bytes (no 30 February, no hour 24).
    private mutating func time(_ written: inout [UInt8]) -> Int64? {
        guard let range = string(), range.count == 27 else { return nil }
        let content = text[range]
        guard let time = AuditTimestamp(rfc3339Bytes: content) else { return nil }
        written.removeAll(keepingCapacity: true)
        guard time.appendRFC3339(to: &written), written.elementsEqual(content) else { return nil }
        return time.microsecondsSinceEpoch
    }

    /// Plain decimal: `0` or a digit 1–9 followed by digits, within `Integer`'s range.
    private mutating func integer<Integer: FixedWidthInteger & UnsignedInteger>(_: Integer.Type) -> Integer? {
        let start = position
        var value: Integer = 0
        while position < input.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(input[position]) {
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.addingReportingOverflow(Integer(input[position] - UInt8(ascii: "0")))
            guard !overflow, !overflow2 else { return nil }
            value = next
            position += 1
        }
        let count = position - start
        guard count > 0, count == 1 || input[start] != UInt8(ascii: "0") else { return nil }
        return value
    }
}
