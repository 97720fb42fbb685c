import Foundation

/// Writes the canonical JSON of an export line (`FORMAT.md` §7) by hand, byte for byte what
/// Foundation's `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes for the
/// `Codable` form (``ExportLine/foundationEncoded()``, which the tests compare it with).
///
/// Why by hand: the export line has one fixed shape, and `JSONEncoder` spent more than 30 µs a line
/// building and sorting a generic tree; an export of millions of events went into it. The keys below
/// are written in the byte order `.sortedKeys` gives them; only the payload's field names and the
/// header's filters are sorted at run time (``AuditPayload/utf8Precedes(_:_:)``, the same order).
public struct ExportJSONWriter: Sendable {
    /// What was written since the last ``reset()``.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Appends the line's JSON and its newline: one line of the export file.
    public mutating func writeLine(_ line: ExportLine) throws {
        try write(line)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// Appends the line's JSON, without a newline. Fails only for a time outside the years 0–9999,
    /// which has no RFC 3339 form (as the `Codable` form fails).
    public mutating func write(_ line: ExportLine) throws {
        switch line {
        case .header(let header): write(header)
        case .event(let event): try write(event)
        case .end(let end): write(end)
        }
    }

    private mutating func write(_ header: ExportHeader) {
        bytes.append(UInt8(ascii: "{"))
        if let checkpoint = header.checkpoint {
            raw(#""checkpoint":"#)
            string(checkpoint)
            bytes.append(UInt8(ascii: ","))
        }
        raw(#""filters":"#)
        stringMap(header.filters)
        raw(#","format":"#)
        integer(header.format)
        raw(#","origin":"#)
        string(header.origin)
        raw(#","record":"header","selection":"#)
        string(header.selection.rawValue)
        raw(#","tree_size":"#)
        integer(header.treeSize)
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func write(_ end: ExportEnd) {
        raw(#"{"event_count":"#)
        integer(end.eventCount)
        raw(#","record":"end"}"#)
    }

    private mutating func write(_ exported: ExportedEvent) throws {
        let event = exported.event
        bytes.append(UInt8(ascii: "{"))
        // Optional keys come first or in the middle, so each key but the first required one
        // (`id`) carries its own separator after the value before it.
        var first = true
        func key(_ writer: inout ExportJSONWriter, _ name: StaticString) {
            if !first { writer.bytes.append(UInt8(ascii: ",")) }
            first = false
            writer.raw(name)
        }
        if let value = event.actingFor {
            key(&self, #""acting_for":"#)
            string(value)
        }
        if let value = event.actor {
            key(&self, #""actor":"#)
            string(value)
        }
        if let value = event.capacity {
            key(&self, #""capacity":"#)
            string(value)
        }
        if let value = event.datasetID {
            key(&self, #""dataset_id":"#)
            string(value)
        }
        if let value = event.decision {
            key(&self, #""decision":"#)
            string(value)
        }
        key(&self, #""id":"#)
        uuid(event.id)
        if let proof = exported.inclusionProof {
            raw(#","inclusion_proof":["#)
            for (index, hash) in proof.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                quotedHex(hash)
            }
            bytes.append(UInt8(ascii: "]"))
        }
        raw(#","leaf_hash":"#)
        quotedHex(exported.leafHash)
        raw(#","occurred_at":"#)
        try time(event.occurredAt)
        switch exported.payload {
        case .present(let payload):
            raw(#","payload":{"fields":"#)
            stringMap(payload.fields)
            raw(#","salt":""#)
            hex(payload.salt)
            raw(#""}"#)
            raw(#","payload_hash":"#)
            quotedHex(event.payloadHash)
            raw(#","record":"event""#)
        case .redacted(let redaction):
            raw(#","payload_hash":"#)
            quotedHex(event.payloadHash)
            raw(#","record":"event","redacted":{"redactedAt":"#)
            try time(redaction.redactedAt)
            raw(#","redactedBy":"#)
            string(redaction.redactedBy)
            bytes.append(UInt8(ascii: "}"))
        }
        if let requestID = event.requestID {
            raw(#","request_id":"#)
            uuid(requestID)
        }
        if let value = event.role {
            raw(#","role":"#)
            string(value)
        }
        raw(#","sequence":"#)
        integer(event.sequence)
        if let value = event.state {
            raw(#","state":"#)
            string(value)
        }
        if let value = event.step {
            raw(#","step":"#)
            string(value)
        }
        raw(#","type":"#)
        string(event.type)
        if let workflow = event.workflow {
            raw(#","workflow":{"id":"#)
            string(workflow.id)
            raw(#","version":"#)
            integer(workflow.version)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "}"))
    }

    // MARK: Values

    private mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func integer(_ value: some BinaryInteger) {
        if value == 0 { return bytes.append(UInt8(ascii: "0")) }
        var magnitude = value.magnitude
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let start = bytes.count
        while magnitude != 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10))
            magnitude /= 10
        }
        bytes[start...].reverse()
    }

    private mutating func stringMap(_ map: [String: String]) {
        bytes.append(UInt8(ascii: "{"))
        for (index, key) in map.keys.sorted(by: AuditPayload.utf8Precedes).enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(key)
            bytes.append(UInt8(ascii: ":"))
            string(map[key]!)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func time(_ time: AuditTimestamp) throws {
        bytes.append(UInt8(ascii: "\""))
        guard time.appendRFC3339(to: &bytes) else {
            throw EncodingError.invalidValue(
                time, EncodingError.Context(codingPath: [], debugDescription: "year outside 0000-9999"))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func hex(_ data: some Sequence<UInt8>) {
        for byte in data {
            bytes.append(Self.hexDigits[Int(byte >> 4)])
            bytes.append(Self.hexDigits[Int(byte & 0x0f)])
        }
    }

    private mutating func quotedHex(_ hash: SHA256Hash) {
        bytes.append(UInt8(ascii: "\""))
        withUnsafeTemporaryAllocation(byteCount: SHA256Hash.byteCount, alignment: 1) { buffer in
            hash.store(to: buffer.baseAddress!)
            hex(UnsafeRawBufferPointer(buffer))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Lowercase, with the hyphens of the text form: `uuidString.lowercased()`.
    private mutating func uuid(_ id: UUID) {
        bytes.append(UInt8(ascii: "\""))
        withUnsafeBytes(of: id.uuid) { raw in
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 { bytes.append(UInt8(ascii: "-")) }
                bytes.append(Self.hexDigits[Int(raw[index] >> 4)])
                bytes.append(Self.hexDigits[Int(raw[index] & 0x0f)])
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON string as `JSONEncoder` writes it: `"` and `\` escaped, `\b \t \n \f \r` by their short
    /// escapes, other bytes below 0x20 as `\u00xx` (lowercase hex), everything else (DEL, U+2028,
    /// U+2029, `/`) as its UTF-8 bytes.
    private mutating func string(_ text: String) {
        var text = text
        bytes.append(UInt8(ascii: "\""))
        text.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                runStart = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0x0f)])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
