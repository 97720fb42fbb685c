import Foundation

/// Reads one export line (`FORMAT.md` §7) by hand into an ``ExportLine``.
///
/// It accepts any JSON text, as `JSONDecoder` did, and keeps the same two failure kinds: a line that
/// is not JSON, or lacks a field, or has a field of the wrong type or form, is *unreadable*; a line
/// that reads but is not byte for byte its canonical form is *not canonical*. The caller decides the
/// second by writing the value back (``ExportJSONWriter``) and comparing, so this parser never has to
/// judge canonical form itself: whatever it reads, a changed byte cannot survive the comparison.
///
/// Why by hand: `JSONDecoder` cost about 60 µs a line; the verifier must read 500,000 lines a second.
struct ExportJSONParser {
    /// Fatal for the whole line: not JSON at all.
    private struct SyntaxError: Error {
        var reason: String
    }

    /// Only the value of one key is wrong (type or form). Like `JSONDecoder`, which ignores keys the
    /// record does not have, this matters only when the key belongs to the line's record kind.
    private struct ValueError: Error {
        var reason: String
    }

    private let input: UnsafeBufferPointer<UInt8>
    private var position = 0
    /// A decoded string's UTF-8 bytes (escapes resolved), reused between strings.
    private var scratch: [UInt8] = []
    private var fields = Fields()

    private init(_ input: UnsafeBufferPointer<UInt8>) {
        self.input = input
        scratch.reserveCapacity(256)
    }

    static func parse(_ line: [UInt8]) throws(ExportLineError) -> ExportLine {
        do {
            return try line.withUnsafeBufferPointer { buffer in
                var parser = ExportJSONParser(buffer)
                return try parser.parseLine()
            }
        } catch let error as SyntaxError {
            throw .unreadable(error.reason)
        } catch let error as ExportLineError {
            throw error
        } catch {
            throw .unreadable("\(error)")
        }
    }

    // MARK: The line

    private mutating func parseLine() throws -> ExportLine {
        skipWhitespace()
        try expect(UInt8(ascii: "{"), "the line is not a JSON object")
        try members { parser, key in try parser.topLevel(key) }
        skipWhitespace()
        guard position == input.count else { throw SyntaxError(reason: "content after the JSON object") }
        return try fields.line()
    }

    /// The first occurrence of a key counts, a repeated one is only checked for syntax: what
    /// `JSONDecoder` does (the canonical comparison then refuses the line).
    private mutating func topLevel(_ key: String) throws {
        if let bit = Self.keyBits[key] {
            guard fields.seen & bit == 0 else { return try skipValue() }
            fields.seen |= bit
        }
        switch key {
        case "record":
            fields.record = try value(key) { parser in
                let text = try parser.string()
                guard let kind = RecordKind(rawValue: text) else {
                    throw ValueError(reason: "record: unknown record kind \(text)")
                }
                return kind
            }
        case "format":
            fields.format = try value(key) { parser in try parser.integer(Int.self) }
        case "origin": fields.origin = try value(key) { parser in try parser.string() }
        case "tree_size": fields.treeSize = try value(key) { parser in try parser.integer(UInt64.self) }
        case "selection":
            fields.selection = try value(key) { parser in
                let text = try parser.string()
                guard let selection = ExportSelection(rawValue: text) else {
                    throw ValueError(reason: "selection: unknown selection \(text)")
                }
                return selection
            }
        case "filters": fields.filters = try value(key) { parser in try parser.stringMap() }
        case "checkpoint": fields.checkpoint = try value(key) { parser in try parser.string() }
        case "event_count": fields.eventCount = try value(key) { parser in try parser.integer(UInt64.self) }
        case "sequence": fields.sequence = try value(key) { parser in try parser.integer(UInt64.self) }
        case "id": fields.id = try value(key) { parser in try parser.uuid(key) }
        case "occurred_at": fields.occurredAt = try value(key) { parser in try parser.time(key) }
        case "type": fields.type = try value(key) { parser in try parser.string() }
        case "request_id": fields.requestID = try value(key) { parser in try parser.uuid(key) }
        case "actor": fields.actor = try value(key) { parser in try parser.string() }
        case "acting_for": fields.actingFor = try value(key) { parser in try parser.string() }
        case "capacity": fields.capacity = try value(key) { parser in try parser.string() }
        case "role": fields.role = try value(key) { parser in try parser.string() }
        case "step": fields.step = try value(key) { parser in try parser.string() }
        case "decision": fields.decision = try value(key) { parser in try parser.string() }
        case "dataset_id": fields.datasetID = try value(key) { parser in try parser.string() }
        case "state": fields.state = try value(key) { parser in try parser.string() }
        case "workflow": fields.workflow = try value(key) { parser in try parser.workflow() }
        case "payload_hash": fields.payloadHash = try value(key) { parser in try parser.hash(key) }
        case "leaf_hash": fields.leafHash = try value(key) { parser in try parser.hash(key) }
        case "payload": fields.payload = try value(key) { parser in try parser.payload() }
        case "redacted": fields.redacted = try value(key) { parser in try parser.redaction() }
        case "inclusion_proof":
            fields.inclusionProof = try value(key) { parser in
                var proof: [SHA256Hash] = []
                try parser.elements { parser in proof.append(try parser.hash(key)) }
                return proof
            }
        default:
            // Unknown to every record kind: ignored, as by `JSONDecoder`; the comparison with the
            // canonical form refuses the line.
            try skipValue()
        }
    }

    /// The value of `key`, or nil for `null` (an absent optional, as `decodeIfPresent` reads it; a
    /// required field then counts as missing). A value of the wrong type or form is skipped and noted.
    private mutating func value<Value>(
        _ key: String, _ read: (inout ExportJSONParser) throws -> Value
    ) throws
        -> Value?
    {
        skipWhitespace()
        if try literal("null") { return nil }
        let start = position
        do {
            return try read(&self)
        } catch let error as ValueError {
            position = start
            try skipValue()
            fields.wrong[key] = error.reason
            return nil
        }
    }

    private static let keyBits: [String: UInt32] = Dictionary(
        uniqueKeysWithValues: [
            "record", "format", "origin", "tree_size", "selection", "filters", "checkpoint", "event_count", "sequence",
            "id", "occurred_at", "type", "request_id", "actor", "acting_for", "capacity", "role", "step", "decision",
            "dataset_id", "state", "workflow", "payload_hash", "leaf_hash", "payload", "redacted", "inclusion_proof",
        ].enumerated().map { ($1, UInt32(1) << UInt32($0)) })

    // MARK: Nested values

    private mutating func workflow() throws -> WorkflowReference {
        try expectValue(UInt8(ascii: "{"), "workflow: expected an object")
        var id: String?
        var version: UInt32?
        // The first occurrence of a key counts (see ``topLevel(_:)``); others need no record.
        var seen = (id: false, version: false)
        try members { parser, key in
            switch key {
            case "id" where !seen.id:
                seen.id = true
                id = try parser.nullable { parser in try parser.string() }
            case "version" where !seen.version:
                seen.version = true
                version = try parser.nullable { parser in try parser.integer(UInt32.self) }
            default: try parser.skipValue()
            }
        }
        guard let id, let version else { throw ValueError(reason: "workflow: needs id and version") }
        return WorkflowReference(id: id, version: version)
    }

    private mutating func payload() throws -> AuditPayload {
        try expectValue(UInt8(ascii: "{"), "payload: expected an object")
        var salt: [UInt8]?
        var payloadFields: [String: String]?
        var seen = (salt: false, fields: false)
        try members { parser, key in
            switch key {
            case "salt" where !seen.salt:
                seen.salt = true
                salt = try parser.nullable { parser in
                    guard let salt = Hex.decode(try parser.string()), salt.count <= Int(UInt8.max) else {
                        throw ValueError(reason: "payload.salt: not hex of at most 255 bytes")
                    }
                    return salt
                }
            case "fields" where !seen.fields:
                seen.fields = true
                payloadFields = try parser.nullable { parser in try parser.stringMap() }
            default: try parser.skipValue()
            }
        }
        guard let salt, let payloadFields else { throw ValueError(reason: "payload: needs salt and fields") }
        return AuditPayload(salt: salt, fields: payloadFields)
    }

    private mutating func redaction() throws -> Redaction {
        try expectValue(UInt8(ascii: "{"), "redacted: expected an object")
        var at: AuditTimestamp?
        var by: String?
        var seen = (at: false, by: false)
        try members { parser, key in
            switch key {
            case "redactedAt" where !seen.at:
                seen.at = true
                at = try parser.nullable { parser in try parser.time("redacted.redactedAt") }
            case "redactedBy" where !seen.by:
                seen.by = true
                by = try parser.nullable { parser in try parser.string() }
            default: try parser.skipValue()
            }
        }
        guard let at, let by else { throw ValueError(reason: "redacted: needs redactedAt and redactedBy") }
        return Redaction(redactedAt: at, redactedBy: by)
    }

    private mutating func stringMap() throws -> [String: String] {
        try expectValue(UInt8(ascii: "{"), "expected an object of texts")
        var map: [String: String] = [:]
        try members { parser, key in
            guard map.index(forKey: key) == nil else { return try parser.skipValue() }
            guard let value = try parser.nullable({ parser in try parser.string() }) else {
                throw ValueError(reason: "\(key): expected a text, found null")
            }
            map[key] = value
        }
        return map
    }

    private mutating func nullable<Value>(_ read: (inout ExportJSONParser) throws -> Value) throws -> Value? {
        skipWhitespace()
        if try literal("null") { return nil }
        return try read(&self)
    }

    // MARK: Scalars

    private mutating func uuid(_ key: String) throws -> UUID {
        try stringBytes()
        // The text form `UUID(uuidString:)` reads: 8-4-4-4-12 hex digits, either case.
        if let raw = scratch.withUnsafeBufferPointer({ uuidBytes(text: $0, lowercaseOnly: false) }) {
            return UUID(uuid: raw)
        }
        // `UUID(uuidString:)` also reads some other texts (a space or a sign before a digit pair): such
        // a line was refused as not canonical, not as unreadable, and still is.
        guard let text = String(validating: scratch, as: UTF8.self), let lax = UUID(uuidString: text) else {
            throw ValueError(reason: "\(key): not a UUID")
        }
        return lax
    }

    private mutating func hash(_ key: String) throws -> SHA256Hash {
        try stringBytes()
        guard let hash = scratch.withUnsafeBufferPointer({ SHA256Hash(hexUTF8: $0) }) else {
            throw ValueError(reason: "\(key): expected 64 hexadecimal digits, got \(scratch.count) bytes")
        }
        return hash
    }

    private mutating func time(_ key: String) throws -> AuditTimestamp {
        try stringBytes()
        guard let time = AuditTimestamp(rfc3339Bytes: scratch) else {
            throw ValueError(reason: "\(key): expected YYYY-MM-DDThh:mm:ss.ffffffZ")
        }
        return time
    }

    private mutating func string() throws -> String {
        try stringBytes()
        return try Self.text(scratch)
    }

    /// The bytes as a `String`, refusing invalid UTF-8. Decoding repairs invalid sequences (to U+FFFD),
    /// so a repaired text differs from its bytes: cheaper than the generic `String(validating:as:)`,
    /// which cost a metadata lookup per string.
    private static func text(_ bytes: [UInt8]) throws -> String {
        var text = String(decoding: bytes, as: UTF8.self)
        let unchanged = text.withUTF8 { utf8 in
            utf8.count == bytes.count
                && (bytes.isEmpty
                    || bytes.withUnsafeBufferPointer { memcmp(utf8.baseAddress!, $0.baseAddress!, bytes.count) == 0 })
        }
        guard unchanged else { throw SyntaxError(reason: "a string is not valid UTF-8") }
        return text
    }

    /// Reads a JSON string into ``scratch`` as UTF-8, escapes resolved. A value of another type is a
    /// ``ValueError``; a malformed string is a ``SyntaxError``.
    private mutating func stringBytes() throws {
        skipWhitespace()
        guard position < input.count, input[position] == UInt8(ascii: "\"") else {
            throw ValueError(reason: "expected a string")
        }
        position += 1
        scratch.removeAll(keepingCapacity: true)
        while position < input.count {
            let byte = input[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return
            case UInt8(ascii: "\\"):
                try escape()
            case ..<0x20:
                throw SyntaxError(reason: "an unescaped control character in a string")
            default:
                scratch.append(byte)
            }
        }
        throw SyntaxError(reason: "a string is not terminated")
    }

    private mutating func escape() throws {
        guard position < input.count else { throw SyntaxError(reason: "a string is not terminated") }
        let byte = input[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(byte)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hexQuad()
            if (0xD800..<0xDC00).contains(scalar) {
                guard try literal("\\u") else { throw SyntaxError(reason: "an unpaired surrogate escape") }
                let low = try hexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw SyntaxError(reason: "an unpaired surrogate escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw SyntaxError(reason: "an unpaired surrogate escape")
            }
            scratch.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
        default:
            throw SyntaxError(reason: "an invalid escape in a string")
        }
    }

    private mutating func hexQuad() throws -> UInt32 {
        guard position + 4 <= input.count else { throw SyntaxError(reason: "a truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = SHA256Hash.hexValue(input[position]) else {
                throw SyntaxError(reason: "an invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// A JSON number that is an integer of `Integer`'s range; a fraction or exponent is refused as
    /// `JSONDecoder` refuses it for an integer field.
    private mutating func integer<Integer: FixedWidthInteger>(_: Integer.Type) throws -> Integer {
        skipWhitespace()
        let start = position
        guard position < input.count, input[position] == UInt8(ascii: "-") || Self.isDigit(input[position]) else {
            throw ValueError(reason: "expected a number")
        }
        try skipNumber()
        let token = UnsafeBufferPointer(rebasing: input[start..<position])
        if token.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            // `JSONDecoder` takes `1.0` or `1e2` for an integer field when the value is a whole number.
            guard let double = Double(String(decoding: token, as: UTF8.self)), let value = Integer(exactly: double)
            else { throw ValueError(reason: "the number is not an integer of the field's range") }
            return value
        }
        var negative = false
        var index = start
        if input[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value: Integer = 0
        while index < position {
            let byte = input[index]
            guard Self.isDigit(byte) else { throw ValueError(reason: "expected an integer") }
            let digit = Integer(byte - UInt8(ascii: "0"))
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) =
                negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw ValueError(reason: "the number does not fit") }
            value = next
            index += 1
        }
        return value
    }

    // MARK: Structure

    /// Reads `"key": value` pairs up to the closing brace; the opening brace is already read.
    private mutating func members(_ member: (inout ExportJSONParser, String) throws -> Void) throws {
        skipWhitespace()
        if try literal("}") { return }
        while true {
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                throw SyntaxError(reason: "expected a key")
            }
            let key = try string()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "expected a colon after a key")
            try member(&self, key)
            skipWhitespace()
            if try literal(",") { continue }
            try expect(UInt8(ascii: "}"), "expected a comma or a closing brace")
            return
        }
    }

    private mutating func elements(_ element: (inout ExportJSONParser) throws -> Void) throws {
        try expectValue(UInt8(ascii: "["), "expected an array")
        skipWhitespace()
        if try literal("]") { return }
        while true {
            try element(&self)
            skipWhitespace()
            if try literal(",") { continue }
            try expect(UInt8(ascii: "]"), "expected a comma or a closing bracket")
            return
        }
    }

    /// Any JSON value, checked for syntax and thrown away.
    private mutating func skipValue() throws {
        skipWhitespace()
        guard position < input.count else { throw SyntaxError(reason: "a value is missing") }
        switch input[position] {
        case UInt8(ascii: "\""):
            try stringBytes()
            _ = try Self.text(scratch)
        case UInt8(ascii: "{"):
            position += 1
            try members { parser, _ in try parser.skipValue() }
        case UInt8(ascii: "["):
            try elements { parser in try parser.skipValue() }
        case UInt8(ascii: "t"): guard try literal("true") else { throw SyntaxError(reason: "an invalid literal") }
        case UInt8(ascii: "f"): guard try literal("false") else { throw SyntaxError(reason: "an invalid literal") }
        case UInt8(ascii: "n"): guard try literal("null") else { throw SyntaxError(reason: "an invalid literal") }
        default: try skipNumber()
        }
    }

    /// The JSON number grammar (RFC 8259 §6): `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
    private mutating func skipNumber() throws {
        let invalid = SyntaxError(reason: "an invalid number")
        if position < input.count, input[position] == UInt8(ascii: "-") { position += 1 }
        guard position < input.count, Self.isDigit(input[position]) else { throw invalid }
        if input[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < input.count, Self.isDigit(input[position]) { position += 1 }
        }
        if position < input.count, input[position] == UInt8(ascii: ".") {
            position += 1
            guard position < input.count, Self.isDigit(input[position]) else { throw invalid }
            while position < input.count, Self.isDigit(input[position]) { position += 1 }
        }
        if position < input.count, input[position] == UInt8(ascii: "e") || input[position] == UInt8(ascii: "E") {
            position += 1
            if position < input.count, input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < input.count, Self.isDigit(input[position]) else { throw invalid }
            while position < input.count, Self.isDigit(input[position]) { position += 1 }
        }
    }

    private mutating func skipWhitespace() {
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// Consumes `text` if it comes next.
    private mutating func literal(_ text: StaticString) throws -> Bool {
        let count = text.utf8CodeUnitCount
        guard position + count <= input.count else { return false }
        let matches = text.withUTF8Buffer { expected in
            (0..<count).allSatisfy { input[position + $0] == expected[$0] }
        }
        if matches { position += count }
        return matches
    }

    private mutating func expect(_ byte: UInt8, _ reason: String) throws {
        guard position < input.count, input[position] == byte else { throw SyntaxError(reason: reason) }
        position += 1
    }

    /// Like ``expect(_:_:)``, for the first byte of a value: another value there is of the wrong type,
    /// not broken JSON (the caller skips it as a whole).
    private mutating func expectValue(_ byte: UInt8, _ reason: String) throws {
        skipWhitespace()
        guard position < input.count, input[position] == byte else { throw ValueError(reason: reason) }
        position += 1
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

/// What a line said, for any record kind; ``line()`` keeps what the line's kind has.
private struct Fields {
    var record: RecordKind?
    var format: Int?
    var origin: String?
    var treeSize: UInt64?
    var selection: ExportSelection?
    var filters: [String: String]?
    var checkpoint: String?
    var eventCount: UInt64?
    var sequence: UInt64?
    var id: UUID?
    var occurredAt: AuditTimestamp?
    var type: String?
    var requestID: UUID?
    var actor: String?
    var actingFor: String?
    var capacity: String?
    var role: String?
    var step: String?
    var decision: String?
    var datasetID: String?
    var state: String?
    var workflow: WorkflowReference?
    var payloadHash: SHA256Hash?
    var leafHash: SHA256Hash?
    var payload: AuditPayload?
    var redacted: Redaction?
    var inclusionProof: [SHA256Hash]?
    /// Keys whose value had the wrong type or form, with the reason.
    var wrong: [String: String] = [:]
    /// The known keys read so far, one bit each (``ExportJSONParser/keyBits``).
    var seen: UInt32 = 0

    private static let headerKeys = ["format", "origin", "tree_size", "selection", "filters", "checkpoint"]
    private static let eventKeys = [
        "sequence", "id", "occurred_at", "type", "request_id", "actor", "acting_for", "capacity", "role", "step",
        "decision", "dataset_id", "state", "workflow", "payload_hash", "leaf_hash", "payload", "redacted",
        "inclusion_proof",
    ]

    func line() throws(ExportLineError) -> ExportLine {
        if let reason = wrong["record"] { throw .unreadable(reason) }
        guard let record else { throw .unreadable("record: missing") }
        switch record {
        case .header:
            try check(Self.headerKeys)
            guard let format, let origin, let treeSize, let selection, let filters else {
                throw .unreadable("a header needs format, origin, tree_size, selection and filters")
            }
            return .header(
                ExportHeader(
                    format: format, origin: origin, treeSize: treeSize, selection: selection, filters: filters,
                    checkpoint: checkpoint))
        case .end:
            try check(["event_count"])
            guard let eventCount else { throw .unreadable("event_count: missing") }
            return .end(ExportEnd(eventCount: eventCount))
        case .event:
            try check(Self.eventKeys)
            guard let sequence, let id, let occurredAt, let type, let payloadHash, let leafHash else {
                throw .unreadable("an event needs sequence, id, occurred_at, type, payload_hash and leaf_hash")
            }
            let evidence: PayloadEvidence
            switch (payload, redacted) {
            case (let payload?, nil): evidence = .present(payload)
            case (nil, let redaction?): evidence = .redacted(redaction)
            default: throw .unreadable("an event has either a payload or a redaction")
            }
            let event = AuditEvent(
                sequence: sequence, id: id, occurredAt: occurredAt, type: type, requestID: requestID, actor: actor,
                actingFor: actingFor, capacity: capacity, role: role, step: step, decision: decision,
                datasetID: datasetID, workflow: workflow, state: state, payloadHash: payloadHash)
            return .event(
                ExportedEvent(event: event, payload: evidence, leafHash: leafHash, inclusionProof: inclusionProof))
        }
    }

    private func check(_ keys: [String]) throws(ExportLineError) {
        guard !wrong.isEmpty else { return }
        for key in keys {
            if let reason = wrong[key] { throw .unreadable(reason) }
        }
    }
}
